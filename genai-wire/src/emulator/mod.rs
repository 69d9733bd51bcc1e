//! A local Gemini Live API server that behaves like the real one.
//!
//! Every test, the example voice agent's default mode and the benchmarks talk to this
//! emulator instead of Google, so it reproduces what a client can observe of the real
//! service (live-protocol.md):
//!
//! * **Endpoints and auth**: the Developer API paths (`v1beta`,
//!   `v1alpha`, `v1`, the `Constrained` method, a leading `//`) and the Vertex path;
//!   unknown paths get HTTP 404. Credentials from `x-goog-api-key`, `key=`,
//!   `access_token=` or `Authorization: Bearer|Token`; a bad key is accepted at the HTTP
//!   level and then closed with 1007 "API key not valid. Please pass a valid API key.".
//!   Plain `ws://` or TLS with a generated certificate ([`EmulatorHandle::cert_pem`]).
//! * **Session start**: `setup` must come first (else 1007); the model must be
//!   `models/...` (Developer) or `projects/.../publishers/google/models/...` (Vertex),
//!   else 1008 "... is not found for API version ...". `setupComplete` is `{}` on the
//!   Developer API and carries a UUID `sessionId` on Vertex. Every server message is
//!   JSON in a **binary** frame, below 1 MiB.
//! * **Strict validation** ([`validate`]): unknown fields at any depth, fields the
//!   backend lacks (`willContinue`/`audioStreamEnd` on Vertex, `transparent`/
//!   `explicitVadSignal` on the Developer API, ...), wrong types, bad enums and bad base64
//!   close the socket with 1007 and a short reason in Google's words. camelCase and
//!   snake_case and both base64 alphabets are accepted, like the real parser.
//! * **A scripted model** ([`Scenario`], JSON files in `fixtures/scenarios/`):
//!   transcriptions, paced 24 kHz speech with `outputTranscription`, tool calls,
//!   branches; function-calling semantics (BLOCKING silence, NON_BLOCKING with
//!   `willContinue` and `scheduling` INTERRUPT/WHEN_IDLE/SILENT), barge-in with
//!   `toolCallCancellation` then `interrupted` (live-protocol.md §6). Client text
//!   (`clientContent` turn, `realtimeInput.text`) is accepted at any point, open calls
//!   or not, and is a user turn the script answers; a text that names a call the
//!   emulator issued (in any session) is that call's **result delivered as
//!   conversation** (how pipecat-ai/pipecat PR #5497 delivers results the server no
//!   longer knows): recorded ([`SessionHandle::conversation_results`]) and voiced from
//!   the scenario's `toolResult` template once the model is idle, or context only for a
//!   `clientContent` without `turnComplete`. (The real model's reply is free-form; the
//!   scripted one makes "the result was voiced" observable.)
//! * **Model profiles** (`policy`, [`ModelProfile`](crate::profile::ModelProfile) read
//!   from `profiles/models.json`; no fact is repeated here): the model named in setup
//!   selects its profile on the session's backend, and the emulator refuses what that
//!   model refuses with 1007 `Request contains an invalid argument.` (the real reason
//!   text "says little", live-protocol.md §0.6) and a [`Violation`] of kind
//!   [`ViolationKind::ModelProfile`] naming the cause. A value at its proto3 default
//!   (`willContinue: false`, `SCHEDULING_UNSPECIFIED`, `behavior: UNSPECIFIED`, `null`)
//!   cannot be told from an absent field by the server and is never refused. Choices:
//!   - *Declarations* (setup and `contextUpdate`): `behavior: NON_BLOCKING` refused where
//!     the profile does not accept it (3.1: "synchronous function calling only"; that it
//!     is refused rather than ignored is UNVERIFIED), `BLOCKING` refused where not
//!     accepted (3.8 extended thinking: "Async only"; refusal UNVERIFIED). An undeclared
//!     behavior is the profile's `default_behavior` (§6: blocking on the Developer API
//!     2.5 and 3.1, non-blocking on Vertex and 3.8), and BLOCKING silence vs NON_BLOCKING
//!     continuation follow that effective behavior. For a model the table does not know,
//!     the scenario's `defaultBehavior` (BLOCKING unless set) applies instead, and the
//!     only refusals are the schema's.
//!   - *`parametersJsonSchema`* on a model whose profile takes only `parameters` (3.8
//!     extended thinking): setup is accepted, a `ModelProfile` violation is recorded (no
//!     close) and the model never calls those functions, as reported (it "plans tools as
//!     text"; aiden-firmware PR #708, UNVERIFIED elsewhere). The scripted model says its
//!     lines without the call.
//!   - *Function responses*: `willContinue: true` refused where not accepted (Vertex:
//!     by the schema, as before; 3.1: by the profile, UNVERIFIED); a non-default
//!     `scheduling` refused where not accepted (3.1; the real model may ignore it instead:
//!     UNVERIFIED, refusing is the choice that catches client bugs).
//!   - *`thinkingConfig`*: any refused where the profile says so (3.8-live, docs);
//!     `thinkingBudget` refused on `thinkingLevel` models (3.x) and a non-default
//!     `thinkingLevel` on `thinkingBudget` models (2.5): both UNVERIFIED, no source says
//!     how the server reacts.
//!   - *`clientContent` mid-session* refused where the profile says so (3.1:
//!     google/adk-python#5018, livekit/agents#5251), except as initial history: with
//!     `historyConfig.initialHistoryInClientContent: true` (any model) `clientContent` is
//!     context only, without a model call, until one with `turnComplete: true`; any
//!     realtime input or tool response also ends the history phase (lenient choice,
//!     UNVERIFIED; a resumed connection may send the flag without history). Never
//!     refused for a model the table does not know.
//!   - *Idleness*: on profiles with `IdleSignal::InteractionStatus` (3.8 extended
//!     thinking) every `turnComplete` (interrupted ones included) carries
//!     `interactionStatus`: `IN_PROGRESS` while any call is open (a NON_BLOCKING call
//!     acknowledged with `willContinue: true` included) or a result is still to be voiced
//!     (the turn an `INTERRUPT` result cuts), else `IDLE` (google-genai 3.6.1
//!     `InteractionStatus`: "always sent alongside turn_complete"; that a barge-in's
//!     `turnComplete` says `IDLE` when nothing else is open is UNVERIFIED). A final
//!     `SILENT` result produces no turn and so no `IDLE`. Other models never send the
//!     field. `REQUIRES_ACTION` (deprecated) is never sent.
//!   - *3.8 cancellation*: where the profile has `cancels_blocking_on_input` (3.8-live,
//!     docs §6), new user input (start of voiced audio, `activityStart`,
//!     `realtimeInput.text`, `clientContent`) cancels every open BLOCKING call with
//!     `toolCallCancellation`, even under `NO_INTERRUPTION`; barge-in then proceeds as
//!     usual. Elsewhere only barge-in cancels (the interrupted turn's calls).
//!   - *Model names*: no list restricts them by default (any well-formed name is
//!     accepted, the 3.x ids included); [`known_models`](EmulatorBuilder::known_models)
//!     restricts them when set.
//! * **Function responses the server does not know are ignored**: a response for an
//!   unknown, closed or cancelled id reaches no call, the model generates nothing for it,
//!   and the session records it ([`SessionHandle::ignored_function_responses`]) and a
//!   [`Violation`] (with [`strict_tool_responses`](EmulatorBuilder::strict_tool_responses)
//!   it also closes 1008). Source: pipecat-ai/pipecat PR #5497 (a resumed session does
//!   not act on a response for a call it did not issue, checked on the live API).
//!   Unverified: what the real server does with a late response for a *cancelled* id
//!   (the docs are silent; modelled the same way).
//! * **Connection lifecycle**: connection lifetime with `goAway` ahead of the close;
//!   `sessionResumptionUpdate`s: `resumable: false` while the model generates or any
//!   call is open (a NON_BLOCKING call acknowledged with `willContinue: true` included),
//!   a fresh handle after the turn boundary once nothing is open,
//!   [`handle_lag`](EmulatorBuilder::handle_lag) later (SDK `types.py`
//!   `LiveServerSessionResumptionUpdate.resumable`; the exact moment and lag are
//!   unverified). Resumption onto a new socket restores the **checkpoint** the handle
//!   names, as the real server does ([`ResumptionMode`]; the module `resume` has the
//!   sources and what is unverified); [`ResumptionMode::Latest`] is the documented
//!   opt-in for "latest state". 1011 when resuming a session that is still connected,
//!   1008 "BidiGenerateContent session not found" for unknown, expired or stale handles
//!   (older than the [`checkpoints_kept`](EmulatorBuilder::checkpoints_kept) newest).
//! * **Observation and faults**: per-session recordings ([`SessionHandle`]), protocol
//!   [`Violation`]s, the function-call ledger (calls issued, responses accepted and
//!   ignored, results delivered as conversation), awaitable helpers, transcripts in the
//!   recordings' format, and fault injection (drop, close, stalled pongs, reading
//!   stopped for good, goAway now, arbitrary injected frames, closes right after
//!   `setupComplete`), recorded per connection ([`ConnectionRecord::faults`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use genai_wire::emulator::{Emulator, Scenario};
//! use std::time::Duration;
//!
//! let emu = Emulator::builder()
//!     .api_key("test-key")
//!     .scenario(Scenario::default())
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let url = format!("{}?key=test-key", emu.ws_url());
//! // ... connect a client to `url` ...
//! let session = emu.wait_for_session(Duration::from_secs(5)).await?;
//! assert!(session.violations().is_empty());
//! # Ok(()) }
//! ```
//!
//! # Performance
//!
//! One tokio task per connection owns the socket, the conversation and the timers; there
//! is no global lock on the per-message path. Audio
//! frames are pre-encoded once per scenario and shared by reference count; websocket
//! buffers are small (4 KiB read buffer) so thousands of idle sessions stay cheap. Turn
//! recording down with [`RecordMode`] for load tests. Per-session state has its own
//! mutex; the session table is locked only when connections start, resume or end.
//!
//! # Modules
//!
//! `server` (paths, auth, TLS), [`validate`] (strict schema), `scenario` (format),
//! `engine` (the scripted model), `session` (one connection's state machine), `tools`
//! (outstanding calls), `resume` (handles and checkpoints), `sessions` + `record` +
//! `ledger` (recordings), `control` (fault injection), `audio` (speech generation and
//! level detection).

