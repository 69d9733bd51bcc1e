//! The tool lane: turns `toolCall` and `toolCallCancellation` into running tasks and
//! function responses.
//!
//! The session task hands each `toolCall` here and goes back to reading the socket: this
//! code never awaits a tool. A background call's ack is queued before anything is spawned,
//! so it leaves ahead of every other response of the same message. Responses go on the
//! [`Outbox`], which the session task drains before any application send: tool results
//! never wait behind audio and are never dropped silently, and progress is coalesced so a
//! slow socket cannot make the queue grow without bound.
//!
//! User code runs here (tools, formatters) and never takes the session down: a panic in
//! `Tool::call` (before or while its future runs) becomes an error response to the model,
//! a panic in a formatter falls back to the default format.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::FutureExt;
use genai_wire::profile::ModelProfile;
use genai_wire::protocol::{FunctionCall, FunctionResponse, FunctionResponseScheduling, ToolCall};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::ToolContext;
use super::dispatcher::{Registered, ToolDispatcher};
use super::formatter::{DefaultResultFormatter, Guarded};
use super::mode::DuplicatePolicy;
use super::outbox::{Outbox, Queued};
use super::task_control;
use super::tracker::{BackgroundToolTracker, RunningTools};
use crate::event::{CancelReason, EventQueue, LiveEvent};
use crate::metrics::Metrics;

static LOCAL_IDS: AtomicU64 = AtomicU64::new(1);

/// What the model's profile lets the lane put on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireRules {
    /// Interim responses (`willContinue: true`) are accepted: acks and progress go out.
    will_continue: bool,
    /// `scheduling` is accepted on responses.
    scheduling: bool,
    /// NON_BLOCKING is not accepted: background calls run deferred (an immediate final
    /// "running" response; the result later as conversation).
    sync_only: bool,
    /// BLOCKING is not accepted: every tool runs as a background tool.
    all_background: bool,
}

impl WireRules {
    pub(crate) fn of(profile: &ModelProfile) -> Self {
        WireRules {
            will_continue: profile.accepts_will_continue,
            scheduling: profile.accepts_scheduling,
            sync_only: profile.is_sync_only(),
            all_background: !profile.accepts_blocking,
        }
    }
}

/// How a call was started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Started {
    /// Answered at once (synchronous-only model); the result goes later as conversation.
    pub(crate) deferred: bool,
    /// The model waits for it (a blocking call).
    pub(crate) blocking: bool,
}

/// Runs tool calls and queues their responses.
#[derive(Clone)]
pub(crate) struct ToolLane {
    dispatcher: Arc<ToolDispatcher>,
    tracker: BackgroundToolTracker,
    rules: WireRules,
    outbox: Arc<Outbox>,
    events: Arc<EventQueue>,
    metrics: Arc<Metrics>,
    /// The model may list and cancel running calls (see `task_control`).
    task_control: bool,
}

/// How one call is answered, fixed when it starts.
#[derive(Clone)]
struct Plan {
    id: String,
    wire_id: Option<String>,
    name: String,
    background: Option<(Guarded, FunctionResponseScheduling)>,
}

impl ToolLane {
    pub(crate) fn new(
        dispatcher: Arc<ToolDispatcher>,
        tracker: BackgroundToolTracker,
        rules: WireRules,
        outbox: Arc<Outbox>,
        events: Arc<EventQueue>,
        metrics: Arc<Metrics>,
        task_control: bool,
    ) -> Self {
        ToolLane {
            dispatcher,
            tracker,
            rules,
            outbox,
            events,
            metrics,
            task_control,
        }
    }

    /// Starts every call of a `toolCall` message. Never awaits. Returns each call's id
    /// (the server's, or a local one when it sent none), name, and how it runs.
    pub(crate) fn on_tool_call(&self, call: ToolCall) -> Vec<(String, String, Started)> {
        call.function_calls
            .into_iter()
            .map(|fc| {
                let id = fc.id.clone().unwrap_or_else(|| {
                    format!("local-{}", LOCAL_IDS.fetch_add(1, Ordering::Relaxed))
                });
                let name = fc.name.clone();
                let started = self.start(id.clone(), fc);
                (id, name, started)
            })
            .collect()
    }

    fn formatter_of(&self, name: &str) -> Guarded {
        Guarded(
            match self
                .dispatcher
                .get(name)
                .and_then(|r| r.options.formatter())
            {
                Some(f) => f.clone(),
                None => Arc::new(DefaultResultFormatter),
            },
        )
    }

