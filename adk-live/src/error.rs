//! One error type for the runtime.

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
    /// The configuration is incomplete or contradictory.
    #[error("configuration: {0}")]
    Config(String),
    /// The session has ended; nothing more can be sent.
    #[error("the session has ended")]
    SessionEnded,
}

impl Error {
    /// The server's close (code and reason), if that is what this error is.
    pub fn close(&self) -> Option<&genai_wire::CloseInfo> {
        match self {
            Error::Wire(genai_wire::Error::Closed(c)) => Some(c),
            _ => None,
        }
    }

    /// True when retrying cannot help (bad request, bad key, unknown model, bad config).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Wire(e) => e.is_fatal(),
            Error::Setup(_) | Error::Config(_) => true,
            Error::SessionEnded => false,
        }
    }
}
