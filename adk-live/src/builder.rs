//! L1: a session from a full [`SessionConfig`] and a [`ToolDispatcher`].

use genai_wire::Backend;
use genai_wire::profile::{ModelProfile, ThinkingForm};
use genai_wire::protocol::{Modality, Setup, Tool as WireTool};

use crate::config::SessionConfig;
use crate::error::{Error, Result};
use crate::session::{self, LiveHandle};
use crate::tools::dispatcher::declared_behavior;
use crate::tools::{ToolDispatcher, task_control};

/// Builds a session from a [`SessionConfig`] (L1: every knob available).
///
/// ```no_run
/// # async fn demo() -> adk_live::Result<()> {
/// use adk_live::prelude::*;
/// let config = SessionConfig::new(
///     Setup { model: "gemini-live-2.5-flash-preview".into(), ..Default::default() },
///     Endpoint::developer(ApiVersion::V1beta),
///     Credentials::ApiKey(std::env::var("GEMINI_API_KEY").unwrap_or_default().into()),
/// );
/// let search = tool_fn("search", "Searches", |_: serde_json::Value, _ctx: ToolContext| async {
///     Ok::<_, ToolError>(serde_json::json!({"hits": []}))
/// });
/// let session = LiveSessionBuilder::new(config)
///     .dispatcher(ToolDispatcher::new().with_options(search, ToolOptions::background()))
///     .connect()
///     .await?;
/// session.send_text("find me a flight").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LiveSessionBuilder {
    config: SessionConfig,
    dispatcher: ToolDispatcher,
}

impl LiveSessionBuilder {
    /// Starts from a configuration.
    pub fn new(config: SessionConfig) -> Self {
        LiveSessionBuilder {
            config,
            dispatcher: ToolDispatcher::new(),
        }
    }

    /// The tools offered to the model, each with its record of settings.
    pub fn dispatcher(mut self, dispatcher: ToolDispatcher) -> Self {
        self.dispatcher = dispatcher;
        self
    }

    /// Validates the configuration and the tools against the model's profile (refused
    /// locally, before the wire), then connects and starts the session. Fails with the
    /// server's close (e.g. 1007 for a bad key) if setup is refused.
    pub async fn connect(self) -> Result<LiveHandle> {
        let LiveSessionBuilder { config, dispatcher } = self;
        dispatcher.validate()?;
        let backend = config.endpoint.backend();
        if config.transparent_resumption && backend != Backend::VertexAi {
            return Err(Error::Config(
                "transparent resumption is Vertex-only".into(),
            ));
        }
        let mut setup = config.setup.clone();
        setup.model = config.endpoint.model_name(&setup.model)?;
        if backend == Backend::VertexAi {
            // What both official SDKs do: Vertex needs an explicit modality.
            let generation = setup.generation_config.get_or_insert_with(Default::default);
            if generation.response_modalities.is_empty() {
                generation.response_modalities = vec![Modality::Audio];
            }
        }
        let profile = match config.profile.clone() {
            Some(p) => p,
            None => {
                let p = ModelProfile::for_model(&setup.model, backend);
                if p.is_unknown() {
                    tracing::warn!(model = %setup.model, "no profile for this model: using a conservative one");
                }
                p
            }
        };
        check_setup(&setup, &profile)?;
        let mut declarations = dispatcher.declarations(&profile).map_err(Error::Config)?;
        if config.llm_task_control {
            if let Some(taken) = dispatcher.names().find(|n| task_control::is_control(n)) {
                return Err(Error::Config(format!(
                    "tool `{taken}` has the name of a task-control function; rename it or \
                     leave `llm_task_control` off"
                )));
            }
            declarations.extend(task_control::declarations().into_iter().map(|mut d| {
                d.behavior = declared_behavior(false, &profile);
                d
            }));
        }
        if !declarations.is_empty() {
            setup.tools.push(WireTool {
                function_declarations: declarations,
                ..Default::default()
            });
        }
        session::start(config, dispatcher, profile, setup).await
    }
}

/// Refuses locally, before the wire, a setup the model's profile says the server refuses.
fn check_setup(setup: &Setup, profile: &ModelProfile) -> Result<()> {
    let thinking = setup
        .generation_config
        .as_ref()
        .and_then(|g| g.thinking_config.as_ref());
    let Some(thinking) = thinking else {
        return Ok(());
    };
    let refused = match profile.thinking {
        ThinkingForm::Refused => Some("`thinkingConfig` is refused"),
        ThinkingForm::Level if thinking.thinking_budget.is_some() => {
            Some("`thinkingBudget` is not its form (use `thinkingLevel`)")
        }
        ThinkingForm::Budget if thinking.thinking_level.is_some() => {
            Some("`thinkingLevel` is not its form (use `thinkingBudget`)")
        }
        _ => None,
    };
    match refused {
        Some(why) => Err(Error::Config(format!(
            "{} on {}: {why} (the server would close with 1007)",
            setup.model, profile.name
        ))),
        None => Ok(()),
    }
}
