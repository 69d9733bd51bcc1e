//! L1: a session from a full [`SessionConfig`] and a [`ToolDispatcher`].

use std::collections::VecDeque;
use std::sync::Arc;

use genai_wire::Backend;
use genai_wire::protocol::{Modality, Tool as WireTool};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::ConversationForm;
use crate::config::SessionConfig;
use crate::error::{Error, Result};
use crate::event::{EventQueue, LiveEvent};
use crate::metrics::Metrics;
use crate::session::LiveHandle;
use crate::session::control::ControlState;
use crate::session::history::History;
use crate::session::ledger::Ledger;
use crate::session::link::Dialer;
use crate::session::replay::Replay;
use crate::session::task::SessionTask;
use crate::tools::lane::{ToolLane, WireRules};
use crate::tools::outbox::Outbox;
use crate::tools::{BackgroundToolTracker, ToolDispatcher, ToolExecutionMode, ToolOptions};
use genai_wire::profile::{ModelProfile, ThinkingForm};
use genai_wire::protocol::Setup;

/// How many application messages may wait for the socket before `send` waits.
const APP_QUEUE: usize = 64;

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
///     .dispatcher(ToolDispatcher::new().with(search))
///     .tool_execution_mode("search", ToolExecutionMode::background())
///     .connect()
///     .await?;
/// session.send_text("find me a flight").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LiveSessionBuilder {
    config: SessionConfig,
    dispatcher: ToolDispatcher,
    options: Vec<(String, Option<ToolExecutionMode>, Option<ToolOptions>)>,
}

impl LiveSessionBuilder {
    /// Starts from a configuration.
    pub fn new(config: SessionConfig) -> Self {
        LiveSessionBuilder {
            config,
            dispatcher: ToolDispatcher::new(),
            options: Vec::new(),
        }
    }

    /// The tools offered to the model.
    pub fn dispatcher(mut self, dispatcher: ToolDispatcher) -> Self {
        self.dispatcher = dispatcher;
        self
    }

    /// Sets how the tool `name` runs (it must be in the dispatcher when connecting).
    pub fn tool_execution_mode(mut self, name: impl Into<String>, mode: ToolExecutionMode) -> Self {
        self.options.push((name.into(), Some(mode), None));
        self
    }

    /// Sets all options of the tool `name` (mode, timeout, duplicate policy).
    pub fn tool_options(mut self, name: impl Into<String>, options: ToolOptions) -> Self {
        self.options.push((name.into(), None, Some(options)));
        self
    }

    /// Connects, sets up, and starts the session task. Fails with the server's close
    /// (e.g. 1007 for a bad key) if setup is refused.
    pub async fn connect(self) -> Result<LiveHandle> {
        let LiveSessionBuilder {
            config,
            mut dispatcher,
            options,
        } = self;
        for (name, mode, opts) in options {
            let known = match (mode, opts) {
                (Some(mode), _) => dispatcher.set_mode(&name, mode),
                (None, Some(opts)) => dispatcher.set_options(&name, opts),
                (None, None) => true,
            };
            if !known {
                return Err(Error::Config(format!(
                    "no tool named `{name}` is registered"
                )));
            }
        }
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
        let declarations = dispatcher.declarations(&profile).map_err(Error::Config)?;
        if !declarations.is_empty() {
            setup.tools.push(WireTool {
                function_declarations: declarations,
                ..Default::default()
            });
        }
        let dialer = Dialer {
            endpoint: config.endpoint.clone(),
            credentials: config.credentials.clone(),
            transport: config.transport.clone(),
            setup,
            resumption: config.resumption,
            transparent: config.transparent_resumption,
            setup_timeout: config.setup_timeout,
        };
        let link = dialer.dial(None, false).await?;

        let metrics = Arc::new(Metrics::default());
        let events = Arc::new(EventQueue::new(
            config.audio_queue,
            config.event_queue,
            metrics.clone(),
        ));
        events.push(LiveEvent::Connected {
            session_id: link.session_id.clone(),
        });
        let tracker = BackgroundToolTracker::new(config.cancel_grace);
        let outbox = Arc::new(Outbox::default());
        let lane = ToolLane::new(
            Arc::new(dispatcher),
            tracker.clone(),
            WireRules::of(&profile),
            outbox.clone(),
            events.clone(),
            metrics.clone(),
        );
        let app_lane = lane.clone();
        let (tx, app_rx) = mpsc::channel(APP_QUEUE);
        let shutdown = CancellationToken::new();
        let session_id = link.session_id.clone();
        let task = SessionTask {
            dialer,
            app_rx,
            outbox,
            shutdown: shutdown.clone(),
            lane,
            events: events.clone(),
            metrics: metrics.clone(),
            reconnect: config.reconnect.clone(),
            goaway_margin: config.goaway_margin,
            write_bound: config.write_bound(),
            state: ControlState {
                ledger: if config.resumption {
                    Ledger::default()
                } else {
                    Ledger::without_checkpoints()
                },
                history: History::new(config.history_limit),
                idle_signal: profile.idle_signal,
                ..Default::default()
            },
            pending: VecDeque::new(),
            replay: Replay::new(config.transparent_resumption),
            failures: 0,
            conversation: config.conversation_form.unwrap_or(
                if profile.mid_session_client_content {
                    ConversationForm::ClientContent
                } else {
                    ConversationForm::RealtimeText
                },
            ),
            history_seed: profile.history_seed,
            conversation_out: VecDeque::new(),
            seed: None,
            resumption: config.resumption,
        }
        .spawn(link);
        Ok(LiveHandle {
            tx,
            events,
            shutdown,
            task: Mutex::new(Some(task)),
            tracker,
            lane: app_lane,
            metrics,
            backend,
            session_id,
        })
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
