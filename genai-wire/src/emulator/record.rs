//! What the emulator saw and sent, per session: frames, connections, closes and
//! protocol violations, kept for test assertions and written out as transcripts in the
//! recordings' format (`>N {json}` client frames, `<N {json}` server frames).
//!
//! Frames keep the exact bytes that crossed the socket as reference-counted
//! [`Bytes`]: recording an outgoing audio chunk costs a pointer copy, not a copy of
//! the audio. [`RecordMode`] turns recording down for load tests.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Bytes;

/// How much the emulator keeps per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordMode {
    /// Every frame with its bytes (the default; what tests want).
    #[default]
    Full,
    /// Every frame's kind, direction, size and time, without the bytes (load tests
    /// that still count messages).
    Metadata,
    /// No frames (violations, connection records and the function-call ledger are
    /// still kept).
    Off,
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to emulator.
    ClientToServer,
    /// Emulator to client.
    ServerToClient,
}

/// Frame kinds: the message member, and for `serverContent` and `realtimeInput` the
/// field set (`serverContent.turnComplete`, `realtimeInput.audio`, ...).
pub mod kind {
    /// `setup`.
    pub const SETUP: &str = "setup";
    /// `clientContent`.
    pub const CLIENT_CONTENT: &str = "clientContent";
    /// `realtimeInput.audio`.
    pub const AUDIO: &str = "realtimeInput.audio";
    /// `realtimeInput.video`.
    pub const VIDEO: &str = "realtimeInput.video";
    /// `realtimeInput.text`.
    pub const TEXT: &str = "realtimeInput.text";
    /// `realtimeInput.mediaChunks` (deprecated form).
    pub const MEDIA_CHUNKS: &str = "realtimeInput.mediaChunks";
    /// `realtimeInput.activityStart`.
    pub const ACTIVITY_START: &str = "realtimeInput.activityStart";
    /// `realtimeInput.activityEnd`.
    pub const ACTIVITY_END: &str = "realtimeInput.activityEnd";
    /// `realtimeInput.audioStreamEnd`.
    pub const AUDIO_STREAM_END: &str = "realtimeInput.audioStreamEnd";
    /// `realtimeInput` with no recognised field.
    pub const REALTIME_INPUT: &str = "realtimeInput";
    /// `toolResponse`.
    pub const TOOL_RESPONSE: &str = "toolResponse";
    /// `contextUpdate`.
    pub const CONTEXT_UPDATE: &str = "contextUpdate";
    /// A client frame that failed validation (the connection was closed with 1007).
    pub const INVALID: &str = "invalid";

    /// `setupComplete`.
    pub const SETUP_COMPLETE: &str = "setupComplete";
    /// `serverContent.modelTurn` (audio or text parts).
    pub const MODEL_TURN: &str = "serverContent.modelTurn";
    /// `serverContent.inputTranscription`.
    pub const INPUT_TRANSCRIPTION: &str = "serverContent.inputTranscription";
    /// `serverContent.outputTranscription`.
    pub const OUTPUT_TRANSCRIPTION: &str = "serverContent.outputTranscription";
    /// `serverContent.interrupted`.
    pub const INTERRUPTED: &str = "serverContent.interrupted";
    /// `serverContent.generationComplete`.
    pub const GENERATION_COMPLETE: &str = "serverContent.generationComplete";
    /// `serverContent.turnComplete` (usually with `usageMetadata`).
    pub const TURN_COMPLETE: &str = "serverContent.turnComplete";
    /// `serverContent` with another field.
    pub const SERVER_CONTENT: &str = "serverContent";
    /// `toolCall`.
    pub const TOOL_CALL: &str = "toolCall";
    /// `toolCallCancellation`.
    pub const TOOL_CALL_CANCELLATION: &str = "toolCallCancellation";
    /// `goAway`.
    pub const GO_AWAY: &str = "goAway";
    /// `sessionResumptionUpdate`.
    pub const SESSION_RESUMPTION_UPDATE: &str = "sessionResumptionUpdate";
    /// `usageMetadata` alone.
    pub const USAGE_METADATA: &str = "usageMetadata";
    /// Anything else (injected frames).
    pub const OTHER: &str = "other";
}

