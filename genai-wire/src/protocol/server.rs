//! Server → client messages ([`ServerMessage`]) and their bodies.
//!
//! A server message is an object with one payload key (`setupComplete`,
//! `serverContent`, `toolCall`, ...) and, outside that oneof, an optional
//! `usageMetadata`. [`ServerMessage`] mirrors this: a [`ServerPayload`] plus
//! `usage_metadata`. A frame with only `usageMetadata` is [`ServerPayload::UsageOnly`];
//! a frame whose kind this crate does not know is kept as raw JSON in
//! [`ServerPayload::Unknown`] so that new server features never break a session.
//!
//! The envelope is decoded by hand (not derived) so that payloads deserialize straight
//! into their types from the input bytes, without an intermediate `serde_json::Value`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{Blob, Content, FunctionCall};
use super::enums::{
    InteractionStatus, Modality, TrafficType, TurnCompleteReason, VadSignalType, VoiceActivityType,
};
use super::serde_util::{duration_lenient, duration_opt, int32_opt, int64_opt};

/// `setupComplete`: the server accepted the setup.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetupComplete {
    /// The session id (a UUID; Vertex only).
    #[serde(alias = "session_id", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Voice consent signature (newer).
    #[serde(
        alias = "voice_consent_signature",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_consent_signature: Option<Value>,
}

/// An audio transcription chunk (`inputTranscription`, `outputTranscription`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Transcription {
    /// The transcribed text (a Vertex recording shows `{}` with no text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// This is the last chunk of the transcription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
    /// Detected language.
    #[serde(alias = "language_code", skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Speaker label (diarization).
    #[serde(alias = "speaker_label", skip_serializing_if = "Option::is_none")]
    pub speaker_label: Option<String>,
    /// Word timings (raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Value>,
    /// Start offset in the audio (unreadable values read as `None`).
    #[serde(
        alias = "start_offset",
        with = "duration_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_offset: Option<Duration>,
    /// End offset in the audio (unreadable values read as `None`).
    #[serde(
        alias = "end_offset",
        with = "duration_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_offset: Option<Duration>,
}

/// `serverContent`: the model's output and turn events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerContent {
    /// Model output (text, inline audio, executable code, ...).
    #[serde(alias = "model_turn", skip_serializing_if = "Option::is_none")]
    pub model_turn: Option<Content>,
    /// The model's turn is done.
    #[serde(alias = "turn_complete", skip_serializing_if = "Option::is_none")]
    pub turn_complete: Option<bool>,
    /// Client activity cut off generation: flush playback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    /// The model finished generating (absent on interrupted turns).
    #[serde(alias = "generation_complete", skip_serializing_if = "Option::is_none")]
    pub generation_complete: Option<bool>,
    /// Transcription of the user's audio.
    #[serde(alias = "input_transcription", skip_serializing_if = "Option::is_none")]
    pub input_transcription: Option<Transcription>,
    /// Transcription of the model's audio.
    #[serde(
        alias = "output_transcription",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_transcription: Option<Transcription>,
    /// Low-latency interim transcript of the user's speech (newest).
    #[serde(
        alias = "interim_input_transcription",
        skip_serializing_if = "Option::is_none"
    )]
    pub interim_input_transcription: Option<Transcription>,
    /// Why the turn completed.
    #[serde(
        alias = "turn_complete_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub turn_complete_reason: Option<TurnCompleteReason>,
    /// The model waits for more user input.
    #[serde(alias = "waiting_for_input", skip_serializing_if = "Option::is_none")]
    pub waiting_for_input: Option<bool>,
    /// Interaction status, sent with `turnComplete` (newest).
    #[serde(alias = "interaction_status", skip_serializing_if = "Option::is_none")]
    pub interaction_status: Option<InteractionStatus>,
    /// Search grounding metadata (raw).
    #[serde(alias = "grounding_metadata", skip_serializing_if = "Option::is_none")]
    pub grounding_metadata: Option<Value>,
    /// URL-context metadata (raw).
    #[serde(
        alias = "url_context_metadata",
        skip_serializing_if = "Option::is_none"
    )]
    pub url_context_metadata: Option<Value>,
}

