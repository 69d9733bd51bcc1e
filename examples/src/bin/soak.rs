//! `soak`: N sessions against one in-process emulator, with randomised faults, for a set
//! time; then an account of every tool call the emulator issued.
//!
//! ```text
//! cargo run --release -p examples --bin soak -- --duration-secs 600
//! ```
//!
//! Why a harness and not a test: the failures issue 11 is about (a hang inside a write,
//! a reconnect storm, a result that silently never reaches the model) show up when faults
//! land at arbitrary points of a call's life, and a scripted test only covers the points
//! someone thought of. This binary throws faults at random moments for minutes and then
//! proves, from the *emulator's* ledger (what the server actually received), not from the
//! client's counters, that every call ended one of the accepted ways:
//!
//! * answered exactly once by a `functionResponse`,
//! * re-delivered as conversation (the resumed server session no longer knew the call),
//! * cancelled by the server (`toolCallCancellation`),
//! * reported undelivered by the client (`ToolResultUndelivered`, cancelled because the
//!   session ended, or a session that closed),
//! * still running when the soak stopped,
//! * never received by the client (the `toolCall` frame was in flight when the
//!   connection died; the checkpoint the session resumed from predates the call),
//!
//! and anything else is LOST (a bug). A call answered twice on one connection, or a
//! response the server ignored because the call was already answered, is a DUPLICATE.
//!
//! Faults (through the emulator's `Control` and `Emulator::close_after_setup`): dropped
//! connections, 1011 closes, short pong stalls, a server that stops reading (recovered
//! by the client's short write/keepalive bounds), `goAway` with a short and a long
//! `timeLeft`, 1011 right after `setupComplete`, malformed and oversized frames, and an
//! application that reads its events slowly for a while.
//!
//! It also reports hangs (a `disconnect()` or `send_text()` that does not return within
//! `--hang-secs`, a session that produces no event at all for `--quiet-secs` while it is
//! being asked things, or whose event stream does not end after `disconnect()`), leaked
//! tool tasks (`tools().live_tasks()` after `disconnect()`), reconnects and the faults
//! injected. It exits with 1 if any hang, leak or lost call was found. See BENCHMARKS.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use adk_live::prelude::*;
use clap::Parser;
use genai_wire::emulator::{
    Control, Direction, Emulator, EmulatorHandle, Fault, IgnoreReason, RecordMode, Scenario,
    SessionHandle, SessionId,
};
use serde::Deserialize;
use serde_json::json;

const DEFAULT_SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/scenarios/e2e/single_call.json"
);

/// The client's largest accepted message: an injected frame above it is "oversized".
const CLIENT_MAX_MESSAGE: usize = 1 << 20;

/// Fault soak: sessions with background tools against a misbehaving emulator.
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Args {
    /// Concurrent sessions.
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// How long to inject faults and ask questions, in seconds.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Mean time between two faults (over all sessions), in milliseconds.
    #[arg(long, default_value_t = 700)]
    fault_every_ms: u64,
    /// Random seed (default: from the clock; printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// A `disconnect()`/`send_text()` slower than this, or an event stream that does not
    /// end this long after `disconnect()`, is a hang.
    #[arg(long, default_value_t = 10)]
    hang_secs: u64,
    /// A session asked questions that yields no event at all for this long is stuck.
    #[arg(long, default_value_t = 45)]
    quiet_secs: u64,
    /// The client's write timeout (bounds a write to a server that stopped reading), ms.
    #[arg(long, default_value_t = 2000)]
    write_timeout_ms: u64,
    /// The client's keepalive timeout (no frame received for this long: reconnect), ms.
    #[arg(long, default_value_t = 8000)]
    keepalive_timeout_ms: u64,
    /// Scenario (a user text containing "search" must make the model call `search`).
    #[arg(long, default_value = DEFAULT_SCENARIO)]
    scenario: PathBuf,
    /// Tokio worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

// --- randomness ------------------------------------------------------------------------

/// A tiny shared PRNG (splitmix64 over an atomic counter): enough for fault timing, and
/// a printed seed makes a run repeatable in what it *chooses* (timing still varies).
static RNG: AtomicU64 = AtomicU64::new(0);

fn rand_u64() -> u64 {
    let mut z = RNG
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in `lo..=hi`.
fn rand_range(lo: u64, hi: u64) -> u64 {
    lo + rand_u64() % (hi - lo + 1)
}

fn rand_ms(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand_range(lo, hi))
}

// --- faults ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    Drop,
    Close1011,
    StallPongs,
    StopReading,
    GoAwayShort,
    GoAwayLong,
    CloseAfterSetup,
    Malformed,
    Oversized,
    SlowReads,
}

