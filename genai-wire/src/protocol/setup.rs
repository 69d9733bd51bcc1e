//! The `setup` message (`BidiGenerateContentSetup`) and all of its configuration.
//!
//! Setup is the first and only configuration a connection gets (apart from
//! `contextUpdate`), so it carries everything: model, generation config, tools, VAD,
//! resumption, compression, transcription. Tools the crate does not model in detail
//! (`googleSearch`, `codeExecution`, ...) are kept as raw JSON objects so that new
//! options pass through without a crate release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::Content;
use super::enums::{
    ActivityHandling, Behavior, EndSensitivity, MediaResolution, Modality, StartSensitivity,
    ThinkingLevel, TurnCoverage,
};
use super::serde_util::{float_opt, int32_opt, int64_opt};

/// A function the model may call (`tools[].functionDeclarations[]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionDeclaration {
    /// The function's name (`[a-zA-Z0-9_.:-]`, at most 128 characters).
    pub name: String,
    /// What the function does; the model reads this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Parameters as an OpenAPI-subset `Schema` object (`"type": "OBJECT"` etc.).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Parameters as JSON Schema (alternative to `parameters`).
    #[serde(
        alias = "parameters_json_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<Value>,
    /// The result's `Schema`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The result as JSON Schema.
    #[serde(
        alias = "response_json_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json_schema: Option<Value>,
    /// Blocking or NON_BLOCKING (async) execution (§6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
}

/// One tool entry (`setup.tools[]`). Normally exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tool {
    /// Client-side functions.
    #[serde(alias = "function_declarations", skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
    /// Google Search grounding (usually `{}`).
    #[serde(alias = "google_search", skip_serializing_if = "Option::is_none")]
    pub google_search: Option<Value>,
    /// Legacy dynamic-retrieval search.
    #[serde(
        alias = "google_search_retrieval",
        skip_serializing_if = "Option::is_none"
    )]
    pub google_search_retrieval: Option<Value>,
    /// Server-side Python execution (usually `{}`).
    #[serde(alias = "code_execution", skip_serializing_if = "Option::is_none")]
    pub code_execution: Option<Value>,
    /// URL context (usually `{}`).
    #[serde(alias = "url_context", skip_serializing_if = "Option::is_none")]
    pub url_context: Option<Value>,
    /// Google Maps grounding.
    #[serde(alias = "google_maps", skip_serializing_if = "Option::is_none")]
    pub google_maps: Option<Value>,
    /// File search stores (Developer API only).
    #[serde(alias = "file_search", skip_serializing_if = "Option::is_none")]
    pub file_search: Option<Value>,
    /// MCP servers (Developer API only).
    #[serde(alias = "mcp_servers", skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<Value>,
    /// Computer use.
    #[serde(alias = "computer_use", skip_serializing_if = "Option::is_none")]
    pub computer_use: Option<Value>,
    /// Vertex retrieval (Vertex only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<Value>,
    /// Vertex enterprise web search (Vertex only).
    #[serde(
        alias = "enterprise_web_search",
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise_web_search: Option<Value>,
    /// Parallel.ai search (Vertex only).
    #[serde(alias = "parallel_ai_search", skip_serializing_if = "Option::is_none")]
    pub parallel_ai_search: Option<Value>,
    /// Exa AI search (Vertex only).
    #[serde(alias = "exa_ai_search", skip_serializing_if = "Option::is_none")]
    pub exa_ai_search: Option<Value>,
}

impl Tool {
    /// A tool with the given function declarations.
    pub fn functions(declarations: Vec<FunctionDeclaration>) -> Self {
        Tool {
            function_declarations: declarations,
            ..Default::default()
        }
    }

    /// The Google Search tool (`{"googleSearch": {}}`).
    pub fn google_search() -> Self {
        Tool {
            google_search: Some(Value::Object(Default::default())),
            ..Default::default()
        }
    }
}