mod audio;
mod control;
mod engine;
mod ledger;
mod policy;
mod record;
mod resume;
mod scenario;
mod server;
mod session;
mod sessions;
mod tools;
pub mod validate;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use audio::{OUTPUT_RATE, voiced_pcm16};
pub use control::Control;
pub use ledger::{AcceptedResponse, ConversationResult, IgnoreReason, IgnoredResponse, IssuedCall};
pub use record::{
    CloseBy, CloseRecord, ConnectionRecord, Direction, Fault, FaultRecord, Frame, RecordMode,
    Violation, ViolationKind, classify, kind, write_transcript,
};
pub use resume::{DEFAULT_CHECKPOINTS_KEPT, DEFAULT_HANDLE_LAG, ResumptionMode};
pub use scenario::{DEFAULT_SCENARIO, Scenario, ScenarioError};
pub use server::TlsMaterial;
pub use sessions::{SessionHandle, SessionId, WaitTimeout};
pub use tools::{Behavior, Scheduling};

use crate::Backend;
use server::Credentials;
use sessions::Registry;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// Binding the listener failed.
    #[error("bind: {0}")]
    Bind(#[from] std::io::Error),
    /// Generating or loading the TLS certificate failed.
    #[error("tls: {0}")]
    Tls(String),
}