impl FaultKind {
    const ALL: [FaultKind; 10] = [
        FaultKind::Drop,
        FaultKind::Close1011,
        FaultKind::StallPongs,
        FaultKind::StopReading,
        FaultKind::GoAwayShort,
        FaultKind::GoAwayLong,
        FaultKind::CloseAfterSetup,
        FaultKind::Malformed,
        FaultKind::Oversized,
        FaultKind::SlowReads,
    ];

    fn label(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop_connection",
            FaultKind::Close1011 => "close(1011)",
            FaultKind::StallPongs => "stall_pongs(0.5-4 s)",
            FaultKind::StopReading => "stop_reading",
            FaultKind::GoAwayShort => "go_away(0.1-1.5 s)",
            FaultKind::GoAwayLong => "go_away(20-90 s)",
            FaultKind::CloseAfterSetup => "close_after_setup(1011, 1) + drop",
            FaultKind::Malformed => "inject malformed frame",
            FaultKind::Oversized => "inject oversized frame (1 MiB + 1 KiB)",
            FaultKind::SlowReads => "slow reads (2-8 s, 100-400 ms/event)",
        }
    }
}

const MALFORMED: [&[u8]; 4] = [
    b"{not json",
    b"\xff\xfe\x00garbage",
    b"{\"serverContent\": 5}",
    b"[1, 2, 3]",
];

// --- shared state ----------------------------------------------------------------------

/// What the client reported about one call id (joined with the emulator's ledger).
#[derive(Debug, Default, Clone)]
struct ClientCall {
    started: bool,
    completed: bool,
    failed: bool,
    as_conversation: bool,
    undelivered: bool,
    cancelled: Option<CancelReason>,
    /// The session it belonged to closed by itself (not by the soak's disconnect).
    session_closed: bool,
    running_at_end: bool,
}

#[derive(Debug, Default)]
struct Stats {
    calls: HashMap<String, ClientCall>,
    hangs: Vec<String>,
    leaks: Vec<String>,
    sessions_started: u64,
    sessions_ended: BTreeMap<String, u64>,
    connect_failures: u64,
    asks: u64,
    turns: u64,
    reconnects: u64,
    resumptions: u64,
    results_as_conversation: u64,
    undelivered_results: u64,
    events_dropped: u64,
    audio_chunks_dropped: u64,
    decode_errors: u64,
    responses_refused: u64,
    error_events: u64,
}

/// Per slot: until when its application reads slowly (ms since the start).
struct Slot {
    slow_until_ms: AtomicU64,
}

struct Shared {
    start: Instant,
    deadline: Instant,
    args: Args,
    stats: Mutex<Stats>,
    slots: Vec<Slot>,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn call(&self, id: &str, f: impl FnOnce(&mut ClientCall)) {
        f(self.stats().calls.entry(id.to_string()).or_default());
    }

    fn hang(&self, what: String) {
        eprintln!("soak: HANG {what}");
        self.stats().hangs.push(what);
    }
}

// --- the tool --------------------------------------------------------------------------

#[derive(Deserialize, schemars::JsonSchema)]
struct Query {
    /// What to search for.
    query: String,
}

/// A background `search` that takes 50-3000 ms, reports progress on the way, and stops
/// when cancelled.
fn search_tool() -> impl Tool {
    tool_fn(
        "search",
        "Searches. Slow: runs in the background.",
        |q: Query, ctx: ToolContext| async move {
            let total = rand_range(50, 3000);
            let steps = rand_range(1, 4);
            for step in 0..steps {
                ctx.progress(json!({ "percent": step * 100 / steps }));
                tokio::select! {
                    _ = ctx.cancelled() => return Err(ToolError::new("cancelled")),
                    _ = tokio::time::sleep(Duration::from_millis(total / steps)) => {}
                }
            }
            Ok(json!({ "query": q.query, "hits": 3, "took_ms": total }))
        },
    )
}

