//! Conversation content: [`Content`], [`Part`], [`Blob`] and function calls/responses.
//!
//! These types appear in both directions (client turns, system instructions, the
//! model's turns, tool calls and responses), so they live apart from the message
//! envelopes. Bytes are base64 on the wire (either alphabet accepted; standard written).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::enums::{FunctionResponseScheduling, Language, Outcome, lenient_enum};
use super::serde_util::{base64_bytes, base64_opt, empty_object, object_or_empty};

/// The sample rate the server always uses for output audio (PCM16 LE mono).
pub const OUTPUT_SAMPLE_RATE: u32 = 24_000;
/// The native input sample rate (PCM16 LE mono).
pub const INPUT_SAMPLE_RATE: u32 = 16_000;

/// Parses the `rate=` parameter of a MIME type such as `audio/pcm;rate=24000`.
///
/// Returns `None` when there is no (valid) rate parameter: Vertex labels its output as
/// bare `audio/pcm`, which means [`OUTPUT_SAMPLE_RATE`].
pub fn mime_sample_rate(mime_type: &str) -> Option<u32> {
    mime_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("rate") {
            v.trim().trim_matches('"').parse().ok()
        } else {
            None
        }
    })
}

/// Inline bytes with a MIME type (`inlineData`, realtime `audio`/`video`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Blob {
    /// The IANA MIME type, e.g. `audio/pcm;rate=16000` or `image/jpeg`.
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    /// The raw bytes (base64 on the wire).
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob with the given MIME type and bytes.
    pub fn new(mime_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Blob {
            mime_type: mime_type.into(),
            data: data.into(),
        }
    }

    /// Raw PCM16 LE mono at `rate` Hz, labelled `audio/pcm;rate={rate}`.
    pub fn pcm(data: impl Into<Vec<u8>>, rate: u32) -> Self {
        Blob::new(format!("audio/pcm;rate={rate}"), data)
    }

    /// Whether the MIME type is `audio/*`.
    pub fn is_audio(&self) -> bool {
        self.mime_type
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("audio/"))
    }

    /// The sample rate from the MIME type's `rate=` parameter, defaulting to
    /// [`OUTPUT_SAMPLE_RATE`] (24000; the server's output rate) when absent.
    pub fn sample_rate(&self) -> u32 {
        mime_sample_rate(&self.mime_type).unwrap_or(OUTPUT_SAMPLE_RATE)
    }
}

/// A reference to a file by URI (`fileData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileData {
    /// The IANA MIME type.
    #[serde(alias = "mime_type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file's URI.
    #[serde(alias = "file_uri")]
    pub file_uri: String,
}

/// Code the model generated for the code-execution tool (`executableCode`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutableCode {
    /// The programming language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// The code.
    pub code: String,
}

/// The result of running [`ExecutableCode`] (`codeExecutionResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CodeExecutionResult {
    /// How the execution ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Stdout, or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A function call the model wants the client to run (in `toolCall.functionCalls` or
/// in a `functionCall` part of the history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionCall {
    /// The call id; echo it in the [`FunctionResponse`]. Always present from the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON object (`{}` when the server sends none).
    #[serde(with = "object_or_empty")]
    pub args: Value,
    /// Streamed partial arguments (Vertex only).
    #[serde(alias = "partial_args", skip_serializing_if = "Option::is_none")]
    pub partial_args: Option<Value>,
    /// More argument chunks follow (Vertex streamed arguments only).
    #[serde(alias = "will_continue", skip_serializing_if = "Option::is_none")]
    pub will_continue: Option<bool>,
}

impl Default for FunctionCall {
    fn default() -> Self {
        FunctionCall {
            id: None,
            name: String::new(),
            args: empty_object(),
            partial_args: None,
            will_continue: None,
        }
    }
}

/// One part of a multimodal function response (`functionResponses[].parts[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionResponsePart {
    /// Inline bytes.
    #[serde(alias = "inline_data", skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// A file reference.
    #[serde(alias = "file_data", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
}

