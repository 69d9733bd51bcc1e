//! Which service a session talks to, and the fields each one refuses (live-protocol.md §3.6).

use std::fmt;

/// The service behind the Live API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// The Gemini Developer API (generativelanguage.googleapis.com).
    #[default]
    DeveloperApi,
    /// Vertex AI (aiplatform.googleapis.com).
    VertexAi,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::DeveloperApi => "the Gemini Developer API",
            Backend::VertexAi => "Vertex AI",
        })
    }
}