// --- one session slot ------------------------------------------------------------------

fn builder(shared: &Shared) -> LiveBuilder {
    let write_timeout = Duration::from_millis(shared.args.write_timeout_ms);
    let keepalive_timeout = Duration::from_millis(shared.args.keepalive_timeout_ms);
    Live::builder()
        .text_responses()
        .tool(search_tool())
        .tool_background("search")
        .configure(move |c| {
            c.write_timeout = write_timeout;
            // A healthy budget: the faults are frequent, they must not end sessions.
            c.reconnect = ReconnectPolicy::default()
                .with_max_attempts(12)
                .with_backoff(Duration::from_millis(50), Duration::from_secs(2))
                .with_healthy_after(Duration::from_secs(3));
            c.transport = c
                .transport
                .clone()
                .with_keepalive(Some(Duration::from_secs(2)), Some(keepalive_timeout))
                .with_max_message_size(CLIENT_MAX_MESSAGE);
        })
}

/// Records one event; returns true when it is the session's last (`Closed`).
fn note_event(shared: &Shared, event: &LiveEvent, turns: &mut u64) -> bool {
    match event {
        LiveEvent::ToolStarted { call_id, .. } => shared.call(call_id, |c| c.started = true),
        LiveEvent::ToolCompleted { call_id, .. } => shared.call(call_id, |c| c.completed = true),
        LiveEvent::ToolFailed { call_id, .. } => shared.call(call_id, |c| c.failed = true),
        LiveEvent::ToolResultAsConversation { call_id, .. } => {
            shared.call(call_id, |c| c.as_conversation = true)
        }
        LiveEvent::ToolCancelled {
            call_id, reason, ..
        } => shared.call(call_id, |c| c.cancelled = Some(*reason)),
        // Never written, or written but not confirmed: either way reported, not silent.
        LiveEvent::ToolResultUndelivered { call_id, .. }
        | LiveEvent::ToolResultUnconfirmed { call_id, .. } => {
            shared.call(call_id, |c| c.undelivered = true)
        }
        LiveEvent::TurnComplete => *turns += 1,
        LiveEvent::Error(_) => shared.stats().error_events += 1,
        LiveEvent::Closed { .. } => return true,
        _ => {}
    }
    false
}

fn add_metrics(shared: &Shared, m: &MetricsSnapshot) {
    let mut s = shared.stats();
    s.reconnects += m.reconnects;
    s.resumptions += m.resumptions;
    s.results_as_conversation += m.results_as_conversation;
    s.undelivered_results += m.undelivered_results;
    s.events_dropped += m.events_dropped;
    s.audio_chunks_dropped += m.audio_chunks_dropped;
    s.decode_errors += m.decode_errors;
    s.responses_refused += m.responses_refused;
}

