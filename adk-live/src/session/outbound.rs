//! What waits to be written on the socket, in the application's queue and in the
//! session task's own queues (`pending`, the transparent-resumption replay).
//!
//! Why not just [`ClientMessage`]: a voice session sends 50 audio chunks a second, and
//! building a message for each (a copy of the samples, a MIME string, a box) only to
//! encode it in the session task was a measurable share of its CPU (issue 14; BENCHMARKS.md, "Where the time goes").
//! The application's task encodes audio straight from the samples instead
//! ([`encode_audio_input`](genai_wire::protocol::encode_audio_input)), and the session
//! task writes the frame as it is.

use genai_wire::protocol::ClientMessage;
use genai_wire::transport::TextFrame;

/// One thing to write.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A message, encoded (and checked against the backend's rules) when written.
    Message(Box<ClientMessage>),
    /// An audio-only `realtimeInput`, encoded by the application's task. Boxed `str`:
    /// the application's queue is sized by its item, and this keeps it at 24 bytes.
    Audio(Box<str>),
    /// An encoded frame kept to be written again (a write that failed, a replay).
    Frame(Box<TextFrame>),
}

impl From<ClientMessage> for Outbound {
    fn from(message: ClientMessage) -> Self {
        Outbound::Message(Box::new(message))
    }
}