/// The emulator's configuration (set through [`EmulatorBuilder`]).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub backend: Backend,
    pub credentials: Credentials,
    pub scenario: Scenario,
    pub tls: bool,
    pub lifetime: Option<Duration>,
    pub goaway_lead: Duration,
    pub lifetime_close: (u16, String),
    pub record: RecordMode,
    pub strict_tool_responses: bool,
    pub known_models: Option<Vec<String>>,
    pub setup_timeout: Duration,
    pub handle_ttl: Duration,
    pub max_message_size: usize,
    pub proxy_path: Option<String>,
    pub transcript_out: Option<PathBuf>,
    pub resumption_mode: ResumptionMode,
    pub handle_lag: Duration,
    pub checkpoints_kept: usize,
    pub close_after_setup: Option<CloseAfterSetup>,
}

/// Close the next connections right after `setupComplete`.
#[derive(Debug, Clone)]
pub(crate) struct CloseAfterSetup {
    pub code: u16,
    pub reason: String,
    /// How many more connections (None: all).
    pub remaining: Option<usize>,
}

pub(crate) struct Shared {
    pub cfg: Config,
    /// Armed by the builder or [`Emulator::close_after_setup`]; taken at each setup.
    pub close_after_setup: Mutex<Option<CloseAfterSetup>>,
    pub registry: Arc<Registry>,
    pub shutdown: watch::Sender<bool>,
    pub active: AtomicUsize,
    pub tls: Option<Arc<TlsMaterial>>,
    pub transcript_lock: std::sync::Mutex<()>,
}