impl ServerContent {
    /// The inline audio blobs of `modelTurn`, in order.
    pub fn audio_chunks(&self) -> impl Iterator<Item = &Blob> + '_ {
        self.parts()
            .filter_map(|p| p.inline_data.as_ref())
            .filter(|b| b.is_audio())
    }

    /// The non-thought text parts of `modelTurn`, in order.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.parts()
            .filter(|p| !p.is_thought())
            .filter_map(|p| p.text.as_deref())
    }

    /// The parts of `modelTurn` (empty when there is none).
    pub fn parts(&self) -> impl Iterator<Item = &super::Part> + '_ {
        self.model_turn.iter().flat_map(|c| c.parts.iter())
    }

    /// `turnComplete == Some(true)`.
    pub fn is_turn_complete(&self) -> bool {
        self.turn_complete == Some(true)
    }

    /// `interrupted == Some(true)`.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted == Some(true)
    }
}

/// `toolCall`: functions the client should run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ToolCall {
    /// The calls.
    #[serde(alias = "function_calls")]
    pub function_calls: Vec<FunctionCall>,
}

/// `toolCallCancellation`: calls that should not have been executed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ToolCallCancellation {
    /// Ids of the cancelled calls.
    pub ids: Vec<String>,
}

/// `goAway`: the server will close the connection soon.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GoAway {
    /// Time left before the connection is closed.
    #[serde(
        alias = "time_left",
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_left: Option<Duration>,
}

/// `sessionResumptionUpdate`: a new resumption handle (or "not resumable now").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionResumptionUpdate {
    /// The handle to resume with (empty/absent when not resumable).
    #[serde(alias = "new_handle", skip_serializing_if = "Option::is_none")]
    pub new_handle: Option<String>,
    /// Whether the session can be resumed at this point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumable: Option<bool>,
    /// Index of the last client message the server consumed (transparent mode, Vertex).
    #[serde(
        alias = "last_consumed_client_message_index",
        with = "int64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_consumed_client_message_index: Option<i64>,
}

impl SessionResumptionUpdate {
    /// The handle, when the update is resumable and carries a non-empty one.
    pub fn usable_handle(&self) -> Option<&str> {
        match (&self.new_handle, self.resumable) {
            (Some(h), Some(true)) if !h.is_empty() => Some(h),
            _ => None,
        }
    }
}

/// `voiceActivity`: server VAD events (newer).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VoiceActivity {
    /// Start or end of activity (the wire key is `type`).
    #[serde(
        rename = "type",
        alias = "voiceActivityType",
        alias = "voice_activity_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_activity_type: Option<VoiceActivityType>,
    /// Offset of the event in the input audio.
    #[serde(
        alias = "audio_offset",
        with = "duration_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio_offset: Option<Duration>,
}

/// `voiceActivityDetectionSignal` (with `explicitVadSignal`, Vertex).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VoiceActivityDetectionSignal {
    /// Start or end of speech.
    #[serde(alias = "vad_signal_type", skip_serializing_if = "Option::is_none")]
    pub vad_signal_type: Option<VadSignalType>,
}

/// Token count for one modality.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModalityTokenCount {
    /// The modality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// Tokens.
    #[serde(
        alias = "token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_count: Option<i32>,
}

/// `usageMetadata`, with the Developer API's names. Vertex's spellings
/// (`candidatesTokenCount`, `candidatesTokensDetails`) are read into the same fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    /// Prompt tokens.
    #[serde(
        alias = "prompt_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_token_count: Option<i32>,
    /// Cached prompt tokens.
    #[serde(
        alias = "cached_content_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_content_token_count: Option<i32>,
    /// Response tokens (Vertex: `candidatesTokenCount`).
    #[serde(
        alias = "response_token_count",
        alias = "candidatesTokenCount",
        alias = "candidates_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_token_count: Option<i32>,
    /// Tool-use prompt tokens.
    #[serde(
        alias = "tool_use_prompt_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_use_prompt_token_count: Option<i32>,
    /// Thinking tokens.
    #[serde(
        alias = "thoughts_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub thoughts_token_count: Option<i32>,
    /// Total tokens.
    #[serde(
        alias = "total_token_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_token_count: Option<i32>,
    /// Prompt tokens per modality.
    #[serde(alias = "prompt_tokens_details", skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
    /// Cached tokens per modality.
    #[serde(alias = "cache_tokens_details", skip_serializing_if = "Vec::is_empty")]
    pub cache_tokens_details: Vec<ModalityTokenCount>,
    /// Response tokens per modality (Vertex: `candidatesTokensDetails`).
    #[serde(
        alias = "response_tokens_details",
        alias = "candidatesTokensDetails",
        alias = "candidates_tokens_details",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub response_tokens_details: Vec<ModalityTokenCount>,
    /// Tool-use prompt tokens per modality.
    #[serde(
        alias = "tool_use_prompt_tokens_details",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_use_prompt_tokens_details: Vec<ModalityTokenCount>,
    /// Vertex traffic type (e.g. `ON_DEMAND`).
    #[serde(alias = "traffic_type", skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<TrafficType>,
    /// Developer API service tier.
    #[serde(alias = "service_tier", skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

