//! Pieces for a server that stands between callers and Live sessions (feature `bridge`).
//!
//! Every real voice agent has a server in the middle: a browser page or a phone line on
//! one side, one Live session per caller on the other, the API key kept on the server.
//! What such a server has to get right does not depend on its HTTP framework, so it lives
//! here, free of any server dependency:
//!
//! * [`page`]: the page protocol, a small versioned protocol a front end (the agent
//!   server's browser page, a mobile app, a kiosk) speaks over one websocket: binary
//!   frames carry PCM both ways, JSON text frames carry events and commands;
//! * [`fence`]: the playback fence, which keeps audio of an interrupted model turn that
//!   arrives after `interrupted` from reaching the caller's speaker;
//! * [`PageBridge`]: turns a session's [`LiveEvent`](crate::LiveEvent)s into what the
//!   page receives (through the fence, with each tool call's timing) and applies the
//!   page's commands to the [`LiveHandle`](crate::LiveHandle).
//!
//!
//! With the `telephony` feature, the phone side too: [`g711`] μ-law, streaming
//! [`resample`]rs, and [`twilio`], a bridge that runs one Twilio Media Streams call over one
//! session.
//!
//! `examples/src/server` mounts these on axum as the agent server.

pub mod fence;
#[cfg(feature = "telephony")]
#[cfg_attr(docsrs, doc(cfg(feature = "telephony")))]
pub mod g711;
pub mod page;
mod page_bridge;
#[cfg(feature = "telephony")]
#[cfg_attr(docsrs, doc(cfg(feature = "telephony")))]
pub mod resample;
mod tool_clock;
#[cfg(feature = "telephony")]
#[cfg_attr(docsrs, doc(cfg(feature = "telephony")))]
pub mod twilio;

pub use fence::PlaybackFence;
pub use page_bridge::{Outgoing, PageBridge};
pub use tool_clock::ToolClock;