/// `voiceConfig.prebuiltVoiceConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrebuiltVoiceConfig {
    /// The voice, e.g. `"Kore"`, `"Puck"`.
    #[serde(alias = "voice_name")]
    pub voice_name: String,
}

/// `speechConfig.voiceConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VoiceConfig {
    /// A prebuilt voice.
    #[serde(
        alias = "prebuilt_voice_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub prebuilt_voice_config: Option<PrebuiltVoiceConfig>,
}

/// `generationConfig.speechConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpeechConfig {
    /// The voice.
    #[serde(alias = "voice_config", skip_serializing_if = "Option::is_none")]
    pub voice_config: Option<VoiceConfig>,
    /// BCP-47 language of the output speech, e.g. `"en-US"`.
    #[serde(alias = "language_code", skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Multi-speaker voices (not supported by Live; kept for completeness).
    #[serde(
        alias = "multi_speaker_voice_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub multi_speaker_voice_config: Option<Value>,
}

impl SpeechConfig {
    /// A speech config with a prebuilt voice.
    pub fn voice(voice_name: impl Into<String>) -> Self {
        SpeechConfig {
            voice_config: Some(VoiceConfig {
                prebuilt_voice_config: Some(PrebuiltVoiceConfig {
                    voice_name: voice_name.into(),
                }),
            }),
            ..Default::default()
        }
    }
}

/// `generationConfig.thinkingConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThinkingConfig {
    /// Token budget for thinking (2.5 models; 0 disables, -1 dynamic).
    #[serde(
        alias = "thinking_budget",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_budget: Option<i32>,
    /// Thinking level (3.x models).
    #[serde(alias = "thinking_level", skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
    /// Whether thought parts are sent.
    #[serde(alias = "include_thoughts", skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

/// `setup.generationConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerationConfig {
    /// `TEXT` or `AUDIO` (one of them, in practice).
    #[serde(alias = "response_modalities", skip_serializing_if = "Vec::is_empty")]
    pub response_modalities: Vec<Modality>,
    /// Voice and language of audio output.
    #[serde(alias = "speech_config", skip_serializing_if = "Option::is_none")]
    pub speech_config: Option<SpeechConfig>,
    /// Sampling temperature.
    #[serde(with = "float_opt", skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(
        alias = "top_p",
        with = "float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_p: Option<f32>,
    /// Top-k sampling.
    #[serde(
        alias = "top_k",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_k: Option<i32>,
    /// Number of candidates (1 for Live).
    #[serde(
        alias = "candidate_count",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub candidate_count: Option<i32>,
    /// Output token limit per turn.
    #[serde(
        alias = "max_output_tokens",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<i32>,
    /// Presence penalty.
    #[serde(
        alias = "presence_penalty",
        with = "float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f32>,
    /// Frequency penalty.
    #[serde(
        alias = "frequency_penalty",
        with = "float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f32>,
    /// Sampling seed.
    #[serde(with = "int32_opt", skip_serializing_if = "Option::is_none")]
    pub seed: Option<i32>,
    /// Token resolution of image/video input.
    #[serde(alias = "media_resolution", skip_serializing_if = "Option::is_none")]
    pub media_resolution: Option<MediaResolution>,
    /// Thinking (2.5: budget; 3.x: level).
    #[serde(alias = "thinking_config", skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    /// Affective (emotion-aware) dialog; lives here on the wire, not at setup level.
    #[serde(
        alias = "enable_affective_dialog",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_affective_dialog: Option<bool>,
    /// Speech translation (newer).
    #[serde(alias = "translation_config", skip_serializing_if = "Option::is_none")]
    pub translation_config: Option<Value>,
    /// Enhanced civic answers (Developer API only).
    #[serde(
        alias = "enable_enhanced_civic_answers",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_enhanced_civic_answers: Option<bool>,
}

