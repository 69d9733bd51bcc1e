//! Session configuration: what to set up, where to connect, and the runtime's policies.

use std::time::Duration;

use genai_wire::auth::Credentials;
use genai_wire::endpoint::Endpoint;
use genai_wire::profile::ModelProfile;
use genai_wire::protocol::Setup;
use genai_wire::transport::TransportConfig;

use crate::event::{DEFAULT_AUDIO_QUEUE, DEFAULT_EVENT_QUEUE};
use crate::tools::DEFAULT_CANCEL_GRACE;

/// How lost connections are re-established.
///
/// The budget counts *failures in a row*: a dial that fails, and a connection that dies
/// before it has been up for [`ReconnectPolicy::healthy_after`] (a server that closes
/// right after `setupComplete`, say). Only a connection that stayed up that long resets
/// the count, so a session that cannot stay up backs off exponentially and then ends with
/// [`Error::ReconnectBudgetSpent`](crate::Error::ReconnectBudgetSpent) instead of
/// re-dialing at network speed. Every delay has jitter. A planned switch after `goAway`
/// from a healthy connection dials at once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Failures in a row before the session gives up (default 6).
    pub max_attempts: u32,
    /// The delay after the first failure; doubles with each further failure in a row
    /// (default 200 ms), with jitter (×0.5 to ×1.0).
    pub initial_backoff: Duration,
    /// Cap on the delay (default 5 s).
    pub max_backoff: Duration,
    /// How long a connection must stay up to reset the failure count (default 10 s).
    pub healthy_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            healthy_after: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// No reconnects: a lost connection ends the session.
    pub fn never() -> Self {
        ReconnectPolicy {
            max_attempts: 0,
            ..Default::default()
        }
    }

    /// Sets the number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Sets the initial and maximum backoff.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets how long a connection must stay up to reset the failure count.
    pub fn with_healthy_after(mut self, after: Duration) -> Self {
        self.healthy_after = after;
        self
    }

    /// The delay before the next dial after `failures` failures in a row (none after a
    /// planned switch, `failures == 0`), with jitter ×0.5 to ×1.0.
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(self.max_backoff);
        base.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// How a tool result reaches the model as conversation, when the server session no
/// longer knows its call (see [`LiveEvent::ToolResultAsConversation`](crate::LiveEvent)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConversationForm {
    /// A `clientContent` user turn, `turnComplete: false` for `SILENT` (context only) and
    /// `true` otherwise (a reply). What 2.5 models accept mid-session.
    #[default]
    ClientContent,
    /// `realtimeInput.text`, which always prompts a reply (3.x models refuse
    /// `clientContent` mid-session).
    RealtimeText,
}

