//! The page protocol, version 1: what a front end and the agent server say to each other
//! over one websocket.
//!
//! The browser page of the agent server speaks it, and so can any other front end (a
//! mobile app, a kiosk). One websocket per caller, one Live session behind it.
//!
//! # Frames
//! * **Binary, page → server:** the caller's audio, PCM16 little-endian mono at
//!   [`INPUT_SAMPLE_RATE`] (16 kHz), 20–40 ms per frame (640–1,280 bytes). An odd byte
//!   count is a protocol error.
//! * **Binary, server → page:** the model's audio, PCM16 little-endian mono at the rate of
//!   the last [`PageEvent::Ready`] or [`PageEvent::AudioFormat`] (24 kHz on every model
//!   today). Audio of a turn the caller interrupted that arrives after
//!   [`PageEvent::Interrupted`] is never sent (see [`super::fence`]).
//! * **Text, both ways:** one JSON object per frame, tagged by `"type"`:
//!   [`PageCommand`] from the page, [`PageEvent`] from the server.
//!
//! # Conversation
//! 1. The page opens the socket and sends `{"type":"hello","protocol":1}` first. The server
//!    opens the Live session only then, and answers [`PageEvent::Ready`]. Anything else
//!    first, or another version, closes the socket with 1002 and a reason.
//! 2. Then audio and commands flow both ways until either side closes. When the session
//!    ends the server sends [`PageEvent::Closed`] and closes the socket.
//!
//! # Errors
//! A frame that breaks the protocol closes the socket with a close code and a reason that
//! says what was wrong ([`ProtocolError::close_code`]): 1007 for JSON that does not parse
//! or an unknown command, 1002 for a wrong version or order, 1009 for a frame over the
//! server's limit, 1008 for a policy limit (rate, idle time). Other sessions go on.
//!
//! ```
//! use adk_live::bridge::page::{PageCommand, PROTOCOL_VERSION};
//!
//! let hello = PageCommand::parse(r#"{"type":"hello","protocol":1}"#).unwrap();
//! assert_eq!(hello, PageCommand::Hello { protocol: PROTOCOL_VERSION });
//! let err = PageCommand::parse(r#"{"type":"launch_rockets"}"#).unwrap_err();
//! assert_eq!(err.close_code(), 1007);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CancelReason;

/// The version of the page protocol this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Sample rate of the caller's audio in binary frames from the page.
pub const INPUT_SAMPLE_RATE: u32 = 16_000;

/// Sample rate of the model's audio in binary frames to the page, unless a
/// [`PageEvent::AudioFormat`] says otherwise (the Live API's output is 24 kHz).
pub const OUTPUT_SAMPLE_RATE: u32 = 24_000;

/// A command from the page (a JSON text frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PageCommand {
    /// The first frame: the protocol version the page speaks.
    Hello {
        /// Must be [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// A typed user turn (sent as realtime text).
    Text {
        /// What the user typed.
        text: String,
    },
    /// Cancel a running tool call ([`LiveHandle::cancel_tool`](crate::LiveHandle::cancel_tool)).
    CancelTool {
        /// The call's id, from [`PageEvent::Tool`].
        call_id: String,
    },
    /// The page muted or unmuted its microphone. On mute the server tells the Live API
    /// that the audio stream paused (`audioStreamEnd`, Developer API only), so the
    /// server-side voice detection does not wait for more audio.
    Mute {
        /// True when muted.
        muted: bool,
    },
}

impl PageCommand {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<PageCommand, ProtocolError> {
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))
    }
}

