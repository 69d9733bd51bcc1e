//! The agent server: a voice page in the browser, one Live session per page.
//!
//! ```text
//! cargo run --release -p examples --bin agent_server          # then open http://127.0.0.1:8080/
//! ```
//!
//! Each page connection gets its own session with the voice agent's tools (a background
//! `search`, a standard `get_weather`). Where it connects is chosen as for `voice_agent`
//! (`examples::target`): `GEMINI_API_KEY`, the Vertex variables, `--endpoint`, or else an
//! emulator started in-process. The API key stays on the server.
//!
//! Safe by default: it binds loopback; any other bind needs `--token` (or
//! `AGENT_SERVER_TOKEN`), which pages present as `#token=...` in the URL. Phone calls
//! come through Twilio at `/twilio/twiml` and `/twilio/stream` (`--twilio-auth-token`,
//! `--public-url`; see README). SIGTERM or Ctrl-C starts a drain: `/healthz` turns 503,
//! new callers are refused, calls go on up to `--drain-seconds` (30), then the rest are
//! ended (running tools cancelled) and the process exits 0. A second signal ends them at
//! once.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adk_live::bridge::twilio;
use adk_live::prelude::*;
use clap::Parser;
use examples::server::{AgentServer, Caller, Connector, Limits, ServerConfig};
use examples::target::Target;
use examples::tools;
use futures::future::BoxFuture;
use genai_wire::emulator::{Emulator, Scenario};

const SCENARIO: &str = include_str!("../../../fixtures/scenarios/voice_agent.json");

#[derive(Debug, Parser)]
#[command(about = "A voice agent for the browser: one Live session per page")]
struct Args {
    /// Where to listen. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The access token pages must present (at least 16 characters).
    #[arg(long, env = "AGENT_SERVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An origin (https://host[:port]) allowed to open sessions besides the server's own;
    /// repeatable.
    #[arg(long = "allow-origin")]
    allowed_origins: Vec<String>,
    /// Pages connected at once.
    #[arg(long, default_value_t = Limits::default().max_sessions)]
    max_sessions: usize,
    /// The Twilio account's auth token: phone streams and the TwiML webhook must carry its
    /// signature. Without it, only loopback peers may open a phone stream.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// The server's public https:// address (a tunnel's), used in the TwiML and for
    /// Twilio's signature. Default: the request's Host.
    #[arg(long)]
    public_url: Option<String>,
    /// On SIGTERM or Ctrl-C, how long calls may go on before they are ended.
    #[arg(long, default_value_t = 30)]
    drain_seconds: u64,
    /// Close a page that sends nothing for this many seconds.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_seconds: u64,
    /// The embedded emulator when no credentials are set: `auto` (yes), `off` (refuse to
    /// start instead: a deployment that lost its credentials must not answer callers with
    /// a scripted model), `on` (always, ignoring credentials).
    #[arg(
        long,
        env = "AGENT_SERVER_EMULATOR",
        value_enum,
        default_value = "auto"
    )]
    emulator: EmulatorChoice,
    /// The emulator's scenario when no credentials are set (default: the voice agent's).
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    #[command(flatten)]
    agent: tools::AgentArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match examples::telemetry::init("info,genai_wire=warn") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("agent_server: telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the embedded emulator may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EmulatorChoice {
    /// When no credentials are set.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

async fn run(args: Args) -> Result<(), String> {
    let mut target = match args.emulator {
        EmulatorChoice::On => Target::Embedded,
        _ => Target::choose(args.agent.endpoint.clone()),
    };
    if args.emulator == EmulatorChoice::Off && matches!(target, Target::Embedded) {
        return Err(
            "no credentials are set (GEMINI_API_KEY, GOOGLE_CLOUD_PROJECT or \
                    --endpoint) and the emulator is off (AGENT_SERVER_EMULATOR=off)"
                .into(),
        );
    }
    println!("sessions go to {}", target.describe());
    // One emulator for every page, when no credentials are set.
    let _emulator = match target {
        Target::Embedded => {
            let scenario = match &args.scenario {
                Some(path) => Scenario::from_file(path).map_err(|e| e.to_string())?,
                None => Scenario::from_json(SCENARIO).map_err(|e| e.to_string())?,
            };
            let emulator = Emulator::builder()
                .scenario(scenario)
                .bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot start the embedded emulator: {e}"))?;
            target = Target::Endpoint(emulator.ws_url());
            Some(emulator)
        }
        _ => None,
    };

    let agent = Arc::new(args.agent);
    let connector: Connector = Arc::new(
        move |caller| -> BoxFuture<'static, Result<LiveHandle, String>> {
            let target = target.clone();
            let agent = agent.clone();
            Box::pin(async move {
                let builder = match caller {
                    Caller::Phone(call) => {
                        let from = call
                            .custom_parameters
                            .get("caller")
                            .cloned()
                            .unwrap_or_default();
                        tools::travel_agent_on(twilio::phone_defaults(Live::builder()), &agent)
                        .instruction(format!(
                            "You are a friendly travel assistant on a phone call with {from}. \
                             Use `search` for flights and `get_weather` for weather. Keep answers short."
                        ))
                    }
                    _ => tools::travel_agent(&agent),
                };
                target
                    .connect(builder.voice("Kore"), SCENARIO)
                    .await
                    .map(|(session, _)| session)
            })
        },
    );

    let mut config = ServerConfig::default();
    config.addr = args.addr;
    config.token = args.token.map(Secret::from);
    config.allowed_origins = args.allowed_origins;
    config.limits.max_sessions = args.max_sessions;
    config.twilio.auth_token = args.twilio_auth_token.map(Secret::from);
    config.twilio.public_url = args.public_url;
    config.limits.idle_timeout = Duration::from_secs(args.idle_seconds);
    let with_token = config.token.is_some();
    let drain = Duration::from_secs(args.drain_seconds);
    let server = AgentServer::start(config, connector).await?;
    println!(
        "agent server ready: open {}{}",
        server.url(),
        if with_token {
            "#token=<your token>"
        } else {
            ""
        }
    );

    shutdown_signal().await;
    println!(
        "draining: {} caller(s) connected, up to {} s for them to finish (a second signal ends them now)",
        server.active_pages(),
        drain.as_secs()
    );
    let end_now = server.end_now_token();
    let draining = tokio::spawn(server.drain(drain));
    tokio::pin!(draining);
    let report = tokio::select! {
        r = &mut draining => r,
        _ = shutdown_signal() => {
            println!("second signal: ending every call now");
            end_now.cancel();
            draining.await
        }
    }
    .map_err(|e| format!("the drain failed: {e}"))?;
    println!(
        "every session ended ({} finished on their own, {} ended at the deadline)",
        report.at_start.saturating_sub(report.ended_by_deadline),
        report.ended_by_deadline
    );
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what a process manager sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
