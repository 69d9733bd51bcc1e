//! A local Gemini Live API server that behaves like the real one.
//!
//! Every test, the example voice agent's default mode and the benchmarks talk to this
//! emulator instead of Google, so it reproduces what a client can observe of the real
//! service (ai.google.dev/api/live and the live guides; google-genai `live.py` and `types.py`):
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
//!   `toolCallCancellation` then `interrupted` (ai.google.dev live guide, "Interruptions"). Client text
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
//!   text "says little", as observed on the real service) and a [`Violation`] of kind
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
//! * Starting and serving: `builder` ([`EmulatorBuilder`]), `config` (its settings and
//!   defaults), `shared` (the state every connection shares), `instance` ([`Emulator`]),
//!   `server` (binding, the accept loop, TLS, paths, auth, [`EmulatorHandle`]),
//!   `connection` (one connection's state machine).
//! * Checking the client: [`validate`] (strict schema: the walker), `schema` (the table
//!   it applies, data in `emulator/validation.json`), `policy` (what each model's
//!   profile refuses), `declarations` (the function declarations and their behavior).
//! * The model: `scenario` (format), `engine` (the scripted model), `tools`
//!   (outstanding calls), `resume` (handles and checkpoints), `audio` (speech generation
//!   and level detection).
//! * Observing and faults: `registry` (the sessions and their shared state),
//!   `session_handle` ([`SessionHandle`]), `record` + `ledger` (recordings), `control`
//!   (fault injection).

mod audio;
mod builder;
mod config;
mod connection;
mod control;
mod declarations;
mod engine;
mod instance;
mod ledger;
mod policy;
mod record;
mod registry;
mod resume;
mod scenario;
mod scenario_builder;
mod schema;
mod server;
mod session_handle;
mod shared;
mod tools;
pub mod validate;

pub use audio::{OUTPUT_RATE, voiced_pcm16};
pub use builder::{EmulatorBuilder, EmulatorError};
pub use control::Control;
pub use instance::Emulator;
pub use ledger::{AcceptedResponse, ConversationResult, IgnoreReason, IgnoredResponse, IssuedCall};
pub use record::{
    CloseBy, CloseRecord, ConnectionRecord, Direction, Fault, FaultRecord, Frame, RecordMode,
    Violation, ViolationKind, classify, kind, write_transcript,
};
pub use resume::{DEFAULT_CHECKPOINTS_KEPT, DEFAULT_HANDLE_LAG, ResumptionMode};
pub use scenario::{DEFAULT_SCENARIO, Scenario, ScenarioError};
pub use scenario_builder::ScenarioBuilder;
pub use server::{EmulatorHandle, TlsMaterial};
pub use session_handle::{SessionHandle, SessionId, WaitTimeout};
pub use tools::{Behavior, Scheduling};
