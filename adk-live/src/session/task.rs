//! The session task: the one task that owns the socket.
//!
//! It waits, in priority order, on: shutdown, queued tool responses (so results never
//! wait behind audio), inbound frames (decoded and handed to the control lane), the
//! keepalive timer, the goAway deadline, and the application's sends; each wait is polled
//! only when something may have changed for it (see `SessionTask::wait`). When a connection
//! ends it decides: a fatal close ends the session; a goAway or a retryable loss re-dials
//! (with the latest resumption handle) while every queue keeps its contents, so the
//! application sees one continuous session.
//!
//! It never hangs and never dies silently:
//! * every write is bounded ([`SessionConfig::write_timeout`](crate::SessionConfig)),
//!   and shutdown and the goAway deadline stay live while one is pending: a peer that
//!   stops reading is a lost connection, not a stuck session;
//! * a message this client will not send (too large, malformed) is refused locally: a
//!   tool response becomes a small error response on the same call, so the model is never
//!   left waiting, and the connection stays up;
//! * durations from the wire are saturated, never trusted to fit an `Instant`;
//! * reconnects back off across dials (see [`ReconnectPolicy`]);
//! * a panic anywhere in the task still cancels every tool and ends the session with a
//!   `Closed` event that carries it.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use genai_wire::protocol::{
    self, ClientContent, ClientMessage, Content, FunctionResponse, FunctionResponseScheduling,
    Part, ToolResponse,
};
use genai_wire::transport::{
    CLOSE_ABNORMAL, CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, TextFrame, Wait, Wakes, WireFrame,
};
use genai_wire::{CloseInfo, Error as WireError};
use serde_json::json;
use tokio::sync::futures::Notified;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::Instrument;

use super::control::{self, ControlState, Signal};
use super::ledger::{Recovery, Route};
use super::link::{Dialer, Link};
use super::outbound::Outbound;
use super::replay::Replay;
use crate::config::{ConversationForm, ReconnectPolicy};
use crate::error::Error;
use crate::event::{EventQueue, LiveEvent};
use crate::metrics::Metrics;
use crate::tools::lane::{ToolLane, panic_message};
use crate::tools::outbox::{Outbox, Outgoing};
use genai_wire::profile::HistorySeed;

/// Why one connection's loop stopped.
enum Exit {
    /// Disconnect or drop of the handle.
    Shutdown,
    /// goAway: move to a new connection now.
    Switch,
    /// The connection failed.
    Lost(Error),
}

/// Why a write did not happen.
enum WriteFail {
    Shutdown,
    /// The goAway deadline passed while the write was pending.
    GoAway,
    Lost(Error),
    /// Refused locally: nothing was written, the connection is intact.
    Refused(Error),
}

impl From<WriteFail> for Exit {
    fn from(f: WriteFail) -> Exit {
        match f {
            WriteFail::Shutdown => Exit::Shutdown,
            WriteFail::GoAway => Exit::Switch,
            WriteFail::Lost(e) | WriteFail::Refused(e) => Exit::Lost(e),
        }
    }
}

/// Far enough never to fire, near enough for any `Instant` to hold.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + d`, saturated instead of overflowing (durations come from the wire and from
/// users, and are never trusted to fit).
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(FAR_FUTURE))
        .unwrap_or_else(|| now + Duration::from_secs(86_400))
}

/// A result waiting to go as conversation.
pub(crate) struct Held {
    call_id: String,
    response: FunctionResponse,
    message: ClientMessage,
    wait_idle: bool,
}

pub(crate) struct SessionTask {
    pub(super) dialer: Dialer,
    /// Its items are kept small (24 bytes: see [`Outbound`]): a queue's blocks are sized
    /// by its item.
    pub(super) app_rx: super::queue::Receiver,
    pub(super) outbox: Arc<Outbox>,
    pub(super) shutdown: CancellationToken,
    pub(super) lane: ToolLane,
    pub(super) events: Arc<EventQueue>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) reconnect: ReconnectPolicy,
    pub(super) goaway_margin: Duration,
    /// The longest any write may take.
    pub(super) write_bound: Duration,
    pub(super) state: ControlState,
    /// Messages and frames taken from a queue whose write failed (or replayed): written
    /// first on the next link.
    pub(super) pending: VecDeque<Outbound>,
    /// Sent but not yet consumed (Vertex transparent resumption only).
    pub(super) replay: Replay,
    /// Failed dials and connections that died young, in a row.
    pub(super) failures: u32,
    /// How results for calls the server no longer knows reach the model.
    pub(super) conversation: ConversationForm,
    /// Results going as conversation, in order; those that wait for an idle model
    /// (`WHEN_IDLE`) are held while it speaks or waits on a blocking call.
    pub(super) conversation_out: VecDeque<Held>,
    /// The seed of a fresh session, written first (and never recorded in the history).
    pub(super) seed: Option<ClientMessage>,
    /// Ask the server for handles (else every new connection is a fresh session).
    pub(super) resumption: bool,
    /// How the model takes a history seed.
    pub(super) history_seed: HistorySeed,
    /// Which of the loop's waits to poll (see [`Wakes`]).
    pub(super) wakes: Wakes,
}