/// The client's answer to a [`FunctionCall`] (`toolResponse.functionResponses[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionResponse {
    /// The id of the call answered. Required on the Developer API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The result, a JSON object: `{"output": ...}` for results, `{"error": ...}` for
    /// errors (any other object counts as output).
    #[serde(with = "object_or_empty")]
    pub response: Value,
    /// When the model acts on the result (NON_BLOCKING functions only). An unknown value
    /// on the wire reads as `None`.
    #[serde(with = "lenient_enum", skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<FunctionResponseScheduling>,
    /// More responses for the same id follow (NON_BLOCKING, Developer API only).
    #[serde(alias = "will_continue", skip_serializing_if = "Option::is_none")]
    pub will_continue: Option<bool>,
    /// Multimodal parts of the response.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<FunctionResponsePart>,
}

impl Default for FunctionResponse {
    fn default() -> Self {
        FunctionResponse {
            id: None,
            name: String::new(),
            response: empty_object(),
            scheduling: None,
            will_continue: None,
            parts: Vec::new(),
        }
    }
}

impl FunctionResponse {
    /// A response with a raw `response` object.
    pub fn new(id: impl Into<String>, name: impl Into<String>, response: Value) -> Self {
        FunctionResponse {
            id: Some(id.into()),
            name: name.into(),
            response,
            ..Default::default()
        }
    }

    /// A successful result: `response = {"output": output}`.
    pub fn output(id: impl Into<String>, name: impl Into<String>, output: Value) -> Self {
        Self::new(id, name, serde_json::json!({ "output": output }))
    }

    /// A failure: `response = {"error": message}`.
    pub fn error(
        id: impl Into<String>,
        name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(id, name, serde_json::json!({ "error": message.into() }))
    }

    /// The response to `call` (same id and name).
    pub fn for_call(call: &FunctionCall, response: Value) -> Self {
        FunctionResponse {
            id: call.id.clone(),
            name: call.name.clone(),
            response,
            ..Default::default()
        }
    }

    /// Sets `scheduling`.
    pub fn with_scheduling(mut self, scheduling: FunctionResponseScheduling) -> Self {
        self.scheduling = Some(scheduling);
        self
    }

    /// Sets `willContinue`.
    pub fn with_will_continue(mut self, will_continue: bool) -> Self {
        self.will_continue = Some(will_continue);
        self
    }
}

/// One part of a [`Content`]. Normally exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Part {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// This part is a thought (reasoning), not an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// An opaque signature of the thought, to be sent back with the history.
    #[serde(
        alias = "thought_signature",
        with = "base64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub thought_signature: Option<Vec<u8>>,
    /// Inline bytes (audio from the model, images in client turns).
    #[serde(alias = "inline_data", skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// A file reference.
    #[serde(alias = "file_data", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// Code the model generated for the code-execution tool.
    #[serde(alias = "executable_code", skip_serializing_if = "Option::is_none")]
    pub executable_code: Option<ExecutableCode>,
    /// The result of executed code.
    #[serde(
        alias = "code_execution_result",
        skip_serializing_if = "Option::is_none"
    )]
    pub code_execution_result: Option<CodeExecutionResult>,
    /// A function call (in history).
    #[serde(alias = "function_call", skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// A function response (in history).
    #[serde(alias = "function_response", skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// Video clip metadata (offsets, fps).
    #[serde(alias = "video_metadata", skip_serializing_if = "Option::is_none")]
    pub video_metadata: Option<Value>,
    /// Per-part media resolution (newer).
    #[serde(alias = "media_resolution", skip_serializing_if = "Option::is_none")]
    pub media_resolution: Option<Value>,
    /// A server-side tool call (Developer API only).
    #[serde(alias = "tool_call", skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<Value>,
    /// A server-side tool response (Developer API only).
    #[serde(alias = "tool_response", skip_serializing_if = "Option::is_none")]
    pub tool_response: Option<Value>,
    /// Custom part metadata (Developer API only).
    #[serde(alias = "part_metadata", skip_serializing_if = "Option::is_none")]
    pub part_metadata: Option<Value>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// An inline-data part.
    pub fn inline_data(blob: Blob) -> Self {
        Part {
            inline_data: Some(blob),
            ..Default::default()
        }
    }

    /// A function-call part.
    pub fn function_call(call: FunctionCall) -> Self {
        Part {
            function_call: Some(call),
            ..Default::default()
        }
    }

    /// A function-response part.
    pub fn function_response(response: FunctionResponse) -> Self {
        Part {
            function_response: Some(response),
            ..Default::default()
        }
    }

    /// Whether this is a thought part.
    pub fn is_thought(&self) -> bool {
        self.thought == Some(true)
    }
}

