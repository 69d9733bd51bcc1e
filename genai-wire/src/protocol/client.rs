//! Client → server messages ([`ClientMessage`]) and their bodies.
//!
//! On the wire a client message is an object with exactly one key naming its kind:
//! `{"setup": {...}}`, `{"clientContent": {...}}`, ... Decoding (used by the emulator)
//! also accepts the Python SDK's snake_case keys (`client_content`, `realtime_input`,
//! `tool_response`) and ignores unknown keys next to a known one.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::content::{Blob, Content, FunctionResponse, Part};
use super::setup::{Setup, Tool};

/// `clientContent`: turns appended to the history, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientContent {
    /// The turns to append.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Content>,
    /// `true` starts generation; `false` accumulates.
    #[serde(alias = "turn_complete", skip_serializing_if = "Option::is_none")]
    pub turn_complete: Option<bool>,
}

/// `realtimeInput.activityStart` (manual VAD only); `{}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActivityStart {}

/// `realtimeInput.activityEnd` (manual VAD only); `{}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActivityEnd {}

/// `realtimeInput`: streamed audio, video, text and activity markers. Send one field
/// per message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RealtimeInput {
    /// Audio (`audio/pcm;rate=16000`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<Blob>,
    /// A video frame (`image/jpeg` or `image/png`, about 1 FPS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<Blob>,
    /// Typed user text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Start of user activity (manual VAD).
    #[serde(alias = "activity_start", skip_serializing_if = "Option::is_none")]
    pub activity_start: Option<ActivityStart>,
    /// End of user activity (manual VAD).
    #[serde(alias = "activity_end", skip_serializing_if = "Option::is_none")]
    pub activity_end: Option<ActivityEnd>,
    /// The microphone stopped (automatic VAD; Developer API only).
    #[serde(alias = "audio_stream_end", skip_serializing_if = "Option::is_none")]
    pub audio_stream_end: Option<bool>,
    /// Deprecated: media blobs (only the first is used).
    #[serde(alias = "media_chunks", skip_serializing_if = "Vec::is_empty")]
    pub media_chunks: Vec<Blob>,
}

/// `toolResponse`: answers to `toolCall`s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ToolResponse {
    /// The responses, matched to calls by id.
    #[serde(alias = "function_responses")]
    pub function_responses: Vec<FunctionResponse>,
}

/// `contextUpdate.tools`: wraps the list so that an empty list (clear all tools)
/// differs from "no update".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ToolsUpdate {
    /// The new tool list (always written, even when empty).
    pub tools: Vec<Tool>,
}

/// `contextUpdate`: replace the system instruction and/or tools mid-session (newer
/// models).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContextUpdate {
    /// The new system instruction.
    #[serde(alias = "system_instruction", skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// The new tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolsUpdate>,
}

/// A client → server message.
///
/// `Setup` is boxed: it is sent once per connection but is by far the largest body, and
/// messages sit in per-session queues whose slots are sized by the largest variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientMessage {
    /// The first message of a connection.
    Setup(Box<Setup>),
    /// Turn-based content.
    ClientContent(ClientContent),
    /// Streamed realtime input.
    RealtimeInput(RealtimeInput),
    /// Function results.
    ToolResponse(ToolResponse),
    /// Mid-session system instruction / tools update.
    ContextUpdate(ContextUpdate),
}

impl ClientMessage {
    /// The wire key of this message kind (`"setup"`, `"clientContent"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Setup(_) => "setup",
            ClientMessage::ClientContent(_) => "clientContent",
            ClientMessage::RealtimeInput(_) => "realtimeInput",
            ClientMessage::ToolResponse(_) => "toolResponse",
            ClientMessage::ContextUpdate(_) => "contextUpdate",
        }
    }

    /// `realtimeInput.audio` with PCM16 LE mono at `rate` Hz.
    pub fn realtime_audio(pcm: Vec<u8>, rate: u32) -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            audio: Some(Blob::pcm(pcm, rate)),
            ..Default::default()
        })
    }

    /// `realtimeInput.video` with one frame (`image/jpeg`, `image/png`).
    pub fn realtime_video(mime_type: impl Into<String>, frame: Vec<u8>) -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            video: Some(Blob::new(mime_type, frame)),
            ..Default::default()
        })
    }

    /// `realtimeInput.text`.
    pub fn realtime_text(text: impl Into<String>) -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            text: Some(text.into()),
            ..Default::default()
        })
    }

    /// `realtimeInput.activityStart`.
    pub fn activity_start() -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            activity_start: Some(ActivityStart {}),
            ..Default::default()
        })
    }

    /// `realtimeInput.activityEnd`.
    pub fn activity_end() -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            activity_end: Some(ActivityEnd {}),
            ..Default::default()
        })
    }

    /// `realtimeInput.audioStreamEnd` (Developer API only).
    pub fn audio_stream_end() -> Self {
        ClientMessage::RealtimeInput(RealtimeInput {
            audio_stream_end: Some(true),
            ..Default::default()
        })
    }

    /// `clientContent` with one user text turn and `turnComplete: true`.
    pub fn text(text: impl Into<String>) -> Self {
        ClientMessage::ClientContent(ClientContent {
            turns: vec![Content::new("user", vec![Part::text(text)])],
            turn_complete: Some(true),
        })
    }

    /// `clientContent` with the given turns.
    pub fn turns(turns: Vec<Content>, turn_complete: bool) -> Self {
        ClientMessage::ClientContent(ClientContent {
            turns,
            turn_complete: Some(turn_complete),
        })
    }

    /// `toolResponse` with the given responses.
    pub fn tool_response(function_responses: Vec<FunctionResponse>) -> Self {
        ClientMessage::ToolResponse(ToolResponse { function_responses })
    }
}

