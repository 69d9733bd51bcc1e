//! N concurrent adk-live sessions against an emulator, in real time.
//!
//! Each session (one task, plus the runtime's own session task and tool tasks):
//!
//! * streams a 20 ms, 16 kHz PCM chunk every 20 ms from `tokio::time::interval`
//!   (catching up in bursts when late), voiced during a "user turn" (400 ms), silence
//!   otherwise: full duplex, the microphone never stops;
//! * reads every event: the model's audio (24 kHz, 100 ms chunks), transcripts, tool
//!   lifecycle;
//! * turn-taking: after the user turn it waits for the scripted model turn (speak 1 s,
//!   call the background `search`, end the turn) and the voiced search result turn
//!   (two `turnComplete`s), pauses `gap_ms`, and speaks again: one tool call every
//!   ~3 s per session;
//! * `search` is a background tool (`tool_background`): adk-live acks it at once, the
//!   tool sleeps `tool_ms` and returns a small JSON result (`WHEN_IDLE`).
//!
//! Measured per run: connect latency, added turn latency (client clock), send lateness
//! per chunk, dropped incoming audio, tool counts, memory of this process before /
//! idle / active, CPU over the streaming phase; the emulator's figures come from its
//! control port ([`super::server`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adk_live::prelude::*;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::procfs;
use super::report::{Cpu, Memory, Report};
use super::server::{ControlClient, EmuStats};
use super::stats::Summary;

/// One chunk: 20 ms at 16 kHz, PCM16 mono.
pub const CHUNK: Duration = Duration::from_millis(20);
const CHUNK_SAMPLES: usize = 320;
/// A cycle that has not seen its two `turnComplete`s by then counts as stalled.
const STALL_AFTER: Duration = Duration::from_secs(10);

/// Workload and client settings.
#[derive(Debug, Clone)]
pub struct ClientOpts {
    /// Concurrent sessions.
    pub sessions: usize,
    /// Length of the streaming phase.
    pub seconds: f64,
    /// Time between "all connected" and the idle memory reading.
    pub idle_seconds: f64,
    /// Connects in flight at once.
    pub connect_concurrency: usize,
    /// How long `search` runs.
    pub tool_ms: u64,
    /// Length of each user turn (voiced audio).
    pub voiced_ms: u64,
    /// Pause after the model's result turn before the user speaks again.
    pub gap_ms: u64,
    /// The scenario's end-of-turn silence (subtracted from the turn latency).
    pub scripted_delay_ms: u64,
    /// Lateness allowed before a chunk counts as late.
    pub slack_ms: u64,
    /// Websocket read buffer (bytes).
    pub read_buffer: usize,
    /// Audio chunks the client may queue for the application before dropping.
    pub audio_queue: usize,
    /// Stream the microphone (20 ms chunks, full duplex). Off: each user turn is one
    /// `realtimeInput.text` and nothing is sent in between (isolates the tool lane and
    /// the model audio path from the 50 msg/s/session uplink).
    pub mic: bool,
    /// Which client the sessions are.
    pub kind: ClientKind,
}

/// Which client the sessions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// adk-live sessions in this process.
    Adk,
    /// The floor client (see [`super::floor`]).
    Floor,
    /// Pages of an agent server in another process (see [`super::page`]); the server's
    /// CPU and memory are measured ([`Target::measured_pid`]).
    Page,
    /// Another client library, plugged in through [`Peer`] (`bench/peer`).
    Peer,
}

/// A client of the workload that lives outside this crate: `bench/peer` drives the
/// `gemini-live` crate through it, so that its sessions get the same turn-taking, clock
/// and measurement as the floor's and adk-live's, without that crate entering this
/// workspace's dependency tree.
pub trait Peer: Send + Sync + 'static {
    /// Its name and version, for the report.
    fn name(&self) -> String;
    /// Dials `url` and completes the setup, mirroring `setup` (the `setup` message the
    /// floor and adk-live send, as JSON) as far as its API can express it.
    fn connect(
        &self,
        url: String,
        setup: Arc<serde_json::Value>,
    ) -> BoxFuture<'static, Result<Box<dyn PeerSession>, String>>;
}

