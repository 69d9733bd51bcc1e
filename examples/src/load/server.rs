//! `loadtest emulator`: the Live API emulator (`genai_wire::emulator`) in its own
//! process, plus a control port that reports what only the server can measure.
//!
//! Why not the `live-emulator` binary: it prints no statistics, and the figure that
//! matters most for background tools, the **tool ack latency** (emulator writes a
//! `toolCall` → emulator has parsed the client's running ack), can only be measured
//! on the server's clock. This process runs the same emulator library with
//! [`RecordMode::Metadata`] (kind, direction, size and time of every frame, no bytes)
//! and answers on a line-based TCP control port on 127.0.0.1:
//!
//! * `stats` → one JSON line ([`EmuStats`]): ack latency percentiles, frame counts,
//!   violations, and this process's RSS and CPU time;
//! * `reset` → forgets ended sessions (so the next client run is measured alone);
//! * `quit` → exits.
//!
//! The first stdout line is JSON, like `live-emulator`'s, plus `control` and `pid`:
//! `{"event":"listening","ws_url":"wss://127.0.0.1:PORT/ws/...","base_url":"https://127.0.0.1:PORT","cert_path":"/tmp/ca.pem","control":"127.0.0.1:PORT","pid":123}`.
//! The process exits when stdin closes (its parent died), on `quit`, or after
//! `--max-seconds`, so it never outlives a benchmark.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use genai_wire::emulator::{Direction, Emulator, RecordMode, Scenario, kind};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::procfs;
use super::stats::Summary;

/// What the emulator process measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmuStats {
    /// The emulator's process id.
    pub pid: u32,
    /// Resident memory now (KiB).
    pub rss_kib: u64,
    /// Peak resident memory (KiB).
    pub hwm_kib: u64,
    /// CPU time used so far (user + system, seconds).
    pub cpu_s: f64,
    /// Threads.
    pub threads: u64,
    /// Sessions known (since the last `reset`).
    pub sessions: u64,
    /// Sessions with an open connection.
    pub connected: u64,
    /// Client → emulator frames recorded (setup, audio, tool responses).
    pub frames_in: u64,
    /// `realtimeInput.audio` frames received.
    pub audio_in: u64,
    /// `serverContent.modelTurn` frames sent.
    pub audio_out: u64,
    /// `toolCall` messages sent.
    pub tool_calls: u64,
    /// `toolResponse` messages received.
    pub tool_responses: u64,
    /// Tool ack latency: `toolCall` written → first `toolResponse` after it parsed, on
    /// the same connection (emulator clock).
    pub ack: Summary,
    /// Tool calls with no response at all (yet).
    pub unanswered: u64,
    /// Protocol violations committed by clients.
    pub violations: u64,
    /// The first few violations, as text.
    pub violation_samples: Vec<String>,
    /// How connections ended: `"<by> <code>"` → count.
    pub closes: BTreeMap<String, u64>,
}

/// Options of `loadtest emulator`.
#[derive(Debug, Clone)]
pub struct ServeOpts {
    /// Address to bind.
    pub host: String,
    /// Port (0: any free port).
    pub port: u16,
    /// Serve wss:// with a generated certificate.
    pub tls: bool,
    /// Where to write the CA certificate (PEM); default: a file in the temp dir.
    pub cert_out: Option<PathBuf>,
    /// Scenario file.
    pub scenario: PathBuf,
    /// Exit after this long whatever happens.
    pub max_seconds: u64,
}

/// Runs the emulator process until `quit`, stdin EOF or `max_seconds`.
pub async fn serve(opts: ServeOpts) -> Result<(), String> {
    let scenario = Scenario::from_file(&opts.scenario).map_err(|e| e.to_string())?;
    let emu = Emulator::builder()
        .scenario(scenario)
        .tls(opts.tls)
        .record(RecordMode::Metadata)
        .connection_lifetime(None)
        .bind((opts.host.as_str(), opts.port))
        .await
        .map_err(|e| e.to_string())?;
    let cert_path = match emu.cert_pem() {
        Some(pem) => {
            let path = opts.cert_out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("loadtest-emulator-{}.pem", std::process::id()))
            });
            std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(
                std::fs::canonicalize(&path)
                    .unwrap_or(path)
                    .display()
                    .to_string(),
            )
        }
        None => None,
    };
    let control = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "event": "listening",
        "addr": emu.addr().to_string(),
        "ws_url": emu.ws_url(),
        "base_url": emu.base_url(),
        "tls": opts.tls,
        "cert_path": cert_path,
        "control": control.local_addr().map_err(|e| e.to_string())?.to_string(),
        "pid": std::process::id(),
        "record": "metadata",
    });
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    // Parent gone (stdin closed) → exit. A thread, because tokio's stdin needs a feature
    // the workspace does not enable.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });

    let deadline = tokio::time::sleep(Duration::from_secs(opts.max_seconds));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => {
                eprintln!("loadtest emulator: --max-seconds reached, exiting");
                return Ok(());
            }
            accepted = control.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let emu: Emulator = (*emu).clone();
                tokio::spawn(control_conn(stream, emu));
            }
        }
    }
}

