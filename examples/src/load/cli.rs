//! The command line of `loadtest` (and of `bench/peer`, which is the same harness
//! driving another client library through [`Peer`]).
//!
//! `loadtest`: N concurrent real-time voice sessions with background tools against the
//! Live API emulator in a separate process, and a table of what it cost.
//!
//! ```text
//! cargo run --release -p examples --bin loadtest -- --sessions 1000 --seconds 20
//! ```
//!
//! By default it starts the emulator as a child process (this same binary,
//! `loadtest emulator`, which is the `genai_wire::emulator` library plus a control port
//! that reports the tool ack latency on the server's clock, see `examples::load::server`).
//! `--emulator live-emulator` starts the `live-emulator` binary from the same target
//! directory instead (no ack latency then: it prints no statistics), and `--endpoint URL`
//! uses an emulator started by hand (`--control ADDR` for its control port, `--ca-file`
//! for its certificate).
//!
//! It stops by itself (connect, `--idle-seconds`, `--seconds`, bounded teardown), prints
//! a table, optionally writes JSON (`--json`), and exits non-zero if any session failed
//! or the emulator saw a protocol violation. See BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::client::{self, ClientKind, ClientOpts, Peer, Target};
use super::launch::{self, EmulatorProcess};
use super::page;
use super::server::{self, ControlClient, ServeOpts};
use adk_live::prelude::TransportConfig;
use clap::{Parser, Subcommand, ValueEnum};

const DEFAULT_SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/scenarios/bench/loop.json"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmulatorMode {
    /// `loadtest emulator` as a child process (reports tool ack latency).
    Child,
    /// The `live-emulator` binary next to this one (no server-side statistics).
    LiveEmulator,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the emulator with a statistics control port (what `--emulator child` starts).
    Emulator {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Serve wss:// with a generated certificate.
        #[arg(long)]
        tls: bool,
        /// Write the CA certificate (PEM) here.
        #[arg(long)]
        cert_out: Option<PathBuf>,
        /// Scenario file.
        #[arg(long, default_value = DEFAULT_SCENARIO)]
        scenario: PathBuf,
        /// Exit after this many seconds in any case.
        #[arg(long, default_value_t = 900)]
        max_seconds: u64,
    },
    /// Run the agent server in front of an emulator, its sessions built as the direct
    /// client builds them (what `--via-server` starts).
    PageServer {
        /// The emulator's ws:// or wss:// URL.
        #[arg(long)]
        endpoint: String,
        /// The emulator's CA certificate (PEM), for wss://.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// How long the background tool runs (ms).
        #[arg(long, default_value_t = 200)]
        tool_ms: u64,
        /// Websocket read buffer per session (bytes).
        #[arg(long, default_value_t = 4096)]
        read_buffer: usize,
        /// Incoming audio chunks queued per session before dropping.
        #[arg(long, default_value_t = 256)]
        audio_queue: usize,
        /// Exit after this many seconds in any case.
        #[arg(long, default_value_t = 900)]
        max_seconds: u64,
    },
}

