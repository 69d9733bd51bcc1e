//! The *page* client: the same workload as the adk-live sessions, but each session is a
//! page of the agent server (`loadtest --via-server`), and the agent server, a separate
//! process (`loadtest page-server`), holds the adk-live sessions, built exactly as the
//! direct client builds them ([`super::client::session_builder`]).
//!
//! Why: the cost the agent server adds on top of adk-live is its CPU and memory per
//! session compared with the direct client's, for the same sessions, tool and script; the
//! measured process is the server (its pid), not this one.
//!
//! The page side speaks the page protocol v1 over plain `ws://` on loopback (what a
//! browser on the same machine does); the server dials the emulator exactly as the direct
//! client does.

use std::sync::Arc;
use std::time::Duration;

use adk_live::LiveHandle;
use adk_live::bridge::page::{PageEvent, ToolPhase};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::client::{Act, ClientOpts, Lateness, SessionResult, Turns};
use crate::server::{AgentServer, Connector, Limits, ServerConfig};

/// One page's socket, after `ready`.
pub type PageConn = Box<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// Opens a page on the agent server at `ws_url`: upgrade, `hello`, `ready`.
pub async fn connect(ws_url: &str, read_buffer: usize) -> Result<PageConn, String> {
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
        .await
        .map_err(|e| format!("{ws_url}: {e}"))?;
    ws.send(Message::text(r#"{"type":"hello","protocol":1}"#))
        .await
        .map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains(r#""type":"ready""#) => Ok(Box::new(ws)),
        other => Err(format!("no ready: {other:?}")),
    }
}

/// Runs one page through the workload until `end`.
pub async fn drive(
    i: usize,
    mut ws: PageConn,
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
            frame = ws.next() => {
                let now = Instant::now();
                match frame {
                    Some(Ok(Message::Binary(_))) => {
                        r.audio_received += 1;
                        turns.on_audio(now, &mut r);
                    }
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<PageEvent>(&t) {
                        Ok(PageEvent::TurnComplete) => turns.on_turn_complete(now, &mut r),
                        Ok(PageEvent::Interrupted) => r.interrupted += 1,
                        Ok(PageEvent::Tool(u)) => {
                            match u.phase {
                                ToolPhase::Started => r.tool_started += 1,
                                ToolPhase::Acked => r.metrics_acks += 1,
                                ToolPhase::Completed => r.metrics_results += 1,
                                ToolPhase::Failed => {
                                    r.error.get_or_insert(format!("session {i}: tool failed: {:?}", u.error));
                                }
                                _ => {}
                            }
                        }
                        Ok(PageEvent::Closed { reason }) => {
                            r.error = Some(format!("session {i}: closed: {reason}"));
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            r.error = Some(format!("session {i}: bad event {t}: {e}"));
                            break;
                        }
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        r.error = Some(format!("session {i}: read: {e}"));
                        break;
                    }
                    None => {
                        r.error = Some(format!("session {i}: page closed"));
                        break;
                    }
                }
            }
            due = tick.tick() => {
                if due >= end {
                    break;
                }
                let frame = match turns.on_tick(due, Instant::now(), &mut r, &lateness) {
                    Act::Nothing => continue,
                    Act::Text => Message::text(r#"{"type":"text","text":"Find me a flight to Lisbon."}"#),
                    Act::Audio(voiced) => Message::binary(if voiced { pcm.0.clone() } else { pcm.1.clone() }),
                };
                if let Err(e) = ws.send(frame).await {
                    r.error = Some(format!("session {i}: send: {e}"));
                    break;
                }
                r.chunks_sent += u64::from(o.mic);
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), (*ws).close(None)).await;
    r
}

/// `loadtest page-server`: the agent server in front of `target`, its sessions built as
/// the direct client builds them. Prints the listening line, serves for `max_seconds`.
pub async fn serve(
    o: ClientOpts,
    target: super::client::Target,
    max_seconds: u64,
) -> Result<(), String> {
    let o = Arc::new(o);
    let tool: Arc<dyn adk_live::prelude::Tool> = Arc::new(super::client::search_tool(o.tool_ms));
    let connector: Connector = Arc::new(
        move |_caller| -> BoxFuture<'static, Result<LiveHandle, String>> {
            let (o, target, tool) = (o.clone(), target.clone(), tool.clone());
            Box::pin(async move {
                super::client::session_builder(&o, &target, tool)
                    .connect_endpoint(&target.url, adk_live::prelude::Credentials::None)
                    .await
                    .map_err(|e| e.to_string())
            })
        },
    );
    let config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("address"),
        limits: Limits {
            max_sessions: 100_000,
            idle_timeout: Duration::from_secs(max_seconds),
            connect_timeout: Duration::from_secs(60),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = AgentServer::start(config, connector).await?;
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "ws_url": format!("ws://{}/ws", server.addr()),
            "base_url": format!("http://{}", server.addr()),
        })
    );
    tokio::time::sleep(Duration::from_secs(max_seconds)).await;
    server.shutdown().await;
    Ok(())
}