/// The payload (oneof) of a [`ServerMessage`].
///
/// Variants hold their bodies inline (not boxed) so that callers can build and match
/// them directly; messages are moved once from the decoder to the consumer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerPayload {
    /// `setupComplete`.
    SetupComplete(SetupComplete),
    /// `serverContent`.
    ServerContent(ServerContent),
    /// `toolCall`.
    ToolCall(ToolCall),
    /// `toolCallCancellation`.
    ToolCallCancellation(ToolCallCancellation),
    /// `goAway`.
    GoAway(GoAway),
    /// `sessionResumptionUpdate`.
    SessionResumptionUpdate(SessionResumptionUpdate),
    /// `voiceActivity`.
    VoiceActivity(VoiceActivity),
    /// `voiceActivityDetectionSignal`.
    VoiceActivityDetectionSignal(VoiceActivityDetectionSignal),
    /// The message carried only `usageMetadata`.
    UsageOnly,
    /// A message kind this crate does not know: a JSON object holding the unknown keys
    /// (everything but `usageMetadata`) as received.
    Unknown(Value),
}

impl ServerPayload {
    /// The wire key of this payload (`"serverContent"`, ...; `"usageMetadata"` for
    /// [`UsageOnly`](Self::UsageOnly), `"unknown"` for [`Unknown`](Self::Unknown)).
    pub fn kind(&self) -> &'static str {
        match self {
            ServerPayload::SetupComplete(_) => "setupComplete",
            ServerPayload::ServerContent(_) => "serverContent",
            ServerPayload::ToolCall(_) => "toolCall",
            ServerPayload::ToolCallCancellation(_) => "toolCallCancellation",
            ServerPayload::GoAway(_) => "goAway",
            ServerPayload::SessionResumptionUpdate(_) => "sessionResumptionUpdate",
            ServerPayload::VoiceActivity(_) => "voiceActivity",
            ServerPayload::VoiceActivityDetectionSignal(_) => "voiceActivityDetectionSignal",
            ServerPayload::UsageOnly => "usageMetadata",
            ServerPayload::Unknown(_) => "unknown",
        }
    }
}

/// A server → client message: one payload plus optional usage metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMessage {
    /// What the message is.
    pub payload: ServerPayload,
    /// Token usage, which may ride along any payload (often with `turnComplete`).
    pub usage_metadata: Option<UsageMetadata>,
}

impl ServerMessage {
    /// A message with the given payload and no usage metadata.
    pub fn new(payload: ServerPayload) -> Self {
        ServerMessage {
            payload,
            usage_metadata: None,
        }
    }

    /// Adds usage metadata.
    pub fn with_usage(mut self, usage: UsageMetadata) -> Self {
        self.usage_metadata = Some(usage);
        self
    }

    /// The payload's wire key (see [`ServerPayload::kind`]).
    pub fn kind(&self) -> &'static str {
        self.payload.kind()
    }

    /// The `serverContent`, if this is one.
    pub fn server_content(&self) -> Option<&ServerContent> {
        match &self.payload {
            ServerPayload::ServerContent(c) => Some(c),
            _ => None,
        }
    }
}

impl From<ServerPayload> for ServerMessage {
    fn from(payload: ServerPayload) -> Self {
        ServerMessage::new(payload)
    }
}