/// Ends a session: bounded `disconnect()`, drain to the end of its events, then the
/// leak check.
async fn finish(shared: &Shared, session: &LiveHandle, label: &str, turns: &mut u64) {
    let hang = Duration::from_secs(shared.args.hang_secs);
    let t = Instant::now();
    if tokio::time::timeout(hang, session.disconnect())
        .await
        .is_err()
    {
        shared.hang(format!(
            "{label}: disconnect() did not return within {hang:?}"
        ));
    }
    let drained = tokio::time::timeout(hang, async {
        while let Some(event) = session.next_event().await {
            if note_event(shared, &event, turns) {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        shared.hang(format!(
            "{label}: next_event() still waiting {hang:?} after disconnect()"
        ));
    }
    // disconnect() waits for the tool tasks; give stragglers a moment before calling it
    // a leak.
    let mut live = session.tools().live_tasks();
    while live > 0 && t.elapsed() < hang {
        tokio::time::sleep(Duration::from_millis(50)).await;
        live = session.tools().live_tasks();
    }
    if live > 0 {
        let what = format!("{label}: {live} tool task(s) alive after disconnect()");
        eprintln!("soak: LEAK {what}");
        shared.stats().leaks.push(what);
    }
    add_metrics(shared, &session.metrics());
}

async fn run_slot(shared: Arc<Shared>, slot: usize, url: String) {
    let hang = Duration::from_secs(shared.args.hang_secs);
    let quiet = Duration::from_secs(shared.args.quiet_secs);
    let mut generation = 0u64;
    let mut asks = 0u64;
    while Instant::now() < shared.deadline {
        let session = match builder(&shared)
            .connect_endpoint(url.clone(), Credentials::None)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                // A connect can meet an armed close-after-setup: retry, counted.
                eprintln!("soak: slot {slot}: connect failed: {e}");
                shared.stats().connect_failures += 1;
                tokio::time::sleep(rand_ms(100, 500)).await;
                continue;
            }
        };
        generation += 1;
        shared.stats().sessions_started += 1;
        let label = format!("slot {slot} session {generation}");
        let mut turns = 0u64;
        let mut last_event = Instant::now();
        let mut stuck_reported = false;
        let mut closed = None;
        let mut history: Vec<String> = Vec::new();
        'asking: while Instant::now() < shared.deadline {
            asks += 1;
            let ask = format!("search for item {slot}-{asks}");
            match tokio::time::timeout(hang, session.send_text(ask)).await {
                Err(_) => shared.hang(format!("{label}: send_text() blocked for {hang:?}")),
                Ok(Err(e)) => {
                    // Only after the session ended; its Closed event says why.
                    eprintln!("soak: {label}: send_text: {e}");
                }
                Ok(Ok(())) => shared.stats().asks += 1,
            }
            // Read for a while: usually past the model's turn, sometimes cutting it short
            // (the next question then interrupts the turn, and the server cancels its call).
            let window = Instant::now() + rand_ms(500, 5000);
            loop {
                let now = Instant::now();
                if now >= window || now >= shared.deadline {
                    break;
                }
                let until = window.min(shared.deadline) - now;
                match tokio::time::timeout(until, session.next_event()).await {
                    Err(_) => {}
                    Ok(None) => {
                        closed = Some("event stream ended without Closed".to_string());
                        break 'asking;
                    }
                    Ok(Some(event)) => {
                        last_event = Instant::now();
                        stuck_reported = false;
                        if let LiveEvent::Closed { error, close } = &event {
                            closed = Some(match (error, close) {
                                (Some(e), _) => e.clone(),
                                (None, Some(c)) => format!("server close {}", c.code),
                                (None, None) => "closed".to_string(),
                            });
                        }
                        match &event {
                            LiveEvent::Reconnecting { error, .. } => history.push(format!(
                                "{:.1}s reconnecting: {error}",
                                shared.start.elapsed().as_secs_f64()
                            )),
                            LiveEvent::Reconnected { resumed } => history.push(format!(
                                "{:.1}s reconnected (resumed {resumed})",
                                shared.start.elapsed().as_secs_f64()
                            )),
                            _ => {}
                        }
                        if note_event(&shared, &event, &mut turns) {
                            break 'asking;
                        }
                        let slow_until = shared.slots[slot].slow_until_ms.load(Ordering::Relaxed);
                        if shared.elapsed_ms() < slow_until {
                            tokio::time::sleep(rand_ms(100, 400)).await;
                        }
                    }
                }
            }
            if last_event.elapsed() >= quiet && !stuck_reported {
                stuck_reported = true;
                shared.hang(format!(
                    "{label}: no event for {:?} while being asked",
                    last_event.elapsed()
                ));
            }
        }
        if let Some(reason) = &closed {
            // The session ended by itself: what it had in flight counts as reported
            // undelivered; start a new one.
            let short: String = reason.chars().take(70).collect();
            *shared.stats().sessions_ended.entry(short).or_default() += 1;
            eprintln!(
                "soak: {label} ended at {:.1}s: {reason}; last connection changes: {:#?}",
                shared.start.elapsed().as_secs_f64(),
                &history[history.len().saturating_sub(30)..]
            );
            for call in session.tools().list() {
                shared.call(&call.call_id, |c| c.session_closed = true);
            }
        } else {
            for call in session.tools().list() {
                shared.call(&call.call_id, |c| c.running_at_end = true);
            }
        }
        finish(&shared, &session, &label, &mut turns).await;
        shared.stats().turns += turns;
    }
}