impl From<Setup> for ClientMessage {
    fn from(v: Setup) -> Self {
        ClientMessage::Setup(Box::new(v))
    }
}
impl From<ClientContent> for ClientMessage {
    fn from(v: ClientContent) -> Self {
        ClientMessage::ClientContent(v)
    }
}
impl From<RealtimeInput> for ClientMessage {
    fn from(v: RealtimeInput) -> Self {
        ClientMessage::RealtimeInput(v)
    }
}
impl From<ToolResponse> for ClientMessage {
    fn from(v: ToolResponse) -> Self {
        ClientMessage::ToolResponse(v)
    }
}
impl From<ContextUpdate> for ClientMessage {
    fn from(v: ContextUpdate) -> Self {
        ClientMessage::ContextUpdate(v)
    }
}

const CLIENT_KINDS: &[&str] = &[
    "setup",
    "clientContent",
    "realtimeInput",
    "toolResponse",
    "contextUpdate",
];

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClientMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a client message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClientMessage, A::Error> {
                let mut found: Option<ClientMessage> = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let msg = match key.as_ref() {
                        "setup" => ClientMessage::Setup(map.next_value()?),
                        "clientContent" | "client_content" => {
                            ClientMessage::ClientContent(map.next_value()?)
                        }
                        "realtimeInput" | "realtime_input" => {
                            ClientMessage::RealtimeInput(map.next_value()?)
                        }
                        "toolResponse" | "tool_response" => {
                            ClientMessage::ToolResponse(map.next_value()?)
                        }
                        "contextUpdate" | "context_update" => {
                            ClientMessage::ContextUpdate(map.next_value()?)
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if let Some(first) = &found {
                        return Err(de::Error::custom(format_args!(
                            "more than one message kind ({} and {})",
                            first.kind(),
                            msg.kind()
                        )));
                    }
                    found = Some(msg);
                }
                found.ok_or_else(|| {
                    de::Error::custom(format_args!(
                        "no known message kind (expected one of {})",
                        CLIENT_KINDS.join(", ")
                    ))
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_top_level_keys() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"realtime_input": {"audio": {"data": "__79_P_-_fw=", "mime_type": "audio/pcm;rate=16000"}}}"#,
        )
        .unwrap();
        let ClientMessage::RealtimeInput(ri) = &m else {
            panic!("{m:?}")
        };
        assert_eq!(ri.audio.as_ref().unwrap().data.len(), 8);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"//79/P/+/fw="}}})
        );
        let m: ClientMessage = serde_json::from_str(
            r#"{"tool_response": {"functionResponses": [{"will_continue": true, "scheduling": "WHEN_IDLE", "id": "fc-1", "name": "get_weather", "response": {}}]}}"#,
        )
        .unwrap();
        assert!(
            matches!(m, ClientMessage::ToolResponse(ref t) if t.function_responses[0].will_continue == Some(true))
        );
        let m: ClientMessage =
            serde_json::from_str(r#"{"client_content":{"turns":[],"turn_complete":true},"x":1}"#)
                .unwrap();
        assert_eq!(
            m,
            ClientMessage::ClientContent(ClientContent {
                turns: vec![],
                turn_complete: Some(true)
            })
        );
    }

    #[test]
    fn empty_markers_are_objects() {
        assert_eq!(
            serde_json::to_string(&ClientMessage::activity_start()).unwrap(),
            r#"{"realtimeInput":{"activityStart":{}}}"#
        );
        assert_eq!(
            serde_json::to_string(&ClientMessage::activity_end()).unwrap(),
            r#"{"realtimeInput":{"activityEnd":{}}}"#
        );
        let m: ClientMessage =
            serde_json::from_str(r#"{"realtimeInput":{"activityStart":{}}}"#).unwrap();
        assert_eq!(m, ClientMessage::activity_start());
    }

    #[test]
    fn bad_envelopes_are_errors() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"foo":{}}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"[]"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"setup":{},"clientContent":{}}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"setup":[1]}"#).is_err());
    }

    #[test]
    fn context_update_keeps_empty_tool_list() {
        let m = ClientMessage::ContextUpdate(ContextUpdate {
            system_instruction: None,
            tools: Some(ToolsUpdate { tools: vec![] }),
        });
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"contextUpdate":{"tools":{"tools":[]}}}"#
        );
    }
}