macro_rules! payload_from {
    ($($t:ident),*) => {$(
        impl From<$t> for ServerMessage {
            fn from(v: $t) -> Self {
                ServerMessage::new(ServerPayload::$t(v))
            }
        }
    )*};
}
payload_from!(
    SetupComplete,
    ServerContent,
    ToolCall,
    ToolCallCancellation,
    GoAway,
    SessionResumptionUpdate,
    VoiceActivity,
    VoiceActivityDetectionSignal
);

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match &self.payload {
            ServerPayload::SetupComplete(v) => map.serialize_entry("setupComplete", v)?,
            ServerPayload::ServerContent(v) => map.serialize_entry("serverContent", v)?,
            ServerPayload::ToolCall(v) => map.serialize_entry("toolCall", v)?,
            ServerPayload::ToolCallCancellation(v) => {
                map.serialize_entry("toolCallCancellation", v)?
            }
            ServerPayload::GoAway(v) => map.serialize_entry("goAway", v)?,
            ServerPayload::SessionResumptionUpdate(v) => {
                map.serialize_entry("sessionResumptionUpdate", v)?
            }
            ServerPayload::VoiceActivity(v) => map.serialize_entry("voiceActivity", v)?,
            ServerPayload::VoiceActivityDetectionSignal(v) => {
                map.serialize_entry("voiceActivityDetectionSignal", v)?
            }
            ServerPayload::UsageOnly => {}
            ServerPayload::Unknown(Value::Object(o)) => {
                for (k, v) in o {
                    if k != "usageMetadata" || self.usage_metadata.is_none() {
                        map.serialize_entry(k, v)?;
                    }
                }
            }
            ServerPayload::Unknown(other) => map.serialize_entry("unknown", other)?,
        }
        if let Some(u) = &self.usage_metadata {
            map.serialize_entry("usageMetadata", u)?;
        }
        map.end()
    }
}

/// The top-level keys, matched without allocating.
enum Key {
    SetupComplete,
    ServerContent,
    ToolCall,
    ToolCallCancellation,
    GoAway,
    SessionResumptionUpdate,
    VoiceActivity,
    VoiceActivityDetectionSignal,
    UsageMetadata,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KV;
        impl<'de> Visitor<'de> for KV {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "setupComplete" | "setup_complete" => Key::SetupComplete,
                    "serverContent" | "server_content" => Key::ServerContent,
                    "toolCall" | "tool_call" => Key::ToolCall,
                    "toolCallCancellation" | "tool_call_cancellation" => Key::ToolCallCancellation,
                    "goAway" | "go_away" => Key::GoAway,
                    "sessionResumptionUpdate" | "session_resumption_update" => {
                        Key::SessionResumptionUpdate
                    }
                    "voiceActivity" | "voice_activity" => Key::VoiceActivity,
                    "voiceActivityDetectionSignal" | "voice_activity_detection_signal" => {
                        Key::VoiceActivityDetectionSignal
                    }
                    "usageMetadata" | "usage_metadata" => Key::UsageMetadata,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_str(KV)
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a server message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServerMessage, A::Error> {
                let mut payload: Option<ServerPayload> = None;
                let mut usage: Option<UsageMetadata> = None;
                let mut unknown = serde_json::Map::new();
                while let Some(key) = map.next_key::<Key>()? {
                    // Proto says the payload is a oneof; should a server ever send two,
                    // the first wins and the rest is still validated and dropped.
                    let p = match key {
                        Key::SetupComplete => ServerPayload::SetupComplete(map.next_value()?),
                        Key::ServerContent => ServerPayload::ServerContent(map.next_value()?),
                        Key::ToolCall => ServerPayload::ToolCall(map.next_value()?),
                        Key::ToolCallCancellation => {
                            ServerPayload::ToolCallCancellation(map.next_value()?)
                        }
                        Key::GoAway => ServerPayload::GoAway(map.next_value()?),
                        Key::SessionResumptionUpdate => {
                            ServerPayload::SessionResumptionUpdate(map.next_value()?)
                        }
                        Key::VoiceActivity => ServerPayload::VoiceActivity(map.next_value()?),
                        Key::VoiceActivityDetectionSignal => {
                            ServerPayload::VoiceActivityDetectionSignal(map.next_value()?)
                        }
                        Key::UsageMetadata => {
                            let u: Option<UsageMetadata> = map.next_value()?;
                            if usage.is_none() {
                                usage = u;
                            }
                            continue;
                        }
                        Key::Other(k) => {
                            let v: Value = map.next_value()?;
                            unknown.insert(k, v);
                            continue;
                        }
                    };
                    if payload.is_none() {
                        payload = Some(p);
                    }
                }
                let payload = match payload {
                    Some(p) => p,
                    None if unknown.is_empty() && usage.is_some() => ServerPayload::UsageOnly,
                    None => ServerPayload::Unknown(Value::Object(unknown)),
                };
                Ok(ServerMessage {
                    payload,
                    usage_metadata: usage,
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

    fn de(s: &str) -> ServerMessage {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn usage_only_and_unknown_kinds() {
        let m = de(r#"{"usageMetadata":{"totalTokenCount":5}}"#);
        assert_eq!(m.payload, ServerPayload::UsageOnly);
        assert_eq!(m.usage_metadata.unwrap().total_token_count, Some(5));
        let m = de(r#"{"fancyNewThing":{"a":[1,2]},"usageMetadata":{}}"#);
        assert_eq!(
            m.payload,
            ServerPayload::Unknown(json!({"fancyNewThing":{"a":[1,2]}}))
        );
        assert!(m.usage_metadata.is_some());
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"fancyNewThing":{"a":[1,2]},"usageMetadata":{}})
        );
        let m = de(r#"{}"#);
        assert_eq!(m.payload, ServerPayload::Unknown(json!({})));
        let m = de(r#"{"setupComplete":{},"extra":1}"#);
        assert_eq!(
            m.payload,
            ServerPayload::SetupComplete(SetupComplete::default())
        );
    }

    #[test]
    fn vertex_usage_names() {
        let m = de(
            r#"{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":10,
            "candidatesTokenCount":"7","totalTokenCount":17,
            "candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":7}],"trafficType":"ON_DEMAND"}}"#,
        );
        let u = m.usage_metadata.as_ref().unwrap();
        assert_eq!(u.response_token_count, Some(7));
        assert_eq!(u.response_tokens_details[0].modality, Some(Modality::Audio));
        assert_eq!(u.traffic_type, Some(TrafficType::OnDemand));
        let out = serde_json::to_value(&m).unwrap();
        assert_eq!(out["usageMetadata"]["responseTokenCount"], 7);
        assert!(m.server_content().unwrap().is_turn_complete());
    }

    #[test]
    fn snake_case_server_message() {
        let m = de(
            r#"{"server_content":{"model_turn":{"parts":[{"inline_data":{"mime_type":"audio/pcm;rate=24000","data":"AAE="}}]},"turn_complete":true}}"#,
        );
        let c = m.server_content().unwrap();
        let chunks: Vec<_> = c.audio_chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].data, vec![0, 1]);
        assert_eq!(chunks[0].sample_rate(), 24000);
        assert!(c.is_turn_complete());
    }