async fn control_conn(stream: TcpStream, emu: Emulator) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match line.trim() {
            "stats" => {
                let emu = emu.clone();
                let stats = tokio::task::spawn_blocking(move || collect(&emu))
                    .await
                    .unwrap_or_default();
                serde_json::to_string(&stats).unwrap_or_default()
            }
            "reset" => {
                emu.prune(true);
                r#"{"ok":true}"#.to_string()
            }
            "quit" => std::process::exit(0),
            other => format!(r#"{{"error":"unknown command {other:?}"}}"#),
        };
        if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Gathers [`EmuStats`] from the sessions' recordings.
pub fn collect(emu: &Emulator) -> EmuStats {
    let mut st = EmuStats {
        pid: std::process::id(),
        ..Default::default()
    };
    let mut acks = Vec::new();
    for s in emu.sessions() {
        st.sessions += 1;
        st.connected += u64::from(s.is_connected());
        st.audio_in += s.count(kind::AUDIO) as u64;
        st.audio_out += s.count(kind::MODEL_TURN) as u64;
        st.frames_in += s.count(kind::SETUP) as u64;
        let calls = s.frames_of(kind::TOOL_CALL);
        let responses = s.frames_of(kind::TOOL_RESPONSE);
        st.tool_calls += calls.len() as u64;
        st.tool_responses += responses.len() as u64;
        for c in calls.iter().filter(|f| f.dir == Direction::ServerToClient) {
            // The first response on the same connection after the call: the running ack
            // of a background call (the final result comes later).
            match responses.iter().find(|r| r.conn == c.conn && r.at >= c.at) {
                Some(r) => acks.push((r.at - c.at).as_micros() as u64),
                None => st.unanswered += 1,
            }
        }
        let v = s.violations();
        st.violations += v.len() as u64;
        for x in v
            .iter()
            .take(5usize.saturating_sub(st.violation_samples.len()))
        {
            st.violation_samples
                .push(format!("{}: {x}", s.id().as_str()));
        }
        for c in s.connections() {
            if let Some(close) = c.closed {
                *st.closes
                    .entry(format!("{:?} {}", close.by, close.code))
                    .or_default() += 1;
            }
        }
    }
    st.frames_in += st.audio_in + st.tool_responses;
    st.ack = Summary::of(&mut acks);
    st.rss_kib = procfs::rss_kib(None);
    st.hwm_kib = procfs::hwm_kib(None);
    st.cpu_s = procfs::cpu_seconds_self();
    st.threads = procfs::threads(None);
    st
}

/// A client of the control port.
#[derive(Debug, Clone)]
pub struct ControlClient {
    addr: String,
}

impl ControlClient {
    /// For the control port at `addr` (`127.0.0.1:PORT`).
    pub fn new(addr: impl Into<String>) -> Self {
        ControlClient { addr: addr.into() }
    }

    async fn ask(&self, cmd: &str) -> Result<String, String> {
        let fut = async {
            let mut s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("control {}: {e}", self.addr))?;
            s.write_all(format!("{cmd}\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            BufReader::new(s)
                .read_line(&mut line)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(line)
        };
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .map_err(|_| format!("control {}: no answer to {cmd}", self.addr))?
    }

    /// The emulator's figures.
    pub async fn stats(&self) -> Result<EmuStats, String> {
        let line = self.ask("stats").await?;
        serde_json::from_str(&line).map_err(|e| format!("control stats: {e}: {line}"))
    }

    /// Forgets ended sessions.
    pub async fn reset(&self) -> Result<(), String> {
        self.ask("reset").await.map(|_| ())
    }
}