/// One connected session of a [`Peer`].
pub trait PeerSession: Send {
    /// Runs the workload until [`Workload::end`], then closes the session.
    fn drive(self: Box<Self>, w: Workload) -> BoxFuture<'static, SessionResult>;
}

/// What one session's driver is given: which session it is, the settings, the two
/// chunks and the clock; the same for every client.
pub struct Workload {
    /// The session's index (spreads first turns and ticks).
    pub i: usize,
    /// The workload's settings.
    pub opts: Arc<ClientOpts>,
    /// 20 ms of voiced PCM16 at 16 kHz, and 20 ms of silence.
    pub pcm: Arc<(Vec<u8>, Vec<u8>)>,
    /// When streaming starts.
    pub start: Instant,
    /// When streaming ends.
    pub end: Instant,
    /// Send lateness, shared by all sessions.
    pub lateness: Arc<Lateness>,
}

impl Workload {
    /// The session's turn-taking.
    pub fn turns(&self) -> Turns {
        Turns::new(self.i, &self.opts, self.start)
    }
}

/// Where the sessions connect, and what can be asked about the emulator.
#[derive(Debug, Clone)]
pub struct Target {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Transport settings (TLS trust for the emulator's CA); the read buffer is set from
    /// [`ClientOpts::read_buffer`].
    pub transport: TransportConfig,
    /// The emulator's control port, when it has one.
    pub control: Option<ControlClient>,
    /// The emulator's pid, when it runs on this machine (memory and CPU from /proc).
    pub emulator_pid: Option<u32>,
    /// Lines to print with the results.
    pub settings: Vec<(String, String)>,
    /// The process whose CPU and memory are the client's figures (None: this one; the
    /// agent server's with [`ClientKind::Page`]).
    pub measured_pid: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SearchArgs {
    /// What to search for.
    query: String,
}

pub(super) fn search_tool(tool_ms: u64) -> impl Tool {
    tool_fn(
        "search",
        "Searches flights. Slow: runs in the background.",
        move |args: SearchArgs, ctx: ToolContext| async move {
            tokio::select! {
                _ = ctx.cancelled() => return Err(ToolError::new("cancelled")),
                _ = tokio::time::sleep(Duration::from_millis(tool_ms)) => {}
            }
            Ok(json!({"query": args.query, "results": [{"flight": "TP1337", "price_eur": 89}]}))
        },
    )
}

/// One tool instance shared by every session (built once, like a server would): the
/// runtime's `LiveBuilder::tool` takes a tool by value, so this forwards to an `Arc`.
struct SharedTool(Arc<dyn Tool>);

impl Tool for SharedTool {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn declaration(&self) -> genai_wire::protocol::FunctionDeclaration {
        self.0.declaration()
    }
    fn call(&self, args: serde_json::Value, ctx: ToolContext) -> adk_live::tools::ToolFuture {
        self.0.call(args, ctx)
    }
    fn check_args(&self, args: &serde_json::Value) -> Result<(), String> {
        self.0.check_args(args)
    }
}

/// How late sends were, in 100 µs buckets up to 100 ms (shared by all sessions so that
/// no session carries a histogram of its own).
pub struct Lateness {
    buckets: Vec<AtomicU64>,
}

impl Lateness {
    const BUCKET_US: u64 = 100;
    const N: usize = 1001;

    fn new() -> Self {
        Lateness {
            buckets: (0..Self::N).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn add(&self, late: Duration) {
        let i = ((late.as_micros() as u64) / Self::BUCKET_US).min(Self::N as u64 - 1) as usize;
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    fn summary(&self, max_us: u64) -> Summary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return Summary::default();
        }
        let pct = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return (i as u64 + 1) * Self::BUCKET_US;
                }
            }
            max_us
        };
        Summary {
            count: n,
            p50_us: pct(50.0).min(max_us),
            p90_us: pct(90.0).min(max_us),
            p99_us: pct(99.0).min(max_us),
            p999_us: pct(99.9).min(max_us),
            max_us,
            mean_us: 0,
        }
    }
}

