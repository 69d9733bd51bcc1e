//! `live-emulator`: runs the local Gemini Live API emulator as a standalone server.
//!
//! ```text
//! cargo run -p genai-wire --bin live-emulator -- --port 9000 [--tls] [--scenario FILE]
//!     [--backend dev|vertex] [--api-key K] [--cert-out FILE] [--transcript-out FILE]
//!     [--resumption-mode checkpoint|latest] [--handle-lag-ms MS] [--checkpoints-kept N]
//! ```
//!
//! The first line on stdout is one JSON object describing the listener, so scripts can
//! parse it:
//!
//! ```text
//! {"event":"listening","addr":"127.0.0.1:9000","port":9000,"tls":true,"backend":"dev",
//!  "ws_url":"wss://127.0.0.1:9000/ws/...","base_url":"https://127.0.0.1:9000","cert_path":"/tmp/ca.pem"}
//! ```
//!
//! Logs go to stderr (`RUST_LOG`, default `info`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use genai_wire::Backend;
use genai_wire::emulator::{
    DEFAULT_CHECKPOINTS_KEPT, DEFAULT_HANDLE_LAG, Emulator, RecordMode, ResumptionMode, Scenario,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    /// The Gemini Developer API.
    Dev,
    /// Vertex AI.
    Vertex,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResumptionArg {
    /// A handle resumes the conversation as it was when the handle was issued (as the
    /// real server does).
    Checkpoint,
    /// Any handle resumes the latest state, open calls included (not the real server).
    Latest,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RecordArg {
    Full,
    Metadata,
    Off,
}

/// A local Gemini Live API (BidiGenerateContent) server that behaves like the real one.
#[derive(Debug, Parser)]
#[command(name = "live-emulator", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 picks a free port).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Serve TLS (wss://) with a generated certificate (see --cert-out).
    #[arg(long)]
    tls: bool,
    /// Scenario file (JSON); default: the built-in default scenario.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Which backend's URL to print (both backends' paths are always served).
    #[arg(long, value_enum, default_value = "dev")]
    backend: BackendArg,
    /// Accepted API key (repeatable). Without any key or token, anything is accepted.
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// Accepted access token (ephemeral or OAuth; repeatable).
    #[arg(long = "access-token")]
    access_tokens: Vec<String>,
    /// Write the CA certificate (PEM) clients must trust to this file.
    #[arg(long)]
    cert_out: Option<PathBuf>,
    /// Append each connection's transcript (`>N {json}` / `<N {json}`) to this file.
    #[arg(long)]
    transcript_out: Option<PathBuf>,
    /// Connection lifetime in seconds (0 = unlimited).
    #[arg(long, default_value_t = 600.0)]
    lifetime: f64,
    /// goAway lead time in seconds.
    #[arg(long, default_value_t = 60.0)]
    goaway_lead: f64,
    /// How much to record per session.
    #[arg(long, value_enum, default_value = "full")]
    record: RecordArg,
    /// Close with 1008 on a function response for an unknown/closed/cancelled call.
    #[arg(long)]
    strict_tool_responses: bool,
    /// What a resumption handle resumes.
    #[arg(long, value_enum, default_value = "checkpoint")]
    resumption_mode: ResumptionArg,
    /// Milliseconds between the turn boundary and the fresh resumable handle.
    #[arg(long, default_value_t = DEFAULT_HANDLE_LAG.as_millis() as u64)]
    handle_lag_ms: u64,
    /// Checkpoints (newest handles) kept per session; older handles get 1008.
    #[arg(long, default_value_t = DEFAULT_CHECKPOINTS_KEPT)]
    checkpoints_kept: usize,
    /// Extra path served as Vertex (SDK proxy mode).
    #[arg(long)]
    vertex_proxy_path: Option<String>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("live-emulator: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let scenario = match &args.scenario {
        Some(p) => Scenario::from_file(p)?,
        None => Scenario::default(),
    };
    let backend = match args.backend {
        BackendArg::Dev => Backend::DeveloperApi,
        BackendArg::Vertex => Backend::VertexAi,
    };
    let mut b = Emulator::builder()
        .backend(backend)
        .scenario(scenario)
        .tls(args.tls)
        .record(match args.record {
            RecordArg::Full => RecordMode::Full,
            RecordArg::Metadata => RecordMode::Metadata,
            RecordArg::Off => RecordMode::Off,
        })
        .strict_tool_responses(args.strict_tool_responses)
        .resumption_mode(match args.resumption_mode {
            ResumptionArg::Checkpoint => ResumptionMode::Checkpoint,
            ResumptionArg::Latest => ResumptionMode::Latest,
        })
        .handle_lag(Duration::from_millis(args.handle_lag_ms))
        .checkpoints_kept(args.checkpoints_kept)
        .connection_lifetime((args.lifetime > 0.0).then(|| Duration::from_secs_f64(args.lifetime)))
        .goaway_lead(Duration::from_secs_f64(args.goaway_lead.max(0.0)));
    for k in args.api_keys {
        b = b.api_key(k);
    }
    for t in args.access_tokens {
        b = b.access_token(t);
    }
    if let Some(p) = args.vertex_proxy_path {
        b = b.vertex_proxy_path(p);
    }
    if let Some(p) = &args.transcript_out {
        b = b.transcript_out(p);
    }
    let emu = b.bind((args.host.as_str(), args.port)).await?;

    let cert_path = match (&args.cert_out, emu.cert_pem()) {
        (Some(path), Some(pem)) => {
            std::fs::write(path, pem)?;
            Some(std::fs::canonicalize(path)?.display().to_string())
        }
        (Some(_), None) => return Err("--cert-out needs --tls".into()),
        _ => None,
    };
    let line = serde_json::json!({
        "event": "listening",
        "addr": emu.addr().to_string(),
        "port": emu.port(),
        "tls": emu.cert_pem().is_some(),
        "backend": match backend { Backend::DeveloperApi => "dev", Backend::VertexAi => "vertex" },
        "ws_url": emu.ws_url(),
        "base_url": emu.base_url(),
        "cert_path": cert_path,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);

    // Serve until killed.
    std::future::pending::<()>().await;
    Ok(())
}