/// `realtimeInputConfig.automaticActivityDetection` (server-side VAD).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutomaticActivityDetection {
    /// `true` switches server VAD off; the client then sends activityStart/End.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// How readily the start of speech is detected.
    #[serde(
        alias = "start_of_speech_sensitivity",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_of_speech_sensitivity: Option<StartSensitivity>,
    /// How readily the end of speech is detected.
    #[serde(
        alias = "end_of_speech_sensitivity",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_of_speech_sensitivity: Option<EndSensitivity>,
    /// Speech needed before start-of-speech is committed, in ms.
    #[serde(
        alias = "prefix_padding_ms",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix_padding_ms: Option<i32>,
    /// Silence needed before end-of-speech is committed, in ms.
    #[serde(
        alias = "silence_duration_ms",
        with = "int32_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub silence_duration_ms: Option<i32>,
}

/// `setup.realtimeInputConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RealtimeInputConfig {
    /// Server-side VAD settings.
    #[serde(
        alias = "automatic_activity_detection",
        skip_serializing_if = "Option::is_none"
    )]
    pub automatic_activity_detection: Option<AutomaticActivityDetection>,
    /// Whether user activity interrupts the model.
    #[serde(alias = "activity_handling", skip_serializing_if = "Option::is_none")]
    pub activity_handling: Option<ActivityHandling>,
    /// Which input a user turn includes.
    #[serde(alias = "turn_coverage", skip_serializing_if = "Option::is_none")]
    pub turn_coverage: Option<TurnCoverage>,
    /// Timestamps on interim transcripts (newer).
    #[serde(
        alias = "interim_transcript_timestamp_enabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub interim_transcript_timestamp_enabled: Option<bool>,
}

/// `setup.sessionResumption`: `{}` to receive handles, `handle` to resume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionResumptionConfig {
    /// The handle of the session to resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Transparent resumption with message indices (Vertex only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparent: Option<bool>,
}

/// `contextWindowCompression.slidingWindow`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlidingWindow {
    /// Tokens to keep after compression (int64; a string on the wire).
    #[serde(
        alias = "target_tokens",
        with = "int64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_tokens: Option<i64>,
}

/// `setup.contextWindowCompression`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContextWindowCompressionConfig {
    /// Context size that triggers compression (int64; a string on the wire).
    #[serde(
        alias = "trigger_tokens",
        with = "int64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_tokens: Option<i64>,
    /// The sliding-window mechanism (`{}` for defaults).
    #[serde(alias = "sliding_window", skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindow>,
}

/// `input/outputAudioTranscription` (usually `{}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AudioTranscriptionConfig {
    /// Expected languages (newer; mostly Vertex).
    #[serde(alias = "language_codes", skip_serializing_if = "Vec::is_empty")]
    pub language_codes: Vec<String>,
}

/// `setup.proactivity`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProactivityConfig {
    /// The model may choose not to answer irrelevant input.
    #[serde(alias = "proactive_audio", skip_serializing_if = "Option::is_none")]
    pub proactive_audio: Option<bool>,
    /// Proactive reaction to video (newer).
    #[serde(alias = "proactive_video", skip_serializing_if = "Option::is_none")]
    pub proactive_video: Option<bool>,
}

/// `setup.historyConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryConfig {
    /// The client seeds history with `clientContent` before realtime input (3.1).
    #[serde(
        alias = "initial_history_in_client_content",
        skip_serializing_if = "Option::is_none"
    )]
    pub initial_history_in_client_content: Option<bool>,
}

