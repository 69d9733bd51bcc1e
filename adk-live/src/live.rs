//! L2: `Live::builder()`, the short way to a voice agent with background tools.

use std::sync::Arc;

use genai_wire::auth::{Credentials, StaticToken, TokenSource};
use genai_wire::endpoint::Endpoint;
use genai_wire::protocol::{
    AudioTranscriptionConfig, Content, ContextWindowCompressionConfig, GenerationConfig, Modality,
    Part, PrebuiltVoiceConfig, Setup, SlidingWindow, SpeechConfig, VoiceConfig,
};
use genai_wire::{Backend, Secret};

use crate::builder::LiveSessionBuilder;
use crate::config::SessionConfig;
use crate::error::Result;
use crate::session::LiveHandle;
use crate::tools::{Tool, ToolDispatcher, ToolOptions};

/// The model used when none is set, on both backends: the current GA Live model
/// (December 2026), NON_BLOCKING by default, with `willContinue` on the Developer API
/// (see `genai_wire::profile`). Override with [`LiveBuilder::model`].
pub const DEFAULT_MODEL: &str = "gemini-3.8-live";

/// Entry point of the L2 API.
#[derive(Debug)]
pub struct Live;

impl Live {
    /// A builder with audio responses, input and output transcription on, resumption on.
    pub fn builder() -> LiveBuilder {
        LiveBuilder::default()
    }
}

/// Something that yields Vertex access tokens: a token string, a [`Secret`], or any
/// [`TokenSource`] (service account, ADC, your own).
pub trait IntoTokenSource {
    /// The token source.
    fn into_token_source(self) -> Arc<dyn TokenSource>;
}

impl IntoTokenSource for &str {
    fn into_token_source(self) -> Arc<dyn TokenSource> {
        Arc::new(StaticToken::new(self))
    }
}

impl IntoTokenSource for String {
    fn into_token_source(self) -> Arc<dyn TokenSource> {
        Arc::new(StaticToken::new(self))
    }
}

impl IntoTokenSource for Secret {
    fn into_token_source(self) -> Arc<dyn TokenSource> {
        Arc::new(StaticToken::new(self.expose()))
    }
}

impl IntoTokenSource for Arc<dyn TokenSource> {
    fn into_token_source(self) -> Arc<dyn TokenSource> {
        self
    }
}

/// Builds a session in a few lines.
///
/// ```no_run
/// # async fn demo() -> adk_live::Result<()> {
/// use adk_live::prelude::*;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, schemars::JsonSchema)]
/// struct Query { query: String }
///
/// let search = tool_fn("search", "Searches the web", |q: Query, ctx: ToolContext| async move {
///     ctx.progress(serde_json::json!({"stage": "fetching"}));
///     Ok::<_, ToolError>(serde_json::json!({"top": format!("result for {}", q.query)}))
/// });
/// let session = Live::builder()
///     .model("gemini-live-2.5-flash-preview")
///     .instruction("You are a helpful voice assistant.")
///     .voice("Kore")
///     .tool(search)
///     .tool_background("search")
///     .connect_vertex("my-project", "us-central1", std::env::var("VERTEX_TOKEN").unwrap_or_default())
///     .await?;
/// while let Some(event) = session.next_event().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LiveBuilder {
    setup: Setup,
    dispatcher: ToolDispatcher,
    /// Settings for tools not registered yet, by name, merged into the tool's record
    /// when it is (or refused at connect if it never is).
    staged: Vec<(String, ToolOptions)>,
    base_url: Option<String>,
    backend: Backend,
    configure: Vec<ConfigureFn>,
}

struct ConfigureFn(Box<dyn FnOnce(&mut SessionConfig) + Send>);

impl std::fmt::Debug for ConfigureFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigureFn")
    }
}

