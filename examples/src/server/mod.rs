//! The agent server: a browser page (or any front end speaking the page protocol) on one
//! side, one Live session per page connection on the other, the API key kept here.
//!
//! Routes:
//! * `GET /`: the voice page (plain HTML/JS and two AudioWorklets, embedded in the
//!   binary; see `examples/web/`);
//! * `GET /ws`: the page protocol ([`adk_live::bridge::page`]) after the checks of
//!   [`access`];
//! * `GET /healthz`: readiness: `ok` and the number of callers connected, 503 once a
//!   drain has begun; `GET /livez`: liveness, 200 while the process serves;
//! * `GET /metrics`: the counters of [`metrics`] (OpenMetrics text);
//! * `POST|GET /twilio/twiml` and `GET /twilio/stream`: phone calls through Twilio Media
//!   Streams ([`phone`]).
//!
//! Every page connection runs in its own task ([`connection`]); a fault in one (a
//! malformed frame, a flood, a page that stops reading) closes only that one, with a
//! close reason, and is logged.
//!
//! **Drain** ([`AgentServer::drain`]): readiness turns 503 at once and new callers are
//! refused; every call goes on until it ends or the deadline passes; pages are told
//! ([`PageEvent::Draining`](adk_live::bridge::page::PageEvent::Draining)). At the
//! deadline each remaining session is disconnected (its running tools cancelled and
//! reported to its page, nothing sent for them) and its caller closed with 1001.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use std::sync::Arc;
//! use adk_live::prelude::*;
//! use examples::server::{AgentServer, ServerConfig};
//!
//! let connector = Arc::new(|_caller| -> futures::future::BoxFuture<'static, Result<LiveHandle, String>> {
//!     Box::pin(async {
//!         Live::builder()
//!             .connect_google_ai(std::env::var("GEMINI_API_KEY").unwrap_or_default())
//!             .await
//!             .map_err(|e| e.to_string())
//!     })
//! });
//! let server = AgentServer::start(ServerConfig::default(), connector).await?;
//! println!("open {}", server.url());
//! tokio::signal::ctrl_c().await.ok();
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod access;
mod assets;
pub mod config;
mod connection;
pub mod metrics;
pub mod phone;
pub mod rate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adk_live::LiveHandle;
use adk_live::bridge::twilio::CallStart;
use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use access::Access;
pub use config::{Limits, ServerConfig};
pub use phone::TwilioConfig;

/// Who a session is for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Caller {
    /// A page of the page protocol (the browser).
    Page,
    /// A phone call, with what Twilio's `start` said (its `<Parameter>`s included).
    Phone(CallStart),
}

/// Opens one Live session for a caller (the agent: model, instruction, tools).
pub type Connector =
    Arc<dyn Fn(Caller) -> BoxFuture<'static, Result<LiveHandle, String>> + Send + Sync + 'static>;

/// What every page connection shares.
struct Shared {
    access: Access,
    limits: Limits,
    twilio: phone::TwilioConfig,
    connector: Connector,
    shutdown: CancellationToken,
    pages: TaskTracker,
    next_id: AtomicU64,
    metrics: metrics::ServerMetrics,
    /// Fires when a drain begins.
    drain: CancellationToken,
    /// The drain's deadline, in milliseconds from when it began.
    drain_ms: AtomicU64,
}

/// A running agent server.
pub struct AgentServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serve: JoinHandle<()>,
}

impl std::fmt::Debug for AgentServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServer")
            .field("addr", &self.addr)
            .field("pages", &self.shared.access.active())
            .finish()
    }
}

/// How long [`AgentServer::shutdown`] waits for pages to close and sessions to end.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