/// A connected session of any client.
enum Conn {
    Adk(LiveHandle),
    Floor(super::floor::FloorConn),
    Page(super::page::PageConn),
    Peer(Box<dyn PeerSession>),
}

/// What one session saw.
#[derive(Debug, Default)]
pub struct SessionResult {
    /// Why the session failed, if it did.
    pub error: Option<String>,
    /// Microphone chunks sent.
    pub chunks_sent: u64,
    chunks_late: u64,
    max_late_us: u64,
    turn_us: Vec<u64>,
    /// Model audio chunks received.
    pub audio_received: u64,
    /// Tool calls received.
    pub tool_started: u64,
    cycles: u64,
    stalls: u64,
    /// `interrupted` received.
    pub interrupted: u64,
    metrics: MetricsSnapshot,
    /// Acks and results written by a session that is not adk-live's (whose are in its
    /// metrics).
    pub metrics_acks: u64,
    /// See `metrics_acks`.
    pub metrics_results: u64,
}

/// What a session does on a tick of the workload.
pub enum Act {
    /// Nothing this tick.
    Nothing,
    /// A typed user turn (`realtimeInput.text`).
    Text,
    /// A 20 ms chunk, voiced or silent.
    Audio(bool),
}

/// The workload's turn-taking, the same for every client: a user turn (voiced chunks or
/// one text), then the model's two turns (the reply with the tool call, then the voiced
/// result), a gap, again.
pub struct Turns {
    phase: Phase,
    mic: bool,
    gap: Duration,
    slack: Duration,
    scripted: Duration,
    voiced_chunks: u64,
}

impl Turns {
    /// Session `i`'s turn-taking; first user turns spread over ~3 s after `start`.
    pub fn new(i: usize, o: &ClientOpts, start: Instant) -> Turns {
        Turns {
            phase: Phase::Gap(start + Duration::from_millis((i as u64 * 104_729) % 3_000)),
            mic: o.mic,
            gap: Duration::from_millis(o.gap_ms),
            slack: Duration::from_millis(o.slack_ms),
            scripted: Duration::from_millis(o.scripted_delay_ms),
            voiced_chunks: (o.voiced_ms / 20).max(1),
        }
    }

