//! `peer-load`: the load harness (`examples::load`, the same flags as `loadtest`) with
//! its sessions run by the Rust peer, the [`gemini-live`](https://crates.io/crates/gemini-live)
//! crate, 0.1.9: same emulator, same workload, same measurement.
//!
//! How the workload maps onto its API (from its source, `session.rs` and
//! `types/client_message.rs` of 0.1.9):
//! - `Session::connect` with `Endpoint::Custom(url)`, `Auth::None`, reconnects off; the
//!   setup mirrors the floor's and adk-live's (model, audio, both transcriptions,
//!   sliding-window compression, resumption, `search` declared `NON_BLOCKING`).
//! - Microphone chunks through `send_audio`, the typed user turn through `send_text`,
//!   events through `next_event` (a `tokio::sync::broadcast` receiver of its runner task).
//! - The background tool: its `FunctionResponse` has `id`, `name` and `response` only, no
//!   `willContinue` and no `scheduling`, so it cannot ack a call and answer later; it
//!   answers once, after the tool's 200 ms, with `scheduling` inside `response` (where its
//!   docs say some models read it; unverified against the real server). The emulator's
//!   "tool ack" for it is therefore the time to that single answer.
//! - Its TLS trusts only the webpki roots (tokio-tungstenite's `rustls-tls-webpki-roots`),
//!   with no way to add the emulator's CA: it runs over `ws://` only, so the comparison
//!   runs every client over `ws://`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use examples::load::client::{Act, Peer, PeerSession, SessionResult, Workload};
use futures::future::BoxFuture;
use gemini_live::{
    AudioTranscriptionConfig, Auth, ContextWindowCompressionConfig, Endpoint, FunctionBehavior,
    FunctionDeclaration, FunctionResponse, GenerationConfig, Modality, ReconnectPolicy,
    ServerEvent, Session, SessionConfig, SessionResumptionConfig, SetupConfig, SlidingWindow, Tool,
    TransportConfig,
};
use serde_json::{Value, json};
use tokio::time::Instant;

struct GeminiLive;

impl Peer for GeminiLive {
    fn name(&self) -> String {
        "gemini-live 0.1.9 (Rust peer, crates.io)".into()
    }

    fn connect(
        &self,
        url: String,
        setup: Arc<Value>,
    ) -> BoxFuture<'static, Result<Box<dyn PeerSession>, String>> {
        Box::pin(async move {
            let config = SessionConfig {
                transport: TransportConfig {
                    endpoint: Endpoint::Custom(url),
                    auth: Auth::None,
                    ..Default::default()
                },
                setup: mirror(&setup["setup"]),
                reconnect: ReconnectPolicy {
                    enabled: false,
                    ..Default::default()
                },
            };
            let session = Session::connect(config).await.map_err(|e| e.to_string())?;
            Ok(Box::new(Conn(session)) as Box<dyn PeerSession>)
        })
    }
}

/// The floor's and adk-live's setup, in the peer's types.
fn mirror(setup: &Value) -> SetupConfig {
    let search = &setup["tools"][0]["functionDeclarations"][0];
    SetupConfig {
        model: setup["model"].as_str().unwrap_or_default().to_owned(),
        generation_config: Some(GenerationConfig {
            response_modalities: Some(vec![Modality::Audio]),
            ..Default::default()
        }),
        tools: Some(vec![Tool::FunctionDeclarations(vec![
            FunctionDeclaration {
                name: search["name"].as_str().unwrap_or("search").to_owned(),
                description: search["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                // Its `parameters` is the OpenAPI-style schema.
                parameters: json!({"type": "OBJECT", "properties": {"query": {"type": "STRING"}}, "required": ["query"]}),
                scheduling: None,
                behavior: Some(FunctionBehavior::NonBlocking),
            },
        ])]),
        session_resumption: Some(SessionResumptionConfig::default()),
        context_window_compression: Some(ContextWindowCompressionConfig {
            sliding_window: Some(SlidingWindow::default()),
            ..Default::default()
        }),
        input_audio_transcription: Some(AudioTranscriptionConfig::default()),
        output_audio_transcription: Some(AudioTranscriptionConfig::default()),
        ..Default::default()
    }
}

struct Conn(Session);

impl PeerSession for Conn {
    fn drive(self: Box<Self>, w: Workload) -> BoxFuture<'static, SessionResult> {
        Box::pin(drive(self.0, w))
    }
}

/// One session through the workload, the way an application on this crate writes it:
/// events, the tick, and the tool's answers due.
async fn drive(mut session: Session, w: Workload) -> SessionResult {
    let i = w.i;
    let mut r = SessionResult::default();
    let mut turns = w.turns();
    let mut tick = turns.ticks(w.i, w.start);
    let tool = Duration::from_millis(w.opts.tool_ms);
    let mut due: VecDeque<(Instant, String, String)> = VecDeque::new();
    loop {
        let next = due.front().map(|d| d.0);
        tokio::select! {
            biased;
            ev = session.next_event() => {
                let now = Instant::now();
                match ev {
                    None => {
                        r.error = Some(format!("session {i}: event stream ended"));
                        break;
                    }
                    Some(ServerEvent::ModelAudio(_)) => {
                        r.audio_received += 1;
                        turns.on_audio(now, &mut r);
                    }
                    Some(ServerEvent::TurnComplete) => turns.on_turn_complete(now, &mut r),
                    Some(ServerEvent::Interrupted) => r.interrupted += 1,
                    Some(ServerEvent::ToolCall(calls)) => {
                        for c in calls {
                            r.tool_started += 1;
                            due.push_back((now + tool, c.id, c.name));
                        }
                    }
                    Some(ServerEvent::Closed { reason }) => {
                        r.error = Some(format!("session {i}: closed: {reason}"));
                        break;
                    }
                    Some(ServerEvent::Error(e)) => {
                        r.error = Some(format!("session {i}: error: {e:?}"));
                        break;
                    }
                    Some(_) => {}
                }
            }
            _ = tokio::time::sleep_until(next.unwrap_or(w.end)), if next.is_some() => {
                let (_, id, name) = due.pop_front().expect("a result is due");
                let response = FunctionResponse {
                    id,
                    name,
                    response: json!({
                        "output": {"results": [{"flight": "TP1337", "price_eur": 89}]},
                        "scheduling": "WHEN_IDLE"
                    }),
                };
                if let Err(e) = session.send_tool_response(vec![response]).await {
                    r.error = Some(format!("session {i}: tool response: {e}"));
                    break;
                }
                r.metrics_results += 1;
            }
            at = tick.tick() => {
                if at >= w.end {
                    break;
                }
                let sent = match turns.on_tick(at, Instant::now(), &mut r, &w.lateness) {
                    Act::Nothing => continue,
                    Act::Text => session.send_text("Find me a flight to Lisbon.").await,
                    Act::Audio(voiced) => {
                        session.send_audio(if voiced { &w.pcm.0 } else { &w.pcm.1 }).await
                    }
                };
                if let Err(e) = sent {
                    r.error = Some(format!("session {i}: send: {e}"));
                    break;
                }
                r.chunks_sent += u64::from(w.opts.mic);
            }
        }
    }
    let _ = session.close().await;
    r
}

fn main() -> std::process::ExitCode {
    examples::load::cli::main(Some(Arc::new(GeminiLive)))
}