impl Shared {
    /// The close to apply to a connection that just completed setup, if one is armed
    /// (counts it down).
    pub fn take_close_after_setup(&self) -> Option<(u16, String)> {
        let mut armed = self
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let c = armed.as_mut()?;
        let out = (c.code, c.reason.clone());
        match &mut c.remaining {
            Some(0) => {
                *armed = None;
                return None;
            }
            Some(1) => *armed = None,
            Some(n) => *n -= 1,
            None => {}
        }
        Some(out)
    }
}

/// Configures and starts an emulator. Defaults: Developer API URLs, any credentials
/// accepted, the default scenario, plain ws, 10-minute connection lifetime with
/// `goAway` 60 s before, full recording, checkpoint resumption
/// ([`ResumptionMode::Checkpoint`]) keeping the last [`DEFAULT_CHECKPOINTS_KEPT`]
/// handles per session, fresh handles [`DEFAULT_HANDLE_LAG`] after the turn boundary.
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    cfg: Config,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            cfg: Config {
                backend: Backend::DeveloperApi,
                credentials: Credentials::AcceptAny,
                scenario: Scenario::default(),
                tls: false,
                lifetime: Some(Duration::from_secs(600)),
                goaway_lead: Duration::from_secs(60),
                lifetime_close: (1000, "connection lifetime reached".to_string()),
                record: RecordMode::Full,
                strict_tool_responses: false,
                known_models: None,
                setup_timeout: Duration::from_secs(60),
                handle_ttl: Duration::from_secs(2 * 3600),
                max_message_size: 16 << 20,
                proxy_path: None,
                transcript_out: None,
                resumption_mode: ResumptionMode::Checkpoint,
                handle_lag: DEFAULT_HANDLE_LAG,
                checkpoints_kept: DEFAULT_CHECKPOINTS_KEPT,
                close_after_setup: None,
            },
        }
    }
}

impl EmulatorBuilder {
    /// Which backend [`EmulatorHandle::ws_url`] points at. (Both backends' paths are
    /// always served; a session's backend follows from its path.)
    pub fn backend(mut self, backend: Backend) -> Self {
        self.cfg.backend = backend;
        self
    }