/// The loop's waits with a waker of their own (see [`Wakes`]); the application's queue is
/// polled on every turn with the task's own waker.
const SHUTDOWN: Wait = Wait::new(0);
const OUTBOX: Wait = Wait::new(1);
const SOCKET: Wait = Wait::new(2);
const KEEPALIVE: Wait = Wait::new(3);
/// How many.
pub(super) const WAITS: usize = 4;
const _: () = assert!(SHUTDOWN.index() < WAITS && OUTBOX.index() < WAITS);
const _: () = assert!(SOCKET.index() < WAITS && KEEPALIVE.index() < WAITS);

/// What ended one wait of the loop.
enum Woke {
    Shutdown,
    Outbox,
    Frame(Option<genai_wire::Result<WireFrame>>),
    Keepalive(genai_wire::Result<()>),
    GoAway,
    App(Option<Outbound>),
}

impl SessionTask {
    pub(crate) fn spawn(self, link: Link) -> tokio::task::JoinHandle<()> {
        let span = tracing::info_span!(
            "live_session",
            session_id = link.session_id.as_deref().unwrap_or("")
        );
        let (events, lane, outbox) = (self.events.clone(), self.lane.clone(), self.outbox.clone());
        // `then`, not an `async` block around `run`: a block would keep its captures (the
        // task and the link, ~2 KB) beside the `run` future for the session's whole life.
        let session =
            AssertUnwindSafe(self.run(link))
                .catch_unwind()
                .then(move |outcome| async move {
                    let Err(panic) = outcome else {
                        return;
                    };
                    // The backstop: whatever panicked, the tools stop and the application
                    // hears that the session is over.
                    let error = Error::Panicked(panic_message(&panic));
                    tracing::error!(%error, "session task panicked");
                    lane.shutdown().await;
                    report_undelivered(outbox.close(), &events);
                    events.push(LiveEvent::Closed {
                        close: None,
                        error: Some(error.to_string()),
                    });
                });
        let session = session.instrument(span);
        tokio::spawn(session)
    }

    // Not an `async fn`: its arguments would be kept twice in the future for the
    // session's whole life (once as the arguments, once as the moved-in locals; rustc
    // issue 62958), 2 KB per session. An `async move` block uses its captures in place.
    #[allow(clippy::manual_async_fn)]
    fn run(mut self, mut link: Link) -> impl Future<Output = ()> + Send {
        async move {
            let (close, error) = loop {
                let up_since = Instant::now();
                let exit = self.serve(&mut link).await;
                // A connection that died young counts as a failure, one that stayed up resets
                // the count: a server that closes right after setup cannot cause a storm.
                let young = up_since.elapsed() < self.reconnect.healthy_after;
                let (after_goaway, cause) = match exit {
                    // The cold paths (close, redial, finish) are boxed so that the session
                    // task's future, which lives as long as the session, stays small.
                    Exit::Shutdown => {
                        if Box::pin(link.close(true)).await {
                            self.state.ledger.all_read();
                        }
                        break (None, None);
                    }
                    Exit::Switch => {
                        tracing::info!("goAway: switching connection");
                        // No wait for the server's reply: the new connection is due now.
                        Box::pin(link.close(false)).await;
                        self.failures = if young { self.failures + 1 } else { 0 };
                        (true, None)
                    }
                    Exit::Lost(e) if e.is_retryable() && self.reconnect.max_attempts > 0 => {
                        tracing::warn!(error = %e, young, "connection lost; reconnecting");
                        self.events.push(LiveEvent::Reconnecting {
                            error: e.to_string(),
                            close: e.close().cloned(),
                        });
                        // Let go of the dead socket first: the server refuses to resume a
                        // session whose previous connection it still sees open.
                        drop(link);
                        self.failures = if young { self.failures + 1 } else { 1 };
                        (false, Some(e))
                    }
                    Exit::Lost(e) => {
                        tracing::warn!(error = %e, "session ended by error");
                        break (e.close().cloned(), Some(e));
                    }
                };
                match Box::pin(self.redial(after_goaway, cause)).await {
                    Ok(next) => link = next,
                    Err(None) => break (None, None),
                    Err(Some(e)) => break (e.close().cloned(), Some(e)),
                }
            };
            Box::pin(self.finish(close, error)).await;
        }
    }