    fn start(&self, id: String, fc: FunctionCall) -> Started {
        if self.task_control && task_control::is_control(&fc.name) {
            return self.answer_control(id, fc);
        }
        let Some(registered) = self.dispatcher.get(&fc.name).cloned() else {
            let plan = Plan {
                id,
                wire_id: fc.id,
                name: fc.name.clone(),
                background: None,
            };
            return self.refuse(&plan, format!("unknown tool `{}`", fc.name));
        };
        let background =
            (registered.options.is_background() || self.rules.all_background).then(|| {
                (
                    self.formatter_of(&fc.name),
                    registered
                        .options
                        .scheduling()
                        .unwrap_or(FunctionResponseScheduling::WhenIdle),
                )
            });
        let plan = Plan {
            id,
            wire_id: fc.id,
            name: fc.name,
            background,
        };
        let dedup_key = format!("{}\u{0}{}", plan.name, fc.args);

        if let Some(running) = self.tracker.find_duplicate(&dedup_key) {
            match registered.options.duplicates() {
                DuplicatePolicy::Allow => {}
                DuplicatePolicy::Reject => {
                    return self.refuse(&plan, format!("duplicate of running call {running}"));
                }
                DuplicatePolicy::Replace => {
                    self.cancel_answered(&[running], CancelReason::Replaced);
                }
            }
        }

        self.events.push(LiveEvent::ToolStarted {
            call_id: plan.id.clone(),
            name: plan.name.clone(),
            args: fc.args.clone(),
            background: plan.background.is_some(),
        });
        // Arguments the tool cannot take: the model hears so at once, not "running" first.
        // User code (a `Deserialize`): a panic in it fails this call, not the session.
        let checked =
            std::panic::catch_unwind(AssertUnwindSafe(|| registered.tool.check_args(&fc.args)))
                .unwrap_or_else(|panic| Err(format!("tool panicked: {}", panic_message(&panic))));
        if let Err(error) = checked {
            return self.refuse(&plan, error);
        }
        let mut deferred = false;
        if let Some((formatter, _)) = &plan.background {
            // The ack: at once, before the call is even spawned. Where `willContinue` is
            // refused (Vertex) a background call gets its one final response only; on a
            // synchronous-only model the ack *is* the final response (the model would not
            // speak before it) and the result follows as conversation.
            let running = formatter.running(&plan.name, &fc.args);
            if self.rules.will_continue && !self.rules.sync_only {
                self.send_interim(&plan, running);
            } else if self.rules.sync_only {
                deferred = true;
                self.send(
                    &plan.id,
                    FunctionResponse {
                        id: plan.wire_id.clone(),
                        name: plan.name.clone(),
                        response: running,
                        ..Default::default()
                    },
                );
            }
            if self.rules.will_continue || self.rules.sync_only {
                Metrics::inc(&self.metrics.tool_acks);
                self.events.push(LiveEvent::ToolAcked {
                    call_id: plan.id.clone(),
                    name: plan.name.clone(),
                });
            }
        }
        let blocking = plan.background.is_none();
        self.spawn(plan, registered, fc.args, dedup_key);
        Started { deferred, blocking }
    }