    /// Accept this API key (may be called several times). Once any key or token is
    /// set, connections must present one of them.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.add_credential(key.into());
        self
    }

    /// Accept this access token (ephemeral `auth_tokens/...` or an OAuth bearer token).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.add_credential(token.into());
        self
    }

    fn add_credential(&mut self, c: String) {
        match &mut self.cfg.credentials {
            Credentials::AcceptAny => self.cfg.credentials = Credentials::OneOf(HashSet::from([c])),
            Credentials::OneOf(set) => {
                set.insert(c);
            }
        }
    }

    /// Accept any credentials, or none (the default).
    pub fn accept_any_credentials(mut self) -> Self {
        self.cfg.credentials = Credentials::AcceptAny;
        self
    }

    /// The scripted model.
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.cfg.scenario = scenario;
        self
    }

    /// Serve TLS (`wss://`) with the generated certificate.
    pub fn tls(mut self, on: bool) -> Self {
        self.cfg.tls = on;
        self
    }

    /// How long a connection lives (`None`: forever). Default 10 minutes.
    pub fn connection_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.cfg.lifetime = lifetime.into();
        self
    }

    /// How long before the end of the lifetime `goAway` is sent. Default 60 s.
    pub fn goaway_lead(mut self, lead: Duration) -> Self {
        self.cfg.goaway_lead = lead;
        self
    }

    /// Close code and reason at the end of the lifetime. Default 1000 "connection
    /// lifetime reached".
    pub fn lifetime_close(mut self, code: u16, reason: impl Into<String>) -> Self {
        self.cfg.lifetime_close = (code, reason.into());
        self
    }

    /// How much to record per session. Default [`RecordMode::Full`].
    pub fn record(mut self, mode: RecordMode) -> Self {
        self.cfg.record = mode;
        self
    }

    /// Close with 1008 "Requested entity was not found." when a function response names
    /// an unknown, closed or cancelled call (default: the response is ignored, recorded
    /// in [`SessionHandle::ignored_function_responses`] and as a [`Violation`]).
    pub fn strict_tool_responses(mut self, on: bool) -> Self {
        self.cfg.strict_tool_responses = on;
        self
    }

    /// Only these model ids (last path segment, e.g. `gemini-live-2.5-flash-preview`)
    /// exist; others get 1008. Default: any well-formed model name.
    pub fn known_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.known_models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// How long to wait for `setup` after the upgrade. Default 60 s.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.setup_timeout = timeout;
        self
    }

    /// How long resumption handles stay valid after the session's last connection
    /// ended. Default 2 hours.
    pub fn handle_ttl(mut self, ttl: Duration) -> Self {
        self.cfg.handle_ttl = ttl;
        self
    }

    /// What a resumption handle resumes. Default [`ResumptionMode::Checkpoint`], as the
    /// real server does; [`ResumptionMode::Latest`] restores the latest state instead.
    pub fn resumption_mode(mut self, mode: ResumptionMode) -> Self {
        self.cfg.resumption_mode = mode;
        self
    }

    /// Delay between the turn boundary (or the SILENT close of the last open call) and
    /// the fresh resumable handle. Default [`DEFAULT_HANDLE_LAG`] (20 ms; the real delay
    /// is not documented). If a turn or call opens during the lag, no handle is sent.
    pub fn handle_lag(mut self, lag: Duration) -> Self {
        self.cfg.handle_lag = lag;
        self
    }

    /// How many checkpoints (the newest handles) each session keeps in checkpoint mode
    /// (at least 1). Older handles are refused with 1008 "BidiGenerateContent session
    /// not found". Default [`DEFAULT_CHECKPOINTS_KEPT`].
    pub fn checkpoints_kept(mut self, n: usize) -> Self {
        self.cfg.checkpoints_kept = n.max(1);
        self
    }

    /// Closes the next `count` connections (every one with `None`) with this code and
    /// reason right after they get `setupComplete`, before any other message (1005, 1006
    /// and 1015 drop the connection instead). Counted over connections that complete
    /// setup; recorded as [`Fault::ClosedAfterSetup`]. Re-arm at run time with
    /// [`Emulator::close_after_setup`].
    pub fn close_after_setup(
        mut self,
        code: u16,
        reason: impl Into<String>,
        count: impl Into<Option<usize>>,
    ) -> Self {
        self.cfg.close_after_setup = Some(CloseAfterSetup {
            code,
            reason: reason.into(),
            remaining: count.into(),
        });
        self
    }

    /// Largest client message accepted (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.cfg.max_message_size = bytes;
        self
    }

    /// Also serve this exact path, as Vertex (the SDKs' "proxy mode").
    pub fn vertex_proxy_path(mut self, path: impl Into<String>) -> Self {
        self.cfg.proxy_path = Some(path.into());
        self
    }

    /// Append each connection's transcript to this file when the connection ends.
    pub fn transcript_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.cfg.transcript_out = Some(path.into());
        self
    }

    /// Builds an emulator without a listener: feed it connections with
    /// [`Emulator::serve_stream`] (e.g. one end of `tokio::io::duplex`, for tests on
    /// paused time).
    pub fn build(self) -> Result<Emulator, EmulatorError> {
        let tls = if self.cfg.tls {
            Some(TlsMaterial::shared().map_err(EmulatorError::Tls)?)
        } else {
            None
        };
        Ok(Emulator {
            shared: Arc::new(Shared {
                close_after_setup: Mutex::new(self.cfg.close_after_setup.clone()),
                cfg: self.cfg,
                registry: Arc::new(Registry::default()),
                shutdown: watch::channel(false).0,
                active: AtomicUsize::new(0),
                tls,
                transcript_lock: std::sync::Mutex::new(()),
            }),
        })
    }

    /// Binds a listener (e.g. `"127.0.0.1:0"`) and starts accepting connections.
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<EmulatorHandle, EmulatorError> {
        let emu = self.build()?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(session::accept_loop(listener, emu.shared.clone()));
        tracing::info!(%addr, tls = emu.shared.tls.is_some(), "live emulator listening");
        Ok(EmulatorHandle {
            emu,
            addr,
            accept: Some(accept),
        })
    }
}