/// Load test: concurrent real-time voice sessions with background tools.
#[derive(Debug, Parser)]
#[command(name = "loadtest")]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Length of the streaming phase, in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds between "all connected" and the idle memory reading.
    #[arg(long, default_value_t = 2.0)]
    idle_seconds: f64,
    /// Which emulator to start (ignored with --endpoint).
    #[arg(long, value_enum, default_value = "child")]
    emulator: EmulatorMode,
    /// Use an emulator that is already running at this ws:// or wss:// URL.
    #[arg(long)]
    endpoint: Option<String>,
    /// The CA certificate (PEM) of a wss:// --endpoint.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The control port (`127.0.0.1:PORT`) of a `loadtest emulator` at --endpoint.
    #[arg(long)]
    control: Option<String>,
    /// The emulator's pid (memory and CPU from /proc) for --endpoint.
    #[arg(long)]
    emulator_pid: Option<u32>,
    /// Plain ws:// instead of wss:// for a started emulator.
    #[arg(long)]
    plain: bool,
    /// Scenario for a started emulator (must call a background `search`).
    #[arg(long, default_value = DEFAULT_SCENARIO)]
    scenario: PathBuf,
    /// How long the background tool runs (ms).
    #[arg(long, default_value_t = 200)]
    tool_ms: u64,
    /// Length of each user turn (ms of voiced audio).
    #[arg(long, default_value_t = 400)]
    voiced_ms: u64,
    /// Pause after the model's result turn before the next user turn (ms).
    #[arg(long, default_value_t = 600)]
    gap_ms: u64,
    /// Scripted end-of-turn delay to subtract (default: the scenario's
    /// turnDetection.silenceMs).
    #[arg(long)]
    scripted_delay_ms: Option<u64>,
    /// A chunk sent more than this late (after its 20 ms tick) counts as late.
    #[arg(long, default_value_t = 20)]
    slack_ms: u64,
    /// Websocket read buffer per session (bytes).
    #[arg(long, default_value_t = 4096)]
    read_buffer: usize,
    /// Incoming audio chunks queued for the application before the client drops them.
    #[arg(long, default_value_t = 256)]
    audio_queue: usize,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Tokio worker threads of this process (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Tokio `event_interval` of this process and a started emulator (0: tokio's
    /// default, 61): how many tasks a worker polls between two checks for I/O events.
    #[arg(long, default_value_t = 0)]
    event_interval: u32,
    /// Tokio worker threads of a started emulator (0: one per core).
    #[arg(long, default_value_t = 0)]
    emulator_threads: usize,
    /// No microphone stream: each user turn is one realtimeInput.text (tool lane and
    /// downlink only).
    #[arg(long)]
    no_mic: bool,
    /// Run the floor client instead of adk-live: the same sockets, TLS and workload,
    /// frames encoded once, one task per session, no runtime (the baseline for adk-live's
    /// CPU; see BENCHMARKS.md).
    #[arg(long, conflicts_with = "via_server")]
    floor: bool,
    /// Run the sessions through the agent server: pages of the page protocol in this
    /// process, the server (`loadtest page-server`, holding the same adk-live sessions) in
    /// another; the figures are the server's (see BENCHMARKS.md).
    #[arg(long)]
    via_server: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Set when a [`Peer`] runs the sessions (not a flag).
    #[arg(skip)]
    peer: bool,
}

/// Runs the harness from the command line; with `peer`, the sessions are that client's.
pub fn main(peer: Option<Arc<dyn Peer>>) -> ExitCode {
    let mut args = Args::parse();
    if let Some(p) = &peer {
        if args.floor || args.via_server {
            eprintln!(
                "loadtest: {} runs its own sessions: no --floor or --via-server",
                p.name()
            );
            return ExitCode::FAILURE;
        }
        // Its own binary starts the emulator child (the same `emulator` subcommand).
        args.peer = true;
    }
    let rt = match launch::runtime(args.threads, args.event_interval) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match args.cmd {
            Some(Cmd::Emulator {
                host,
                port,
                tls,
                cert_out,
                scenario,
                max_seconds,
            }) => server::serve(ServeOpts {
                host,
                port,
                tls,
                cert_out,
                scenario,
                max_seconds,
            })
            .await
            .map(|()| true),
            Some(Cmd::PageServer {
                endpoint,
                ca_file,
                tool_ms,
                read_buffer,
                audio_queue,
                max_seconds,
            }) => {
                let transport = transport_trusting(
                    ca_file
                        .map(|p| {
                            std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
                        })
                        .transpose()?
                        .as_deref(),
                )?;
                let opts = ClientOpts {
                    tool_ms,
                    read_buffer,
                    audio_queue,
                    ..client_opts_defaults()
                };
                let target = Target {
                    url: endpoint,
                    transport,
                    control: None,
                    emulator_pid: None,
                    settings: Vec::new(),
                    measured_pid: None,
                };
                page::serve(opts, target, max_seconds).await.map(|()| true)
            }
            None => load(args, peer).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scripted_delay(scenario: &PathBuf) -> u64 {
    std::fs::read_to_string(scenario)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["turnDetection"]["silenceMs"].as_u64())
        .unwrap_or(500)
}

async fn load(args: Args, peer: Option<Arc<dyn Peer>>) -> Result<bool, String> {
    let scenario = std::fs::canonicalize(&args.scenario)
        .map_err(|e| format!("{}: {e}", args.scenario.display()))?;
    let mut settings = Vec::new();
    let mut _child = None;
    let (url, ca_pem, ca_path, control, pid) = match &args.endpoint {
        Some(url) => {
            let pem = match &args.ca_file {
                Some(p) => {
                    Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?)
                }
                None => None,
            };
            settings.push((
                "emulator".into(),
                format!(
                    "started by hand at {url}{}",
                    if args.control.is_some() {
                        " (control port given)"
                    } else {
                        ""
                    }
                ),
            ));
            (
                url.clone(),
                pem,
                args.ca_file.as_ref().map(|p| p.display().to_string()),
                args.control.clone(),
                args.emulator_pid,
            )
        }
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let max_seconds = (args.seconds + args.idle_seconds + 300.0) as u64;
            let (program, mut a) = match args.emulator {
                EmulatorMode::Child => (
                    exe.clone(),
                    vec![
                        "--threads".to_string(),
                        args.emulator_threads.to_string(),
                        "--event-interval".to_string(),
                        args.event_interval.to_string(),
                        "emulator".to_string(),
                        "--scenario".into(),
                        scenario.display().to_string(),
                        "--max-seconds".into(),
                        max_seconds.to_string(),
                    ],
                ),
                EmulatorMode::LiveEmulator => {
                    let p = exe.with_file_name("live-emulator");
                    if !p.exists() {
                        return Err(format!(
                            "{} not found: build it with `cargo build --release -p genai-wire --features emulator --bin live-emulator` (same CARGO_TARGET_DIR)",
                            p.display()
                        ));
                    }
                    (
                        p,
                        vec![
                            "--port".to_string(),
                            "0".into(),
                            "--scenario".into(),
                            scenario.display().to_string(),
                            "--record".into(),
                            "off".into(),
                            "--lifetime".into(),
                            "0".into(),
                        ],
                    )
                }
            };
            if !args.plain {
                a.push("--tls".into());
                if args.emulator == EmulatorMode::LiveEmulator {
                    a.push("--cert-out".into());
                    a.push(
                        std::env::temp_dir()
                            .join(format!("loadtest-live-emulator-{}.pem", std::process::id()))
                            .display()
                            .to_string(),
                    );
                }
            }
            let child = EmulatorProcess::start(&program, &a)?;
            let l = child.listening.clone();
            let pem = match &l.cert_path {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?),
                None => None,
            };
            settings.push((
                "emulator".into(),
                format!(
                    "{} pid {} (separate process), {}",
                    program.file_name().unwrap_or_default().to_string_lossy(),
                    child.pid(),
                    if args.emulator == EmulatorMode::Child {
                        "RecordMode::Metadata, control port"
                    } else {
                        "--record off, no statistics"
                    }
                ),
            ));
            let pid = child.pid();
            _child = Some(child);
            (l.ws_url, pem, l.cert_path, l.control, Some(pid))
        }
    };
    let transport = transport_trusting(ca_pem.as_deref())?;
    settings.push(("scenario".into(), scenario.display().to_string()));
    settings.push((
        "runtime".into(),
        format!(
            "tokio multi-thread, {} workers, {} cores",
            if args.threads > 0 {
                args.threads.to_string()
            } else {
                "default".into()
            },
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
    ));
    let opts = ClientOpts {
        sessions: args.sessions,
        seconds: args.seconds,
        idle_seconds: args.idle_seconds,
        connect_concurrency: args.connect_concurrency,
        tool_ms: args.tool_ms,
        voiced_ms: args.voiced_ms,
        gap_ms: args.gap_ms,
        scripted_delay_ms: args.scripted_delay_ms.unwrap_or_else(|| {
            if args.no_mic {
                0 // a text turn ends at once
            } else {
                scripted_delay(&scenario)
            }
        }),
        mic: !args.no_mic,
        kind: if args.peer {
            ClientKind::Peer
        } else if args.floor {
            ClientKind::Floor
        } else if args.via_server {
            ClientKind::Page
        } else {
            ClientKind::Adk
        },
        slack_ms: args.slack_ms,
        read_buffer: args.read_buffer,
        audio_queue: args.audio_queue,
    };
    // With --via-server the sessions are pages of an agent server started here, in
    // front of the emulator; its process is the one measured.
    let mut _server = None;
    let (url, measured_pid) = if args.via_server {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut a = vec![
            "--threads".to_string(),
            args.threads.to_string(),
            "--event-interval".into(),
            args.event_interval.to_string(),
            "page-server".into(),
            "--endpoint".into(),
            url,
            "--tool-ms".into(),
            args.tool_ms.to_string(),
            "--read-buffer".into(),
            args.read_buffer.to_string(),
            "--audio-queue".into(),
            args.audio_queue.to_string(),
            "--max-seconds".into(),
            ((args.seconds + args.idle_seconds + 300.0) as u64).to_string(),
        ];
        if let Some(path) = ca_path {
            a.push("--ca-file".into());
            a.push(path);
        }
        let server = EmulatorProcess::start(&exe, &a)?;
        let pid = server.pid();
        let url = server.listening.ws_url.clone();
        settings.push((
            "agent server".into(),
            format!("loadtest page-server pid {pid} (separate process), pages over ws:// at {url}"),
        ));
        _server = Some(server);
        (url, Some(pid))
    } else {
        (url, None)
    };
    let target = Target {
        url,
        transport,
        control: control.map(ControlClient::new),
        emulator_pid: pid,
        settings,
        measured_pid,
    };
    let report = client::run(opts, target, peer).await?;
    report.print();
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let violations = report.emulator.as_ref().map_or(0, |e| e.violations);
    Ok(report.failed == 0 && violations == 0)
}

/// Transport settings trusting `pem` (the emulator's CA), if given.
fn transport_trusting(pem: Option<&str>) -> Result<TransportConfig, String> {
    let mut transport = TransportConfig::default();
    if let Some(pem) = pem {
        let tls = genai_wire::transport::tls::client_config_trusting_pem(pem)
            .map_err(|e| e.to_string())?;
        transport = transport.with_tls_config(tls);
    }
    Ok(transport)
}

/// The client settings `page-server` does not take from its flags (it only builds
/// sessions; the workload is the pages').
fn client_opts_defaults() -> ClientOpts {
    ClientOpts {
        sessions: 0,
        seconds: 0.0,
        idle_seconds: 0.0,
        connect_concurrency: 1,
        tool_ms: 200,
        voiced_ms: 400,
        gap_ms: 600,
        scripted_delay_ms: 0,
        slack_ms: 20,
        read_buffer: 4096,
        audio_queue: 256,
        mic: true,
        kind: ClientKind::Adk,
    }
}