/// Something the server tells the page (a JSON text frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PageEvent {
    /// The Live session is open: send audio.
    Ready {
        /// The protocol version the server speaks.
        protocol: u32,
        /// The rate the server expects the page's audio at.
        input_rate: u32,
        /// The rate of the model's audio in binary frames.
        output_rate: u32,
        /// `developer` or `vertex`.
        backend: String,
    },
    /// The state of the connection to the Live API changed.
    Connection {
        /// The new state.
        state: ConnectionState,
        /// For `go_away`: the time the server gave, in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_left_ms: Option<u64>,
        /// For `reconnecting`: what ended the connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Binary frames from now on carry audio at this rate.
    AudioFormat {
        /// Samples per second.
        sample_rate: u32,
    },
    /// A transcript fragment of one side.
    Transcript {
        /// Whose speech.
        role: Role,
        /// The fragment.
        text: String,
        /// True when the server marked the transcript finished.
        finished: bool,
    },
    /// Model text (a text part of its turn).
    Text {
        /// The text.
        text: String,
    },
    /// The server heard the user start (`true`) or stop speaking.
    VoiceActivity {
        /// True at the start.
        start: bool,
    },
    /// The caller cut the model off: drop every queued sample now. No audio of the cut
    /// turn follows.
    Interrupted,
    /// The model finished generating (its audio may still be playing).
    GenerationComplete,
    /// The model's turn is over.
    TurnComplete,
    /// A step in a tool call's life.
    Tool(ToolUpdate),
    /// A non-fatal problem (an undecodable server frame, a refused command).
    Error {
        /// What went wrong.
        message: String,
    },
    /// The server is draining (a deploy, a scale-down): the call goes on, but ends at the
    /// latest `deadline_ms` from now.
    Draining {
        /// Milliseconds until the server ends the call.
        deadline_ms: u64,
    },
    /// The session ended; the server closes the socket next.
    Closed {
        /// Why.
        reason: String,
    },
}

/// Whose transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The caller.
    User,
    /// The model.
    Model,
}

/// The connection to the Live API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionState {
    /// The session is set up.
    Connected,
    /// The server will close this connection soon; the session moves to a new one.
    GoAway,
    /// The connection was lost; the session is reconnecting.
    Reconnecting,
    /// On a new connection, conversation kept (resumed with a handle).
    Resumed,
    /// On a new connection, started afresh (the conversation was re-sent).
    Fresh,
}

/// A step in a tool call's life, with how long the call had run by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUpdate {
    /// The call's id.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// What happened.
    pub phase: ToolPhase,
    /// Milliseconds since the call started (0 for `started`).
    pub elapsed_ms: u64,
    /// For `started`: true for a background call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// For `started`: the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// For `progress`: the tool's progress value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
    /// For `completed`: the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// For `failed`: the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `cancelled`: who cancelled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CancelledBy>,
}

/// The phases of a tool call, in the order they can happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolPhase {
    /// The model called the tool.
    Started,
    /// A background call was acked: the model was told it is running.
    Acked,
    /// The tool reported progress.
    Progress,
    /// The tool finished; its result was queued for the model.
    Completed,
    /// The tool failed; the error was queued for the model.
    Failed,
    /// The call was cancelled.
    Cancelled,
    /// The result reached the model as conversation (a text turn), because the server
    /// session no longer knew the call.
    AsConversation,
    /// The result was never written: the session ended first.
    Undelivered,
    /// The result was written, but the session ended before the server confirmed it.
    Unconfirmed,
}

/// Who cancelled a call (see [`CancelReason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CancelledBy {
    /// The Live API (`toolCallCancellation`, e.g. on barge-in).
    Server,
    /// A duplicate call replaced it.
    Replaced,
    /// The application (the page's cancel button).
    Application,
    /// The model, through task control.
    Model,
    /// The session ended.
    SessionEnded,
}

impl From<CancelReason> for CancelledBy {
    fn from(reason: CancelReason) -> Self {
        match reason {
            CancelReason::Server => CancelledBy::Server,
            CancelReason::Replaced => CancelledBy::Replaced,
            CancelReason::Application => CancelledBy::Application,
            CancelReason::Model => CancelledBy::Model,
            CancelReason::SessionEnded => CancelledBy::SessionEnded,
        }
    }
}

impl PageEvent {
    /// The event as one JSON text frame.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool or a `Value`: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","message":"unserializable event: {e}"}}"#)
        })
    }
}