    /// Session `i`'s tick: every 20 ms with a microphone (100 ms without, driving only
    /// the turn-taking), catching up in bursts when late; the first tick after `start`,
    /// phases spread over the period.
    pub fn ticks(&self, i: usize, start: Instant) -> tokio::time::Interval {
        let period = if self.mic { CHUNK } else { CHUNK * 5 };
        let first = start + Duration::from_micros((i as u64 * 7_919) % period.as_micros() as u64);
        let mut tick = tokio::time::interval_at(first, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        tick
    }

    /// Model audio arrived: the first of a reply measures the added turn latency.
    pub fn on_audio(&mut self, now: Instant, r: &mut SessionResult) {
        if let Phase::Waiting {
            t_end, got_audio, ..
        } = &mut self.phase
            && !*got_audio
        {
            *got_audio = true;
            let added = now
                .saturating_duration_since(*t_end)
                .saturating_sub(self.scripted);
            r.turn_us.push(added.as_micros() as u64);
        }
    }

    /// A `turnComplete`: the second ends the cycle.
    pub fn on_turn_complete(&mut self, now: Instant, r: &mut SessionResult) {
        if let Phase::Waiting { turns, .. } = &mut self.phase {
            *turns += 1;
            if *turns >= 2 {
                r.cycles += 1;
                self.phase = Phase::Gap(now + self.gap);
            }
        }
    }

    /// A tick due at `due`: what to send (lateness recorded for microphone chunks).
    pub fn on_tick(
        &mut self,
        due: Instant,
        now: Instant,
        r: &mut SessionResult,
        lateness: &Lateness,
    ) -> Act {
        if !self.mic {
            return match self.phase {
                Phase::Gap(until) if now >= until => {
                    // The user turn is one realtimeInput.text: it ends at once.
                    self.phase = Phase::Waiting {
                        t_end: now,
                        got_audio: false,
                        turns: 0,
                    };
                    Act::Text
                }
                Phase::Waiting { t_end, .. } if now.duration_since(t_end) > STALL_AFTER => {
                    r.stalls += 1;
                    self.phase = Phase::Gap(now + self.gap);
                    Act::Nothing
                }
                _ => Act::Nothing,
            };
        }
        let late = now.saturating_duration_since(due);
        lateness.add(late);
        r.max_late_us = r.max_late_us.max(late.as_micros() as u64);
        if late > self.slack {
            r.chunks_late += 1;
        }
        match self.phase {
            Phase::Gap(until) if now >= until => self.phase = Phase::Talking(self.voiced_chunks),
            Phase::Waiting { t_end, .. } if now.duration_since(t_end) > STALL_AFTER => {
                r.stalls += 1;
                self.phase = Phase::Gap(now + self.gap);
            }
            _ => {}
        }
        let voiced = if let Phase::Talking(left) = &mut self.phase {
            *left -= 1;
            if *left == 0 {
                self.phase = Phase::Waiting {
                    t_end: now,
                    got_audio: false,
                    turns: 0,
                };
            }
            true
        } else {
            false
        };
        Act::Audio(voiced)
    }
}

enum Phase {
    /// Silence until then, then a user turn.
    Gap(Instant),
    /// Voiced chunks left in the user turn.
    Talking(u64),
    /// User turn over at `t_end`; waiting for the model.
    Waiting {
        t_end: Instant,
        got_audio: bool,
        turns: u32,
    },
}

/// A 20 ms chunk loud enough to count as speech, and one of silence.
fn chunks() -> (Vec<u8>, Vec<u8>) {
    // A 200 Hz tone at amplitude 6000: mean |sample| ~3800, far above the emulator's
    // voice threshold (300). 320 samples = exactly 4 periods, so chunks join smoothly.
    let voiced: Vec<u8> = (0..CHUNK_SAMPLES)
        .flat_map(|n| {
            let t = n as f32 / 16_000.0;
            let sample = ((std::f32::consts::TAU * 200.0 * t).sin() * 6000.0) as i16;
            sample.to_le_bytes()
        })
        .collect();
    (voiced, vec![0u8; CHUNK_SAMPLES * 2])
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    i: usize,
    h: LiveHandle,
    o: Arc<ClientOpts>,
    pcm: Arc<(Vec<u8>, Vec<u8>)>,
    start: Instant,
    end: Instant,
    lateness: Arc<Lateness>,
) -> SessionResult {
    let mut r = SessionResult::default();
    let mut turns = Turns::new(i, &o, start);
    let mut tick = turns.ticks(i, start);
    loop {
        tokio::select! {
            biased;
            ev = h.next_event() => {
                let Some(ev) = ev else {
                    r.error = Some(format!("session {i}: event stream ended"));
                    break;
                };
                let now = Instant::now();
                match ev {
                    LiveEvent::Audio { .. } => {
                        r.audio_received += 1;
                        turns.on_audio(now, &mut r);
                    }
                    LiveEvent::TurnComplete => turns.on_turn_complete(now, &mut r),
                    LiveEvent::ToolStarted { .. } => r.tool_started += 1,
                    LiveEvent::Interrupted => r.interrupted += 1,
                    LiveEvent::ToolFailed { error, .. } => {
                        r.error.get_or_insert(format!("session {i}: tool failed: {error}"));
                    }
                    LiveEvent::Closed { close, error } => {
                        r.error = Some(format!("session {i}: closed: {close:?} {error:?}"));
                        break;
                    }
                    _ => {}
                }
            }
            due = tick.tick() => {
                if due >= end {
                    break;
                }
                let sent = match turns.on_tick(due, Instant::now(), &mut r, &lateness) {
                    Act::Nothing => continue,
                    Act::Text => h.send_text("Find me a flight to Lisbon.").await,
                    Act::Audio(voiced) => h.send_audio(if voiced { &pcm.0 } else { &pcm.1 }).await,
                };
                if let Err(e) = sent {
                    r.error = Some(format!("session {i}: send: {e}"));
                    break;
                }
                r.chunks_sent += u64::from(o.mic);
            }
        }
    }
    r.metrics = h.metrics();
    if tokio::time::timeout(Duration::from_secs(10), h.disconnect())
        .await
        .is_err()
    {
        r.error
            .get_or_insert(format!("session {i}: disconnect took over 10 s"));
    }
    r
}

async fn connect(
    o: &ClientOpts,
    target: &Target,
    tool: Arc<dyn Tool>,
    frames: &super::floor::Frames,
    peer: Option<(&dyn Peer, Arc<serde_json::Value>)>,
) -> Result<(Conn, Duration), String> {
    let t0 = Instant::now();
    if let Some((peer, setup)) = peer {
        let session = peer.connect(target.url.clone(), setup).await?;
        return Ok((Conn::Peer(session), t0.elapsed()));
    }
    let conn = match o.kind {
        ClientKind::Floor => Conn::Floor(super::floor::connect(target, o, frames).await?),
        ClientKind::Page => Conn::Page(super::page::connect(&target.url, o.read_buffer).await?),
        ClientKind::Peer => return Err("a peer client needs its `Peer`".into()),
        ClientKind::Adk => Conn::Adk(
            session_builder(o, target, tool)
                .connect_endpoint(&target.url, Credentials::None)
                .await
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok((conn, t0.elapsed()))
}

/// The session every adk-live client of the harness opens (directly, or through the
/// agent server of [`super::page`]): the default model, the shared background `search`,
/// no reconnects.
pub fn session_builder(o: &ClientOpts, target: &Target, tool: Arc<dyn Tool>) -> LiveBuilder {
    let transport = target
        .transport
        .clone()
        .with_read_buffer_size(o.read_buffer);
    let audio_queue = o.audio_queue;
    Live::builder()
        .model(adk_live::DEFAULT_MODEL)
        .tool(SharedTool(tool))
        .tool_background("search")
        .configure(move |c| {
            c.transport = transport;
            c.reconnect = ReconnectPolicy::never();
            c.audio_queue = audio_queue;
        })
}

async fn emu_stats(target: &Target) -> Option<EmuStats> {
    match &target.control {
        Some(c) => match c.stats().await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("loadtest: emulator stats: {e}");
                None
            }
        },
        None => None,
    }
}

/// The emulator's RSS (KiB) and CPU seconds, from its control port or /proc.
fn emu_usage(target: &Target, stats: Option<&EmuStats>) -> Option<(u64, u64, f64)> {
    if let Some(s) = stats {
        return Some((s.rss_kib, s.hwm_kib, s.cpu_s));
    }
    target.emulator_pid.map(|pid| {
        (
            procfs::rss_kib(Some(pid)),
            procfs::hwm_kib(Some(pid)),
            procfs::cpu_seconds_of(pid),
        )
    })
}

/// Runs the whole load test: connect, idle, stream, disconnect. Never longer than
/// connect time + `idle_seconds` + `seconds` + ~20 s of bounded teardown.
/// `peer`: the sessions are that client's (with [`ClientKind::Peer`]).
pub async fn run(
    o: ClientOpts,
    target: Target,
    peer: Option<Arc<dyn Peer>>,
) -> Result<Report, String> {
    if (o.kind == ClientKind::Peer) != peer.is_some() {
        return Err("ClientKind::Peer goes with a Peer, and only with it".into());
    }
    let n = o.sessions;
    let (soft, hard) = procfs::raise_nofile();
    if soft > 0 && (soft as usize) < n + 64 {
        return Err(format!(
            "open-file limit {soft} (hard {hard}) is too low for {n} sessions: raise it (ulimit -Hn)"
        ));
    }
    if let Some(c) = &target.control {
        c.reset().await?;
    }
    let o = Arc::new(o);
    let load_start = procfs::loadavg();
    let emu0 = emu_stats(&target).await;
    let emu_base = emu_usage(&target, emu0.as_ref());
    let measured = target.measured_pid;
    let cpu_seconds =
        move || measured.map_or_else(procfs::cpu_seconds_self, procfs::cpu_seconds_of);
    let base_kib = procfs::rss_kib(measured);

    // 1. Connect everything.
    eprintln!("loadtest: connecting {n} sessions to {}", target.url);
    let t_connect = Instant::now();
    let sem = Arc::new(Semaphore::new(o.connect_concurrency.max(1)));
    let mut set = JoinSet::new();
    let tool: Arc<dyn Tool> = Arc::new(search_tool(o.tool_ms));
    let pcm = Arc::new(chunks());
    let frames = Arc::new(super::floor::Frames::new(
        &pcm.0,
        &pcm.1,
        tool.declaration(),
    ));
    let setup = Arc::new(frames.setup_json());
    for i in 0..n {
        let peer = peer.clone();
        let setup = setup.clone();
        let tool = tool.clone();
        let frames = frames.clone();
        // The permit is taken before the task exists: only the connects in flight hold a
        // (large) connect future, instead of all N from the start, whose freed memory
        // would stay in the allocator and blur the idle memory per session.
        let permit = sem.clone().acquire_owned().await.expect("never closed");
        let o = o.clone();
        let target = target.clone();
        set.spawn(async move {
            let _permit = permit;
            let peer = peer.as_deref().map(|p| (p, setup));
            let r = tokio::time::timeout(
                Duration::from_secs(60),
                connect(&o, &target, tool, &frames, peer),
            )
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
            .map_err(|e| format!("session {i}: connect: {e}"));
            (i, r)
        });
    }
    let mut handles: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut failures = Vec::new();
    let mut connect_us = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok((h, took)))) => {
                connect_us.push(took.as_micros() as u64);
                handles[i] = Some(h);
            }
            Ok((_, Err(e))) => failures.push(e),
            Err(e) => failures.push(format!("connect task: {e}")),
        }
    }
    eprintln!(
        "loadtest: {} connected, {} failed in {:.1} s; idle {:.0} s",
        connect_us.len(),
        failures.len(),
        t_connect.elapsed().as_secs_f64(),
        o.idle_seconds
    );

    // 2. Idle: connected, set up, nothing streaming.
    tokio::time::sleep(Duration::from_secs_f64(o.idle_seconds)).await;
    let idle_kib = procfs::rss_kib(measured);
    // Only this process can be trimmed; another's idle figure stays untrimmed.
    if measured.is_none() {
        procfs::malloc_trim();
    }
    let idle_trimmed_kib = procfs::rss_kib(measured);
    let emu_idle_stats = emu_stats(&target).await;
    let emu_idle = emu_usage(&target, emu_idle_stats.as_ref());

    // 3. Stream.
    eprintln!("loadtest: streaming for {:.0} s", o.seconds);
    let lateness = Arc::new(Lateness::new());
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs_f64(o.seconds);
    let cpu0 = cpu_seconds();
    let emu_cpu0 = emu_usage(&target, None).or(emu_idle).map(|u| u.2);
    let mut drivers = JoinSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h {
            Some(Conn::Adk(h)) => {
                drivers.spawn(drive(
                    i,
                    h,
                    o.clone(),
                    pcm.clone(),
                    start,
                    end,
                    lateness.clone(),
                ));
            }
            Some(Conn::Floor(c)) => {
                drivers.spawn(super::floor::drive(
                    i,
                    c,
                    o.clone(),
                    frames.clone(),
                    start,
                    end,
                    lateness.clone(),
                ));
            }
            Some(Conn::Peer(session)) => {
                drivers.spawn(session.drive(Workload {
                    i,
                    opts: o.clone(),
                    pcm: pcm.clone(),
                    start,
                    end,
                    lateness: lateness.clone(),
                }));
            }
            Some(Conn::Page(ws)) => {
                drivers.spawn(super::page::drive(
                    i,
                    ws,
                    o.clone(),
                    pcm.clone(),
                    start,
                    end,
                    lateness.clone(),
                ));
            }
            None => {}
        }
    }
    tokio::time::sleep_until(end).await;
    let cpu1 = cpu_seconds();
    let wall = (Instant::now() - start).as_secs_f64();
    let active_kib = procfs::rss_kib(measured);
    let emu_cpu1 = emu_usage(&target, None).map(|u| u.2);
    let emu_end_stats = emu_stats(&target).await;
    let emu_active = emu_usage(&target, emu_end_stats.as_ref());

    // 4. Collect (each driver disconnects its session, bounded).
    let mut results = Vec::with_capacity(n);
    let collect = async {
        while let Some(r) = drivers.join_next().await {
            match r {
                Ok(r) => results.push(r),
                Err(e) => failures.push(format!("driver task: {e}")),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .is_err()
    {
        failures.push("teardown: sessions still running after 20 s".into());
    }
    let hwm_kib = procfs::hwm_kib(measured);

    let mut turn_us = Vec::new();
    let mut rep = Report {
        client: match o.kind {
            ClientKind::Floor => {
                "floor (genai-wire transport, pre-encoded frames, no runtime)".into()
            }
            ClientKind::Adk => format!("adk-live (Rust) {}", env!("CARGO_PKG_VERSION")),
            ClientKind::Peer => peer.as_ref().map_or_else(String::new, |p| p.name()),
            ClientKind::Page => format!(
                "agent server (page protocol over ws://) in front of adk-live {}: figures of the server process",
                env!("CARGO_PKG_VERSION")
            ),
        },
        sessions: n,
        seconds: o.seconds,
        tls: target.url.starts_with("wss://"),
        connect: Summary::of(&mut connect_us),
        slack_ms: o.slack_ms,
        ..Default::default()
    };
    let mut max_late = 0;
    for r in &results {
        if let Some(e) = &r.error {
            failures.push(e.clone());
        }
        rep.chunks_sent += r.chunks_sent;
        rep.chunks_late += r.chunks_late;
        max_late = max_late.max(r.max_late_us);
        turn_us.extend_from_slice(&r.turn_us);
        rep.audio_received += r.audio_received;
        rep.tool_calls += r.tool_started;
        rep.cycles += r.cycles;
        rep.stalls += r.stalls;
        rep.interrupted += r.interrupted;
        rep.audio_dropped += r.metrics.audio_chunks_dropped;
        rep.tool_acks += r.metrics.tool_acks + r.metrics_acks;
        rep.tool_results += r.metrics.tool_results + r.metrics_results;
    }
    rep.turn = Summary::of(&mut turn_us);
    rep.lateness = lateness.summary(max_late);
    rep.failed = n - results.iter().filter(|r| r.error.is_none()).count();
    rep.ok = n - rep.failed;
    failures.truncate(10);
    rep.failures = failures;
    rep.client_mem = Memory {
        base_kib,
        idle_kib,
        idle_trimmed_kib,
        active_kib,
        hwm_kib,
        ..Default::default()
    }
    .with_per_session(n);
    rep.client_cpu = Cpu::new(cpu1 - cpu0, wall, n);
    if let (Some(b), Some(i), Some(a)) = (emu_base, emu_idle, emu_active) {
        rep.emulator_mem = Some(
            Memory {
                base_kib: b.0,
                idle_kib: i.0,
                active_kib: a.0,
                hwm_kib: a.1,
                ..Default::default()
            }
            .with_per_session(n),
        );
    }
    if let (Some(c0), Some(c1)) = (emu_cpu0, emu_cpu1) {
        rep.emulator_cpu = Some(Cpu::new(c1 - c0, wall, n));
    }
    rep.ack = emu_end_stats.as_ref().map(|s| s.ack);
    rep.emulator = emu_end_stats;
    rep.settings = target.settings.clone();
    rep.settings.push((
        "client".into(),
        format!(
            "read buffer {} B, audio queue {}, reconnect off, keepalive default (20 s ping), tool_ms {}, {}, gap {} ms, scripted delay {} ms",
            o.read_buffer,
            o.audio_queue,
            o.tool_ms,
            if o.mic {
                format!("microphone 20 ms chunks, voiced {} ms per turn", o.voiced_ms)
            } else {
                "no microphone stream (text user turns)".to_string()
            },
            o.gap_ms,
            o.scripted_delay_ms
        ),
    ));
    rep.settings
        .push(("open files".into(), format!("{soft} (hard {hard})")));
    rep.settings.push((
        "machine load average (1/5/15 min)".into(),
        format!("{load_start} at start, {} at end", procfs::loadavg()),
    ));
    Ok(rep)
}
