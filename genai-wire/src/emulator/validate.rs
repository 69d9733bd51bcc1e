//! Strict validation of client messages, the way the real server's proto3 JSON parser
//! does it: an allowlist of known fields per message path.
//!
//! Why a separate schema: the client-side serde types in [`crate::protocol`] are
//! deliberately forgiving (they must accept whatever the server sends), so they cannot
//! tell a client it sent something the service would punish. The real service closes
//! the socket with 1007 for an unknown field at any depth, a field its backend does
//! not have (live-protocol.md §3.6), a value of the wrong JSON type, a bad enum name or
//! bad base64. This module walks a [`serde_json::Value`] against a static table of
//! known fields and reports the first problem with a short reason in Google's words
//! (`Invalid JSON payload received. Unknown name "fooBar" at 'setup': Cannot find
//! field.`).
//!
//! Like the real parser it accepts lowerCamelCase and snake_case keys at every level
//! (so it matches the mixed casing the official Python SDK sends), int64 as numbers or
//! strings, enums by name or number, `null` for unset fields, and both base64
//! alphabets with or without padding. Validation allocates nothing unless it fails.
//!
//! A few rarely used, Vertex-only tool configurations (retrieval, RAG, external search
//! back ends) are accepted as any JSON object without checking their insides.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::Backend;

/// Maximum close-reason length in bytes (websocket limit: 125 minus the 2-byte code).
pub const MAX_REASON: usize = 123;

/// Why a client message was refused: the reason for the 1007 close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A short human-readable reason, already cut to fit a close frame.
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Cuts `s` to at most [`MAX_REASON`] bytes on a char boundary.
pub fn truncate_reason(mut s: String) -> String {
    if s.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

// ---------------------------------------------------------------------------------------
// Schema table
// ---------------------------------------------------------------------------------------

/// Which backend has a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Both,
    Dev,
    Vertex,
}

/// A proto enum: its name (for error messages) and value names.
#[derive(Debug)]
struct EnumDef {
    name: &'static str,
    values: &'static [&'static str],
}

/// A proto message: its name (for error messages) and known fields.
#[derive(Debug)]
struct ObjDef {
    name: &'static str,
    fields: &'static [Field],
}

/// One known field: its lowerCamelCase wire name, type, backend and oneof group
/// (0 = not in a oneof).
#[derive(Debug)]
struct Field {
    name: &'static str,
    ty: Ty,
    only: Only,
    oneof: u8,
}