    fn spawn(&self, plan: Plan, registered: Registered, args: Value, dedup_key: String) {
        let token = CancellationToken::new();
        let lane = self.clone();
        let progress_plan = plan.clone();
        let progress_lane = self.clone();
        let progress = move |value: Value| progress_lane.progress(&progress_plan, value);
        let ctx = ToolContext::new(plan.id.as_str(), plan.name.as_str(), token.clone())
            .with_progress(progress);
        let chosen = ctx.chosen_scheduling();
        let timeout = registered.options.effective_timeout();
        let span = tracing::info_span!("tool_call", call_id = %plan.id, tool = %plan.name, background = plan.background.is_some());
        let id = plan.id.clone();
        let name = plan.name.clone();
        let background = plan.background.is_some();
        let task = async move {
            let started = Instant::now();
            // `Tool::call` is user code that may panic before it returns its future.
            let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                registered.tool.call(args, ctx)
            })) {
                Err(panic) => Some(Err(panic)),
                Ok(future) => {
                    let call = AssertUnwindSafe(future).catch_unwind();
                    match timeout {
                        Some(limit) => tokio::time::timeout(limit, call).await.ok(),
                        None => Some(call.await),
                    }
                }
            };
            let outcome = match outcome {
                None => Err(format!("timed out after {:?}", timeout.unwrap_or_default())),
                Some(Ok(Ok(v))) => Ok(v),
                Some(Ok(Err(e))) => Err(e.0),
                Some(Err(panic)) => Err(format!("tool panicked: {}", panic_message(&panic))),
            };
            if !lane.tracker.remove(&plan.id) {
                tracing::debug!("result after cancellation dropped");
                Metrics::inc(&lane.metrics.late_results_dropped);
                return;
            }
            match &outcome {
                Ok(result) => lane.events.push(LiveEvent::ToolCompleted {
                    call_id: plan.id.clone(),
                    name: plan.name.clone(),
                    result: result.clone(),
                    elapsed: started.elapsed(),
                }),
                Err(error) => {
                    tracing::warn!(%error, "tool failed");
                    lane.events.push(LiveEvent::ToolFailed {
                        call_id: plan.id.clone(),
                        name: plan.name.clone(),
                        error: error.clone(),
                    })
                }
            }
            let chosen = *chosen.lock().unwrap_or_else(|p| p.into_inner());
            lane.send_final_scheduled(&plan, outcome, chosen);
        }
        .instrument(span);
        self.tracker
            .spawn(id, name, dedup_key, background, token, task);
    }

    fn progress(&self, plan: &Plan, value: Value) -> bool {
        if !self.tracker.note_progress(&plan.id, &value) {
            return false;
        }
        if let Some((formatter, _)) = &plan.background
            && self.rules.will_continue
            && !self.rules.sync_only
        {
            let response = FunctionResponse {
                id: plan.wire_id.clone(),
                name: plan.name.clone(),
                response: formatter.progress(&plan.name, &value),
                scheduling: Some(FunctionResponseScheduling::Silent),
                will_continue: Some(true),
                ..Default::default()
            };
            match self.outbox.push_progress(&plan.id, response) {
                Queued::New => Metrics::inc(&self.metrics.tool_progress),
                Queued::Coalesced => Metrics::inc(&self.metrics.progress_coalesced),
                Queued::Closed => {}
            }
        }
        self.events.push(LiveEvent::ToolProgress {
            call_id: plan.id.clone(),
            name: plan.name.clone(),
            progress: value,
        });
        true
    }

    /// An interim response on the call's id (ack or progress, Developer API only): the
    /// call stays open (`willContinue: true`) and nothing is voiced (`SILENT`).
    fn send_interim(&self, plan: &Plan, response: Value) {
        self.send(
            &plan.id,
            FunctionResponse {
                id: plan.wire_id.clone(),
                name: plan.name.clone(),
                response,
                scheduling: Some(FunctionResponseScheduling::Silent),
                will_continue: Some(true),
                ..Default::default()
            },
        );
    }

    /// A call that does not run (unknown tool, rejected duplicate, bad arguments): the
    /// application hears `ToolFailed`, the model gets the error at once.
    fn refuse(&self, plan: &Plan, error: String) -> Started {
        self.events.push(LiveEvent::ToolFailed {
            call_id: plan.id.clone(),
            name: plan.name.clone(),
            error: error.clone(),
        });
        self.send_final(plan, Err(error));
        Started::default()
    }

    fn send_final(&self, plan: &Plan, outcome: Result<Value, String>) {
        self.send_final_scheduled(plan, outcome, None);
    }

    /// The final response; `chosen` is the tool's own scheduling for this call
    /// ([`ToolContext::schedule_result`]), over the tool's configured one.
    fn send_final_scheduled(
        &self,
        plan: &Plan,
        outcome: Result<Value, String>,
        chosen: Option<FunctionResponseScheduling>,
    ) {
        let response = match &plan.background {
            Some((formatter, scheduling)) => FunctionResponse {
                id: plan.wire_id.clone(),
                name: plan.name.clone(),
                response: formatter.result(&plan.name, outcome.as_ref().map_err(String::as_str)),
                scheduling: self
                    .rules
                    .scheduling
                    .then_some(chosen.unwrap_or(*scheduling)),
                will_continue: (self.rules.will_continue && !self.rules.sync_only).then_some(false),
                ..Default::default()
            },
            None => FunctionResponse {
                id: plan.wire_id.clone(),
                name: plan.name.clone(),
                response: match outcome {
                    Ok(v) => json!({ "output": v }),
                    Err(e) => json!({ "error": e }),
                },
                ..Default::default()
            },
        };
        Metrics::inc(&self.metrics.tool_results);
        self.send(&plan.id, response);
    }

    fn send(&self, call_id: &str, response: FunctionResponse) {
        if let Err(lost) = self.outbox.push(call_id, response) {
            self.events
                .result_undelivered(lost.call_id, lost.response.name);
        }
    }

    /// Handles `toolCallCancellation`: the calls stop and get no response.
    pub(crate) fn on_cancellation(&self, ids: &[String]) {
        self.cancel(ids, CancelReason::Server);
    }

    fn cancel(&self, ids: &[String], reason: CancelReason) {
        for c in self.tracker.cancel(ids) {
            tracing::info!(call_id = %c.call_id, tool = %c.name, ?reason, "tool call cancelled");
            Metrics::inc(&self.metrics.cancellations);
            let payload = self
                .formatter_of(&c.name)
                .cancelled(&c.name, &c.call_id, reason);
            self.events.push(LiveEvent::ToolCancelled {
                call_id: c.call_id,
                name: c.name,
                payload,
                reason,
            });
        }
    }

    /// Cancels calls the model still waits for (unlike a server cancellation): each gets
    /// a final response, a background call its formatter's "cancelled" (with the tool's
    /// cancel scheduling, `SILENT` unless set, where scheduling is accepted), a standard
    /// call an error, so a blocking model never stalls; then a `ToolCancelled` event with
    /// `reason`. Returns how many were running.
    pub(crate) fn cancel_answered(&self, ids: &[String], reason: CancelReason) -> usize {
        let cancelled = self.tracker.cancel(ids);
        for c in &cancelled {
            tracing::info!(call_id = %c.call_id, tool = %c.name, ?reason, "tool call cancelled");
            Metrics::inc(&self.metrics.cancellations);
            let payload = self
                .formatter_of(&c.name)
                .cancelled(&c.name, &c.call_id, reason);
            let options = self.dispatcher.get(&c.name).map(|r| r.options.clone());
            let background =
                self.rules.all_background || options.as_ref().is_some_and(|o| o.is_background());
            let cancel_scheduling = options
                .as_ref()
                .map_or(FunctionResponseScheduling::Silent, |o| {
                    o.cancel_scheduling()
                });
            let id = Some(c.call_id.clone()).filter(|id| !id.starts_with("local-"));
            let response = if background {
                FunctionResponse {
                    id,
                    name: c.name.clone(),
                    response: payload.clone(),
                    scheduling: self.rules.scheduling.then_some(cancel_scheduling),
                    will_continue: (self.rules.will_continue && !self.rules.sync_only)
                        .then_some(false),
                    ..Default::default()
                }
            } else {
                let why = match reason {
                    CancelReason::Replaced => "replaced by a newer identical call",
                    CancelReason::Model => "cancelled at your request",
                    _ => "cancelled by the application",
                };
                FunctionResponse {
                    id,
                    name: c.name.clone(),
                    response: json!({ "error": why }),
                    ..Default::default()
                }
            };
            self.send(&c.call_id, response);
            self.events.push(LiveEvent::ToolCancelled {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                payload,
                reason,
            });
        }
        cancelled.len()
    }

    /// Answers a task-control call (see `task_control`) at once, from the tracker.
    fn answer_control(&self, id: String, fc: FunctionCall) -> Started {
        let plan = Plan {
            id,
            wire_id: fc.id,
            name: fc.name,
            background: self.rules.all_background.then(|| {
                (
                    Guarded(Arc::new(DefaultResultFormatter)),
                    FunctionResponseScheduling::WhenIdle,
                )
            }),
        };
        self.events.push(LiveEvent::ToolStarted {
            call_id: plan.id.clone(),
            name: plan.name.clone(),
            args: fc.args.clone(),
            background: plan.background.is_some(),
        });
        let outcome = if plan.name == task_control::LIST {
            Ok(task_control::list(
                &RunningTools(self.tracker.clone()).list(),
            ))
        } else {
            match task_control::task_id(&fc.args) {
                None => Err("`task_id` is missing".to_owned()),
                Some(task)
                    if self.cancel_answered(&[task.to_owned()], CancelReason::Model) == 1 =>
                {
                    Ok(json!({ "cancelled": task }))
                }
                Some(task) => Err(format!("no running task `{task}`")),
            }
        };
        match &outcome {
            Ok(result) => self.events.push(LiveEvent::ToolCompleted {
                call_id: plan.id.clone(),
                name: plan.name.clone(),
                result: result.clone(),
                elapsed: std::time::Duration::ZERO,
            }),
            Err(error) => self.events.push(LiveEvent::ToolFailed {
                call_id: plan.id.clone(),
                name: plan.name.clone(),
                error: error.clone(),
            }),
        }
        let blocking = plan.background.is_none();
        self.send_final(&plan, outcome);
        Started {
            deferred: false,
            blocking,
        }
    }

    /// Cancels every running call because the session (or its conversation) ended.
    pub(crate) fn cancel_all_session_ended(&self) {
        self.cancel(&self.tracker.active_ids(), CancelReason::SessionEnded);
    }

    /// Cancels every call (end of session) and waits for all tool tasks to end.
    pub(crate) async fn shutdown(&self) {
        self.cancel_all_session_ended();
        self.tracker.shutdown().await;
    }
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
