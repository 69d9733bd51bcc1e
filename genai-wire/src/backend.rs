//! Which service a session talks to, and the fields each one refuses (google-genai `_live_converters.py`).
//!
//! The Live API closes the socket with code 1007 and an unhelpful reason when a message
//! carries a field the backend does not support. The official SDKs refuse such fields
//! before sending; this module does the same, in one place, so that the rules are easy
//! to audit against the protocol notes and every refusal is a typed
//! [`Error::Unsupported`] naming the wire path of the field.

use std::fmt;

use serde_json::Value;

use crate::protocol::{ClientMessage, Content, GenerationConfig, Part, Setup, Tool};
use crate::{Error, Result};

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

/// Where a [`Tool`] list or a [`Content`] sits, for error paths.
#[derive(Clone, Copy)]
enum At {
    SetupTools,
    ContextUpdateTools,
    SystemInstruction,
    ContextUpdateSystemInstruction,
    Turns,
}

impl Backend {
    /// Whether this is the Developer API.
    pub fn is_developer_api(self) -> bool {
        self == Backend::DeveloperApi
    }

    /// Whether this is Vertex AI.
    pub fn is_vertex(self) -> bool {
        self == Backend::VertexAi
    }

    /// Checks a client message against this backend's field rules (§3.6 of the protocol
    /// notes, following the official SDK's converters):
    ///
    /// | Field | Developer API | Vertex |
    /// |---|---|---|
    /// | `setup.sessionResumption.transparent` | refused | ok |
    /// | `setup.explicitVadSignal` | refused | ok |
    /// | `setup.labels` | ok | refused |
    /// | `setup.safetySettings[].method` | refused | ok |
    /// | `generationConfig.enableEnhancedCivicAnswers` | ok | refused |
    /// | tools `retrieval`, `enterpriseWebSearch`, `parallelAiSearch`, `exaAiSearch` | refused | ok |
    /// | tools `fileSearch`, `mcpServers` | ok | refused |
    /// | `googleSearch.blockingConfidence/excludeDomains`, `googleMaps.groundingTypes` | refused | ok |
    /// | parts `toolCall`, `toolResponse`, `partMetadata` | ok | refused |
    /// | parts `functionCall.partialArgs/willContinue` | refused | ok |
    /// | `realtimeInput.audioStreamEnd` | ok | refused |
    /// | `toolResponse.functionResponses[].willContinue` | ok | refused |
    /// | `toolResponse.functionResponses[].id` missing | refused ([`Error::Invalid`]) | ok |
    ///
    /// Independent of the backend, a few things the server always rejects are refused
    /// with [`Error::Invalid`]: an empty `setup.model`, a function response whose
    /// `response` is not a JSON object, a function call whose `args` is not an object.
    pub fn check_client(&self, msg: &ClientMessage) -> Result<()> {
        match msg {
            ClientMessage::Setup(s) => self.check_setup(s),
            ClientMessage::ClientContent(c) => {
                for turn in &c.turns {
                    self.check_content(turn, At::Turns)?;
                }
                Ok(())
            }
            ClientMessage::RealtimeInput(r) => {
                if self.is_vertex() && r.audio_stream_end.is_some() {
                    return Err(self.unsupported("realtimeInput.audioStreamEnd"));
                }
                Ok(())
            }
            ClientMessage::ToolResponse(t) => {
                for r in &t.function_responses {
                    if self.is_vertex() && r.will_continue.is_some() {
                        return Err(
                            self.unsupported("toolResponse.functionResponses[].willContinue")
                        );
                    }
                    if self.is_developer_api() && r.id.as_deref().is_none_or(str::is_empty) {
                        return Err(Error::Invalid(format!(
                            "toolResponse.functionResponses[].id is required on {self} \
                             (function response `{}` has none)",
                            r.name
                        )));
                    }
                    if !r.response.is_object() {
                        return Err(Error::Invalid(format!(
                            "toolResponse.functionResponses[].response must be a JSON object \
                             (function response `{}`)",
                            r.name
                        )));
                    }
                }
                Ok(())
            }
            ClientMessage::ContextUpdate(u) => {
                if let Some(si) = &u.system_instruction {
                    self.check_content(si, At::ContextUpdateSystemInstruction)?;
                }
                if let Some(t) = &u.tools {
                    for tool in &t.tools {
                        self.check_tool(tool, At::ContextUpdateTools)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn unsupported(&self, field: &'static str) -> Error {
        Error::Unsupported {
            field,
            backend: *self,
        }
    }

    fn check_setup(&self, s: &Setup) -> Result<()> {
        if s.model.trim().is_empty() {
            return Err(Error::Invalid("setup.model is empty".into()));
        }
        if self.is_developer_api() {
            if s.session_resumption
                .as_ref()
                .is_some_and(|r| r.transparent.is_some())
            {
                return Err(self.unsupported("setup.sessionResumption.transparent"));
            }
            if s.explicit_vad_signal.is_some() {
                return Err(self.unsupported("setup.explicitVadSignal"));
            }
            if s.safety_settings
                .iter()
                .any(|ss| ss.get("method").is_some())
            {
                return Err(self.unsupported("setup.safetySettings[].method"));
            }
        } else if s.labels.is_some() {
            return Err(self.unsupported("setup.labels"));
        }
        if let Some(g) = &s.generation_config {
            self.check_generation_config(g)?;
        }
        if let Some(si) = &s.system_instruction {
            self.check_content(si, At::SystemInstruction)?;
        }
        for tool in &s.tools {
            self.check_tool(tool, At::SetupTools)?;
        }
        Ok(())
    }

    fn check_generation_config(&self, g: &GenerationConfig) -> Result<()> {
        if self.is_vertex() && g.enable_enhanced_civic_answers.is_some() {
            return Err(self.unsupported("setup.generationConfig.enableEnhancedCivicAnswers"));
        }
        Ok(())
    }

    fn check_tool(&self, tool: &Tool, at: At) -> Result<()> {
        let ctx = matches!(at, At::ContextUpdateTools);
        let path = |setup: &'static str, update: &'static str| if ctx { update } else { setup };
        match self {
            Backend::DeveloperApi => {
                if tool.retrieval.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].retrieval",
                        "contextUpdate.tools.tools[].retrieval",
                    )));
                }
                if tool.enterprise_web_search.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].enterpriseWebSearch",
                        "contextUpdate.tools.tools[].enterpriseWebSearch",
                    )));
                }
                if tool.parallel_ai_search.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].parallelAiSearch",
                        "contextUpdate.tools.tools[].parallelAiSearch",
                    )));
                }
                if tool.exa_ai_search.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].exaAiSearch",
                        "contextUpdate.tools.tools[].exaAiSearch",
                    )));
                }
                if let Some(gs) = &tool.google_search {
                    if has_key(gs, "blockingConfidence", "blocking_confidence") {
                        return Err(self.unsupported(path(
                            "setup.tools[].googleSearch.blockingConfidence",
                            "contextUpdate.tools.tools[].googleSearch.blockingConfidence",
                        )));
                    }
                    if has_key(gs, "excludeDomains", "exclude_domains") {
                        return Err(self.unsupported(path(
                            "setup.tools[].googleSearch.excludeDomains",
                            "contextUpdate.tools.tools[].googleSearch.excludeDomains",
                        )));
                    }
                }
                if let Some(gm) = &tool.google_maps
                    && has_key(gm, "groundingTypes", "grounding_types")
                {
                    return Err(self.unsupported(path(
                        "setup.tools[].googleMaps.groundingTypes",
                        "contextUpdate.tools.tools[].googleMaps.groundingTypes",
                    )));
                }
            }
            Backend::VertexAi => {
                if tool.file_search.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].fileSearch",
                        "contextUpdate.tools.tools[].fileSearch",
                    )));
                }
                if tool.mcp_servers.is_some() {
                    return Err(self.unsupported(path(
                        "setup.tools[].mcpServers",
                        "contextUpdate.tools.tools[].mcpServers",
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_content(&self, content: &Content, at: At) -> Result<()> {
        for part in &content.parts {
            self.check_part(part, at)?;
        }
        Ok(())
    }

    fn check_part(&self, part: &Part, at: At) -> Result<()> {
        let pick = |turns: &'static str, si: &'static str, cu: &'static str| match at {
            At::SystemInstruction => si,
            At::ContextUpdateSystemInstruction => cu,
            _ => turns,
        };
        match self {
            Backend::VertexAi => {
                if part.tool_call.is_some() {
                    return Err(self.unsupported(pick(
                        "clientContent.turns[].parts[].toolCall",
                        "setup.systemInstruction.parts[].toolCall",
                        "contextUpdate.systemInstruction.parts[].toolCall",
                    )));
                }
                if part.tool_response.is_some() {
                    return Err(self.unsupported(pick(
                        "clientContent.turns[].parts[].toolResponse",
                        "setup.systemInstruction.parts[].toolResponse",
                        "contextUpdate.systemInstruction.parts[].toolResponse",
                    )));
                }
                if part.part_metadata.is_some() {
                    return Err(self.unsupported(pick(
                        "clientContent.turns[].parts[].partMetadata",
                        "setup.systemInstruction.parts[].partMetadata",
                        "contextUpdate.systemInstruction.parts[].partMetadata",
                    )));
                }
                if let Some(r) = &part.function_response
                    && r.will_continue.is_some()
                {
                    return Err(self.unsupported(pick(
                        "clientContent.turns[].parts[].functionResponse.willContinue",
                        "setup.systemInstruction.parts[].functionResponse.willContinue",
                        "contextUpdate.systemInstruction.parts[].functionResponse.willContinue",
                    )));
                }
            }
            Backend::DeveloperApi => {
                if let Some(c) = &part.function_call {
                    if c.partial_args.is_some() {
                        return Err(self.unsupported(pick(
                            "clientContent.turns[].parts[].functionCall.partialArgs",
                            "setup.systemInstruction.parts[].functionCall.partialArgs",
                            "contextUpdate.systemInstruction.parts[].functionCall.partialArgs",
                        )));
                    }
                    if c.will_continue.is_some() {
                        return Err(self.unsupported(pick(
                            "clientContent.turns[].parts[].functionCall.willContinue",
                            "setup.systemInstruction.parts[].functionCall.willContinue",
                            "contextUpdate.systemInstruction.parts[].functionCall.willContinue",
                        )));
                    }
                }
            }
        }
        if let Some(c) = &part.function_call
            && !c.args.is_object()
        {
            return Err(Error::Invalid(format!(
                "functionCall.args must be a JSON object (function call `{}`)",
                c.name
            )));
        }
        if let Some(r) = &part.function_response
            && !r.response.is_object()
        {
            return Err(Error::Invalid(format!(
                "functionResponse.response must be a JSON object (function response `{}`)",
                r.name
            )));
        }
        Ok(())
    }
}

fn has_key(v: &Value, camel: &str, snake: &str) -> bool {
    v.get(camel).is_some() || v.get(snake).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ClientContent, ContextUpdate, FunctionCall, FunctionResponse, RealtimeInput,
        SessionResumptionConfig, ToolResponse, ToolsUpdate,
    };
    use serde_json::json;

    const DEV: Backend = Backend::DeveloperApi;
    const VTX: Backend = Backend::VertexAi;

    fn unsupported(r: Result<()>) -> (&'static str, Backend) {
        match r {
            Err(Error::Unsupported { field, backend }) => (field, backend),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    fn setup() -> Setup {
        Setup::new("models/m")
    }

    #[test]
    fn vertex_refuses_will_continue_and_audio_stream_end() {
        let msg = ClientMessage::ToolResponse(ToolResponse {
            function_responses: vec![
                FunctionResponse::new("a", "f", json!({})).with_will_continue(true),
            ],
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)),
            ("toolResponse.functionResponses[].willContinue", VTX)
        );
        let msg = ClientMessage::audio_stream_end();
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "realtimeInput.audioStreamEnd"
        );
        let e = crate::protocol::encode_client(&msg, VTX).unwrap_err();
        assert!(e.is_refused_locally() && !e.is_fatal() && !e.is_retryable());
        assert_eq!(
            e.to_string(),
            "`realtimeInput.audioStreamEnd` is not supported on Vertex AI"
        );
    }

    #[test]
    fn developer_refuses_transparent_explicit_vad_and_idless_responses() {
        let msg = ClientMessage::from(Setup {
            session_resumption: Some(SessionResumptionConfig {
                handle: None,
                transparent: Some(true),
            }),
            ..setup()
        });
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)),
            ("setup.sessionResumption.transparent", DEV)
        );
        let msg = ClientMessage::from(Setup {
            explicit_vad_signal: Some(true),
            ..setup()
        });
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)).0,
            "setup.explicitVadSignal"
        );

        let msg = ClientMessage::tool_response(vec![FunctionResponse {
            name: "f".into(),
            ..Default::default()
        }]);
        assert!(VTX.check_client(&msg).is_ok());
        assert!(matches!(DEV.check_client(&msg), Err(Error::Invalid(m)) if m.contains("id")));
        let msg = ClientMessage::tool_response(vec![FunctionResponse::new("", "f", json!({}))]);
        assert!(matches!(DEV.check_client(&msg), Err(Error::Invalid(_))));
    }

    #[test]
    fn tool_kinds_per_backend() {
        let with_tool = |t: Tool| {
            ClientMessage::from(Setup {
                tools: vec![t],
                ..setup()
            })
        };
        let msg = with_tool(Tool {
            file_search: Some(json!({"fileSearchStoreNames": ["s"]})),
            ..Default::default()
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "setup.tools[].fileSearch"
        );
        let msg = with_tool(Tool {
            enterprise_web_search: Some(json!({})),
            ..Default::default()
        });
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)).0,
            "setup.tools[].enterpriseWebSearch"
        );
        let msg = with_tool(Tool {
            google_search: Some(json!({"excludeDomains": ["a.com"]})),
            ..Default::default()
        });
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)).0,
            "setup.tools[].googleSearch.excludeDomains"
        );
        let msg = ClientMessage::ContextUpdate(ContextUpdate {
            system_instruction: None,
            tools: Some(ToolsUpdate {
                tools: vec![Tool {
                    mcp_servers: Some(json!([{"name": "x"}])),
                    ..Default::default()
                }],
            }),
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "contextUpdate.tools.tools[].mcpServers"
        );
        assert!(DEV.check_client(&with_tool(Tool::google_search())).is_ok());
        assert!(VTX.check_client(&with_tool(Tool::google_search())).is_ok());
    }

    #[test]
    fn setup_level_rules() {
        let msg = ClientMessage::from(Setup {
            labels: Some([("team".to_string(), "a".to_string())].into()),
            ..setup()
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(unsupported(VTX.check_client(&msg)).0, "setup.labels");
        let msg = ClientMessage::from(Setup {
            generation_config: Some(GenerationConfig {
                enable_enhanced_civic_answers: Some(true),
                ..Default::default()
            }),
            ..setup()
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "setup.generationConfig.enableEnhancedCivicAnswers"
        );
        let msg = ClientMessage::from(Setup {
            safety_settings: vec![
                json!({"category": "HARM_CATEGORY_HATE_SPEECH", "method": "SEVERITY"}),
            ],
            ..setup()
        });
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)).0,
            "setup.safetySettings[].method"
        );
        let msg = ClientMessage::from(Setup::default());
        assert!(matches!(DEV.check_client(&msg), Err(Error::Invalid(_))));
    }

    #[test]
    fn part_rules() {
        let turn = |p: Part| {
            ClientMessage::ClientContent(ClientContent {
                turns: vec![Content::new("user", vec![p])],
                turn_complete: Some(true),
            })
        };
        let msg = turn(Part {
            part_metadata: Some(json!({"k": 1})),
            ..Default::default()
        });
        assert!(DEV.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "clientContent.turns[].parts[].partMetadata"
        );
        let msg = turn(Part::function_call(FunctionCall {
            id: Some("1".into()),
            name: "f".into(),
            partial_args: Some(json!([])),
            ..Default::default()
        }));
        assert!(VTX.check_client(&msg).is_ok());
        assert_eq!(
            unsupported(DEV.check_client(&msg)).0,
            "clientContent.turns[].parts[].functionCall.partialArgs"
        );
        let msg = ClientMessage::from(Setup {
            system_instruction: Some(Content::new(
                "user",
                vec![Part {
                    tool_call: Some(json!({})),
                    ..Default::default()
                }],
            )),
            ..setup()
        });
        assert_eq!(
            unsupported(VTX.check_client(&msg)).0,
            "setup.systemInstruction.parts[].toolCall"
        );
        let msg = turn(Part::function_response(FunctionResponse::new(
            "1",
            "f",
            json!([1]),
        )));
        assert!(matches!(DEV.check_client(&msg), Err(Error::Invalid(_))));
    }

    #[test]
    fn plain_messages_pass_everywhere() {
        for msg in [
            ClientMessage::text("hi"),
            ClientMessage::realtime_text("hi"),
            ClientMessage::realtime_audio(vec![0; 320], 16000),
            ClientMessage::activity_start(),
            ClientMessage::activity_end(),
            ClientMessage::RealtimeInput(RealtimeInput::default()),
            ClientMessage::tool_response(vec![FunctionResponse::output("id", "f", json!(1))]),
        ] {
            assert!(DEV.check_client(&msg).is_ok(), "{msg:?}");
            assert!(VTX.check_client(&msg).is_ok(), "{msg:?}");
        }
    }
}