// --- the fault injector ----------------------------------------------------------------

async fn inject_faults(
    shared: Arc<Shared>,
    emulator: Arc<EmulatorHandle>,
    control: Control,
) -> BTreeMap<FaultKind, u64> {
    let mut injected: BTreeMap<FaultKind, u64> = BTreeMap::new();
    let oversized = {
        let mut v = br#"{"serverContent":{"modelTurn":{"parts":[{"text":""#.to_vec();
        v.resize(CLIENT_MAX_MESSAGE + 1024, b'a');
        v.extend_from_slice(br#""}]}}}"#);
        v
    };
    let mean = shared.args.fault_every_ms.max(1);
    while Instant::now() < shared.deadline {
        tokio::time::sleep(rand_ms(mean / 4, mean * 7 / 4)).await;
        if Instant::now() >= shared.deadline {
            break;
        }
        let kind = FaultKind::ALL[rand_range(0, FaultKind::ALL.len() as u64 - 1) as usize];
        if kind == FaultKind::SlowReads {
            let slot = rand_range(0, shared.slots.len() as u64 - 1) as usize;
            let until = shared.elapsed_ms() + rand_range(2000, 8000);
            shared.slots[slot]
                .slow_until_ms
                .store(until, Ordering::Relaxed);
            *injected.entry(kind).or_default() += 1;
            continue;
        }
        let connected = control.connected();
        if connected.is_empty() {
            continue;
        }
        let id = &connected[rand_range(0, connected.len() as u64 - 1) as usize];
        let applied = match kind {
            FaultKind::Drop => control.drop_connection(id),
            FaultKind::Close1011 => control.close(id, 1011, "Internal error occurred."),
            FaultKind::StallPongs => control.stall_pongs(id, rand_ms(500, 4000)),
            FaultKind::StopReading => control.stop_reading(id),
            FaultKind::GoAwayShort => control.go_away(id, rand_ms(100, 1500)),
            FaultKind::GoAwayLong => control.go_away(id, rand_ms(20_000, 90_000)),
            FaultKind::CloseAfterSetup => {
                // The next connection to complete setup (most likely this session's
                // reconnect) is closed with 1011 right after setupComplete.
                emulator.close_after_setup(1011, "Internal error occurred.", Some(1));
                control.drop_connection(id)
            }
            FaultKind::Malformed => {
                let bytes = MALFORMED[rand_range(0, MALFORMED.len() as u64 - 1) as usize];
                control.inject_bytes(id, bytes)
            }
            FaultKind::Oversized => control.inject_bytes(id, &oversized),
            FaultKind::SlowReads => false,
        };
        if applied {
            *injected.entry(kind).or_default() += 1;
        }
    }
    emulator.clear_close_after_setup();
    injected
}

// --- the account -----------------------------------------------------------------------

#[derive(Debug, Default)]
struct Account {
    issued: u64,
    answered_once: u64,
    as_conversation: u64,
    response_then_conversation: u64,
    cancelled_by_server: u64,
    reported_undelivered: u64,
    running_at_end: u64,
    not_received: u64,
    lost: Vec<String>,
    duplicate: Vec<String>,
    id_collisions: u64,
    progress_accepted: u64,
    ignored: BTreeMap<String, u64>,
    emulator_sessions: u64,
    connections: u64,
    recorded_faults: BTreeMap<&'static str, u64>,
    violations: u64,
    /// Protocol violations by kind.
    violation_kinds: BTreeMap<String, u64>,
    /// Connections whose server stopped reading that the client left (how long after
    /// the connection opened), and those still open at the end.
    stopped_reading_closed: Vec<Duration>,
    stopped_reading_open: u64,
}

fn account(emulator: &Emulator, stats: &Stats) -> Account {
    let mut a = Account::default();
    // Every delivery per call id: (emulator session, connection, as conversation).
    let mut issued: HashMap<String, (String, u32)> = HashMap::new();
    let mut finals: HashMap<String, Vec<(String, u32, bool)>> = HashMap::new();
    let mut ignored_closed: HashSet<String> = HashSet::new();
    let mut ignored_cancelled: HashSet<String> = HashSet::new();
    let mut conns: HashMap<String, String> = HashMap::new();
    let mut calls_at: HashMap<String, Duration> = HashMap::new();
    let mut issued_es: HashMap<String, SessionId> = HashMap::new();
    for es in emulator.sessions() {
        a.emulator_sessions += 1;
        let sid = es.id().as_str().to_string();
        for conn in es.connections() {
            a.connections += 1;
            if conn.faults.iter().any(|f| f.fault == Fault::StoppedReading) {
                match &conn.closed {
                    Some(c) => a.stopped_reading_closed.push(c.at - conn.opened_at),
                    None => a.stopped_reading_open += 1,
                }
            }
            for f in conn.faults {
                let name = match f.fault {
                    Fault::Dropped => "Dropped",
                    Fault::Closed { .. } => "Closed",
                    Fault::ClosedAfterSetup { .. } => "ClosedAfterSetup",
                    Fault::StalledPongs(_) => "StalledPongs",
                    Fault::StoppedReading => "StoppedReading",
                    Fault::GoAway(_) => "GoAway",
                    Fault::Injected { .. } => "Injected",
                    _ => "other",
                };
                *a.recorded_faults.entry(name).or_default() += 1;
            }
        }
        for v in es.violations() {
            a.violations += 1;
            let kind = format!("{:?}", v.kind);
            *a.violation_kinds.entry(kind).or_default() += 1;
        }
        let summary: Vec<String> = es
            .connections()
            .iter()
            .map(|c| {
                let faults: Vec<String> = c
                    .faults
                    .iter()
                    .map(|f| format!("{:?}@{:?}", f.fault, f.at))
                    .collect();
                let close = c
                    .closed
                    .as_ref()
                    .map(|x| format!("{} {:?}@{:?}", x.code, x.reason, x.at));
                format!(
                    "[#{} opened@{:?} resumed={} faults={faults:?} closed={close:?}]",
                    c.index, c.opened_at, c.resumed
                )
            })
            .collect();
        conns.insert(sid.clone(), summary.join(" "));
        issued_es.insert(sid.clone(), es.id());
        for c in es.function_calls_issued() {
            calls_at.insert(c.id.clone(), c.at);
            if issued.insert(c.id.clone(), (sid.clone(), c.conn)).is_some() {
                a.id_collisions += 1;
            }
        }
        for r in es.accepted_function_responses() {
            if r.will_continue {
                a.progress_accepted += 1;
            } else {
                finals
                    .entry(r.id)
                    .or_default()
                    .push((sid.clone(), r.conn, false));
            }
        }
        for r in es.conversation_results() {
            finals
                .entry(r.id)
                .or_default()
                .push((sid.clone(), r.conn, true));
        }
        for r in es.ignored_function_responses() {
            let reason = match r.reason {
                IgnoreReason::UnknownId => "unknown id",
                IgnoreReason::Closed => "already answered",
                IgnoreReason::Cancelled => "cancelled",
                IgnoreReason::NoMatch => "no match",
                _ => "other",
            };
            *a.ignored.entry(reason.to_string()).or_default() += 1;
            match r.reason {
                IgnoreReason::Closed => {
                    ignored_closed.insert(r.id);
                }
                IgnoreReason::Cancelled => {
                    ignored_cancelled.insert(r.id);
                }
                _ => {}
            }
        }
    }
    let mut ids: Vec<_> = issued.keys().cloned().collect();
    ids.sort();
    for id in ids {
        a.issued += 1;
        let (sid, conn) = &issued[&id];
        let client = stats.calls.get(&id).cloned().unwrap_or_default();
        let got = finals.get(&id).cloned().unwrap_or_default();
        // Twice on one connection, or sent again after the server had the answer.
        let mut seen = HashSet::new();
        let twice = got.iter().any(|(s, c, _)| !seen.insert((s.clone(), *c)));
        if twice || ignored_closed.contains(&id) {
            a.duplicate.push(format!(
                "{id} (issued {sid} conn {conn}): {got:?} {client:?}"
            ));
        }
        let by_response = got.iter().filter(|d| !d.2).count();
        let by_conversation = got.len() - by_response;
        if by_response > 0 && by_conversation > 0 {
            a.response_then_conversation += 1;
        } else if by_response > 0 {
            a.answered_once += 1;
        } else if by_conversation > 0 {
            a.as_conversation += 1;
        } else if client.cancelled == Some(CancelReason::Server) || ignored_cancelled.contains(&id)
        {
            a.cancelled_by_server += 1;
        } else if client.undelivered
            || client.session_closed
            || client.cancelled == Some(CancelReason::SessionEnded) && !client.running_at_end
        {
            a.reported_undelivered += 1;
        } else if client.running_at_end {
            a.running_at_end += 1;
        } else if !client.started {
            a.not_received += 1;
        } else {
            let at = calls_at.get(&id).copied().unwrap_or_default();
            let after_stop = emulator
                .session(&issued_es[sid])
                .map(|es| server_frames_after_stop(&es))
                .unwrap_or_default();
            a.lost.push(format!(
                "{id} (issued {sid} conn {conn} at {at:?}): client {client:?}; connections: {}; \
                 server frames after stop_reading: {after_stop}",
                conns.get(sid).map(String::as_str).unwrap_or("?")
            ));
        }
    }
    a
}

/// What the server sent on each connection after it stopped reading (kind@time, up to
/// 8 per connection): a client that hears frames there cannot tell by its keepalive.
fn server_frames_after_stop(es: &SessionHandle) -> String {
    let mut out = Vec::new();
    let frames = es.frames();
    for c in es.connections() {
        let Some(stop) = c
            .faults
            .iter()
            .find(|f| f.fault == Fault::StoppedReading)
            .map(|f| f.at)
        else {
            continue;
        };
        let sent: Vec<String> = frames
            .iter()
            .filter(|f| f.conn == c.index && f.dir == Direction::ServerToClient && f.at >= stop)
            .map(|f| format!("{}@{:.1}s", f.kind, f.at.as_secs_f64()))
            .collect();
        let shown = &sent[..sent.len().min(8)];
        out.push(format!(
            "conn #{} stopped@{:.1}s: {} frame(s) {shown:?}",
            c.index,
            stop.as_secs_f64(),
            sent.len()
        ));
    }
    out.join("; ")
}

// --- main --------------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match examples::load::launch::runtime(args.threads, 0) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(soak(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn soak(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    RNG.store(seed, Ordering::Relaxed);
    let scenario = Scenario::from_file(&args.scenario)?;
    let emulator = Arc::new(
        Emulator::builder()
            .scenario(scenario)
            // The ledger is kept in every mode; frames' bytes are not needed.
            .record(RecordMode::Metadata)
            .bind("127.0.0.1:0")
            .await?,
    );
    let url = emulator.ws_url();
    let (sessions, duration) = (args.sessions.max(1), args.duration_secs);
    println!(
        "soak: {sessions} sessions, {duration} s, a fault every ~{} ms, seed {seed}, emulator {url}",
        args.fault_every_ms
    );
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        deadline: start + Duration::from_secs(duration),
        slots: (0..sessions)
            .map(|_| Slot {
                slow_until_ms: AtomicU64::new(0),
            })
            .collect(),
        args,
        stats: Mutex::new(Stats::default()),
    });
    let injector = tokio::spawn(inject_faults(
        shared.clone(),
        emulator.clone(),
        emulator.control(),
    ));
    let mut slots = Vec::new();
    for slot in 0..sessions {
        slots.push(tokio::spawn(run_slot(shared.clone(), slot, url.clone())));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let injected = injector.await.unwrap_or_default();
    for (slot, task) in slots.into_iter().enumerate() {
        if let Err(e) = task.await {
            shared.hang(format!("slot {slot}: task failed: {e}"));
        }
    }
    let wall = start.elapsed();
    // Let the emulator finish recording the last closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = std::mem::take(&mut *shared.stats());
    let a = account(&emulator, &stats);
    let ok = print_table(&stats, &a, &injected, wall);
    Ok(ok)
}

