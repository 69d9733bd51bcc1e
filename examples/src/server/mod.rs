//! The agent server: a browser page (or any front end speaking the page protocol) on one
//! side, one Live session per page connection on the other, the API key kept here.
//!
//! Routes:
//! * `GET /`: the voice page (plain HTML/JS and two AudioWorklets, embedded in the
//!   binary; see `examples/web/`);
//! * `GET /ws`: the page protocol ([`adk_live::bridge::page`]) after the checks of
//!   [`access`];
//! * `GET /healthz`: `ok` and the number of pages connected;
//! * `POST|GET /twilio/twiml` and `GET /twilio/stream`: phone calls through Twilio Media
//!   Streams ([`phone`]).
//!
//! Every page connection runs in its own task ([`connection`]); a fault in one (a
//! malformed frame, a flood, a page that stops reading) closes only that one, with a
//! close reason, and is logged. [`AgentServer::shutdown`] closes every page with 1001 and
//! disconnects every session (running tools cancelled, nothing sent for them).
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use std::sync::Arc;
//! use adk_live::prelude::*;
//! use examples::server::{AgentServer, ServerConfig};
//!
//! let connector = Arc::new(|| -> futures::future::BoxFuture<'static, Result<LiveHandle, String>> {
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
        });
        let app = Router::new()
            .route("/", get(assets::index))
            .route("/{file}", get(assets::file))
            .route("/healthz", get(healthz))
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

    /// Stops accepting, closes every page (1001, "server shutting down") and waits until
    /// every session has ended, its running tools cancelled (bounded by 15 s).
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.pages.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, self.shared.pages.wait())
            .await
            .is_err()
        {
            warn!(
                pages = self.shared.access.active(),
                "pages still open after the shutdown wait"
            );
        }
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, self.serve).await;
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
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
    if shared.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
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
    // The transport's own limit sits above ours, so an oversized frame is read whole and
    // closed with 1009 and a reason; only a frame beyond four times the limit is cut off
    // by the transport itself.
    let hard = shared.limits.max_frame_bytes * 4;
    // Small buffers: a page's frames are small, and tungstenite's defaults (128 KiB to
    // read, 128 KiB to write) would cost more memory per page than its whole session.
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let pages = shared.pages.clone();
            pages.track_future(connection::serve(socket, shared, slot, id))
        })
}