/// A turn: a role and its parts (`Content`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Content {
    /// `"user"` or `"model"` (absent in many server messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

impl Content {
    /// A content with the given role and parts.
    pub fn new(role: impl Into<String>, parts: Vec<Part>) -> Self {
        Content {
            role: Some(role.into()),
            parts,
        }
    }

    /// A `user` turn with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Content::new("user", vec![Part::text(text)])
    }

    /// A `model` turn with one text part.
    pub fn model(text: impl Into<String>) -> Self {
        Content::new("model", vec![Part::text(text)])
    }

    /// The concatenated text of all non-thought text parts, if there is any.
    pub fn joined_text(&self) -> Option<String> {
        let mut out: Option<String> = None;
        for t in self
            .parts
            .iter()
            .filter(|p| !p.is_thought())
            .filter_map(|p| p.text.as_deref())
        {
            out.get_or_insert_with(String::new).push_str(t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_rates() {
        assert_eq!(mime_sample_rate("audio/pcm;rate=24000"), Some(24000));
        assert_eq!(mime_sample_rate("audio/pcm; rate=16000"), Some(16000));
        assert_eq!(
            mime_sample_rate("audio/pcm;codec=x;RATE=\"8000\""),
            Some(8000)
        );
        assert_eq!(mime_sample_rate("audio/pcm"), None);
        assert_eq!(mime_sample_rate("audio/pcm;rate=abc"), None);
        assert_eq!(Blob::new("audio/pcm", vec![]).sample_rate(), 24000);
        assert_eq!(Blob::pcm(vec![], 16000).sample_rate(), 16000);
        assert!(Blob::pcm(vec![], 16000).is_audio());
        assert!(!Blob::new("image/jpeg", vec![]).is_audio());
    }

    #[test]
    fn snake_case_and_url_safe_base64() {
        let p: Part = serde_json::from_str(
            r#"{"inline_data":{"mime_type":"audio/pcm;rate=16000","data":"__79_P_-_fw="}}"#,
        )
        .unwrap();
        let b = p.inline_data.unwrap();
        assert_eq!(b.mime_type, "audio/pcm;rate=16000");
        assert_eq!(b.data, vec![0xff, 0xfe, 0xfd, 0xfc, 0xff, 0xfe, 0xfd, 0xfc]);
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"mimeType":"audio/pcm;rate=16000","data":"//79/P/+/fw="}"#
        );
    }

    #[test]
    fn function_call_args_default_to_object() {
        let c: FunctionCall = serde_json::from_str(r#"{"name":"f","id":"1"}"#).unwrap();
        assert_eq!(c.args, serde_json::json!({}));
        let c: FunctionCall = serde_json::from_str(r#"{"name":"f","args":null}"#).unwrap();
        assert_eq!(c.args, serde_json::json!({}));
        assert_eq!(FunctionCall::default().args, serde_json::json!({}));
    }

    #[test]
    fn function_response_unknown_scheduling_reads_as_none() {
        let r: FunctionResponse = serde_json::from_str(
            r#"{"id":"a","name":"f","response":{},"scheduling":"LATER","will_continue":true}"#,
        )
        .unwrap();
        assert_eq!(r.scheduling, None);
        assert_eq!(r.will_continue, Some(true));
        let r: FunctionResponse =
            serde_json::from_str(r#"{"id":"a","name":"f","scheduling":"silent"}"#).unwrap();
        assert_eq!(r.scheduling, Some(FunctionResponseScheduling::Silent));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":"a","name":"f","response":{},"scheduling":"SILENT"}"#
        );
    }

    #[test]
    fn joined_text_skips_thoughts() {
        let c = Content {
            role: None,
            parts: vec![
                Part {
                    thought: Some(true),
                    ..Part::text("hmm")
                },
                Part::text("Hi"),
                Part::text(" there"),
            ],
        };
        assert_eq!(c.joined_text().as_deref(), Some("Hi there"));
        assert_eq!(Content::default().joined_text(), None);
    }
}