fn print_table(
    s: &Stats,
    a: &Account,
    injected: &BTreeMap<FaultKind, u64>,
    wall: Duration,
) -> bool {
    let row = |k: &str, v: String| println!("| {k:<58} | {v:>10} |");
    println!();
    println!("| {:<58} | {:>10} |", "soak", "count");
    println!("|{}|{}|", "-".repeat(60), "-".repeat(12));
    row("wall time (s)", format!("{:.0}", wall.as_secs_f64()));
    row("client sessions started", s.sessions_started.to_string());
    row("questions asked", s.asks.to_string());
    row("model turns completed", s.turns.to_string());
    row(
        "emulator sessions / connections",
        format!("{} / {}", a.emulator_sessions, a.connections),
    );
    for (kind, n) in injected {
        row(&format!("fault: {}", kind.label()), n.to_string());
    }
    row(
        "faults injected (total)",
        injected.values().sum::<u64>().to_string(),
    );
    for (kind, n) in &a.recorded_faults {
        row(
            &format!("  recorded by the emulator: {kind}"),
            n.to_string(),
        );
    }
    row(
        "reconnects (of which resumed)",
        format!("{} ({})", s.reconnects, s.resumptions),
    );
    row("connect failures (retried)", s.connect_failures.to_string());
    row(
        "stop_reading connections: left by the client / open at end",
        format!(
            "{} / {}",
            a.stopped_reading_closed.len(),
            a.stopped_reading_open
        ),
    );
    row("tool calls issued by the emulator", a.issued.to_string());
    row(
        "  answered exactly once by functionResponse",
        a.answered_once.to_string(),
    );
    row(
        "  re-delivered as conversation",
        a.as_conversation.to_string(),
    );
    row(
        "  functionResponse, then as conversation after resume",
        a.response_then_conversation.to_string(),
    );
    row(
        "  cancelled by the server",
        a.cancelled_by_server.to_string(),
    );
    row(
        "  reported undelivered by the client",
        a.reported_undelivered.to_string(),
    );
    row("  still running at the end", a.running_at_end.to_string());
    row(
        "  never reached the client (in flight at a fault)",
        a.not_received.to_string(),
    );
    row("  LOST", a.lost.len().to_string());
    row("DUPLICATE", a.duplicate.len().to_string());
    row(
        "progress responses accepted",
        a.progress_accepted.to_string(),
    );
    let ignored: u64 = a.ignored.values().sum();
    row(
        "ignored responses (the server acted on none of them)",
        ignored.to_string(),
    );
    for (reason, n) in &a.ignored {
        row(&format!("  ignored: {reason}"), n.to_string());
    }
    row("call id collisions", a.id_collisions.to_string());
    row("protocol violations (emulator)", a.violations.to_string());
    for (kind, n) in &a.violation_kinds {
        row(&format!("  {kind}"), n.to_string());
    }
    row(
        "client: results as conversation / undelivered",
        format!("{} / {}", s.results_as_conversation, s.undelivered_results),
    );
    row(
        "client: decode errors / error events",
        format!("{} / {}", s.decode_errors, s.error_events),
    );
    row(
        "client: events dropped / audio chunks dropped",
        format!("{} / {}", s.events_dropped, s.audio_chunks_dropped),
    );
    row("client: responses refused", s.responses_refused.to_string());
    let ended: u64 = s.sessions_ended.values().sum();
    row(
        "sessions that ended by themselves (restarted)",
        ended.to_string(),
    );
    for (why, n) in &s.sessions_ended {
        row(&format!("  {why}"), n.to_string());
    }
    row("HANGS", s.hangs.len().to_string());
    row("LEAKED tool tasks (sessions)", s.leaks.len().to_string());
    for (what, list) in [
        ("hang", &s.hangs),
        ("leak", &s.leaks),
        ("lost", &a.lost),
        ("duplicate", &a.duplicate),
    ] {
        for item in list.iter().take(20) {
            println!("{what}: {item}");
        }
    }
    let ok = s.hangs.is_empty() && s.leaks.is_empty() && a.lost.is_empty();
    println!("\nsoak: {}", if ok { "PASS" } else { "FAIL" });
    ok
}