/// An emulator (cheap to clone): its sessions, recordings and controls.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts configuring an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Serves one connection over any byte stream (the websocket upgrade included),
    /// until it ends. Use with `tokio::io::duplex` for tests on paused time.
    pub async fn serve_stream<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        session::serve(stream, self.shared.clone()).await
    }

    /// Every session so far (including failed connections), oldest first.
    pub fn sessions(&self) -> Vec<SessionHandle> {
        self.shared
            .registry
            .all()
            .into_iter()
            .map(|s| SessionHandle { s })
            .collect()
    }

    /// The session with this id.
    pub fn session(&self, id: &SessionId) -> Option<SessionHandle> {
        self.control().session(id)
    }

    /// Every violation in every session, with its session id.
    pub fn violations(&self) -> Vec<(SessionId, Violation)> {
        self.sessions()
            .into_iter()
            .flat_map(|s| {
                let id = s.id();
                s.violations().into_iter().map(move |v| (id.clone(), v))
            })
            .collect()
    }

    /// Waits until at least one session exists; returns the oldest.
    pub async fn wait_for_session(&self, timeout: Duration) -> Result<SessionHandle, WaitTimeout> {
        Ok(self.wait_for_sessions(1, timeout).await?.remove(0))
    }

    /// Waits until at least `n` sessions exist; returns them, oldest first.
    pub async fn wait_for_sessions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SessionHandle>, WaitTimeout> {
        let mut rx = self.shared.registry.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.sessions();
            if s.len() >= n {
                return Ok(s);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(WaitTimeout {
                    what: format!("{n} sessions"),
                    after: timeout,
                    session: "-".into(),
                    summary: format!("{} sessions", self.sessions().len()),
                });
            }
        }
    }

    /// From now on, closes the next `count` connections (every one with `None`) with
    /// this code and reason right after `setupComplete` (see
    /// [`EmulatorBuilder::close_after_setup`]); replaces whatever was armed.
    pub fn close_after_setup(&self, code: u16, reason: impl Into<String>, count: Option<usize>) {
        *self
            .shared
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(CloseAfterSetup {
            code,
            reason: reason.into(),
            remaining: count,
        });
    }

    /// Stops closing connections after setup.
    pub fn clear_close_after_setup(&self) {
        *self
            .shared
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Number of open connections.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Fault injection by session id.
    pub fn control(&self) -> Control {
        Control {
            registry: self.shared.registry.clone(),
        }
    }

    /// All transcripts, session after session, in the recordings' format.
    pub fn transcript(&self) -> String {
        self.sessions()
            .iter()
            .map(SessionHandle::transcript)
            .collect()
    }

    /// Forgets sessions whose connections ended and whose handles expired (or all
    /// ended sessions when `all`), to bound memory in long runs.
    pub fn prune(&self, all: bool) {
        self.shared.registry.prune(self.shared.cfg.handle_ttl, all);
    }

    /// The TLS material, when serving TLS.
    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.shared.tls.as_deref()
    }

    /// Asks every session to close (1001 "server shutting down") and waits up to 5 s
    /// for connections to end.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.active_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A running emulator bound to a socket. Dereferences to [`Emulator`]. Dropping it
/// stops the listener and closes every session.
pub struct EmulatorHandle {
    emu: Emulator,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for EmulatorHandle {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emu
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.emu.shared.shutdown.send_replace(true);
        if let Some(t) = self.accept.take() {
            t.abort();
        }
    }
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn host(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_string(),
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    }

    /// `http(s)://host:port`: what to give an SDK as `base_url`.
    pub fn base_url(&self) -> String {
        let scheme = if self.emu.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.host(), self.port())
    }

    fn ws_base(&self) -> String {
        let scheme = if self.emu.shared.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}:{}", self.host(), self.port())
    }

    /// The Developer API websocket URL for an API version (`v1beta`, `v1alpha`, `v1`).
    pub fn developer_url(&self, version: &str) -> String {
        format!(
            "{}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent",
            self.ws_base()
        )
    }

    /// The Vertex websocket URL for an API version (`v1beta1`, `v1`).
    pub fn vertex_url(&self, version: &str) -> String {
        format!(
            "{}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent",
            self.ws_base()
        )
    }

    /// The websocket URL of the configured backend (`v1beta` / `v1beta1`), without
    /// credentials.
    pub fn ws_url(&self) -> String {
        match self.emu.shared.cfg.backend {
            Backend::DeveloperApi => self.developer_url("v1beta"),
            Backend::VertexAi => self.vertex_url("v1beta1"),
        }
    }

    /// The CA certificate to trust (PEM), when serving TLS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.emu.tls().map(TlsMaterial::ca_pem)
    }

    /// The CA certificate to trust (DER), when serving TLS.
    pub fn cert_der(&self) -> Option<&[u8]> {
        self.emu.tls().map(|t| t.ca_der().as_ref())
    }

    /// A rustls client config trusting the emulator, when serving TLS.
    pub fn client_tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.emu.tls().map(TlsMaterial::client_config)
    }

    /// Stops accepting, closes every session (1001) and waits for them to end.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.accept.take() {
            t.abort();
        }
        self.emu.shutdown().await;
    }
}