/// A frame that breaks the page protocol. The connection is closed with
/// [`close_code`](Self::close_code) and [`reason`](Self::reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not JSON, not an object, an unknown `type`, a missing or unknown field.
    #[error("malformed command: {0}")]
    Malformed(String),
    /// The `hello` named a version this server does not speak.
    #[error("unsupported protocol version {got}; this server speaks {PROTOCOL_VERSION}")]
    Version {
        /// The version the page asked for.
        got: u32,
    },
    /// The first frame was not `hello`, or `hello` came twice.
    #[error("{0}")]
    Order(&'static str),
    /// A binary frame with an odd number of bytes (not PCM16).
    #[error("audio frame of {0} bytes is not PCM16")]
    OddAudio(usize),
    /// A frame over the server's size limit.
    #[error("frame of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More frames per second than the server allows.
    #[error("more than {0} frames per second")]
    Flood(u32),
    /// No data frame from the page for longer than the server allows (milliseconds).
    #[error("idle for {0} ms")]
    Idle(u64),
}

impl ProtocolError {
    /// The websocket close code for this error (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::Malformed(_) | ProtocolError::OddAudio(_) => 1007,
            ProtocolError::Version { .. } | ProtocolError::Order(_) => 1002,
            ProtocolError::TooLarge { .. } => 1009,
            ProtocolError::Flood(_) | ProtocolError::Idle(_) => 1008,
        }
    }

    /// The close reason: the message, cut to the 123 bytes a close frame can carry.
    pub fn reason(&self) -> String {
        close_reason(self.to_string())
    }
}

/// `reason` cut (on a character boundary, marked with `...`) to the 123 bytes a websocket
/// close frame can carry.
pub fn close_reason(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut cut = 120;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push_str("...");
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_strictly() {
        assert_eq!(
            PageCommand::parse(r#"{"type":"cancel_tool","call_id":"c1"}"#),
            Ok(PageCommand::CancelTool {
                call_id: "c1".into()
            })
        );
        assert_eq!(
            PageCommand::parse(r#"{"type":"mute","muted":true}"#),
            Ok(PageCommand::Mute { muted: true })
        );
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"type":"text"}"#,
            r#"{"type":"text","text":"hi","extra":1}"#,
            r#"{"type":"nope"}"#,
            r#"{"text":"no type"}"#,
            r#"{"type":"hello","protocol":"1"}"#,
        ] {
            let err = PageCommand::parse(bad).expect_err(bad);
            assert_eq!(err.close_code(), 1007, "{bad}: {err}");
        }
    }

    #[test]
    fn events_have_the_documented_shape() {
        let tool = PageEvent::Tool(ToolUpdate {
            call_id: "c1".into(),
            name: "search".into(),
            phase: ToolPhase::Cancelled,
            elapsed_ms: 1200,
            background: None,
            args: None,
            progress: None,
            result: None,
            error: None,
            reason: Some(CancelledBy::SessionEnded),
        });
        assert_eq!(
            serde_json::from_str::<Value>(&tool.to_json()).unwrap(),
            json!({"type":"tool","call_id":"c1","name":"search","phase":"cancelled",
                   "elapsed_ms":1200,"reason":"session_ended"})
        );
        let transcript = PageEvent::Transcript {
            role: Role::Model,
            text: "Hi".into(),
            finished: false,
        };
        assert_eq!(
            serde_json::from_str::<Value>(&transcript.to_json()).unwrap(),
            json!({"type":"transcript","role":"model","text":"Hi","finished":false})
        );
        assert_eq!(
            PageEvent::Interrupted.to_json(),
            r#"{"type":"interrupted"}"#
        );
        for event in [tool, transcript, PageEvent::Interrupted] {
            let back: PageEvent = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = ProtocolError::Malformed("é".repeat(200));
        assert!(long.reason().len() <= 123);
        assert_eq!(ProtocolError::Version { got: 7 }.close_code(), 1002);
        assert_eq!(
            ProtocolError::Version { got: 7 }.reason(),
            "unsupported protocol version 7; this server speaks 1"
        );
    }
}