impl AgentServer {
    /// Validates `config`, binds and starts serving.
    pub async fn start(config: ServerConfig, connector: Connector) -> Result<AgentServer, String> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let shared = Arc::new(Shared {
            access: Access::new(
                config.token,
                config.allowed_origins,
                config.limits.max_sessions,
            ),
            limits: config.limits,
            twilio: config.twilio,
            connector,
            shutdown: CancellationToken::new(),
            pages: TaskTracker::new(),
            next_id: AtomicU64::new(1),
            metrics: metrics::ServerMetrics::new(),
            drain: CancellationToken::new(),
            drain_ms: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/", get(assets::index))
            .route("/{file}", get(assets::file))
            .route("/healthz", get(healthz))
            .route("/livez", get(|| async { "alive\n" }))
            .route("/metrics", get(metrics_text))
            .route("/ws", get(upgrade))
            .route("/twilio/twiml", get(phone::twiml).post(phone::twiml))
            .route("/twilio/stream", get(phone::stream))
            .with_state(shared.clone());
        let stop = shared.shutdown.clone();
        // Audio goes out in small frames: without TCP_NODELAY each would wait for the
        // previous one's ACK (Nagle; ~20 ms more turn latency, measured with loadtest
        // --via-server).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                warn!(error = %e, "cannot set TCP_NODELAY on a page connection");
            }
        });
        let serve = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
            if let Err(e) = served {
                warn!(error = %e, "the server stopped serving");
            }
        });
        info!(%addr, "agent server listening");
        Ok(AgentServer {
            addr,
            shared,
            serve,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Pages connected now.
    pub fn active_pages(&self) -> usize {
        self.shared.access.active()
    }

    /// A token that, cancelled, ends every call at once, even during a
    /// [`drain`](Self::drain) (a second Ctrl-C).
    pub fn end_now_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Ends at once: [`drain`](Self::drain) with no time for calls to finish.
    pub async fn shutdown(self) -> DrainReport {
        self.drain(Duration::ZERO).await
    }

    /// Drains: readiness 503 and new callers refused at once; calls go on until they end
    /// or `deadline` passes; then every remaining session is ended (tools cancelled and
    /// reported, callers closed with 1001). Returns what happened.
    pub async fn drain(self, deadline: Duration) -> DrainReport {
        let shared = &self.shared;
        shared
            .drain_ms
            .store(deadline.as_millis() as u64, Ordering::Relaxed);
        shared.metrics.set_draining();
        shared.drain.cancel();
        // Read after the drain began: an upgrade that passed its check just before can
        // still have taken a slot.
        let at_start = shared.access.active();
        shared.pages.close();
        info!(callers = at_start, ?deadline, "draining");
        let finished = tokio::time::timeout(deadline, shared.pages.wait())
            .await
            .is_ok();
        let cut = if finished {
            0
        } else {
            shared.access.active().min(at_start)
        };
        if !finished {
            info!(
                callers = cut,
                "drain deadline: ending the remaining sessions"
            );
        }
        shared.shutdown.cancel();
        if tokio::time::timeout(SHUTDOWN_WAIT, shared.pages.wait())
            .await
            .is_err()
        {
            warn!(
                callers = shared.access.active(),
                "callers still open after the shutdown wait"
            );
        }
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, self.serve).await;
        DrainReport {
            at_start,
            ended_by_deadline: cut,
        }
    }
}

/// What a drain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Callers connected when it began.
    pub at_start: usize,
    /// Callers still connected at the deadline, ended by the server.
    pub ended_by_deadline: usize,
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.drain.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    format!("ok {} pages\n", shared.access.active()).into_response()
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if shared.drain.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    let slot = match shared.access.admit(&headers, query.token.as_deref()) {
        Ok(slot) => slot,
        Err(refusal) => {
            let origin = headers.get("origin").and_then(|o| o.to_str().ok());
            warn!(reason = refusal.reason, origin, "websocket upgrade refused");
            return (refusal.status, refusal.reason).into_response();
        }
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    limited(ws, &shared.limits).on_upgrade(move |socket| {
        let pages = shared.pages.clone();
        pages.track_future(connection::serve(socket, shared, slot, id))
    })
}

/// A caller's websocket settings. The transport's own limit sits above ours, so an
/// oversized frame is read whole and closed with 1009 and a reason; only a frame beyond
/// four times the limit is cut off by the transport itself. Small buffers: a caller's
/// frames are small, and tungstenite's defaults (128 KiB to read, 128 KiB to write) would
/// cost more memory per caller than its whole session.
fn limited(ws: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    let hard = limits.max_frame_bytes * 4;
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(4096)
        .write_buffer_size(0)
}