impl Default for LiveBuilder {
    fn default() -> Self {
        LiveBuilder {
            setup: Setup {
                model: DEFAULT_MODEL.into(),
                generation_config: Some(GenerationConfig {
                    response_modalities: vec![Modality::Audio],
                    ..Default::default()
                }),
                input_audio_transcription: Some(AudioTranscriptionConfig::default()),
                output_audio_transcription: Some(AudioTranscriptionConfig::default()),
                // Sliding-window compression, so a session outlives the 15-minute audio
                // limit across resumptions (ai.google.dev/gemini-api/docs/live-session: without compression an audio session ends at 15 minutes). Turn it off with
                // `.setup(|s| s.context_window_compression = None)`.
                context_window_compression: Some(ContextWindowCompressionConfig {
                    sliding_window: Some(SlidingWindow::default()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            dispatcher: ToolDispatcher::new(),
            staged: Vec::new(),
            base_url: None,
            backend: Backend::DeveloperApi,
            configure: Vec::new(),
        }
    }
}

impl LiveBuilder {
    /// The model (e.g. `gemini-live-2.5-flash-preview`); normalised per backend.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.setup.model = model.into();
        self
    }

    /// The system instruction.
    pub fn instruction(mut self, text: impl Into<String>) -> Self {
        self.setup.system_instruction = Some(Content {
            role: Some("user".into()),
            parts: vec![Part {
                text: Some(text.into()),
                ..Default::default()
            }],
        });
        self
    }

    /// A prebuilt voice (e.g. `Kore`, `Puck`).
    pub fn voice(mut self, name: impl Into<String>) -> Self {
        let generation = self
            .setup
            .generation_config
            .get_or_insert_with(Default::default);
        generation.speech_config = Some(SpeechConfig {
            voice_config: Some(VoiceConfig {
                prebuilt_voice_config: Some(PrebuiltVoiceConfig {
                    voice_name: name.into(),
                }),
            }),
            ..Default::default()
        });
        self
    }

    /// Text responses instead of audio (for models that support it).
    pub fn text_responses(mut self) -> Self {
        self.setup
            .generation_config
            .get_or_insert_with(Default::default)
            .response_modalities = vec![Modality::Text];
        self.setup.output_audio_transcription = None;
        self
    }

    /// Edits the setup message directly (any field the protocol has).
    pub fn setup(mut self, edit: impl FnOnce(&mut Setup)) -> Self {
        edit(&mut self.setup);
        self
    }

    /// Edits the session configuration (resumption, reconnect policy, transport, …)
    /// before connecting.
    pub fn configure(mut self, edit: impl FnOnce(&mut SessionConfig) + Send + 'static) -> Self {
        self.configure.push(ConfigureFn(Box::new(edit)));
        self
    }

    /// Adds a tool: a standard one, unless [`LiveBuilder::tool_background`] or its
    /// record says otherwise.
    pub fn tool(self, tool: impl Tool) -> Self {
        self.tool_with(tool, ToolOptions::new())
    }

    /// Adds a tool with its settings: mode, formatter, scheduling, timeout, duplicates.
    /// Settings are merged into the tool's one record, so none set before or after is
    /// lost whatever the order of calls.
    ///
    /// ```
    /// use std::time::Duration;
    /// use adk_live::prelude::*;
    ///
    /// let search = tool_fn("search", "Searches", |_: serde_json::Value, _: ToolContext| async {
    ///     Ok::<_, ToolError>(serde_json::json!({"hits": []}))
    /// });
    /// let builder = Live::builder()
    ///     .tool_background("search")
    ///     .tool_with(search, ToolOptions::new()
    ///         .with_scheduling(FunctionResponseScheduling::Interrupt)
    ///         .with_timeout(Duration::from_secs(90)));
    /// ```
    pub fn tool_with(mut self, tool: impl Tool, options: ToolOptions) -> Self {
        let mut record = ToolOptions::new();
        let name = tool.name();
        self.staged.retain_mut(|(n, staged)| {
            if n != name {
                return true;
            }
            record.merge(std::mem::take(staged));
            false
        });
        record.merge(options);
        self.dispatcher.register_with(tool, record);
        self
    }

    /// Runs the tool `name` in the background: `NON_BLOCKING`, acked at once, progress
    /// streamed, the result delivered `WHEN_IDLE` (unless its record says otherwise).
    /// Before or after the tool is added; a name no tool has fails at connect.
    pub fn tool_background(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        let background = ToolOptions::background();
        if self
            .dispatcher
            .configure(&name, background.clone())
            .is_err()
        {
            match self.staged.iter_mut().find(|(n, _)| *n == name) {
                Some((_, record)) => record.merge(background),
                None => self.staged.push((name, background)),
            }
        }
        self
    }

    /// Lets the model list the background calls still running and cancel one by id
    /// (`get_running_tasks`, `cancel_task`; see [`SessionConfig::llm_task_control`]).
    ///
    /// ```
    /// use adk_live::prelude::*;
    ///
    /// let search = tool_fn("search", "Searches", |_: serde_json::Value, _: ToolContext| async {
    ///     Ok::<_, ToolError>(serde_json::json!({"hits": []}))
    /// });
    /// // "Actually, forget the search": the model can now stop it.
    /// let builder = Live::builder().tool_with(search, ToolOptions::background()).llm_task_control();
    /// ```
    pub fn llm_task_control(self) -> Self {
        self.configure(|c| c.llm_task_control = true)
    }

    /// Aims the standard endpoints at another host (a proxy or the local emulator) while
    /// keeping their paths, e.g. `wss://127.0.0.1:9000`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The backend spoken by a [`LiveBuilder::connect_endpoint`] URL (default Developer API).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Connects to Vertex AI in `project`/`location` with a bearer token (a string, or any
    /// token source: service account, ADC, …).
    pub async fn connect_vertex(
        self,
        project: impl Into<String>,
        location: impl Into<String>,
        token: impl IntoTokenSource,
    ) -> Result<LiveHandle> {
        let endpoint = Endpoint::vertex(project, location)?;
        self.connect_with(endpoint, Credentials::Bearer(token.into_token_source()))
            .await
    }

    /// Connects to the Gemini Developer API with an API key.
    pub async fn connect_google_ai(self, api_key: impl Into<Secret>) -> Result<LiveHandle> {
        let endpoint = Endpoint::developer(Default::default());
        self.connect_with(endpoint, Credentials::ApiKey(api_key.into()))
            .await
    }

    /// Connects with an ephemeral token (`auth_tokens/…`; the prefix is added when
    /// missing) on the v1alpha `BidiGenerateContentConstrained` method.
    pub async fn connect_ephemeral(self, token: impl Into<Secret>) -> Result<LiveHandle> {
        let endpoint = Endpoint::ephemeral();
        self.connect_with(endpoint, Credentials::EphemeralToken(token.into()))
            .await
    }

    /// Connects to an explicit `ws://` or `wss://` URL (proxy, emulator) speaking
    /// [`LiveBuilder::backend`].
    pub async fn connect_endpoint(
        self,
        url: impl AsRef<str>,
        auth: Credentials,
    ) -> Result<LiveHandle> {
        let endpoint = Endpoint::custom(url.as_ref(), self.backend)?;
        self.connect_with(endpoint, auth).await
    }

    async fn connect_with(
        self,
        mut endpoint: Endpoint,
        credentials: Credentials,
    ) -> Result<LiveHandle> {
        if let Some(base) = &self.base_url {
            endpoint = endpoint.with_base_url(base)?;
        }
        let mut config = SessionConfig::new(self.setup, endpoint, credentials);
        for f in self.configure {
            (f.0)(&mut config);
        }
        let mut dispatcher = self.dispatcher;
        for (name, options) in self.staged {
            dispatcher.configure(&name, options)?;
        }
        LiveSessionBuilder::new(config)
            .dispatcher(dispatcher)
            .connect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::mode::tests::settings;
    use crate::tools::{ToolContext, ToolError, tool_fn};

    fn tool() -> impl Tool {
        tool_fn(
            "search",
            "Searches",
            |_: serde_json::Value, _: ToolContext| async {
                Ok::<_, ToolError>(serde_json::Value::Null)
            },
        )
    }

    fn record(builder: &LiveBuilder) -> &ToolOptions {
        builder.dispatcher.options("search").expect("registered")
    }

    #[test]
    fn every_pair_of_settings_survives_the_builder_in_both_orders() {
        for (a, first, has_first) in settings() {
            for (b, second, has_second) in settings() {
                let builder = Live::builder()
                    .tool_with(tool(), first.clone())
                    .tool_with(tool(), second.clone());
                let r = record(&builder);
                assert!(has_first(r) && has_second(r), "{a} then {b}: {r:?}");
            }
            // `tool_background` before the tool is added, after it, and around `tool`.
            for builder in [
                Live::builder()
                    .tool_background("search")
                    .tool_with(tool(), first.clone()),
                Live::builder()
                    .tool_with(tool(), first.clone())
                    .tool_background("search"),
                Live::builder()
                    .tool_with(tool(), first.clone())
                    .tool(tool())
                    .tool_background("search")
                    .tool(tool()),
            ] {
                let r = record(&builder);
                assert!(
                    r.is_background() && has_first(r),
                    "background and {a}: {r:?}"
                );
                assert!(builder.staged.is_empty());
            }
        }
    }

    #[test]
    fn a_name_no_tool_has_stays_staged_until_connect_refuses_it() {
        let builder = Live::builder().tool(tool()).tool_background("serach");
        assert!(!record(&builder).is_background());
        assert_eq!(builder.staged.len(), 1);
    }
}