    #[test]
    fn go_away_and_resumption() {
        let m = de(r#"{"goAway":{"timeLeft":"1.5s"}}"#);
        assert_eq!(
            m.payload,
            ServerPayload::GoAway(GoAway {
                time_left: Some(Duration::from_millis(1500))
            })
        );
        assert!(
            serde_json::from_str::<ServerMessage>(r#"{"goAway":{"timeLeft":"soon"}}"#).is_err()
        );
        let m = de(
            r#"{"session_resumption_update":{"new_handle":"h","resumable":true,"last_consumed_client_message_index":"42"}}"#,
        );
        let ServerPayload::SessionResumptionUpdate(u) = &m.payload else {
            panic!()
        };
        assert_eq!(u.last_consumed_client_message_index, Some(42));
        assert_eq!(u.usable_handle(), Some("h"));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"sessionResumptionUpdate":{"newHandle":"h","resumable":true,"lastConsumedClientMessageIndex":"42"}})
        );
    }

    #[test]
    fn voice_activity_wire_key_is_type() {
        let m = de(r#"{"voiceActivity":{"type":"ACTIVITY_START","audioOffset":"0.25s"}}"#);
        let ServerPayload::VoiceActivity(v) = &m.payload else {
            panic!()
        };
        assert_eq!(
            v.voice_activity_type,
            Some(VoiceActivityType::ActivityStart)
        );
        assert_eq!(v.audio_offset, Some(Duration::from_millis(250)));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"voiceActivity":{"type":"ACTIVITY_START","audioOffset":"0.25s"}})
        );
        let m = de(r#"{"voiceActivityDetectionSignal":{"vadSignalType":"VAD_SIGNAL_TYPE_EOS"}}"#);
        assert_eq!(
            m.payload,
            ServerPayload::VoiceActivityDetectionSignal(VoiceActivityDetectionSignal {
                vad_signal_type: Some(VadSignalType::Eos)
            })
        );
    }

    #[test]
    fn unknown_enum_values_do_not_fail() {
        let m = de(
            r#"{"serverContent":{"turnComplete":true,"turnCompleteReason":"BRAND_NEW","interactionStatus":"idle"}}"#,
        );
        let c = m.server_content().unwrap();
        assert_eq!(
            c.turn_complete_reason,
            Some(TurnCompleteReason::Unknown("BRAND_NEW".into()))
        );
        assert_eq!(c.interaction_status, Some(InteractionStatus::Idle));
    }
}
