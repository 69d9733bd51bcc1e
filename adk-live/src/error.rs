//! One error type for the runtime, in three classes a caller acts on.
//!
//! Every error is exactly one of:
//! * **fatal** ([`Error::is_fatal`]): the server refused the session (1007/1008, a bad
//!   key, an unknown model), the configuration cannot work, or the session cannot stay
//!   up; retrying the same thing fails the same way;
//! * **retryable** ([`Error::is_retryable`]): the connection was lost (network, 1011,
//!   keepalive, a write that could not complete); the session reconnects by itself;
//! * **refused locally** ([`Error::is_refused_locally`]): this client would not send a
//!   message (a field the backend lacks, a malformed or oversized message, a
//!   configuration error caught before the wire); nothing was sent and the connection is
//!   intact.

use std::time::Duration;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a live session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol, transport, auth or endpoint error from `genai-wire` (including the
    /// server's close, e.g. 1007 with its reason: see [`Error::close`]).
    #[error(transparent)]
    Wire(#[from] genai_wire::Error),
    /// The server answered setup with something other than `setupComplete`.
    #[error("setup failed: {0}")]
    Setup(String),
    /// The configuration is incomplete or contradictory (refused locally).
    #[error("configuration: {0}")]
    Config(String),
    /// The session has ended; nothing more can be sent.
    #[error("the session has ended")]
    SessionEnded,
    /// A write to the socket did not complete in time (the peer stopped reading): the
    /// connection is treated as lost.
    #[error("a write did not complete within {0:?}: the peer stopped reading")]
    WriteStalled(Duration),
    /// Connections kept failing or dying young: the reconnect budget is spent.
    #[error("gave up after {attempts} failed connections in a row; last: {last}")]
    ReconnectBudgetSpent {
        /// Connections that failed or died young, in a row.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// The session task panicked (a bug, possibly in user formatter code); the session
    /// ended and every tool was cancelled.
    #[error("the session task panicked: {0}")]
    Panicked(String),
}

impl Error {
    /// The server's close (code and reason), if that is what this error is.
    pub fn close(&self) -> Option<&genai_wire::CloseInfo> {
        match self {
            Error::Wire(genai_wire::Error::Closed(c)) => Some(c),
            Error::ReconnectBudgetSpent { last, .. } => last.close(),
            _ => None,
        }
    }

    /// True when retrying cannot help (bad request, bad key, unknown model, a session that
    /// cannot stay up, a panic).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Wire(e) => e.is_fatal(),
            Error::Setup(_)
            | Error::SessionEnded
            | Error::ReconnectBudgetSpent { .. }
            | Error::Panicked(_) => true,
            Error::Config(_) | Error::WriteStalled(_) => false,
        }
    }

    /// True when a new connection may succeed (the session does this by itself).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Wire(e) => e.is_retryable(),
            Error::WriteStalled(_) => true,
            _ => false,
        }
    }

    /// True when this client refused to send something: nothing reached the wire.
    pub fn is_refused_locally(&self) -> bool {
        match self {
            Error::Wire(e) => e.is_refused_locally(),
            Error::Config(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genai_wire::{Backend, CloseInfo, Error as W};

    fn class(e: &Error) -> [bool; 3] {
        [e.is_fatal(), e.is_retryable(), e.is_refused_locally()]
    }

    #[test]
    fn every_error_has_exactly_one_class() {
        let close = |code| {
            Error::Wire(W::Closed(CloseInfo {
                code,
                reason: String::new(),
            }))
        };
        let all = vec![
            close(1007),
            close(1008),
            close(1011),
            close(1006),
            close(1000),
            Error::Wire(W::Unsupported {
                field: "x",
                backend: Backend::VertexAi,
            }),
            Error::Wire(W::Invalid("x".into())),
            Error::Wire(W::TooLargeToSend { size: 2, limit: 1 }),
            Error::Wire(W::FrameTooLarge { size: 2, limit: 1 }),
            Error::Wire(W::Decode {
                message: "x".into(),
                frame: String::new(),
            }),
            Error::Wire(W::WebSocket("x".into())),
            Error::Wire(W::Io(std::io::Error::other("x"))),
            Error::Wire(W::KeepaliveTimeout(Duration::from_secs(1))),
            Error::Wire(W::Timeout("x".into())),
            Error::Wire(W::Endpoint("x".into())),
            Error::Wire(W::Auth("x".into())),
            Error::Wire(W::TokenUnavailable("x".into())),
            Error::Wire(W::Tls("x".into())),
            Error::Setup("x".into()),
            Error::Config("x".into()),
            Error::SessionEnded,
            Error::WriteStalled(Duration::from_secs(1)),
            Error::ReconnectBudgetSpent {
                attempts: 3,
                last: Box::new(close(1011)),
            },
            Error::Panicked("x".into()),
        ];
        for e in &all {
            let n = class(e).iter().filter(|b| **b).count();
            assert_eq!(n, 1, "{e:?} has classes {:?}", class(e));
        }
    }
}