    /// Ends the session: cancels every tool, reports what could not be delivered, emits
    /// the final `Closed` event.
    async fn finish(mut self, close: Option<CloseInfo>, error: Option<Error>) {
        self.lane.shutdown().await;
        let mut lost = self.take_pending_responses();
        lost.extend(self.outbox.close());
        let reported: Vec<String> = lost.iter().map(|o| o.call_id.clone()).collect();
        report_undelivered(lost, &self.events);
        for held in std::mem::take(&mut self.conversation_out) {
            self.events
                .result_undelivered(held.call_id, held.response.name);
        }
        // The session died before a newer checkpoint covered these answers, or was closed
        // before the server was known to have read them (a half-open socket takes writes
        // it never delivers): report them rather than stay silent.
        let unsure = if error.is_some() {
            self.state.ledger.unsettled_answers()
        } else {
            self.state.ledger.unread_answers()
        };
        for (call_id, name) in unsure {
            // A resend still waiting in `pending` was reported just above.
            if !reported.contains(&call_id) {
                self.events.result_unconfirmed(call_id, name);
            }
        }
        self.events.push(LiveEvent::Closed {
            close,
            error: error.map(|e| e.to_string()),
        });
    }

    /// Re-dials until it works, the budget is spent (`Err(Some)`), or the session is shut
    /// down (`Err(None)`). `cause` is why the last connection ended, if it failed.
    async fn redial(
        &mut self,
        after_goaway: bool,
        cause: Option<Error>,
    ) -> Result<Link, Option<Error>> {
        let mut last = cause;
        loop {
            if self.failures > self.reconnect.max_attempts {
                let last = last.unwrap_or(Error::SessionEnded);
                tracing::warn!(failures = self.failures, error = %last, "reconnect budget spent");
                return Err(Some(Error::ReconnectBudgetSpent {
                    attempts: self.failures,
                    last: Box::new(last),
                }));
            }
            let delay = self.reconnect.delay(self.failures);
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(None),
                _ = tokio::time::sleep(delay) => {}
            }
            let handle = self.state.handle.clone();
            let generation = self.state.ledger.resume_generation();
            let seeded = handle.is_none()
                && self.history_seed == HistorySeed::InitialHistoryInClientContent
                && !self.state.history.is_empty();
            let dialed = tokio::select! {
                _ = self.shutdown.cancelled() => return Err(None),
                r = self.dialer.dial(handle.as_deref(), seeded) => r,
            };
            match dialed {
                Ok(link) => {
                    self.on_reconnected(handle.is_some().then_some(generation));
                    return Ok(link);
                }
                Err(e)
                    if handle.is_some()
                        && e.close().is_some_and(|c| c.code == CLOSE_POLICY_VIOLATION) =>
                {
                    // The handle is stale: the conversation is gone; start afresh (a fresh
                    // dial that is refused too is fatal, so this cannot loop).
                    tracing::warn!(error = %e, "resumption refused; starting a new session");
                    self.state.handle = None;
                    self.state.ledger.forget_handle();
                    last = Some(e);
                }
                // The server still sees the old connection (a half-open socket it never
                // read our close on) and refuses the resume with 1011. Past half the
                // budget, start afresh (seeded with the history) rather than spend the
                // rest of it on the same handle.
                Err(e)
                    if handle.is_some()
                        && e.close().is_some_and(|c| c.code == CLOSE_INTERNAL_ERROR)
                        && self.failures.saturating_mul(2) >= self.reconnect.max_attempts =>
                {
                    tracing::warn!(error = %e, "resumption keeps failing; starting a new session");
                    self.state.handle = None;
                    self.state.ledger.forget_handle();
                    self.failures += 1;
                    last = Some(e);
                }
                // A token endpoint outage is retryable (`TokenUnavailable`): it gets the
                // reconnect budget; refused credentials are fatal.
                Err(e) if e.is_fatal() => {
                    return Err(Some(e));
                }
                Err(e) => {
                    tracing::warn!(failures = self.failures, error = %e, after_goaway, "reconnect failed");
                    self.failures += 1;
                    last = Some(e);
                }
            }
        }
    }

    /// A new connection is up. `resumed` is the generation of the checkpoint it resumed
    /// (`None`: a fresh session). Tool responses that were waiting are not replayed as
    /// they were: the ledger decides, per call, whether the new server session needs the
    /// final response again on the wire, as conversation, or not at all.
    fn on_reconnected(&mut self, resumed: Option<u64>) {
        Metrics::inc(&self.metrics.reconnects);
        let unconsumed = self.replay.take_for_new_link();
        if resumed.is_some() {
            Metrics::inc(&self.metrics.resumptions);
            for message in unconsumed.into_iter().rev() {
                self.pending.push_front(message);
            }
        }
        // Waiting acks and progress are moot on a new connection. A final whose write
        // failed counts as answered now: the ledger decides whether the new server session
        // gets it again on the wire or as conversation.
        for item in self.take_pending_responses() {
            if item.response.will_continue == Some(true) {
                continue;
            }
            if self.resumption {
                // An older answer the bounded ledger let go of: written, never confirmed.
                if let Some((id, name)) = self.state.ledger.answered(&item.call_id, &item.response)
                {
                    self.events.result_unconfirmed(id, name);
                }
            } else {
                // Without resumption every new connection is a fresh session.
                self.as_conversation(&item.call_id, &item.response);
            }
        }
        let recovery = self.state.ledger.recover(resumed.unwrap_or(0));
        self.recover(recovery);
        if resumed.is_none() {
            self.seed_fresh_session();
        }
        self.state.generating = false;
        self.events.push(LiveEvent::Reconnected {
            resumed: resumed.is_some(),
        });
    }

    fn recover(&mut self, recovery: Recovery) {
        let Recovery {
            resend,
            as_conversation,
            orphaned,
        } = recovery;
        for (call_id, name) in &orphaned {
            tracing::info!(%call_id, tool = %name, "the new server session does not know this running call: its result will go as conversation");
        }
        if !resend.is_empty() {
            tracing::info!(
                count = resend.len(),
                "re-sending finals the restored checkpoint lacks"
            );
            self.pending
                .push_back(Outbound::from(ClientMessage::ToolResponse(ToolResponse {
                    function_responses: resend,
                })));
        }
        for (call_id, response) in as_conversation {
            self.as_conversation(&call_id, &response);
        }
    }

    /// A fresh server session knows nothing: seed it with the conversation so far, ahead
    /// of everything else waiting, in the form the model's profile gives: `clientContent`
    /// turns with `turnComplete: false` (context, no reply) on 2.5; on 3.x the setup
    /// announced `historyConfig.initialHistoryInClientContent` and the seed ends with
    /// `turnComplete: true` (the server takes it without a model call, then realtime
    /// input).
    fn seed_fresh_session(&mut self) {
        let turn_complete = match self.history_seed {
            _ if self.state.history.is_empty() => return,
            HistorySeed::None => return,
            HistorySeed::ClientContent => false,
            HistorySeed::InitialHistoryInClientContent => true,
        };
        // Results about to go as conversation are said once, there, not also in the seed.
        let again: Vec<&str> = self
            .conversation_out
            .iter()
            .map(|h| h.call_id.as_str())
            .collect();
        let turns = self.state.history.seed_turns(&again);
        tracing::info!(
            turns = turns.len(),
            "seeding the fresh session with the conversation so far"
        );
        // Replaces a seed never written: one seed per fresh session.
        self.seed = Some(ClientMessage::ClientContent(ClientContent {
            turns,
            turn_complete: Some(turn_complete),
        }));
    }

    /// Delivers a final response as conversation (the server does not know its call). The
    /// ledger follows it until a checkpoint covers the written turn.
    fn as_conversation(&mut self, call_id: &str, response: &FunctionResponse) {
        self.state
            .ledger
            .queued_as_conversation(call_id, &response.name);
        Metrics::inc(&self.metrics.results_as_conversation);
        tracing::info!(%call_id, tool = %response.name, "result delivered as conversation");
        self.events.push(LiveEvent::ToolResultAsConversation {
            call_id: call_id.to_owned(),
            name: response.name.clone(),
        });
        let message = conversation_message(call_id, response, self.conversation);
        let wait_idle = match response.scheduling {
            // Said now, even over the model.
            Some(FunctionResponseScheduling::Interrupt) => false,
            // Context only: nothing is generated, so no need to wait.
            Some(FunctionResponseScheduling::Silent) => {
                self.conversation != ConversationForm::ClientContent
            }
            _ => true,
        };
        self.conversation_out.push_back(Held {
            call_id: call_id.to_owned(),
            response: response.clone(),
            message,
            wait_idle,
        });
    }

    /// True when user input now disturbs nothing: the model is not speaking and not
    /// waiting on a blocking call (on 3.8 input during one cancels it).
    fn is_idle(&self) -> bool {
        !self.state.generating && !self.state.ledger.awaits_blocking_call()
    }

    /// Writes the conversation results that may go now, in order.
    async fn flush_conversation(
        &mut self,
        link: &mut Link,
        goaway: Option<Instant>,
    ) -> Result<(), Exit> {
        let idle = self.is_idle();
        let mut i = 0;
        while i < self.conversation_out.len() {
            if self.conversation_out[i].wait_idle && !idle {
                i += 1;
                continue;
            }
            let Some(held) = self.conversation_out.remove(i) else {
                break;
            };
            // Recorded as the call's result (tagged), not as a user turn.
            match self.write(link, &held.message, goaway, false).await {
                Ok(()) => {
                    self.state.history.result(&held.call_id, &held.response);
                    Metrics::inc(&self.metrics.results_written);
                    self.state
                        .ledger
                        .written_as_conversation(&held.call_id, &held.response);
                }
                Err(WriteFail::Refused(e)) => {
                    tracing::warn!(error = %e, call_id = %held.call_id, "result as conversation refused locally");
                    self.state.ledger.abandoned(&held.call_id);
                    self.events
                        .result_undelivered(held.call_id, held.response.name);
                }
                Err(fail) => {
                    self.conversation_out.insert(i, held);
                    return Err(fail.into());
                }
            }
        }
        Ok(())
    }

    /// Writes every response the tool lane has queued, each where the ledger routes it:
    /// on the wire, as conversation, or nowhere (an interim response for a call the
    /// server does not know).
    async fn drain_outbox(&mut self, link: &mut Link, goaway: Option<Instant>) -> Result<(), Exit> {
        while let Some(item) = self.outbox.try_pop() {
            match self.state.ledger.route(&item.call_id, &item.response) {
                Route::Wire => {
                    // Answered once written (what was written: a refused response is
                    // replaced by a small error); a failed write leaves it in `pending`,
                    // which the next connection hands to the ledger.
                    let call_id = item.call_id;
                    let message = ClientMessage::ToolResponse(ToolResponse {
                        function_responses: vec![item.response],
                    });
                    match self.deliver(link, message, goaway).await? {
                        Some(ClientMessage::ToolResponse(mut sent))
                            if !sent.function_responses.is_empty() =>
                        {
                            let response = sent.function_responses.swap_remove(0);
                            if let Some(evicted) = self.state.ledger.answered(&call_id, &response) {
                                self.events.result_unconfirmed(evicted.0, evicted.1);
                            }
                        }
                        // Nothing could be sent (reported as such): nothing to follow.
                        _ => self.state.ledger.abandoned(&call_id),
                    }
                }
                Route::Conversation => self.as_conversation(&item.call_id, &item.response),
                Route::Drop => tracing::debug!(
                    call_id = %item.call_id,
                    "interim response for a call the server does not know: not sent"
                ),
            }
        }
        Ok(())
    }

    /// Takes the tool responses out of the messages waiting for a connection.
    fn take_pending_responses(&mut self) -> Vec<Outgoing> {
        let mut taken = Vec::new();
        self.pending.retain(|m| match m {
            Outbound::Message(m) => match &**m {
                ClientMessage::ToolResponse(r) => {
                    taken.extend(r.function_responses.iter().map(|r| Outgoing {
                        call_id: r.id.clone().unwrap_or_default(),
                        response: r.clone(),
                    }));
                    false
                }
                _ => true,
            },
            _ => true,
        });
        taken
    }

    /// Runs `write` (a write on `link`) within the write bound, with shutdown and the
    /// goAway deadline live while it is pending. A write cut short leaves the link broken.
    async fn bounded(
        &self,
        link_broken: &mut bool,
        write: impl Future<Output = genai_wire::Result<()>>,
        goaway: Option<Instant>,
    ) -> Result<(), WriteFail> {
        let classify = |e: genai_wire::Error| {
            let e = Error::from(e);
            if e.is_refused_locally() {
                WriteFail::Refused(e)
            } else {
                WriteFail::Lost(e)
            }
        };
        let mut write = std::pin::pin!(write);
        // The common case: the socket takes the frame at once. No timer, no select.
        if let Poll::Ready(r) = futures::poll!(write.as_mut()) {
            return r.map_err(classify);
        }
        let stalled = deadline_after(self.write_bound);
        let (deadline, at_goaway) = match goaway {
            Some(g) if g < stalled => (g, true),
            _ => (stalled, false),
        };
        let result = tokio::select! {
            biased;
            r = write => return r.map_err(classify),
            _ = self.shutdown.cancelled() => WriteFail::Shutdown,
            _ = tokio::time::sleep_until(deadline) => if at_goaway {
                WriteFail::GoAway
            } else {
                tracing::warn!(bound = ?self.write_bound, "write stalled: the peer stopped reading");
                WriteFail::Lost(Error::WriteStalled(self.write_bound))
            },
        };
        *link_broken = true;
        Err(result)
    }

    /// Encodes and writes one message (bounded), and records it for replay.
    async fn write(
        &mut self,
        link: &mut Link,
        message: &ClientMessage,
        goaway: Option<Instant>,
        record: bool,
    ) -> Result<(), WriteFail> {
        // The backend's rules are checked here and the size limit by the writer (before
        // anything is written): a message refused locally never touches the socket.
        let text = protocol::encode_client(message, link.backend)
            .map_err(|e| WriteFail::Refused(e.into()))?;
        let Link { writer, broken, .. } = link;
        self.bounded(broken, writer.send_text(text), goaway).await?;
        // The seed and results said as conversation are the ledger's to say again, not
        // transparent resumption's (both would replay them).
        if record {
            self.replay.sent(|| message.clone().into());
            self.state.history.sent(message);
        }
        if let ClientMessage::ToolResponse(t) = message {
            let finals = t
                .function_responses
                .iter()
                .filter(|r| r.will_continue != Some(true))
                .count();
            self.metrics
                .results_written
                .fetch_add(finals as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // A turn this client wrote is in no checkpoint yet.
        let turn = match message {
            ClientMessage::ClientContent(_) | ClientMessage::ToolResponse(_) => true,
            ClientMessage::RealtimeInput(r) => r.text.is_some(),
            _ => false,
        };
        if turn {
            self.state.ledger.model_output();
        }
        Ok(())
    }

    /// Writes a message; on a failure that ends the connection, keeps it (first in line)
    /// for the next one. A message refused locally is reported, and a refused tool
    /// response is replaced by a small error response on the same call. Returns what was
    /// written, if anything.
    async fn deliver(
        &mut self,
        link: &mut Link,
        message: ClientMessage,
        goaway: Option<Instant>,
    ) -> Result<Option<ClientMessage>, Exit> {
        let mut message = message;
        loop {
            match self.write(link, &message, goaway, true).await {
                Ok(()) => return Ok(Some(message)),
                Err(WriteFail::Refused(e)) => match self.refused(message, e) {
                    Some(replacement) => message = replacement,
                    None => return Ok(None),
                },
                Err(fail) => {
                    self.pending.push_front(message.into());
                    return Err(fail.into());
                }
            }
        }
    }

    /// Writes one queued item (see [`Outbound`]); like [`SessionTask::deliver`], a failure
    /// that ends the connection keeps it, first in line, for the next one.
    async fn deliver_out(
        &mut self,
        link: &mut Link,
        item: Outbound,
        goaway: Option<Instant>,
    ) -> Result<(), Exit> {
        let frame = match item {
            Outbound::Message(message) => {
                return self.deliver(link, *message, goaway).await.map(drop);
            }
            Outbound::Audio(text) => TextFrame::from(String::from(text)),
            Outbound::Frame(frame) => *frame,
        };
        // Kept (a shared copy: no bytes are copied) until the write is known to be done.
        let Link { writer, broken, .. } = &mut *link;
        match self
            .bounded(broken, writer.send_frame(frame.clone()), goaway)
            .await
        {
            Ok(()) => {
                self.replay.sent(|| Outbound::Frame(Box::new(frame)));
                Ok(())
            }
            Err(WriteFail::Refused(e)) => {
                tracing::warn!(error = %e, "audio refused locally");
                self.events.push(LiveEvent::Error(e.to_string()));
                Ok(())
            }
            Err(fail) => {
                self.pending.push_front(Outbound::Frame(Box::new(frame)));
                Err(fail.into())
            }
        }
    }

    /// A message this client will not send. Returns what to send instead, if anything.
    fn refused(&mut self, message: ClientMessage, error: Error) -> Option<ClientMessage> {
        tracing::warn!(%error, "message refused locally");
        let ClientMessage::ToolResponse(t) = message else {
            self.events.push(LiveEvent::Error(error.to_string()));
            return None;
        };
        let mut replacements = Vec::new();
        for r in t.function_responses {
            let call_id = r.id.clone().unwrap_or_default();
            if r.will_continue == Some(true) {
                // An ack or progress: the final response still follows.
                self.events.push(LiveEvent::Error(format!(
                    "interim response for call {call_id} (`{}`) not sent: {error}",
                    r.name
                )));
                continue;
            }
            Metrics::inc(&self.metrics.responses_refused);
            let already_replaced = r.response.get("refusedLocally").is_some();
            self.events.push(LiveEvent::ToolFailed {
                call_id: call_id.clone(),
                name: r.name.clone(),
                error: format!("the response could not be sent: {error}"),
            });
            if already_replaced {
                // The small replacement was refused too (e.g. no id where one is needed):
                // nothing can be sent for this call.
                self.events.result_undelivered(call_id, r.name);
                continue;
            }
            replacements.push(FunctionResponse {
                id: r.id,
                name: r.name,
                response: json!({
                    "status": "error",
                    "error": format!("the tool's response could not be delivered: {error}"),
                    "refusedLocally": true,
                }),
                scheduling: r.scheduling,
                will_continue: r.will_continue,
                ..Default::default()
            });
        }
        if replacements.is_empty() {
            return None;
        }
        Some(ClientMessage::ToolResponse(ToolResponse {
            function_responses: replacements,
        }))
    }

    /// True when switching connection now loses nothing the server would resume. With
    /// resumption on but no handle yet, a switch would give up a live connection (it still
    /// has its `timeLeft`) for a fresh server session: wait for a handle, or the deadline.
    fn clean_checkpoint(&self) -> bool {
        if self.state.generating {
            return false;
        }
        if self.resumption {
            self.state.ledger.has_handle() && self.state.ledger.is_clean_checkpoint()
        } else {
            self.state.ledger.is_settled()
        }
    }

    /// Runs one connection until it ends.
    async fn serve(&mut self, link: &mut Link) -> Exit {
        let mut goaway_deadline: Option<Instant> = None;
        // One wait on the shutdown token for the whole connection, not one per iteration
        // (each would lock the token and register a waiter anew).
        let mut shutdown = std::pin::pin!(self.shutdown.clone().cancelled_owned());
        // Likewise one wait for the tool lane's outbox; it is drained at the top of the
        // loop, ahead of everything the application sends.
        let outbox = self.outbox.clone();
        let mut ready = std::pin::pin!(outbox.ready());
        // The futures above and the link's reader and keepalive are new: poll each once.
        self.wakes.rouse_all();
        let mut quiet = false;
        loop {
            // After audio, nothing the housekeeping looks at has changed: straight back
            // to waiting (each look at the outbox, the ledger and the queues is a cache
            // miss per session, 50 times a second).
            if !std::mem::take(&mut quiet)
                && let Err(exit) = self.settle(link, goaway_deadline).await
            {
                return exit;
            }
            let woke = self
                .wait(link, &mut shutdown, &mut ready, goaway_deadline)
                .await;
            match woke {
                Woke::Shutdown => return Exit::Shutdown,
                Woke::Outbox => ready.set(outbox.ready()),
                Woke::Frame(frame) => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        // After goAway, the server's close (1008 "about timeLeft later", §6b)
                        // is the switch, not a failure.
                        Some(Err(_)) if goaway_deadline.is_some() => return Exit::Switch,
                        Some(Err(e)) => return Exit::Lost(e.into()),
                        None => {
                            return Exit::Lost(
                                WireError::Closed(CloseInfo {
                                    code: CLOSE_ABNORMAL,
                                    reason: String::new(),
                                })
                                .into(),
                            );
                        }
                    };
                    self.state.ledger.barrier_read(link.reader.barrier());
                    let message = match protocol::decode_server(frame.data()) {
                        Ok(m) => m,
                        Err(e) => {
                            Metrics::inc(&self.metrics.decode_errors);
                            tracing::warn!(error = %e, "undecodable server frame");
                            self.events.push(LiveEvent::Error(e.to_string()));
                            continue;
                        }
                    };
                    let signal =
                        control::on_message(message, &mut self.state, &self.events, &self.lane);
                    if let Some(index) = self.state.last_consumed.take() {
                        self.replay.consumed(index);
                    }
                    if let Signal::GoAway(time_left) = signal {
                        let left = time_left.unwrap_or(Duration::ZERO);
                        goaway_deadline =
                            Some(deadline_after(left.saturating_sub(self.goaway_margin)));
                    }
                }
                Woke::Keepalive(due) => {
                    if let Err(e) = due {
                        return Exit::Lost(e.into());
                    }
                    let Link { writer, broken, .. } = &mut *link;
                    if let Err(fail) = self.bounded(broken, writer.ping(), goaway_deadline).await {
                        return fail.into();
                    }
                }
                Woke::GoAway => return Exit::Switch,
                Woke::App(item) => {
                    let Some(item) = item else {
                        return Exit::Shutdown;
                    };
                    quiet = matches!(item, Outbound::Audio(_));
                    if let Err(exit) = self.deliver_out(link, item, goaway_deadline).await {
                        return exit;
                    }
                }
            }
        }
    }

    /// The top of the loop: writes what waits (a seed, unsent messages, the tool lane's
    /// responses, results going as conversation, a barrier after answers), then moves
    /// after goAway once the checkpoint is clean. `Err`: the connection's loop ends.
    async fn settle(
        &mut self,
        link: &mut Link,
        goaway_deadline: Option<Instant>,
    ) -> Result<(), Exit> {
        if let Some(seed) = self.seed.take() {
            match self.write(link, &seed, goaway_deadline, false).await {
                Ok(()) => {}
                Err(WriteFail::Refused(e)) => {
                    tracing::warn!(error = %e, "history seed refused locally; not sent");
                }
                Err(fail) => {
                    self.seed = Some(seed);
                    return Err(fail.into());
                }
            }
        }
        while let Some(item) = self.pending.pop_front() {
            self.deliver_out(link, item, goaway_deadline).await?;
        }
        self.drain_outbox(link, goaway_deadline).await?;
        self.flush_conversation(link, goaway_deadline).await?;
        // After answers, a barrier: its pong proves the server read them (see ledger).
        if let Some(seq) = self.state.ledger.take_barrier() {
            let Link { writer, broken, .. } = &mut *link;
            self.bounded(broken, writer.barrier(seq), goaway_deadline)
                .await?;
        }
        // After goAway, move as soon as the newest handle is a clean checkpoint (newer
        // than every open call and the model's last output): switching earlier would
        // resume a state that lacks them.
        if goaway_deadline.is_some() && self.clean_checkpoint() {
            return Err(Exit::Switch);
        }
        Ok(())
    }

    /// Waits, in priority order, for shutdown, the tool lane's outbox, a frame, the
    /// keepalive, the goAway deadline and the application's next message. Shutdown, the
    /// outbox, the socket and the keepalive are polled only when their own waker fired
    /// (see [`Wakes`]); the goAway deadline (a new timer each turn) and the application's
    /// queue (cheap, and the most frequent) are polled every turn. The application's
    /// audio wakes the task 50 times a second, and none of those wake-ups polls the
    /// socket.
    async fn wait(
        &mut self,
        link: &mut Link,
        shutdown: &mut Pin<&mut WaitForCancellationFutureOwned>,
        ready: &mut Pin<&mut Notified<'_>>,
        goaway_deadline: Option<Instant>,
    ) -> Woke {
        let Link {
            reader, keepalive, ..
        } = link;
        let mut frame = std::pin::pin!(reader.next_frame());
        let mut tick = std::pin::pin!(keepalive.tick());
        // Re-created each turn, so polled each turn while it is set (only after goAway).
        let mut goaway = std::pin::pin!(async {
            match goaway_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        });
        let (wakes, app_rx) = (&self.wakes, &mut self.app_rx);
        std::future::poll_fn(|cx| {
            let woken = wakes.begin(cx);
            if wakes
                .poll(woken, SHUTDOWN, |cx| shutdown.as_mut().poll(cx))
                .is_ready()
            {
                return Poll::Ready(Woke::Shutdown);
            }
            if wakes
                .poll(woken, OUTBOX, |cx| ready.as_mut().poll(cx))
                .is_ready()
            {
                return Poll::Ready(Woke::Outbox);
            }
            if let Poll::Ready(f) = wakes.poll(woken, SOCKET, |cx| frame.as_mut().poll(cx)) {
                return Poll::Ready(Woke::Frame(f));
            }
            if let Poll::Ready(due) = wakes.poll(woken, KEEPALIVE, |cx| tick.as_mut().poll(cx)) {
                return Poll::Ready(Woke::Keepalive(due));
            }
            if goaway_deadline.is_some() && goaway.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Woke::GoAway);
            }
            // Every turn, with the task's own waker (see `genai_wire::transport::Wakes`).
            if let Poll::Ready(m) = app_rx.poll_recv(cx) {
                return Poll::Ready(Woke::App(m));
            }
            Poll::Pending
        })
        .await
    }
}

/// Reports each response as undelivered: none is dropped silently.
fn report_undelivered(lost: Vec<Outgoing>, events: &EventQueue) {
    for item in lost {
        // Interim responses (acks, progress) are superseded by the final one; only a
        // final that cannot be delivered leaves the model without an answer.
        if item.response.will_continue != Some(true) {
            events.result_undelivered(item.call_id, item.response.name);
        }
    }
}

/// The conversation form of a final response: a user text turn that carries the
/// formatted result and says which call it answers.
fn conversation_message(
    call_id: &str,
    response: &FunctionResponse,
    form: ConversationForm,
) -> ClientMessage {
    let text = format!(
        "[The result of your earlier function call `{}` (id {call_id}) arrived after the \
         connection changed; use it as that call's response.] {}",
        response.name, response.response
    );
    match form {
        ConversationForm::ClientContent => ClientMessage::ClientContent(ClientContent {
            turns: vec![Content {
                role: Some("user".into()),
                parts: vec![Part {
                    text: Some(text),
                    ..Default::default()
                }],
            }],
            turn_complete: Some(response.scheduling != Some(FunctionResponseScheduling::Silent)),
        }),
        ConversationForm::RealtimeText => ClientMessage::realtime_text(text),
    }
}