/// The first client message (`BidiGenerateContentSetup`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Setup {
    /// `models/{m}` (Developer API) or `projects/{p}/locations/{l}/publishers/google/models/{m}` (Vertex).
    pub model: String,
    /// Generation parameters.
    #[serde(alias = "generation_config", skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// The system instruction (text parts).
    #[serde(alias = "system_instruction", skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// VAD and turn handling.
    #[serde(
        alias = "realtime_input_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub realtime_input_config: Option<RealtimeInputConfig>,
    /// Session resumption.
    #[serde(alias = "session_resumption", skip_serializing_if = "Option::is_none")]
    pub session_resumption: Option<SessionResumptionConfig>,
    /// Context window compression.
    #[serde(
        alias = "context_window_compression",
        skip_serializing_if = "Option::is_none"
    )]
    pub context_window_compression: Option<ContextWindowCompressionConfig>,
    /// Transcribe the user's audio.
    #[serde(
        alias = "input_audio_transcription",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_audio_transcription: Option<AudioTranscriptionConfig>,
    /// Transcribe the model's audio.
    #[serde(
        alias = "output_audio_transcription",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_audio_transcription: Option<AudioTranscriptionConfig>,
    /// Proactive audio/video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proactivity: Option<ProactivityConfig>,
    /// History seeding.
    #[serde(alias = "history_config", skip_serializing_if = "Option::is_none")]
    pub history_config: Option<HistoryConfig>,
    /// Explicit VAD signal messages (Vertex only).
    #[serde(alias = "explicit_vad_signal", skip_serializing_if = "Option::is_none")]
    pub explicit_vad_signal: Option<bool>,
    /// Safety settings (raw objects).
    #[serde(alias = "safety_settings", skip_serializing_if = "Vec::is_empty")]
    pub safety_settings: Vec<Value>,
    /// Billing labels (Developer API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Avatar configuration (newer).
    #[serde(alias = "avatar_config", skip_serializing_if = "Option::is_none")]
    pub avatar_config: Option<Value>,
}

impl Setup {
    /// A setup for `model` with everything else default.
    pub fn new(model: impl Into<String>) -> Self {
        Setup {
            model: model.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_sdk_snake_case_setup() {
        let s: Setup = serde_json::from_str(
            r#"{"model": "models/gemini-live-2.5-flash-preview",
 "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.7,
   "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"},
   "enableAffectiveDialog": true},
 "systemInstruction": {"parts": [{"text": "You are terse."}], "role": "user"},
 "tools": [{"functionDeclarations": [{"description": "w", "name": "get_weather", "parameters": {}, "behavior": "NON_BLOCKING"}]}],
 "sessionResumption": {"handle": "prev-handle"}, "inputAudioTranscription": {}, "outputAudioTranscription": {},
 "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW", "silence_duration_ms": "100"},
                         "activity_handling": "START_OF_ACTIVITY_INTERRUPTS", "turn_coverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
 "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": "12800"}},
 "proactivity": {"proactive_audio": true}}"#,
        )
        .unwrap();
        let g = s.generation_config.as_ref().unwrap();
        assert_eq!(g.response_modalities, vec![Modality::Audio]);
        assert_eq!(
            g.speech_config
                .as_ref()
                .unwrap()
                .voice_config
                .as_ref()
                .unwrap()
                .prebuilt_voice_config
                .as_ref()
                .unwrap()
                .voice_name,
            "Kore"
        );
        assert_eq!(
            s.tools[0].function_declarations[0].behavior,
            Some(Behavior::NonBlocking)
        );
        let rc = s.realtime_input_config.as_ref().unwrap();
        let aad = rc.automatic_activity_detection.as_ref().unwrap();
        assert_eq!(aad.silence_duration_ms, Some(100));
        assert_eq!(aad.start_of_speech_sensitivity, Some(StartSensitivity::Low));
        assert_eq!(
            rc.turn_coverage,
            Some(TurnCoverage::TurnIncludesOnlyActivity)
        );
        let cwc = s.context_window_compression.as_ref().unwrap();
        assert_eq!(cwc.trigger_tokens, Some(25600));
        assert_eq!(
            cwc.sliding_window.as_ref().unwrap().target_tokens,
            Some(12800)
        );
        assert_eq!(s.proactivity.as_ref().unwrap().proactive_audio, Some(true));
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(out["contextWindowCompression"]["triggerTokens"], "25600");
        assert_eq!(
            out["contextWindowCompression"]["slidingWindow"]["targetTokens"],
            "12800"
        );
        assert_eq!(
            out["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"],
            "Kore"
        );
        assert_eq!(out["inputAudioTranscription"], serde_json::json!({}));
    }
}
