//! The harness's result: a table for people, JSON for `bench/compare.py`.
//!
//! `bench/sdk_load.py` writes the same JSON shape for the official Python SDK, so the
//! two runs compare key by key.

use serde::{Deserialize, Serialize};

use super::server::EmuStats;
use super::stats::{Summary, fmt_ms};

/// Memory of one process at the three moments of a run (KiB).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Before any session.
    pub base_kib: u64,
    /// All sessions connected and idle.
    pub idle_kib: u64,
    /// Idle, after returning freed heap to the kernel (glibc `malloc_trim`): what the
    /// sessions hold, without what the allocator kept from the connect phase.
    #[serde(default)]
    pub idle_trimmed_kib: u64,
    /// At the end of the streaming phase.
    pub active_kib: u64,
    /// Peak.
    pub hwm_kib: u64,
    /// (idle − base) / sessions.
    pub per_session_idle_kib: f64,
    /// (active − base) / sessions.
    pub per_session_active_kib: f64,
    /// (idle_trimmed − base) / sessions.
    #[serde(default)]
    pub per_session_idle_trimmed_kib: f64,
}

impl Memory {
    /// Fills the per-session figures.
    pub fn with_per_session(mut self, sessions: usize) -> Memory {
        let n = sessions.max(1) as f64;
        self.per_session_idle_kib = self.idle_kib.saturating_sub(self.base_kib) as f64 / n;
        self.per_session_active_kib = self.active_kib.saturating_sub(self.base_kib) as f64 / n;
        self.per_session_idle_trimmed_kib =
            self.idle_trimmed_kib.saturating_sub(self.base_kib) as f64 / n;
        self
    }
}

/// CPU of one process over the streaming phase.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// User + system seconds used during the phase.
    pub cpu_s: f64,
    /// Cores busy on average (cpu_s / wall seconds).
    pub cores: f64,
    /// Sessions one fully busy core would carry at this cost (sessions / cores).
    pub sessions_per_core: f64,
    /// Per session, in percent of one core.
    pub percent_core_per_session: f64,
}

