//! # adk-live
//!
//! A runtime for Gemini Live API sessions, built for voice agents whose tools take
//! seconds or minutes.
//!
//! A session is one task that owns the websocket and splits the traffic into two lanes:
//!
//! * the **control lane** ([`session`]): audio, text, transcripts, turn state,
//!   interruptions, goAway and resumption, delivered to the application as
//!   [`LiveEvent`]s on a queue that never blocks the socket;
//! * the **tool lane** ([`tools`]): every `toolCall` is started at once; a background tool
//!   (declared `NON_BLOCKING`) is acked immediately (`willContinue: true`, `SILENT`),
//!   streams progress on the same id, and delivers its result with its
//!   [`FunctionResponseScheduling`](genai_wire::protocol::FunctionResponseScheduling)
//!   (default `WHEN_IDLE`). `toolCallCancellation`, the end of the session and the drop
//!   of the handle cancel calls cleanly: token, grace period, abort, no late response.
//!
//! Two ways in: [`Live::builder()`] (L2, a few lines) and [`LiveSessionBuilder`] (L1,
//! every knob). Sessions survive goAway and connection loss by resuming with the latest
//! handle; queued sends and tool results are delivered on the new connection.
//!
//! ## Backends
//! On the Developer API a background call gets an ack, progress and a final response on
//! one id (`willContinue`). Vertex AI refuses `willContinue`, so there a background call
//! gets exactly one response, its final result (with its scheduling); progress reaches
//! only the application.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "bridge")]
#[cfg_attr(docsrs, doc(cfg(feature = "bridge")))]
pub mod bridge;
mod builder;
pub mod config;
mod error;
pub mod event;
mod live;
mod metrics;
pub mod prelude;
pub mod session;
pub mod tools;
mod waiters;

/// The JSON Schema derive that typed tool arguments use (`#[derive(JsonSchema)]` on the
/// argument type of [`tool_fn`](tools::tool_fn)): schemars 1.x, re-exported so that an
/// application's version always matches (0.8 gives a trait mismatch). Deriving through
/// the re-export needs `#[schemars(crate = "adk_live::schemars")]` on the type; adding
/// `schemars = "1"` to your own `Cargo.toml` works as well.
pub use schemars;

pub use builder::LiveSessionBuilder;
pub use config::{ConversationForm, ReconnectPolicy, SessionConfig};
pub use error::{Error, Result};
pub use event::{CancelReason, LiveEvent};
pub use live::{DEFAULT_MODEL, IntoTokenSource, Live, LiveBuilder};
pub use metrics::{Metrics, MetricsSnapshot};
pub use session::LiveHandle;