/// Everything a session needs.
///
/// ```
/// use adk_live::prelude::*;
/// let config = SessionConfig::new(
///     Setup { model: "gemini-live-2.5-flash-preview".into(), ..Default::default() },
///     Endpoint::developer(ApiVersion::V1beta),
///     Credentials::ApiKey("my-key".into()),
/// );
/// assert!(config.resumption);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The setup message (model, generation config, instruction, …). Function
    /// declarations of the dispatcher's tools are appended; the model name is normalised
    /// for the endpoint's backend; `sessionResumption` is managed by the session.
    pub setup: Setup,
    /// Where to connect.
    pub endpoint: Endpoint,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Websocket settings (keepalive, sizes, TLS).
    pub transport: TransportConfig,
    /// Ask for resumption handles and resume with them after goAway or a loss (default on).
    pub resumption: bool,
    /// Vertex only: `transparent` resumption, with replay of unconsumed client messages.
    pub transparent_resumption: bool,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
    /// After `goAway`, switch at the end of the current model turn, or this long before the
    /// server's deadline, whichever comes first (default 2 s).
    pub goaway_margin: Duration,
    /// How long a cancelled tool call may take to stop before its task is aborted.
    pub cancel_grace: Duration,
    /// Audio chunks queued for the application before new ones are dropped (counted).
    pub audio_queue: usize,
    /// Other events queued for the application before new ones are dropped (counted).
    pub event_queue: usize,
    /// How long to wait for `setupComplete` (default 30 s).
    pub setup_timeout: Duration,
    /// The longest a write to the socket may take (default 10 s, and never longer than
    /// the transport's keepalive timeout). A write that cannot complete in time (the peer
    /// stopped reading) is a lost connection: the session reconnects and resumes.
    ///
    /// It also bounds [`LiveHandle::disconnect`](crate::LiveHandle::disconnect): whatever
    /// the peer does, that returns within about 2 s (the close handshake) plus the
    /// cancellation grace period of the tools.
    pub write_timeout: Duration,
    /// How results for calls the server no longer knows are delivered (default: from the
    /// model's profile: `clientContent` where it is accepted mid-session, else
    /// `realtimeInput.text`).
    pub conversation_form: Option<ConversationForm>,
    /// The model's profile (default: looked up by model name and backend in
    /// `genai_wire::profile`; an unknown model gets a conservative one and a warning).
    /// Set it to override what the table says.
    pub profile: Option<ModelProfile>,
    /// Characters of conversation kept client-side (transcripts, typed text, calls,
    /// results) to seed a fresh server session when resumption is refused or impossible
    /// (default 16 Ki; 0 turns it off).
    pub history_limit: usize,
    /// Let the model list the background calls still running and cancel one by id: two
    /// functions, `get_running_tasks` and `cancel_task`, declared only while this is on
    /// and answered by the session itself (default off).
    pub llm_task_control: bool,
}

impl SessionConfig {
    /// A configuration with default policies.
    pub fn new(setup: Setup, endpoint: Endpoint, credentials: Credentials) -> Self {
        SessionConfig {
            setup,
            endpoint,
            credentials,
            transport: TransportConfig::default(),
            resumption: true,
            transparent_resumption: false,
            reconnect: ReconnectPolicy::default(),
            goaway_margin: Duration::from_secs(2),
            cancel_grace: DEFAULT_CANCEL_GRACE,
            audio_queue: DEFAULT_AUDIO_QUEUE,
            event_queue: DEFAULT_EVENT_QUEUE,
            setup_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            conversation_form: None,
            profile: None,
            history_limit: 16 * 1024,
            llm_task_control: false,
        }
    }

    /// The effective write bound: the write timeout, capped by the keepalive timeout.
    pub(crate) fn write_bound(&self) -> Duration {
        match self.transport.keepalive_timeout {
            Some(k) if !k.is_zero() => self.write_timeout.min(k),
            _ => self.write_timeout,
        }
    }

    /// Lets the model list and cancel running background calls (see
    /// [`SessionConfig::llm_task_control`]).
    pub fn with_llm_task_control(mut self, on: bool) -> Self {
        self.llm_task_control = on;
        self
    }

    /// Sets the write timeout.
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets the bound on queued non-audio events.
    pub fn with_event_queue(mut self, events: usize) -> Self {
        self.event_queue = events;
        self
    }

    /// Sets the transport configuration.
    pub fn with_transport(mut self, transport: TransportConfig) -> Self {
        self.transport = transport;
        self
    }

    /// Turns resumption on or off.
    pub fn with_resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// Turns Vertex transparent resumption on or off.
    pub fn with_transparent_resumption(mut self, on: bool) -> Self {
        self.transparent_resumption = on;
        self
    }

    /// Sets the reconnect policy.
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets the goAway margin.
    pub fn with_goaway_margin(mut self, margin: Duration) -> Self {
        self.goaway_margin = margin;
        self
    }

    /// Sets the cancellation grace period.
    pub fn with_cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Sets the audio queue bound.
    pub fn with_audio_queue(mut self, chunks: usize) -> Self {
        self.audio_queue = chunks;
        self
    }
}