/// Classifies a message (client or server) by its JSON.
pub fn classify(v: &Value) -> &'static str {
    use super::validate::key_is;
    let Some(obj) = v.as_object() else {
        return kind::OTHER;
    };
    let has = |o: &serde_json::Map<String, Value>, k: &str| {
        o.iter().any(|(key, val)| key_is(key, k) && !val.is_null())
    };
    let sub = |k: &str| {
        obj.iter()
            .find(|(key, _)| key_is(key, k))
            .and_then(|(_, v)| v.as_object())
    };
    if has(obj, "setup") {
        return kind::SETUP;
    }
    if has(obj, "clientContent") {
        return kind::CLIENT_CONTENT;
    }
    if let Some(ri) = sub("realtimeInput") {
        for (k, name) in [
            ("audio", kind::AUDIO),
            ("text", kind::TEXT),
            ("activityStart", kind::ACTIVITY_START),
            ("activityEnd", kind::ACTIVITY_END),
            ("audioStreamEnd", kind::AUDIO_STREAM_END),
            ("video", kind::VIDEO),
            ("mediaChunks", kind::MEDIA_CHUNKS),
        ] {
            if has(ri, k) {
                return name;
            }
        }
        return kind::REALTIME_INPUT;
    }
    if has(obj, "toolResponse") {
        return kind::TOOL_RESPONSE;
    }
    if has(obj, "contextUpdate") {
        return kind::CONTEXT_UPDATE;
    }
    if has(obj, "setupComplete") {
        return kind::SETUP_COMPLETE;
    }
    if let Some(sc) = sub("serverContent") {
        for (k, name) in [
            ("interrupted", kind::INTERRUPTED),
            ("turnComplete", kind::TURN_COMPLETE),
            ("generationComplete", kind::GENERATION_COMPLETE),
            ("modelTurn", kind::MODEL_TURN),
            ("inputTranscription", kind::INPUT_TRANSCRIPTION),
            ("outputTranscription", kind::OUTPUT_TRANSCRIPTION),
        ] {
            if has(sc, k) {
                return name;
            }
        }
        return kind::SERVER_CONTENT;
    }
    for (k, name) in [
        ("toolCall", kind::TOOL_CALL),
        ("toolCallCancellation", kind::TOOL_CALL_CANCELLATION),
        ("goAway", kind::GO_AWAY),
        ("sessionResumptionUpdate", kind::SESSION_RESUMPTION_UPDATE),
        ("usageMetadata", kind::USAGE_METADATA),
    ] {
        if has(obj, k) {
            return name;
        }
    }
    kind::OTHER
}

/// One recorded websocket message.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Index of the connection within the session (0 for the first; resumptions add
    /// connections).
    pub conn: u32,
    /// Which way it went.
    pub dir: Direction,
    /// Time since the session started (tokio time, so paused-time tests see virtual
    /// time).
    pub at: Duration,
    /// What it was (see [`kind`]).
    pub kind: &'static str,
    /// Size in bytes.
    pub len: usize,
    /// Whether it travelled in a binary frame (the emulator always sends binary).
    pub binary: bool,
    /// The exact bytes (empty under [`RecordMode::Metadata`]).
    pub raw: Bytes,
}

impl Frame {
    /// The frame as text (lossy for non-UTF-8 bytes).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }

    /// The frame parsed as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }

    /// Was this sent by the client?
    pub fn from_client(&self) -> bool {
        self.dir == Direction::ClientToServer
    }

    /// Was this sent by the emulator?
    pub fn from_server(&self) -> bool {
        self.dir == Direction::ServerToClient
    }

    /// Is it of this kind ([`kind`] constant)?
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

/// Who ended a connection, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseBy {
    /// The emulator sent a close frame.
    Server,
    /// The client sent a close frame.
    Client,
    /// The connection ended without a close handshake (dropped by fault injection,
    /// by the client, or by an I/O error).
    Dropped,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRecord {
    /// Who closed.
    pub by: CloseBy,
    /// The close code (1006 when dropped without a close frame, 1005 when the close
    /// frame carried no code).
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// When (since the session started).
    pub at: Duration,
}

/// One websocket connection of a session.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    /// Index within the session.
    pub index: u32,
    /// The request path (as received, with query).
    pub path: String,
    /// API version from the path (`v1beta`, `v1beta1`, ...).
    pub api_version: String,
    /// When it opened (since the session started).
    pub opened_at: Duration,
    /// How it ended, once it has.
    pub closed: Option<CloseRecord>,
    /// Whether this connection resumed the session with a handle.
    pub resumed: bool,
    /// Faults injected into this connection (and on-demand `goAway`s), in order.
    pub faults: Vec<FaultRecord>,
}