/// The JSON shape a field must have.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Bool,
    I32,
    I64,
    Float,
    Bytes,
    /// google.protobuf.Duration: a string like "1.5s".
    Duration,
    /// google.protobuf.Timestamp: an RFC 3339 string.
    Timestamp,
    Enum(&'static EnumDef),
    Obj(&'static ObjDef),
    /// google.protobuf.Struct: any JSON object.
    Struct,
    /// google.protobuf.Value: any JSON.
    AnyJson,
    ListStr,
    ListEnum(&'static EnumDef),
    ListObj(&'static ObjDef),
    ListStruct,
    MapStr,
    MapObj(&'static ObjDef),
}

/// The allowlist: every known field of every client message, per proto message.
#[rustfmt::skip]
mod table {
    use super::{EnumDef, Field, ObjDef, Only, Ty::*};

    macro_rules! f {
        ($n:literal, $t:expr) => {
            Field { name: $n, ty: $t, only: Only::Both, oneof: 0 }
        };
        ($n:literal, $t:expr, $o:ident) => {
            Field { name: $n, ty: $t, only: Only::$o, oneof: 0 }
        };
    }
    macro_rules! oneof {
        ($g:literal, $n:literal, $t:expr) => {
            Field { name: $n, ty: $t, only: Only::Both, oneof: $g }
        };
        ($g:literal, $n:literal, $t:expr, $o:ident) => {
            Field { name: $n, ty: $t, only: Only::$o, oneof: $g }
        };
    }
    macro_rules! obj {
        ($id:ident, $name:literal, [$($f:expr),* $(,)?]) => {
            pub(super) static $id: ObjDef = ObjDef { name: $name, fields: &[$($f),*] };
        };
    }
    macro_rules! en {
        ($id:ident, $name:literal, [$($v:literal),* $(,)?]) => {
            pub(super) static $id: EnumDef = EnumDef { name: $name, values: &[$($v),*] };
        };
    }


    // --- enums -----------------------------------------------------------------------------
    en!(MODALITY, "Modality", ["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO"]);
    en!(MEDIA_RESOLUTION, "MediaResolution", [
        "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM",
        "MEDIA_RESOLUTION_HIGH", "MEDIA_RESOLUTION_ULTRA_HIGH"
    ]);
    en!(THINKING_LEVEL, "ThinkingLevel", [
        "THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"
    ]);
    en!(SCHEMA_TYPE, "Type", [
        "TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"
    ]);
    en!(BEHAVIOR, "FunctionDeclaration.Behavior", ["UNSPECIFIED", "BLOCKING", "NON_BLOCKING"]);
    en!(SCHEDULING, "FunctionResponse.Scheduling", [
        "SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"
    ]);
    en!(START_SENS, "StartSensitivity", [
        "START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"
    ]);
    en!(END_SENS, "EndSensitivity", [
        "END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"
    ]);
    en!(ACTIVITY_HANDLING, "ActivityHandling", [
        "ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"
    ]);
    en!(TURN_COVERAGE, "TurnCoverage", [
        "TURN_COVERAGE_UNSPECIFIED", "TURN_INCLUDES_ONLY_ACTIVITY", "TURN_INCLUDES_ALL_INPUT",
        "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"
    ]);
    en!(TRANSCRIPTION_MODE, "AudioTranscriptionConfig.Mode", ["MODE_UNSPECIFIED", "VERBATIM", "SMART"]);
    en!(LANGUAGE, "ExecutableCode.Language", ["LANGUAGE_UNSPECIFIED", "PYTHON"]);
    en!(OUTCOME, "CodeExecutionResult.Outcome", [
        "OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED", "OUTCOME_DEADLINE_EXCEEDED"
    ]);
    en!(HARM_CATEGORY, "HarmCategory", [
        "HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY", "HARM_CATEGORY_JAILBREAK", "HARM_CATEGORY_IMAGE_HATE",
        "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT", "HARM_CATEGORY_IMAGE_HARASSMENT",
        "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT"
    ]);
    en!(HARM_THRESHOLD, "HarmBlockThreshold", [
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"
    ]);
    en!(HARM_METHOD, "HarmBlockMethod", [
        "HARM_BLOCK_METHOD_UNSPECIFIED", "SEVERITY", "PROBABILITY"
    ]);
    en!(PHISH_THRESHOLD, "PhishBlockThreshold", [
        "PHISH_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_HIGH_AND_ABOVE", "BLOCK_HIGHER_AND_ABOVE", "BLOCK_VERY_HIGH_AND_ABOVE",
        "BLOCK_ONLY_EXTREMELY_HIGH"
    ]);
    en!(DYN_MODE, "DynamicRetrievalConfig.Mode", ["MODE_UNSPECIFIED", "MODE_DYNAMIC"]);
    en!(ENVIRONMENT, "ComputerUse.Environment", [
        "ENVIRONMENT_UNSPECIFIED", "ENVIRONMENT_BROWSER", "ENVIRONMENT_MOBILE", "ENVIRONMENT_DESKTOP"
    ]);
    en!(FEATURE_PREF, "FeatureSelectionPreference", [
        "FEATURE_SELECTION_PREFERENCE_UNSPECIFIED", "PRIORITIZE_QUALITY", "BALANCED", "PRIORITIZE_COST"
    ]);
    en!(MEDIA_PROCESSING, "MediaProcessing", ["MEDIA_PROCESSING_UNSPECIFIED", "STATIC", "AGENTIC"]);
    en!(TOOL_TYPE, "ToolType", [
        "TOOL_TYPE_UNSPECIFIED", "GOOGLE_SEARCH_WEB", "GOOGLE_SEARCH_IMAGE", "URL_CONTEXT",
        "GOOGLE_MAPS", "FILE_SEARCH", "MEDIA_PROCESSING"
    ]);

    // --- top level ---------------------------------------------------------------------------
    obj!(CLIENT_MESSAGE, "BidiGenerateContentClientMessage", [
        oneof!(1, "setup", Obj(&SETUP)),
        oneof!(1, "clientContent", Obj(&CLIENT_CONTENT)),
        oneof!(1, "realtimeInput", Obj(&REALTIME_INPUT)),
        oneof!(1, "toolResponse", Obj(&TOOL_RESPONSE)),
        oneof!(1, "contextUpdate", Obj(&CONTEXT_UPDATE)),
    ]);

    // --- setup -------------------------------------------------------------------------------
    obj!(SETUP, "BidiGenerateContentSetup", [
        f!("model", Str),
        f!("generationConfig", Obj(&GENERATION_CONFIG)),
        f!("systemInstruction", Obj(&CONTENT)),
        f!("tools", ListObj(&TOOL)),
        f!("realtimeInputConfig", Obj(&REALTIME_INPUT_CONFIG)),
        f!("sessionResumption", Obj(&SESSION_RESUMPTION)),
        f!("contextWindowCompression", Obj(&CONTEXT_WINDOW_COMPRESSION)),
        f!("inputAudioTranscription", Obj(&AUDIO_TRANSCRIPTION)),
        f!("outputAudioTranscription", Obj(&AUDIO_TRANSCRIPTION)),
        f!("proactivity", Obj(&PROACTIVITY)),
        f!("historyConfig", Obj(&HISTORY_CONFIG)),
        f!("explicitVadSignal", Bool, Vertex),
        f!("avatarConfig", Obj(&AVATAR_CONFIG)),
        f!("safetySettings", ListObj(&SAFETY_SETTING)),
        f!("labels", MapStr, Dev),
    ]);
    // Live rejects responseLogprobs, responseMimeType, logprobs, responseSchema,
    // responseJsonSchema, stopSequences, routingConfig and audioTimestamp (§3.1): not listed.
    obj!(GENERATION_CONFIG, "GenerationConfig", [
        f!("candidateCount", I32),
        f!("maxOutputTokens", I32),
        f!("temperature", Float),
        f!("topP", Float),
        f!("topK", Float),
        f!("seed", I32),
        f!("presencePenalty", Float),
        f!("frequencyPenalty", Float),
        f!("responseModalities", ListEnum(&MODALITY)),
        f!("speechConfig", Obj(&SPEECH_CONFIG)),
        f!("mediaResolution", Enum(&MEDIA_RESOLUTION)),
        f!("thinkingConfig", Obj(&THINKING_CONFIG)),
        f!("enableAffectiveDialog", Bool),
        f!("enableEnhancedCivicAnswers", Bool, Dev),
        f!("modelSelectionConfig", Obj(&MODEL_SELECTION)),
        f!("translationConfig", Obj(&TRANSLATION_CONFIG)),
        f!("audioTranscriptionConfig", Obj(&AUDIO_TRANSCRIPTION)),
    ]);
    obj!(MODEL_SELECTION, "ModelSelectionConfig", [
        f!("featureSelectionPreference", Enum(&FEATURE_PREF)),
    ]);
    obj!(TRANSLATION_CONFIG, "TranslationConfig", [
        f!("echoTargetLanguage", Bool),
        f!("targetLanguageCode", Str),
    ]);
    obj!(SPEECH_CONFIG, "SpeechConfig", [
        f!("voiceConfig", Obj(&VOICE_CONFIG)),
        f!("languageCode", Str),
    ]);
    obj!(VOICE_CONFIG, "VoiceConfig", [
        f!("prebuiltVoiceConfig", Obj(&PREBUILT_VOICE)),
        f!("replicatedVoiceConfig", Obj(&REPLICATED_VOICE)),
        f!("voice", Str),
    ]);
    obj!(PREBUILT_VOICE, "PrebuiltVoiceConfig", [f!("voiceName", Str)]);
    obj!(REPLICATED_VOICE, "ReplicatedVoiceConfig", [
        f!("mimeType", Str),
        f!("voiceSampleAudio", Bytes),
        f!("consentAudio", Bytes),
        f!("voiceConsentSignature", Obj(&VOICE_CONSENT)),
    ]);
    obj!(VOICE_CONSENT, "VoiceConsentSignature", [f!("signature", Str)]);
    obj!(THINKING_CONFIG, "ThinkingConfig", [
        f!("includeThoughts", Bool),
        f!("thinkingBudget", I32),
        f!("thinkingLevel", Enum(&THINKING_LEVEL)),
    ]);
    obj!(REALTIME_INPUT_CONFIG, "RealtimeInputConfig", [
        f!("automaticActivityDetection", Obj(&AUTOMATIC_ACTIVITY)),
        f!("activityHandling", Enum(&ACTIVITY_HANDLING)),
        f!("turnCoverage", Enum(&TURN_COVERAGE)),
        f!("interimTranscriptTimestampEnabled", Bool),
    ]);
    obj!(AUTOMATIC_ACTIVITY, "AutomaticActivityDetection", [
        f!("disabled", Bool),
        f!("startOfSpeechSensitivity", Enum(&START_SENS)),
        f!("endOfSpeechSensitivity", Enum(&END_SENS)),
        f!("prefixPaddingMs", I32),
        f!("silenceDurationMs", I32),
    ]);
    obj!(SESSION_RESUMPTION, "SessionResumptionConfig", [
        f!("handle", Str),
        f!("transparent", Bool, Vertex),
    ]);
    obj!(CONTEXT_WINDOW_COMPRESSION, "ContextWindowCompressionConfig", [
        f!("triggerTokens", I64),
        f!("slidingWindow", Obj(&SLIDING_WINDOW)),
    ]);
    obj!(SLIDING_WINDOW, "SlidingWindow", [f!("targetTokens", I64)]);
    obj!(AUDIO_TRANSCRIPTION, "AudioTranscriptionConfig", [
        f!("languageCodes", ListStr),
        f!("languageAuto", Obj(&EMPTY)),
        f!("languageHints", Obj(&LANGUAGE_HINTS)),
        f!("customVocabulary", ListStr),
        f!("adaptationPhrases", ListStr),
        f!("wordTimestamp", Bool),
        f!("diarization", Bool),
        f!("mode", Enum(&TRANSCRIPTION_MODE)),
        f!("sourceText", Str),
    ]);
    obj!(LANGUAGE_HINTS, "LanguageHints", [f!("languageCodes", ListStr)]);
    obj!(PROACTIVITY, "ProactivityConfig", [
        f!("proactiveAudio", Bool),
        f!("proactiveVideo", Bool),
    ]);
    obj!(HISTORY_CONFIG, "HistoryConfig", [f!("initialHistoryInClientContent", Bool)]);
    obj!(AVATAR_CONFIG, "AvatarConfig", [
        f!("avatarName", Str),
        f!("customizedAvatar", Obj(&CUSTOMIZED_AVATAR)),
        f!("audioBitrateBps", I32),
        f!("videoBitrateBps", I32),
    ]);
    obj!(CUSTOMIZED_AVATAR, "CustomizedAvatar", [
        f!("imageMimeType", Str),
        f!("imageData", Bytes),
    ]);
    obj!(SAFETY_SETTING, "SafetySetting", [
        f!("category", Enum(&HARM_CATEGORY)),
        f!("threshold", Enum(&HARM_THRESHOLD)),
        f!("method", Enum(&HARM_METHOD), Vertex),
    ]);
    obj!(EMPTY, "Empty", []);

    // --- tools -------------------------------------------------------------------------------
    obj!(TOOL, "Tool", [
        f!("functionDeclarations", ListObj(&FUNCTION_DECLARATION)),
        f!("googleSearch", Obj(&GOOGLE_SEARCH)),
        f!("googleSearchRetrieval", Obj(&GOOGLE_SEARCH_RETRIEVAL)),
        f!("codeExecution", Obj(&EMPTY)),
        f!("urlContext", Obj(&EMPTY)),
        f!("googleMaps", Obj(&GOOGLE_MAPS)),
        f!("computerUse", Obj(&COMPUTER_USE)),
        f!("fileSearch", Obj(&FILE_SEARCH), Dev),
        f!("mcpServers", ListObj(&MCP_SERVER), Dev),
        f!("retrieval", Struct, Vertex),
        f!("enterpriseWebSearch", Obj(&ENTERPRISE_WEB_SEARCH), Vertex),
        f!("parallelAiSearch", Struct, Vertex),
        f!("exaAiSearch", Struct, Vertex),
    ]);
    obj!(FUNCTION_DECLARATION, "FunctionDeclaration", [
        f!("name", Str),
        f!("description", Str),
        f!("parameters", Obj(&SCHEMA)),
        f!("parametersJsonSchema", AnyJson),
        f!("response", Obj(&SCHEMA)),
        f!("responseJsonSchema", AnyJson),
        f!("behavior", Enum(&BEHAVIOR)),
    ]);
    // The OpenAPI subset the Live API accepts. `additionalProperties`, `$ref` and `$defs`
    // close the socket with 1007 on the Developer API (rust-notes pitfall 8).
    obj!(SCHEMA, "Schema", [
        f!("type", Enum(&SCHEMA_TYPE)),
        f!("format", Str),
        f!("title", Str),
        f!("description", Str),
        f!("nullable", Bool),
        f!("enum", ListStr),
        f!("maxItems", I64),
        f!("minItems", I64),
        f!("properties", MapObj(&SCHEMA)),
        f!("required", ListStr),
        f!("minProperties", I64),
        f!("maxProperties", I64),
        f!("minLength", I64),
        f!("maxLength", I64),
        f!("pattern", Str),
        f!("example", AnyJson),
        f!("anyOf", ListObj(&SCHEMA)),
        f!("propertyOrdering", ListStr),
        f!("default", AnyJson),
        f!("items", Obj(&SCHEMA)),
        f!("minimum", Float),
        f!("maximum", Float),
        f!("additionalProperties", AnyJson, Vertex),
        f!("ref", Str, Vertex),
        f!("defs", MapObj(&SCHEMA), Vertex),
    ]);
    obj!(GOOGLE_SEARCH, "GoogleSearch", [
        f!("searchTypes", Obj(&SEARCH_TYPES)),
        f!("timeRangeFilter", Obj(&INTERVAL)),
        f!("blockingConfidence", Enum(&PHISH_THRESHOLD), Vertex),
        f!("excludeDomains", ListStr, Vertex),
    ]);
    obj!(SEARCH_TYPES, "SearchTypes", [
        f!("webSearch", Obj(&EMPTY)),
        f!("imageSearch", Obj(&EMPTY)),
    ]);
    obj!(INTERVAL, "Interval", [
        f!("startTime", Timestamp),
        f!("endTime", Timestamp),
    ]);
    obj!(GOOGLE_SEARCH_RETRIEVAL, "GoogleSearchRetrieval", [
        f!("dynamicRetrievalConfig", Obj(&DYNAMIC_RETRIEVAL)),
    ]);
    obj!(DYNAMIC_RETRIEVAL, "DynamicRetrievalConfig", [
        f!("mode", Enum(&DYN_MODE)),
        f!("dynamicThreshold", Float),
    ]);
    obj!(GOOGLE_MAPS, "GoogleMaps", [
        f!("enableWidget", Bool),
        f!("authConfig", Struct, Vertex),
        f!("groundingTypes", Obj(&MAPS_GROUNDING), Vertex),
    ]);
    obj!(MAPS_GROUNDING, "GoogleMapsGroundingTypes", [
        f!("places", Obj(&EMPTY)),
        f!("routing", Obj(&EMPTY)),
    ]);
    obj!(COMPUTER_USE, "ComputerUse", [
        f!("environment", Enum(&ENVIRONMENT)),
        f!("excludedPredefinedFunctions", ListStr),
        f!("enablePromptInjectionDetection", Bool),
        f!("disabledSafetyPolicies", ListStr),
    ]);
    obj!(FILE_SEARCH, "FileSearch", [
        f!("fileSearchStoreNames", ListStr),
        f!("topK", I32),
        f!("metadataFilter", Str),
    ]);
    obj!(MCP_SERVER, "McpServer", [
        f!("name", Str),
        f!("streamableHttpTransport", Obj(&STREAMABLE_HTTP)),
    ]);
    obj!(STREAMABLE_HTTP, "StreamableHttpTransport", [
        f!("url", Str),
        f!("headers", MapStr),
        f!("timeout", Duration),
        f!("sseReadTimeout", Duration),
        f!("terminateOnClose", Bool),
    ]);
    obj!(ENTERPRISE_WEB_SEARCH, "EnterpriseWebSearch", [
        f!("excludeDomains", ListStr),
        f!("blockingConfidence", Enum(&PHISH_THRESHOLD)),
    ]);

    // --- content -----------------------------------------------------------------------------
    obj!(CONTENT, "Content", [
        f!("role", Str),
        f!("parts", ListObj(&PART)),
    ]);
    obj!(PART, "Part", [
        oneof!(1, "text", Str),
        oneof!(1, "inlineData", Obj(&BLOB)),
        oneof!(1, "fileData", Obj(&FILE_DATA)),
        oneof!(1, "functionCall", Obj(&FUNCTION_CALL)),
        oneof!(1, "functionResponse", Obj(&FUNCTION_RESPONSE)),
        oneof!(1, "executableCode", Obj(&EXECUTABLE_CODE)),
        oneof!(1, "codeExecutionResult", Obj(&CODE_EXECUTION_RESULT)),
        oneof!(1, "toolCall", Obj(&PART_TOOL_CALL), Dev),
        oneof!(1, "toolResponse", Obj(&PART_TOOL_RESPONSE), Dev),
        f!("thought", Bool),
        f!("thoughtSignature", Bytes),
        f!("videoMetadata", Obj(&VIDEO_METADATA)),
        f!("mediaResolution", Obj(&PART_MEDIA_RESOLUTION)),
        f!("partMetadata", Struct, Dev),
    ]);
    obj!(BLOB, "Blob", [
        f!("mimeType", Str),
        f!("data", Bytes),
        f!("displayName", Str),
    ]);
    obj!(FILE_DATA, "FileData", [
        f!("mimeType", Str),
        f!("fileUri", Str),
        f!("displayName", Str),
    ]);
    obj!(FUNCTION_CALL, "FunctionCall", [
        f!("id", Str),
        f!("name", Str),
        f!("args", Struct),
        f!("partialArgs", ListStruct, Vertex),
        f!("willContinue", Bool, Vertex),
    ]);
    obj!(FUNCTION_RESPONSE, "FunctionResponse", [
        f!("id", Str),
        f!("name", Str),
        f!("response", Struct),
        f!("parts", ListObj(&FUNCTION_RESPONSE_PART)),
        f!("willContinue", Bool, Dev),
        f!("scheduling", Enum(&SCHEDULING)),
    ]);
    obj!(FUNCTION_RESPONSE_PART, "FunctionResponsePart", [
        oneof!(1, "inlineData", Obj(&BLOB)),
        oneof!(1, "fileData", Obj(&FILE_DATA)),
        f!("mediaProcessing", Enum(&MEDIA_PROCESSING)),
        f!("mediaResolution", Obj(&PART_MEDIA_RESOLUTION)),
        f!("videoMetadata", Obj(&VIDEO_METADATA)),
    ]);
    obj!(EXECUTABLE_CODE, "ExecutableCode", [
        f!("language", Enum(&LANGUAGE)),
        f!("code", Str),
        f!("id", Str),
    ]);
    obj!(CODE_EXECUTION_RESULT, "CodeExecutionResult", [
        f!("outcome", Enum(&OUTCOME)),
        f!("output", Str),
        f!("id", Str),
    ]);
    obj!(PART_TOOL_CALL, "ToolCall", [
        f!("id", Str),
        f!("toolType", Enum(&TOOL_TYPE)),
        f!("args", Struct),
    ]);
    obj!(PART_TOOL_RESPONSE, "ToolResponse", [
        f!("id", Str),
        f!("toolType", Enum(&TOOL_TYPE)),
        f!("response", Struct),
    ]);
    obj!(VIDEO_METADATA, "VideoMetadata", [
        f!("startOffset", Duration),
        f!("endOffset", Duration),
        f!("fps", Float),
    ]);
    obj!(PART_MEDIA_RESOLUTION, "PartMediaResolution", [
        f!("level", Enum(&MEDIA_RESOLUTION)),
        f!("numTokens", I32),
    ]);

    // --- the other client messages -------------------------------------------------------------
    obj!(CLIENT_CONTENT, "BidiGenerateContentClientContent", [
        f!("turns", ListObj(&CONTENT)),
        f!("turnComplete", Bool),
    ]);
    obj!(REALTIME_INPUT, "BidiGenerateContentRealtimeInput", [
        f!("mediaChunks", ListObj(&BLOB)),
        f!("audio", Obj(&BLOB)),
        f!("video", Obj(&BLOB)),
        f!("text", Str),
        f!("activityStart", Obj(&EMPTY)),
        f!("activityEnd", Obj(&EMPTY)),
        f!("audioStreamEnd", Bool, Dev),
    ]);
    obj!(TOOL_RESPONSE, "BidiGenerateContentToolResponse", [
        f!("functionResponses", ListObj(&FUNCTION_RESPONSE)),
    ]);
    obj!(CONTEXT_UPDATE, "BidiGenerateContentContextUpdate", [
        f!("systemInstruction", Obj(&CONTENT)),
        f!("tools", Obj(&CONTEXT_UPDATE_TOOLS)),
    ]);
    obj!(CONTEXT_UPDATE_TOOLS, "ContextUpdateTools", [f!("tools", ListObj(&TOOL))]);
}

use Ty::*;
use table::*;

// ---------------------------------------------------------------------------------------
// Walking
// ---------------------------------------------------------------------------------------

/// Does the wire key `key` name the field whose lowerCamelCase name is `camel`?
/// Accepts the exact camelCase name and its snake_case form (`mime_type`).
pub fn key_is(key: &str, camel: &str) -> bool {
    let (k, c) = (key.as_bytes(), camel.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < k.len() && j < c.len() {
        if k[i] == b'_'
            && i + 1 < k.len()
            && c[j].is_ascii_uppercase()
            && k[i + 1] == c[j].to_ascii_lowercase()
        {
            i += 2;
            j += 1;
        } else if k[i] == c[j] {
            i += 1;
            j += 1;
        } else {
            return false;
        }
    }
    i == k.len() && j == c.len()
}

/// Looks up a field of a JSON object by its camelCase name, accepting snake_case keys.
pub fn get<'a>(obj: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| key_is(k, camel))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

#[derive(Debug)]
enum Seg {
    Field(&'static str),
    Index(usize),
    Key(String),
}

#[derive(Debug)]
enum FailKind {
    Unknown(String),
    Duplicate(&'static str),
    Oneof(&'static str),
    /// The value at the path has the wrong type or value; carries the expected type name
    /// and a short rendering of the value.
    BadValue(String, String),
    Base64(String),
    NotRepeated,
    NotObject,
    Empty,
}

struct Fail {
    kind: FailKind,
    /// Path segments, innermost first (pushed while unwinding).
    path: Vec<Seg>,
}

type R = Result<(), Fail>;

fn fail(kind: FailKind) -> Fail {
    Fail {
        kind,
        path: Vec::new(),
    }
}

fn at<T>(r: Result<T, Fail>, seg: impl FnOnce() -> Seg) -> Result<T, Fail> {
    r.map_err(|mut f| {
        f.path.push(seg());
        f
    })
}

fn snake(camel: &str, out: &mut String) {
    for ch in camel.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 40 {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

struct Ctx {
    backend: Backend,
}

impl Ctx {
    fn type_prefix(&self) -> &'static str {
        match self.backend {
            Backend::DeveloperApi => "google.ai.generativelanguage.v1beta",
            Backend::VertexAi => "google.cloud.aiplatform.v1beta1",
        }
    }

    fn has(&self, only: Only) -> bool {
        match only {
            Only::Both => true,
            Only::Dev => self.backend == Backend::DeveloperApi,
            Only::Vertex => self.backend == Backend::VertexAi,
        }
    }

    fn object(&self, def: &'static ObjDef, v: &Value) -> R {
        let Value::Object(map) = v else {
            if v.is_array() {
                return Err(fail(FailKind::NotRepeated));
            }
            return Err(fail(FailKind::BadValue(
                format!("type.googleapis.com/{}.{}", self.type_prefix(), def.name),
                short(v),
            )));
        };
        let mut seen: u64 = 0;
        let mut groups: u32 = 0;
        for (key, val) in map {
            let found = def
                .fields
                .iter()
                .enumerate()
                .find(|(_, f)| key_is(key, f.name) && self.has(f.only));
            let Some((idx, field)) = found else {
                return Err(fail(FailKind::Unknown(key.clone())));
            };
            if seen & (1 << idx) != 0 {
                return Err(fail(FailKind::Duplicate(field.name)));
            }
            seen |= 1 << idx;
            if val.is_null() {
                continue;
            }
            if field.oneof != 0 {
                let bit = 1u32 << field.oneof;
                if groups & bit != 0 {
                    return Err(fail(FailKind::Oneof(field.name)));
                }
                groups |= bit;
            }
            at(self.value(field.ty, val), || Seg::Field(field.name))?;
        }
        Ok(())
    }

    fn list(&self, ty: Ty, v: &Value) -> R {
        let Value::Array(items) = v else {
            return Err(fail(FailKind::BadValue(
                "repeated field, expected a list".to_string(),
                short(v),
            )));
        };
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                return at(
                    Err(fail(FailKind::BadValue("element".into(), "null".into()))),
                    || Seg::Index(i),
                );
            }
            at(self.value(ty, item), || Seg::Index(i))?;
        }
        Ok(())
    }

    fn map(&self, ty: Ty, v: &Value) -> R {
        let Value::Object(map) = v else {
            return Err(fail(FailKind::NotObject));
        };
        for (k, item) in map {
            at(self.value(ty, item), || Seg::Key(k.clone()))?;
        }
        Ok(())
    }

    fn value(&self, ty: Ty, v: &Value) -> R {
        let bad = |name: &str| Err(fail(FailKind::BadValue(name.to_string(), short(v))));
        match ty {
            Str => match v {
                Value::String(_) => Ok(()),
                _ => bad("TYPE_STRING"),
            },
            Bool => match v {
                Value::Bool(_) => Ok(()),
                _ => bad("TYPE_BOOL"),
            },
            I32 | I64 => {
                let name = if matches!(ty, I32) {
                    "TYPE_INT32"
                } else {
                    "TYPE_INT64"
                };
                let ok = match v {
                    Value::Number(n) => {
                        n.is_i64()
                            || n.is_u64()
                            || n.as_f64()
                                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.3e18)
                    }
                    Value::String(s) => {
                        let t = s.strip_prefix('-').unwrap_or(s);
                        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
                    }
                    _ => false,
                };
                let in_range = match (ty, v) {
                    (I32, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                    (I32, Value::String(s)) => s.parse::<i32>().is_ok(),
                    (_, Value::String(s)) => s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok(),
                    _ => true,
                };
                if ok && in_range { Ok(()) } else { bad(name) }
            }
            Float => match v {
                Value::Number(_) => Ok(()),
                Value::String(s)
                    if s == "NaN"
                        || s == "Infinity"
                        || s == "-Infinity"
                        || s.parse::<f64>().is_ok() =>
                {
                    Ok(())
                }
                _ => bad("TYPE_FLOAT"),
            },
            Bytes => match v {
                Value::String(s) if is_base64(s) => Ok(()),
                Value::String(s) => {
                    let mut shown: String = s.chars().take(16).collect();
                    if s.len() > shown.len() {
                        shown.push_str("...");
                    }
                    Err(fail(FailKind::Base64(shown)))
                }
                _ => bad("TYPE_BYTES"),
            },
            Duration => match v {
                Value::String(s) if is_duration(s) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Duration"),
            },
            Timestamp => match v {
                Value::String(s) if is_timestamp(s) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Timestamp"),
            },
            Enum(def) => {
                let ok = match v {
                    Value::String(s) => def.values.iter().any(|x| x == s),
                    Value::Number(n) => n.as_u64().is_some_and(|i| (i as usize) < def.values.len()),
                    _ => false,
                };
                if ok {
                    Ok(())
                } else {
                    Err(fail(FailKind::BadValue(
                        format!("type.googleapis.com/{}.{}", self.type_prefix(), def.name),
                        short(v),
                    )))
                }
            }
            Obj(def) => self.object(def, v),
            Struct => match v {
                Value::Object(_) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Struct"),
            },
            AnyJson => Ok(()),
            ListStr => self.list(Str, v),
            ListEnum(def) => self.list(Enum(def), v),
            ListObj(def) => self.list(Obj(def), v),
            ListStruct => self.list(Struct, v),
            MapStr => self.map(Str, v),
            MapObj(def) => self.map(Obj(def), v),
        }
    }
}

/// Is `s` base64 in either alphabet, padded or not? (Checks only; decodes nothing.)
pub fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    let pad = b.len() - body;
    if pad > 2 || (pad > 0 && b.len() % 4 != 0) || body % 4 == 1 {
        return false;
    }
    let (mut std, mut url) = (false, false);
    for &c in &b[..body] {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'+' | b'/' => std = true,
            b'-' | b'_' => url = true,
            _ => return false,
        }
    }
    !(std && url)
}

fn is_duration(s: &str) -> bool {
    let Some(num) = s.strip_suffix('s') else {
        return false;
    };
    let num = num.strip_prefix('-').unwrap_or(num);
    let mut parts = num.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|c| c.is_ascii_digit())
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()))
}

fn is_timestamp(s: &str) -> bool {
    // 2024-01-02T03:04:05[.frac](Z|+hh:mm)
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z')
            || s.ends_with('z')
            || b[b.len() - 6] == b'+'
            || b[b.len() - 6] == b'-')
}

/// Renders a failure the way Google's JSON parser words it.
fn render(f: Fail, backend: Backend) -> String {
    let _ = backend;
    let mut path = String::new();
    for seg in f.path.iter().rev() {
        match seg {
            Seg::Field(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                snake(name, &mut path);
            }
            Seg::Index(i) => {
                let _ = write!(path, "[{i}]");
            }
            Seg::Key(k) => {
                let _ = write!(path, "[{k:?}]");
            }
        }
    }
    let s = match f.kind {
        FailKind::Unknown(name) if path.is_empty() => {
            format!("Invalid JSON payload received. Unknown name {name:?}: Cannot find field.")
        }
        FailKind::Unknown(name) => format!(
            "Invalid JSON payload received. Unknown name {name:?} at '{path}': Cannot find field."
        ),
        FailKind::Duplicate(name) => {
            let mut n = String::new();
            snake(name, &mut n);
            format!("Invalid JSON payload received. Duplicate field {n:?} at '{path}'.")
        }
        FailKind::Oneof(name) => {
            let mut n = String::new();
            snake(name, &mut n);
            format!(
                "Invalid JSON payload received. Oneof field is already set, cannot set '{n}' at '{path}'."
            )
        }
        FailKind::BadValue(ty, val) => format!("Invalid value at '{path}' ({ty}), {val}"),
        FailKind::Base64(val) => {
            format!("Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for {val:?}")
        }
        FailKind::NotRepeated => format!(
            "Invalid JSON payload received. Proto field is not repeating, cannot start list at '{path}'."
        ),
        FailKind::NotObject => {
            format!("Invalid JSON payload received. Expected an object at '{path}'.")
        }
        FailKind::Empty => "Invalid JSON payload received. Message has no content.".to_string(),
    };
    truncate_reason(s)
}

/// Validates one client message (already parsed JSON) strictly for `backend`.
///
/// Returns the 1007 close reason on the first problem. The message must be a JSON object
/// carrying exactly one of `setup`, `clientContent`, `realtimeInput`, `toolResponse` or
/// `contextUpdate`.
pub fn validate_client(v: &Value, backend: Backend) -> Result<(), Invalid> {
    let ctx = Ctx { backend };
    let result = match v {
        Value::Object(map)
            if map.values().all(Value::is_null)
                && map
                    .keys()
                    .all(|k| CLIENT_MESSAGE.fields.iter().any(|f| key_is(k, f.name))) =>
        {
            Err(fail(FailKind::Empty))
        }
        Value::Object(_) => ctx.object(&CLIENT_MESSAGE, v),
        _ => {
            return Err(Invalid {
                reason: "Invalid JSON payload received. Expected a JSON object.".to_string(),
            });
        }
    };
    result.map_err(|f| Invalid {
        reason: render(f, backend),
    })
}

/// Parses and validates a raw frame. A frame that is not UTF-8 JSON gets Google's
/// "Unexpected token" reason.
pub fn parse_and_validate(raw: &[u8], backend: Backend) -> Result<Value, Invalid> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| Invalid {
        reason: truncate_reason(format!(
            "Invalid JSON payload received. Unexpected token. (line {} column {})",
            e.line(),
            e.column()
        )),
    })?;
    validate_client(&v, backend)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEV: Backend = Backend::DeveloperApi;
    const VTX: Backend = Backend::VertexAi;

    fn ok(v: Value, b: Backend) {
        if let Err(e) = validate_client(&v, b) {
            panic!("{v} refused: {e}");
        }
    }
    fn bad(v: Value, b: Backend) -> String {
        match validate_client(&v, b) {
            Ok(()) => panic!("{v} accepted"),
            Err(e) => {
                assert!(e.reason.len() <= MAX_REASON);
                e.reason
            }
        }
    }

    #[test]
    fn field_tables_fit_the_bitmask() {
        fn check(def: &'static ObjDef, seen: &mut Vec<&'static str>) {
            if seen.contains(&def.name) {
                return;
            }
            seen.push(def.name);
            assert!(def.fields.len() < 64, "{}", def.name);
            for f in def.fields {
                match f.ty {
                    Obj(d) | ListObj(d) | MapObj(d) => check(d, seen),
                    _ => {}
                }
            }
        }
        check(&CLIENT_MESSAGE, &mut Vec::new());
    }

    #[test]
    fn key_matching() {
        assert!(key_is("mimeType", "mimeType"));
        assert!(key_is("mime_type", "mimeType"));
        assert!(key_is(
            "automatic_activity_detection",
            "automaticActivityDetection"
        ));
        assert!(!key_is("mime_Type", "mimeType"));
        assert!(!key_is("mimetype", "mimeType"));
        assert!(!key_is("mimeTypes", "mimeType"));
        assert!(key_is("client_content", "clientContent"));
    }

    #[test]
    fn full_setup_example_is_accepted() {
        ok(
            json!({"setup": {
              "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
              "generationConfig": {
                "responseModalities": ["AUDIO"], "temperature": 0.7, "maxOutputTokens": 1024,
                "mediaResolution": "MEDIA_RESOLUTION_LOW",
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}, "languageCode": "en-US"},
                "thinkingConfig": {"thinkingBudget": 0}, "enableAffectiveDialog": true},
              "systemInstruction": {"role": "user", "parts": [{"text": "You are terse."}]},
              "tools": [{"functionDeclarations": [{
                  "name": "get_weather", "description": "Weather for a city", "behavior": "NON_BLOCKING",
                  "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]},
                {"googleSearch": {}}],
              "realtimeInputConfig": {
                "automaticActivityDetection": {"disabled": false,
                  "startOfSpeechSensitivity": "START_SENSITIVITY_LOW", "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
                  "prefixPaddingMs": 20, "silenceDurationMs": 100},
                "activityHandling": "START_OF_ACTIVITY_INTERRUPTS", "turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
              "sessionResumption": {"handle": "abc"},
              "contextWindowCompression": {"triggerTokens": "25600", "slidingWindow": {"targetTokens": "12800"}},
              "inputAudioTranscription": {}, "outputAudioTranscription": {},
              "proactivity": {"proactiveAudio": true}
            }}),
            DEV,
        );
    }

    #[test]
    fn python_sdk_snake_case_islands_are_accepted() {
        ok(
            json!({"setup": {"model": "models/m",
             "generationConfig": {"responseModalities": ["AUDIO"],
               "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"}},
             "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW"},
                                     "activity_handling": "START_OF_ACTIVITY_INTERRUPTS", "turn_coverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
             "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": 12800}},
             "proactivity": {"proactive_audio": true}}}),
            DEV,
        );
        ok(
            json!({"realtime_input": {"audio": {"data": "__79_P_-_fw=", "mime_type": "audio/pcm;rate=16000"}}}),
            DEV,
        );
        ok(
            json!({"realtime_input": {"mediaChunks": [{"data": "AAA=", "mime_type": "audio/pcm"}]}}),
            DEV,
        );
        ok(
            json!({"tool_response": {"functionResponses": [{"will_continue": true, "scheduling": "WHEN_IDLE", "id": "fc-1", "name": "f", "response": {"x": 1}}]}}),
            DEV,
        );
        ok(
            json!({"client_content": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": true}}),
            DEV,
        );
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth() {
        assert_eq!(
            bad(json!({"setup": {"model": "models/m", "fooBar": 1}}), DEV),
            "Invalid JSON payload received. Unknown name \"fooBar\" at 'setup': Cannot find field."
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"speechConfig": {"voiceConfig": {"x": 1}}}}}),
            DEV,
        );
        assert!(
            r.contains("at 'setup.generation_config.speech_config.voice_config'"),
            "{r}"
        );
        let r = bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "oops": 1}]}}),
            DEV,
        );
        assert!(
            r.contains("at 'tool_response.function_responses[0]'"),
            "{r}"
        );
        bad(json!({"fooBar": {}}), DEV);
        bad(json!({}), DEV);
        bad(json!([]), DEV);
        bad(json!({"setup": null}), DEV);
    }

    #[test]
    fn backend_matrix() {
        let wc = json!({"toolResponse": {"functionResponses": [{"id": "a", "response": {}, "willContinue": true}]}});
        ok(wc.clone(), DEV);
        assert!(bad(wc, VTX).contains("willContinue"));
        let ase = json!({"realtimeInput": {"audioStreamEnd": true}});
        ok(ase.clone(), DEV);
        bad(ase, VTX);
        let tr = json!({"setup": {"model": "m", "sessionResumption": {"transparent": true}}});
        ok(tr.clone(), VTX);
        bad(tr, DEV);
        let vad = json!({"setup": {"model": "m", "explicitVadSignal": true}});
        ok(vad.clone(), VTX);
        bad(vad, DEV);
        let ap = json!({"setup": {"model": "m", "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "additionalProperties": false}}]}]}});
        bad(ap.clone(), DEV);
        ok(ap, VTX);
    }

    #[test]
    fn malformed_values_are_refused() {
        let r = bad(
            json!({"realtimeInput": {"audio": {"data": "@@@@", "mimeType": "audio/pcm"}}}),
            DEV,
        );
        assert!(r.contains("Base64"), "{r}");
        bad(
            json!({"realtimeInput": {"audio": {"data": "AAA-+A==", "mimeType": "audio/pcm"}}}),
            DEV,
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"temperature": "hot"}}}),
            DEV,
        );
        assert!(
            r.starts_with("Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT)"),
            "{r}"
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"responseModalities": ["SMELL"]}}}),
            DEV,
        );
        assert!(r.contains("response_modalities[0]"), "{r}");
        bad(json!({"setup": {"model": 5}}), DEV);
        bad(json!({"realtimeInput": {"audioStreamEnd": "yes"}}), DEV);
        bad(
            json!({"setup": {"model": "m", "tools": {"functionDeclarations": []}}}),
            DEV,
        );
        bad(json!({"setup": {"model": ["m"]}}), DEV);
        bad(
            json!({"setup": {"model": "m", "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 1.5}}}}),
            DEV,
        );
        bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "response": [1]}]}}),
            DEV,
        );
        bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "scheduling": "SOON"}]}}),
            DEV,
        );
        ok(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "scheduling": 3}]}}),
            DEV,
        );
    }

    #[test]
    fn duplicates_and_oneofs() {
        bad(
            json!({"realtimeInput": {"audio": {"mimeType": "a", "mime_type": "b"}}}),
            DEV,
        );
        bad(json!({"setup": {"model": "m"}, "clientContent": {}}), DEV);
        bad(
            json!({"clientContent": {"turns": [{"parts": [{"text": "a", "inlineData": {"data": "AA=="}}]}]}}),
            DEV,
        );
        ok(
            json!({"clientContent": {"turns": [{"parts": [{"text": "a", "thought": true}]}]}}),
            DEV,
        );
        ok(json!({"setup": {"model": "m"}, "clientContent": null}), DEV);
    }

    #[test]
    fn base64_checker() {
        for s in [
            "",
            "AA==",
            "AAA=",
            "AAAA",
            "AA",
            "AAA",
            "__79_P_-_fw=",
            "//79/P/+/fw=",
        ] {
            assert!(is_base64(s), "{s}");
        }
        for s in ["A", "AAAAA", "A===", "AA=A", "A A=", "-+AA", "AA=", "é"] {
            assert!(!is_base64(s), "{s}");
        }
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        let long = "x".repeat(500);
        let r = bad(json!({"setup": {"model": "m", long.clone(): 1}}), DEV);
        assert!(r.len() <= MAX_REASON);
        assert!(
            parse_and_validate(b"{not json", DEV)
                .unwrap_err()
                .reason
                .starts_with("Invalid JSON payload")
        );
        assert!(parse_and_validate(&[0xff, 0xfe], DEV).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-zA-Z_=+/-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            let key = prop_oneof![
                Just("setup".to_string()),
                Just("model".to_string()),
                Just("realtimeInput".to_string()),
                Just("audio".to_string()),
                Just("data".to_string()),
                Just("tools".to_string()),
                Just("function_declarations".to_string()),
                Just("parameters".to_string()),
                Just("properties".to_string()),
                Just("toolResponse".to_string()),
                Just("functionResponses".to_string()),
                "[a-z_]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_and_reasons_fit(v in json(), vertex in any::<bool>()) {
            let b = if vertex { Backend::VertexAi } else { Backend::DeveloperApi };
            if let Err(e) = validate_client(&v, b) {
                prop_assert!(e.reason.len() <= MAX_REASON);
            }
            let text = v.to_string();
            let _ = parse_and_validate(text.as_bytes(), b);
            let _ = parse_and_validate(&text.as_bytes()[..text.len() / 2], b);
        }
    }
}
