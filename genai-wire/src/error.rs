//! One error type for the crate, with variants a caller can match on and act upon.

use std::time::Duration;

use crate::Backend;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A websocket close as the server sent it: code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The websocket close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// The server's UTF-8 reason (cut at ~123 bytes by the websocket limit).
    pub reason: String,
}

impl CloseInfo {
    /// Close codes that mean the request itself is wrong (1007 invalid payload, 1008 policy
    /// violation): retrying the same thing fails the same way.
    pub fn is_fatal(&self) -> bool {
        use crate::transport::{
            CLOSE_INVALID_PAYLOAD, CLOSE_MANDATORY_EXTENSION, CLOSE_MESSAGE_TOO_BIG,
            CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_DATA,
        };
        matches!(
            self.code,
            CLOSE_PROTOCOL_ERROR
                | CLOSE_UNSUPPORTED_DATA
                | CLOSE_INVALID_PAYLOAD
                | CLOSE_POLICY_VIOLATION
                | CLOSE_MESSAGE_TOO_BIG
                | CLOSE_MANDATORY_EXTENSION
        )
    }

    /// Close codes after which a reconnect (with a resumption handle) may succeed.
    pub fn is_retryable(&self) -> bool {
        !self.is_fatal()
    }
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reason.is_empty() {
            write!(f, "close code {}", self.code)
        } else {
            write!(f, "close code {}: {}", self.code, self.reason)
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame could not be decoded. `frame` keeps (the start of) the offending frame.
    #[error("cannot decode frame: {message}")]
    Decode {
        /// What was wrong.
        message: String,
        /// The offending frame, cut to at most 512 bytes.
        frame: String,
    },
    /// A message carries a field the backend does not support (the server would close
    /// the socket with 1007).
    #[error("`{field}` is not supported on {backend}")]
    Unsupported {
        /// The wire path of the field, e.g. `toolResponse.functionResponses[].willContinue`.
        field: &'static str,
        /// The backend that refuses it.
        backend: Backend,
    },
    /// A message is malformed in a way the server would refuse (e.g. a function response
    /// without an id on the Developer API).
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The server closed the connection.
    #[error("connection closed: {0}")]
    Closed(CloseInfo),
    /// A received frame is larger than the configured limit (the connection is unusable
    /// afterwards: retryable).
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The frame's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A message to send is larger than the configured limit; nothing was written
    /// (refused locally).
    #[error("message of {size} bytes exceeds the send limit of {limit} bytes")]
    TooLargeToSend {
        /// The encoded message's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// No pong (nor any other frame) arrived within the keepalive timeout.
    #[error("keepalive: nothing received for {0:?}")]
    KeepaliveTimeout(Duration),
    /// A websocket protocol error (its text: the websocket library's error type is not
    /// part of this API).
    #[error("websocket: {0}")]
    WebSocket(String),
    /// An I/O error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The endpoint (URL, model name, location) is not valid.
    #[error("endpoint: {0}")]
    Endpoint(String),
    /// Credentials could not be obtained or were refused.
    #[error("auth: {0}")]
    Auth(String),
    /// A token endpoint kept failing in a way that may pass (an outage, a timeout, a 5xx)
    /// after the token source's own retries: a later connection may get a token.
    #[error("token unavailable: {0}")]
    TokenUnavailable(String),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// An operation did not finish in time (what, and where).
    #[error("timed out: {0}")]
    Timeout(String),
}

impl Error {
    /// Retrying the same request cannot succeed (the server refused it: 1007/1008, bad
    /// credentials, bad endpoint, TLS misconfiguration).
    ///
    /// Every error is exactly one of fatal, [retryable](Error::is_retryable) or
    /// [refused locally](Error::is_refused_locally).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Closed(c) => c.is_fatal(),
            Error::Endpoint(_) | Error::Auth(_) | Error::Tls(_) => true,
            _ => false,
        }
    }

    /// A reconnect may succeed (connection lost, 1011, keepalive timeout, I/O, a garbled
    /// or oversized frame from the server).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Closed(c) => c.is_retryable(),
            Error::WebSocket(_)
            | Error::Io(_)
            | Error::KeepaliveTimeout(_)
            | Error::Timeout(_)
            | Error::FrameTooLarge { .. }
            | Error::TokenUnavailable(_)
            | Error::Decode { .. } => true,
            _ => false,
        }
    }

    /// The client refused to send a message (a field the backend lacks, a malformed
    /// message, too large): nothing reached the wire and the connection is intact.
    pub fn is_refused_locally(&self) -> bool {
        matches!(
            self,
            Error::Unsupported { .. } | Error::Invalid(_) | Error::TooLargeToSend { .. }
        )
    }

    /// The close code, when the server closed the connection.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Closed(c) => Some(c.code),
            _ => None,
        }
    }

    pub(crate) fn decode(message: impl Into<String>, frame: &[u8]) -> Self {
        let cut = &frame[..frame.len().min(512)];
        Error::Decode {
            message: message.into(),
            frame: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}