/// A fault injected into a connection, or another action of the control handle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Dropped without a close frame.
    Dropped,
    /// Closed on demand with this code and reason.
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Closed right after `setupComplete` (builder or
    /// [`Emulator::close_after_setup`](super::Emulator::close_after_setup)).
    ClosedAfterSetup {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Stopped reading the socket for a while (pings unanswered).
    StalledPongs(Duration),
    /// Stopped reading the socket for good: the client's writes eventually block.
    StoppedReading,
    /// Sent `goAway` on demand with this `timeLeft`.
    GoAway(Duration),
    /// Sent an injected message verbatim.
    Injected {
        /// Its kind, when it parsed as JSON ([`kind::OTHER`] otherwise).
        kind: &'static str,
        /// Its size in bytes.
        len: usize,
        /// Sent in a text frame (else binary).
        text: bool,
    },
}

/// A [`Fault`] and when it took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    /// When (since the session started).
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// What kind of protocol violation the client committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A function response for an id the model never issued.
    UnknownCallId,
    /// A function response for a call already closed (`willContinue` false).
    ClosedCallId,
    /// A function response for a call the server cancelled.
    CancelledCallId,
    /// A function response without an id that matches no open call (or without an id
    /// on the Developer API, where the id is required).
    MissingCallId,
    /// A message that failed strict validation (closed with 1007).
    InvalidMessage,
    /// The first message was not `setup`, or a second `setup` arrived.
    SetupOrder,
    /// Unknown model name (closed with 1008).
    UnknownModel,
    /// Bad or missing credentials.
    Auth,
    /// A resumption handle that is unknown, stale, or whose session is still connected.
    Resumption,
    /// `activityStart`/`activityEnd` while automatic activity detection is on, or
    /// `audioStreamEnd` while it is off.
    ActivitySignals,
    /// Something the model named in setup refuses per its
    /// [`ModelProfile`](crate::profile::ModelProfile) (a `behavior`, `willContinue`,
    /// `scheduling`, `thinkingConfig` form or mid-session `clientContent`; closed with
    /// 1007), or a declaration it will not call (`parametersJsonSchema` where only
    /// `parameters` works; not closed).
    ModelProfile,
}

/// A protocol violation, with enough detail to fail a test with a useful message.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Connection index within the session.
    pub conn: u32,
    /// When (since the session started).
    pub at: Duration,
    /// What went wrong.
    pub kind: ViolationKind,
    /// Human-readable detail.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[conn {} @ {:?}] {:?}: {}",
            self.conn, self.at, self.kind, self.detail
        )
    }
}

/// Writes frames in the recordings' transcript format: `>N {json}` for client frames,
/// `<N {json}` for server frames, N being the byte length, one frame per line. Frames
/// recorded without bytes are skipped.
pub fn write_transcript<'a>(frames: impl IntoIterator<Item = &'a Frame>, out: &mut String) {
    for f in frames {
        if f.raw.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(&f.raw);
        let marker = if f.from_client() { '>' } else { '<' };
        let _ = writeln!(out, "{marker}{} {text}", f.raw.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classification() {
        assert_eq!(classify(&json!({"setup": {}})), kind::SETUP);
        assert_eq!(
            classify(&json!({"realtime_input": {"audio": {}}})),
            kind::AUDIO
        );
        assert_eq!(
            classify(&json!({"serverContent": {"turnComplete": true}, "usageMetadata": {}})),
            kind::TURN_COMPLETE
        );
        assert_eq!(
            classify(&json!({"serverContent": {"modelTurn": {}}})),
            kind::MODEL_TURN
        );
        assert_eq!(
            classify(&json!({"toolCallCancellation": {"ids": []}})),
            kind::TOOL_CALL_CANCELLATION
        );
        assert_eq!(classify(&json!({"whatever": 1})), kind::OTHER);
        assert_eq!(classify(&json!([1])), kind::OTHER);
    }

    #[test]
    fn transcript_format() {
        let f = |dir, raw: &'static str| Frame {
            conn: 0,
            dir,
            at: Duration::ZERO,
            kind: kind::OTHER,
            len: raw.len(),
            binary: true,
            raw: Bytes::from_static(raw.as_bytes()),
        };
        let frames = [
            f(Direction::ClientToServer, r#"{"setup":{}}"#),
            f(Direction::ServerToClient, r#"{"setupComplete":{}}"#),
        ];
        let mut s = String::new();
        write_transcript(&frames, &mut s);
        assert_eq!(s, ">12 {\"setup\":{}}\n<20 {\"setupComplete\":{}}\n");
    }
}