impl Cpu {
    /// From CPU seconds over a wall-clock phase.
    pub fn new(cpu_s: f64, wall_s: f64, sessions: usize) -> Cpu {
        let cores = cpu_s / wall_s.max(1e-9);
        Cpu {
            cpu_s,
            cores,
            sessions_per_core: if cores > 0.0 {
                sessions as f64 / cores
            } else {
                0.0
            },
            percent_core_per_session: 100.0 * cores / sessions.max(1) as f64,
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Which client library.
    pub client: String,
    /// Sessions asked for.
    pub sessions: usize,
    /// Sessions that connected and ran to the end.
    pub ok: usize,
    /// Sessions that failed (connect, close, send error).
    pub failed: usize,
    /// The first few failures.
    pub failures: Vec<String>,
    /// Length of the streaming phase (s).
    pub seconds: f64,
    /// wss:// (true) or ws://.
    pub tls: bool,
    /// Connect + setup latency.
    pub connect: Summary,
    /// Tool ack latency measured by the emulator (`toolCall` written → running ack
    /// parsed); `None` when the emulator cannot report it.
    pub ack: Option<Summary>,
    /// Added turn latency: last voiced chunk handed to the client → first model audio
    /// chunk delivered to the application, minus the scripted end-of-turn silence.
    pub turn: Summary,
    /// Audio chunks sent.
    pub chunks_sent: u64,
    /// Sends that happened more than `slack_ms` after their 20 ms tick was due.
    pub chunks_late: u64,
    /// The lateness allowed (ms).
    pub slack_ms: u64,
    /// How late the sends were (scheduled tick → send call).
    pub lateness: Summary,
    /// Incoming audio chunks dropped by the client library (slow application).
    pub audio_dropped: u64,
    /// Model audio chunks delivered to the application.
    pub audio_received: u64,
    /// Tool calls started by the client.
    pub tool_calls: u64,
    /// Running acks sent by the client.
    pub tool_acks: u64,
    /// Final tool results sent.
    pub tool_results: u64,
    /// Completed user-turn → model-turn → tool → result-turn cycles.
    pub cycles: u64,
    /// Cycles that stalled (no second turnComplete within 10 s).
    pub stalls: u64,
    /// `interrupted` events (should be 0: the workload never barges in).
    pub interrupted: u64,
    /// Client process memory.
    pub client_mem: Memory,
    /// Client process CPU over the streaming phase.
    pub client_cpu: Cpu,
    /// Emulator process memory, when known.
    pub emulator_mem: Option<Memory>,
    /// Emulator process CPU over the streaming phase, when known.
    pub emulator_cpu: Option<Cpu>,
    /// Emulator-side figures (`loadtest emulator` only).
    pub emulator: Option<EmuStats>,
    /// Settings worth recording next to the figures.
    pub settings: Vec<(String, String)>,
}

impl Report {
    /// Prints the table.
    pub fn print(&self) {
        let row = |name: &str, value: String, target: &str| {
            println!("  {name:<44} {value:<40} {target}");
        };
        println!();
        println!(
            "== {} — {} sessions, {:.0} s streaming, {} ==",
            self.client,
            self.sessions,
            self.seconds,
            if self.tls { "wss" } else { "ws" }
        );
        for (k, v) in &self.settings {
            println!("  {k}: {v}");
        }
        println!();
        row("figure", "measured".into(), "target / note");
        row(
            "sessions ok / failed",
            format!("{} / {}", self.ok, self.failed),
            "failed = 0",
        );
        row("connect+setup p50 / p99 / max", self.connect.ms(), "");
        row(
            "tool ack latency p50 / p99 / max",
            match &self.ack {
                Some(a) => format!("{} (n={})", a.ms(), a.count),
                None => "n/a (emulator gives no stats)".into(),
            },
            "p99 <= 1 ms @1000 (emulator clock)",
        );
        row(
            "added turn latency p50 / p99 / max",
            format!("{} (n={})", self.turn.ms(), self.turn.count),
            "beat 2-3 ms @100, 5 ms p99 @500",
        );
        row(
            "audio chunks sent / late / dropped",
            format!(
                "{} / {} / {}",
                self.chunks_sent, self.chunks_late, self.audio_dropped
            ),
            &format!("late: tick + {} ms; 0 late", self.slack_ms),
        );
        row("send lateness p50 / p99 / max", self.lateness.ms(), "");
        row(
            "tool calls / acks / results",
            format!(
                "{} / {} / {}",
                self.tool_calls, self.tool_acks, self.tool_results
            ),
            "",
        );
        row(
            "cycles / stalls / interrupted",
            format!("{} / {} / {}", self.cycles, self.stalls, self.interrupted),
            "stalls = 0",
        );
        row(
            "model audio chunks received",
            self.audio_received.to_string(),
            "",
        );
        let m = &self.client_mem;
        row(
            "client RSS base / idle / active / peak",
            format!(
                "{} / {} / {} / {} MiB",
                mib(m.base_kib),
                mib(m.idle_kib),
                mib(m.active_kib),
                mib(m.hwm_kib)
            ),
            "",
        );
        row(
            "client KiB per session idle / active",
            format!(
                "{:.1} / {:.1}",
                m.per_session_idle_kib, m.per_session_active_kib
            ),
            "idle <= 32 KiB (beat 244 kB)",
        );
        if m.idle_trimmed_kib > 0 {
            row(
                "client KiB per session idle after malloc_trim",
                format!("{:.1}", m.per_session_idle_trimmed_kib),
                "live memory, without allocator slack",
            );
        }
        let c = &self.client_cpu;
        row(
            "client CPU (cores busy, % core/session)",
            format!(
                "{:.2} cores, {:.3} %/session",
                c.cores, c.percent_core_per_session
            ),
            "",
        );
        row(
            "client sessions per core",
            format!("{:.0}", c.sessions_per_core),
            ">= 20x the official SDK",
        );
        if let Some(m) = &self.emulator_mem {
            row(
                "emulator RSS base / idle / active",
                format!(
                    "{} / {} / {} MiB",
                    mib(m.base_kib),
                    mib(m.idle_kib),
                    mib(m.active_kib)
                ),
                "",
            );
            row(
                "emulator KiB per session idle / active",
                format!(
                    "{:.1} / {:.1}",
                    m.per_session_idle_kib, m.per_session_active_kib
                ),
                "active includes recordings",
            );
        }
        if let Some(c) = &self.emulator_cpu {
            row(
                "emulator CPU (cores busy)",
                format!("{:.2} cores", c.cores),
                "",
            );
        }
        if let Some(e) = &self.emulator {
            row(
                "emulator: violations / unanswered calls",
                format!("{} / {}", e.violations, e.unanswered),
                "0 violations",
            );
            for v in &e.violation_samples {
                println!("    violation: {v}");
            }
        }
        for f in &self.failures {
            println!("    failure: {f}");
        }
        println!();
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Milliseconds for tables (re-exported for the binary).
pub fn ms(us: u64) -> String {
    fmt_ms(us)
}
