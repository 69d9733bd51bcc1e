//! Shared rig: an emulator on 127.0.0.1:0 with a scenario from `fixtures/scenarios/`,
//! test tools, and helpers to read what the emulator received.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::{Emulator, EmulatorHandle, Frame, Scenario, SessionHandle, kind};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path)
}

pub fn scenario(name: &str) -> Scenario {
    Scenario::from_file(fixture(&format!("scenarios/{name}"))).expect("scenario fixture")
}

/// An emulator (Developer API unless `vertex`) serving `scenario`.
pub async fn emulator(name: &str, backend: Backend) -> EmulatorHandle {
    Emulator::builder()
        .backend(backend)
        .scenario(scenario(name))
        .bind("127.0.0.1:0")
        .await
        .expect("emulator binds")
}

/// `Live::builder()` aimed at the emulator's URL for its backend.
pub async fn connect(emu: &EmulatorHandle, backend: Backend, builder: LiveBuilder) -> LiveHandle {
    builder
        .backend(backend)
        .connect_endpoint(emu.ws_url(), Credentials::None)
        .await
        .expect("session connects")
}

/// Reads events until `pred` matches one; returns every event read (the match last).
pub async fn events_until(
    session: &LiveHandle,
    mut pred: impl FnMut(&LiveEvent) -> bool,
) -> Vec<LiveEvent> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = session.next_event().await {
            let hit = pred(&e);
            seen.push(e);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "event not seen; got {seen:#?}");
    seen
}

/// The function responses the emulator received, in order, with when they arrived.
pub fn function_responses(session: &SessionHandle) -> Vec<(Duration, Value)> {
    responses_in(&session.frames())
}

/// The function responses among `frames` (use inside `wait_for` predicates, which hold
/// the recording).
pub fn responses_in(frames: &[Frame]) -> Vec<(Duration, Value)> {
    frames
        .iter()
        .filter(|f| f.kind == "toolResponse")
        .flat_map(|f| {
            let v: Value = serde_json::from_slice(&f.raw).expect("recorded json");
            let rs = v["toolResponse"]["functionResponses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            rs.into_iter().map(move |r| (f.at, r))
        })
        .collect()
}

/// The ids of the function calls the emulator sent, in order, with their names.
pub fn function_calls(session: &SessionHandle) -> Vec<(String, String)> {
    session
        .frames_of("toolCall")
        .into_iter()
        .flat_map(|f| {
            let v: Value = serde_json::from_slice(&f.raw).expect("recorded json");
            v["toolCall"]["functionCalls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Query {
    pub query: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Key {
    pub key: String,
}

/// Counts tool futures dropped (finished, cancelled or aborted): proves no task lingers.
#[derive(Clone, Default)]
pub struct Drops(pub Arc<AtomicUsize>);

pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drops {
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A background-capable search: `stages` progress updates `stage` apart, then a result.
/// Ignores cancellation when `stubborn` (so only the abort stops it).
pub fn search(stage: Duration, stages: usize, stubborn: bool, drops: Drops) -> impl Tool {
    tool_fn("search", "Searches", move |q: Query, ctx: ToolContext| {
        let guard = drops.guard();
        async move {
            let _guard = guard;
            for i in 0..stages {
                ctx.progress(json!({"stage": i}));
                if stubborn {
                    tokio::time::sleep(stage).await;
                } else {
                    tokio::select! {
                        _ = ctx.cancelled() => return Err(ToolError::new("cancelled")),
                        _ = tokio::time::sleep(stage) => {}
                    }
                }
            }
            Ok::<_, ToolError>(json!({"hits": [q.query]}))
        }
    })
}

/// `Live::builder()` with a cooperative background `search` of `stages` stages,
/// `stage_ms` each.
pub fn background_search(stage_ms: u64, stages: usize) -> LiveBuilder {
    Live::builder()
        .tool(search(
            Duration::from_millis(stage_ms),
            stages,
            false,
            Drops::default(),
        ))
        .tool_background("search")
}

/// Reads events until `n` tools have completed.
pub async fn tools_completed(session: &LiveHandle, n: usize) -> Vec<LiveEvent> {
    let mut completed = 0;
    events_until(session, |e| {
        completed += matches!(e, LiveEvent::ToolCompleted { .. }) as usize;
        completed == n
    })
    .await
}

/// A standard tool that takes `delay`.
pub fn lookup(delay: Duration) -> impl Tool {
    tool_fn(
        "lookup",
        "Looks a key up",
        move |k: Key, _ctx: ToolContext| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, ToolError>(json!({"value": format!("v-{}", k.key)}))
        },
    )
}

/// Every final delivery of `call_id` on the emulator's record, in order:
/// (connection, delivered as conversation).
pub fn deliveries(es: &SessionHandle, call_id: &str) -> Vec<(u32, bool)> {
    let mut d: Vec<(u32, bool)> = es
        .accepted_function_responses()
        .into_iter()
        .filter(|r| r.id == call_id && !r.will_continue)
        .map(|r| (r.conn, false))
        .chain(
            es.conversation_results()
                .into_iter()
                .filter(|c| c.id == call_id)
                .map(|c| (c.conn, true)),
        )
        .collect();
    d.sort();
    d
}

/// Waits until `cond` holds, polling, with the suite's generous timeout. For conditions
/// that read the emulator's record through its accessors (`wait_for` holds the record's
/// lock while it asks, so those cannot be used inside it).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let met = tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(met.is_ok(), "timed out waiting for {what}");
}

/// A round trip through the emulator: sends 10 ms of silence (which the model ignores:
/// no barge-in, no turn) and waits until the emulator has recorded it. The session
/// writes in order, and tool responses it holds go before application input, so by then
/// the emulator has read and acted on everything the client had to send before: assert
/// what must *not* have happened after this.
pub async fn barrier(session: &LiveHandle, es: &SessionHandle) {
    let n = es.count(kind::AUDIO) + 1;
    session.send_audio(&[0u8; 320]).await.expect("barrier sent");
    es.wait_for_count(kind::AUDIO, n, WAIT)
        .await
        .expect("the emulator recorded the barrier");
}

/// A background `search` that waits for the test before its progress and its result.
#[derive(Clone)]
pub struct Gates {
    pub progress: Arc<Semaphore>,
    pub result: Arc<Semaphore>,
}

impl Gates {
    pub fn new() -> Self {
        Gates {
            progress: Arc::new(Semaphore::new(0)),
            result: Arc::new(Semaphore::new(0)),
        }
    }

    pub fn open_all(&self) {
        self.progress.add_permits(1);
        self.result.add_permits(1);
    }

    pub fn tool(&self) -> impl Tool {
        let gates = self.clone();
        tool_fn("search", "Searches", move |q: Query, ctx: ToolContext| {
            let gates = gates.clone();
            async move {
                gates.progress.acquire().await.unwrap().forget();
                ctx.progress(json!({"stage": 1}));
                gates.result.acquire().await.unwrap().forget();
                Ok::<_, ToolError>(json!({"hits": [q.query]}))
            }
        })
    }
}
