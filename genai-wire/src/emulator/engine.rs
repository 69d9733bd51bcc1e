//! The scripted model: runs a [`Scenario`](super::Scenario) against what the client
//! sends, with the Live API's turn-taking, barge-in and function-calling semantics.
//!
//! The engine is a plain state machine with no socket and no clock of its own: the
//! session feeds it client events and the current (tokio) time, and drains the frames
//! it wants sent. That keeps it testable, lets tests run it on paused time, and lets a
//! conversation outlive its connection (session resumption moves the engine to the new
//! connection's task).
//!
//! Semantics, in short (module docs of `scenario` describe the step language):
//! * A model turn opens with the first `speak` or `call` and closes with `endTurn`
//!   (`generationComplete`, `turnComplete` + `usageMetadata`).
//! * While a BLOCKING call is open the script does not advance (the model is silent).
//!   Its result is voiced inside the turn that made the call.
//! * NON_BLOCKING results are voiced per `scheduling`: `INTERRUPT` cuts the current turn
//!   (`interrupted`, `turnComplete`) and speaks now; `WHEN_IDLE` (the default) speaks
//!   once no model turn is open and the user is not speaking; `SILENT` says nothing.
//!   A voiced result is its own model turn: audio + `outputTranscription` from the
//!   scenario's `toolResult` template, then `generationComplete` and `turnComplete`.
//! * Barge-in (voiced audio or `activityStart` under `START_OF_ACTIVITY_INTERRUPTS`, or
//!   any `realtimeInput.text`/`clientContent`) during an open model turn first cancels
//!   that turn's open calls (`toolCallCancellation`), then sends `interrupted` and
//!   `turnComplete`. The script resumes at its next `waitUserTurn`.
//! * A user text naming a call the emulator issued is that call's result delivered as
//!   conversation: voiced from the `toolResult` template once the model is idle (context
//!   only for a `clientContent` left without `turnComplete`), not a turn for the script.
//! * A function response for an unknown, closed or cancelled id reaches nothing: the
//!   model does not hear it and generates nothing (pipecat-ai/pipecat PR #5497: a
//!   resumed session ignores a response for a call it did not issue). The engine notes
//!   every issued call, accepted response and ignored response for the session's ledger.
//! * The model's profile (`SetupInfo::profile`, see the module docs of `emulator`):
//!   an undeclared `behavior` is the profile's default; on `interactionStatus` models
//!   every `turnComplete` says `IN_PROGRESS` or `IDLE`; where the profile cancels
//!   BLOCKING calls on new input, user input does so before any barge-in.
//! * Resumption updates: `resumable: false` when a model turn opens and when a turn
//!   ends with a call still open; a fresh handle (`resumable: true`) once nothing is
//!   open, `handle_lag` after the turn boundary, carrying a snapshot of the conversation
//!   in checkpoint mode (see `resume`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Bytes;

use super::declarations::declarations;
use super::ledger::{IgnoreReason, Note};
use super::record::{ViolationKind, classify, kind};
use super::resume::DEFAULT_HANDLE_LAG;
use super::scenario::{CallSpec, Compiled, Cond, Op};
use super::tools::{Behavior, Calls, ResponseError, Rng, Scheduling};
use super::validate::get;
use crate::Backend;
use crate::profile::{IdleSignal, ModelProfile};

/// What the engine wants the session to do.
#[derive(Debug)]
pub enum Out {
    /// Send this frame (binary), of this kind.
    Frame(Bytes, &'static str),
    /// Record a protocol violation.
    Violation(ViolationKind, String),
    /// Send a `sessionResumptionUpdate` (the session mints the handle).
    ResumptionUpdate {
        /// Whether the session can be resumed right now.
        resumable: bool,
        /// In checkpoint mode, the conversation the new handle resumes.
        snapshot: Option<Box<Engine>>,
    },
    /// Enter this in the session's ledger.
    Note(Note),
    /// Send `goAway` and close when the time is up.
    GoAway(Duration),
    /// Close the connection.
    Close(u16, String),
}

/// What the client sent, digested.
#[derive(Debug)]
pub enum Event<'a> {
    /// Audio input; `voiced` when its level is above the scenario's threshold.
    Audio {
        /// Above the voice threshold.
        voiced: bool,
    },
    /// Video input.
    Video,
    /// `realtimeInput.text`.
    Text(&'a str),
    /// `realtimeInput.activityStart`.
    ActivityStart,
    /// `realtimeInput.activityEnd`.
    ActivityEnd,
    /// `realtimeInput.audioStreamEnd`.
    AudioStreamEnd,
    /// `clientContent`: its user text and `turnComplete`.
    ClientContent {
        /// Text of the user turns.
        text: String,
        /// `turnComplete`.
        turn_complete: bool,
    },
    /// A user text (`clientContent` or `realtimeInput.text`) that names calls this
    /// emulator issued: their results, delivered as conversation.
    ConversationResult {
        /// The named calls' function names.
        names: Vec<String>,
        /// The text.
        text: &'a str,
        /// Ask for a reply (`realtimeInput.text`, or `clientContent` with
        /// `turnComplete`); else context only.
        reply: bool,
    },
    /// `toolResponse.functionResponses`.
    ToolResponses(&'a [Value]),
    /// A `clientContent` of the initial history
    /// (`historyConfig.initialHistoryInClientContent`): context, no model call.
    History,
    /// `contextUpdate`.
    ContextUpdate(&'a Map<String, Value>),
    /// Anything else.
    Other,
}

/// The parts of `setup` the model acts on.
#[derive(Debug, Clone)]
pub struct SetupInfo {
    /// `responseModalities` is `["TEXT"]`.
    pub text_modality: bool,
    /// `inputAudioTranscription` present.
    pub input_transcription: bool,
    /// `outputAudioTranscription` present.
    pub output_transcription: bool,
    /// Automatic activity detection on (not `disabled`).
    pub auto_vad: bool,
    /// `activityHandling` is not `NO_INTERRUPTION`.
    pub barge_in: bool,
    /// Declared functions and their behavior.
    pub declared: Vec<(String, Behavior)>,
    /// `sessionResumption` present; `Some(true)` when `transparent`.
    pub resumption: Option<bool>,
    /// The handle to resume, if any.
    pub handle: Option<String>,
    /// The model name.
    pub model: String,
    /// The profile of the model on this backend (`profiles/models.json`).
    pub profile: ModelProfile,
    /// What an undeclared `behavior` means: the profile's default, or the scenario's
    /// `defaultBehavior` for a model no profile entry matches.
    pub default_behavior: Behavior,
    /// Functions declared with `parametersJsonSchema` on a model that takes only
    /// `parameters`: the model plans them as text and never calls them (UNVERIFIED,
    /// aiden-firmware PR #708).
    pub text_planned: Vec<String>,
}

/// The effective default behavior: the profile's, or (for a model the table does not
/// know) the scenario's `defaultBehavior`.
fn default_behavior(profile: &ModelProfile, scenario_default_blocking: bool) -> Behavior {
    if profile.is_unknown() {
        if scenario_default_blocking {
            Behavior::Blocking
        } else {
            Behavior::NonBlocking
        }
    } else {
        match profile.default_behavior {
            crate::protocol::Behavior::NonBlocking => Behavior::NonBlocking,
            _ => Behavior::Blocking,
        }
    }
}

/// The declared functions and their behavior (`default` where none is declared);
/// declarations without a name are left out.
fn declared_functions(tools: Option<&Value>, default: Behavior) -> Vec<(String, Behavior)> {
    declarations(tools)
        .filter_map(|d| Some((d.name?.to_string(), d.behavior.unwrap_or(default))))
        .collect()
}

impl SetupInfo {
    /// Reads a validated `setup` object; the model's profile on `backend` decides what
    /// an undeclared `behavior` means (`scenario_default_blocking` for unknown models).
    pub fn from_setup(
        setup: &Map<String, Value>,
        backend: Backend,
        scenario_default_blocking: bool,
    ) -> SetupInfo {
        let model = get(setup, "model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let profile = ModelProfile::for_model(&model, backend);
        let default = default_behavior(&profile, scenario_default_blocking);
        let gen_cfg = get(setup, "generationConfig").and_then(Value::as_object);
        let text_modality = gen_cfg
            .and_then(|g| get(g, "responseModalities"))
            .and_then(Value::as_array)
            .is_some_and(|m| {
                m.iter().any(|x| x == "TEXT" || x == 1) && !m.iter().any(|x| x == "AUDIO" || x == 3)
            });
        let ric = get(setup, "realtimeInputConfig").and_then(Value::as_object);
        let auto_vad = !ric
            .and_then(|r| get(r, "automaticActivityDetection"))
            .and_then(Value::as_object)
            .and_then(|a| get(a, "disabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let barge_in = !ric
            .and_then(|r| get(r, "activityHandling"))
            .is_some_and(|h| h == "NO_INTERRUPTION" || h == 2);
        let sr = get(setup, "sessionResumption").and_then(Value::as_object);
        SetupInfo {
            text_modality,
            input_transcription: get(setup, "inputAudioTranscription").is_some(),
            output_transcription: get(setup, "outputAudioTranscription").is_some(),
            auto_vad,
            barge_in,
            declared: declared_functions(get(setup, "tools"), default),
            resumption: sr.map(|s| {
                get(s, "transparent")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            }),
            handle: sr
                .and_then(|s| get(s, "handle"))
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_string),
            model,
            text_planned: super::policy::check_declarations(get(setup, "tools"), &profile)
                .unwrap_or_default(),
            profile,
            default_behavior: default,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Scenario,
    Result,
}

#[derive(Debug, Clone)]
struct Speaking {
    text: Arc<str>,
    words: usize,
    chunks: u32,
    next: u32,
    next_at: Instant,
}

#[derive(Debug, Clone)]
enum Act {
    Speaking(Speaking),
    Delay(Instant),
}

#[derive(Debug, Clone)]
enum Synth {
    Speak(Arc<str>, u32),
    EndTurn,
}

/// The conversation state of one logical session (survives resumption).
#[derive(Debug)]
pub struct Engine {
    sc: Arc<Compiled>,
    backend: Backend,
    session_id: Arc<str>,
    /// What setup asked for.
    pub setup: SetupInfo,
    rng: Rng,
    pc: usize,
    done: bool,
    act: Option<Act>,
    synthetic: VecDeque<Synth>,
    turn_open: bool,
    /// Text (transcription or text parts) already emitted in the open turn: the next
    /// utterance's first word gets a leading space.
    spoke: bool,
    owner: Owner,
    turn_no: u64,
    idle_results: VecDeque<Arc<str>>,
    calls: Calls,
    last_call_ids: Vec<String>,
    audio_chunk_counter: usize,
    // user side
    user_speaking: bool,
    last_voiced: Option<Instant>,
    audio_in_turn: bool,
    turn_text: String,
    user_turn_latch: bool,
    last_input: &'static str,
    last_user_text: String,
    last_turn_had_audio: bool,
    resp_latch: VecDeque<String>,
    // resumption
    /// The latest time the session gave the engine (events and polls).
    now: Instant,
    /// When the next resumable handle is due (the boundary plus `handle_lag`).
    handle_due: Option<Instant>,
    /// Delay between the turn boundary and the fresh resumable handle.
    pub handle_lag: Duration,
    /// Snapshot the conversation with every resumable handle (checkpoint mode).
    pub checkpoints: bool,
    // accounting
    context_tokens: u64,
    response_tokens: u64,
    /// Close 1008 on a function response for an unknown/closed/cancelled id.
    pub strict_tool_responses: bool,
    /// Frames and actions for the session to carry out.
    pub out: Vec<Out>,
}

const BUDGET: u32 = 512;

impl Engine {
    /// A new conversation.
    pub fn new(
        sc: Arc<Compiled>,
        backend: Backend,
        session_id: Arc<str>,
        setup: SetupInfo,
    ) -> Self {
        Engine {
            sc,
            backend,
            session_id,
            setup,
            rng: Rng::new(),
            pc: 0,
            done: false,
            act: None,
            synthetic: VecDeque::new(),
            turn_open: false,
            spoke: false,
            owner: Owner::Scenario,
            turn_no: 0,
            idle_results: VecDeque::new(),
            calls: Calls::default(),
            last_call_ids: Vec::new(),
            audio_chunk_counter: 0,
            user_speaking: false,
            last_voiced: None,
            audio_in_turn: false,
            turn_text: String::new(),
            user_turn_latch: false,
            last_input: "",
            last_user_text: String::new(),
            last_turn_had_audio: false,
            resp_latch: VecDeque::new(),
            now: Instant::now(),
            handle_due: None,
            handle_lag: DEFAULT_HANDLE_LAG,
            checkpoints: false,
            context_tokens: 0,
            response_tokens: 0,
            strict_tool_responses: false,
            out: Vec::new(),
        }
    }

    /// The function calls of this conversation.
    #[cfg(test)]
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    /// Can the session be resumed right now without loss: no model turn, no open call
    /// (an acknowledged NON_BLOCKING call, `willContinue: true`, is still open), no
    /// result waiting to be voiced?
    pub fn resumable(&self) -> bool {
        !self.turn_open
            && !self.calls.any_open()
            && self.idle_results.is_empty()
            && self.synthetic.is_empty()
    }

    /// A copy of the conversation as it is now (a checkpoint), without pending output.
    pub fn snapshot(&self) -> Box<Engine> {
        Box::new(Engine {
            sc: self.sc.clone(),
            backend: self.backend,
            session_id: self.session_id.clone(),
            setup: self.setup.clone(),
            rng: self.rng.clone(),
            pc: self.pc,
            done: self.done,
            act: self.act.clone(),
            synthetic: self.synthetic.clone(),
            turn_open: self.turn_open,
            spoke: self.spoke,
            owner: self.owner,
            turn_no: self.turn_no,
            idle_results: self.idle_results.clone(),
            calls: self.calls.clone(),
            last_call_ids: self.last_call_ids.clone(),
            audio_chunk_counter: self.audio_chunk_counter,
            user_speaking: self.user_speaking,
            last_voiced: self.last_voiced,
            audio_in_turn: self.audio_in_turn,
            turn_text: self.turn_text.clone(),
            user_turn_latch: self.user_turn_latch,
            last_input: self.last_input,
            last_user_text: self.last_user_text.clone(),
            last_turn_had_audio: self.last_turn_had_audio,
            resp_latch: self.resp_latch.clone(),
            now: self.now,
            handle_due: None,
            handle_lag: self.handle_lag,
            checkpoints: self.checkpoints,
            context_tokens: self.context_tokens,
            response_tokens: self.response_tokens,
            strict_tool_responses: self.strict_tool_responses,
            out: Vec::new(),
        })
    }

    /// A conversation resumed from this checkpoint: the same history, but fresh
    /// randomness (new call ids never repeat the abandoned branch's ids) and no
    /// half-heard user speech.
    pub fn restored(&self) -> Box<Engine> {
        let mut e = self.snapshot();
        e.rng = Rng::new();
        e.on_detach();
        e
    }

    /// A new connection resumed this conversation with a (possibly different) setup.
    pub fn resume_with(&mut self, setup: SetupInfo) {
        self.setup = setup;
    }

    /// The connection went away: a model turn in progress is lost (nobody heard it),
    /// open calls stay open.
    pub fn on_detach(&mut self) {
        if self.turn_open {
            self.turn_open = false;
            self.act = None;
            self.synthetic.clear();
            if self.owner == Owner::Scenario {
                self.skip_to_turn_boundary();
            }
        }
        self.user_speaking = false;
        self.last_voiced = None;
    }

    fn frame(&mut self, bytes: impl Into<Bytes>, kind: &'static str) {
        self.out.push(Out::Frame(bytes.into(), kind));
    }

    fn violation(&mut self, kind: ViolationKind, detail: String) {
        self.out.push(Out::Violation(kind, detail));
    }

    // --------------------------------------------------------------------------------
    // Client events
    // --------------------------------------------------------------------------------

    /// Digests one client message of `msg_kind`.
    pub fn on_event(&mut self, ev: Event<'_>, msg_kind: &'static str, now: Instant) {
        self.now = self.now.max(now);
        let mut text_for_wait: Option<&str> = None;
        match ev {
            Event::Audio { voiced } => {
                self.audio_in_turn = true;
                if voiced && self.setup.auto_vad {
                    if !self.user_speaking {
                        self.user_speaking = true;
                        self.user_input();
                        if self.setup.barge_in {
                            self.barge_in();
                        }
                    }
                    self.last_voiced = Some(now);
                }
            }
            Event::Video | Event::Other => {}
            Event::History => {
                // Initial history (`historyConfig.initialHistoryInClientContent`):
                // context only, no model call.
                self.context_tokens += 8;
                return;
            }
            Event::ActivityStart => {
                if self.setup.auto_vad {
                    self.violation(
                        ViolationKind::ActivitySignals,
                        "activityStart sent while automatic activity detection is enabled".into(),
                    );
                }
                self.user_speaking = true;
                self.audio_in_turn = false;
                self.user_input();
                if self.setup.barge_in {
                    self.barge_in();
                }
            }
            Event::ActivityEnd => {
                if self.setup.auto_vad {
                    self.violation(
                        ViolationKind::ActivitySignals,
                        "activityEnd sent while automatic activity detection is enabled".into(),
                    );
                }
                self.end_user_turn("activityEnd");
            }
            Event::AudioStreamEnd => {
                if !self.setup.auto_vad {
                    self.violation(
                        ViolationKind::ActivitySignals,
                        "audioStreamEnd sent while automatic activity detection is disabled".into(),
                    );
                }
                // Only speech makes a turn: silent audio then audioStreamEnd (a muted
                // microphone) is nothing to answer.
                if self.audio_in_turn && (self.user_speaking || !self.setup.auto_vad) {
                    self.end_user_turn("audioStreamEnd");
                }
            }
            Event::Text(t) => {
                text_for_wait = Some(t);
                self.user_input();
                self.barge_in();
                self.turn_text.clear();
                self.turn_text.push_str(t);
                self.end_user_turn("text");
            }
            Event::ClientContent {
                text,
                turn_complete,
            } => {
                self.user_input();
                self.barge_in();
                if !text.is_empty() {
                    if !self.turn_text.is_empty() {
                        self.turn_text.push(' ');
                    }
                    self.turn_text.push_str(&text);
                }
                if turn_complete {
                    self.end_user_turn("clientContent");
                }
                self.check_wait_client(msg_kind, Some(&text));
                return;
            }
            Event::ConversationResult { names, text, reply } => {
                // The model hears the result, whether or not it knows the call
                // (pipecat-ai/pipecat PR #5497 delivers results this way): like any client
                // content it interrupts an open turn; then it is voiced from the
                // scenario's `toolResult` template once the model is idle (a WHEN_IDLE
                // result), or only added to context when no reply is asked for. It is not
                // a user turn for the script.
                self.barge_in();
                self.context_tokens += 16 * names.len() as u64;
                if reply {
                    let summary = clip(text, 60);
                    for name in names {
                        let spoken = self
                            .sc
                            .tool_result
                            .text_for(&name)
                            .replace("{name}", &name)
                            .replace("{response}", summary);
                        self.idle_results.push_back(spoken.into());
                    }
                }
                return;
            }
            Event::ToolResponses(list) => {
                let mut accepted = false;
                for fr in list {
                    accepted |= self.tool_response(fr);
                }
                if !accepted {
                    // Nothing reached the model: not even a `waitClient` step sees it.
                    return;
                }
            }
            Event::ContextUpdate(cu) => {
                if let Some(tools) = get(cu, "tools").and_then(Value::as_object) {
                    let list = get(tools, "tools");
                    self.setup.declared = declared_functions(list, self.setup.default_behavior);
                    self.setup.text_planned =
                        super::policy::check_declarations(list, &self.setup.profile)
                            .unwrap_or_default();
                }
            }
        }
        self.check_wait_client(msg_kind, text_for_wait);
    }

    fn check_wait_client(&mut self, msg_kind: &'static str, text: Option<&str>) {
        if self.done || self.calls.blocking_open() {
            return;
        }
        if let Some(Op::WaitClient {
            kind,
            text_contains,
        }) = self.sc.ops.get(self.pc)
        {
            let kind_ok = kind
                .as_deref()
                .is_none_or(|k| msg_kind == k || msg_kind.starts_with(&format!("{k}.")));
            let text_ok = text_contains
                .as_deref()
                .is_none_or(|t| text.is_some_and(|x| x.to_lowercase().contains(t)));
            if kind_ok && text_ok {
                self.advance();
            }
        }
    }

    fn end_user_turn(&mut self, how: &'static str) {
        self.user_speaking = false;
        self.last_voiced = None;
        self.last_input = how;
        self.last_turn_had_audio = self.audio_in_turn;
        self.audio_in_turn = false;
        if !self.turn_text.is_empty() {
            self.last_user_text = std::mem::take(&mut self.turn_text);
        } else if how != "text" && how != "clientContent" {
            self.last_user_text.clear();
        }
        self.context_tokens += if self.last_turn_had_audio { 64 } else { 8 };
        self.user_turn_latch = true;
    }

    fn barge_in(&mut self) {
        if self.turn_open {
            self.interrupt(true, false);
        }
    }

    /// New user input: where the profile says so (3.8), the server cancels every open
    /// BLOCKING call, whether or not the input interrupts the model.
    fn user_input(&mut self) {
        if !self.setup.profile.cancels_blocking_on_input {
            return;
        }
        let ids = self.calls.cancel_blocking();
        if !ids.is_empty() {
            let msg = serde_json::json!({"toolCallCancellation": {"ids": ids}}).to_string();
            self.frame(msg, kind::TOOL_CALL_CANCELLATION);
        }
    }

    /// `"interactionStatus"` for a `turnComplete`, on models that signal idleness with
    /// it: `IN_PROGRESS` while a call is open or a result is still to be voiced (or
    /// `more` output is coming), else `IDLE`.
    fn interaction_status(&self, more: bool) -> Option<&'static str> {
        if self.setup.profile.idle_signal != IdleSignal::InteractionStatus {
            return None;
        }
        let busy = more
            || self.calls.any_open()
            || !self.idle_results.is_empty()
            || self.synthetic.iter().any(|s| matches!(s, Synth::Speak(..)));
        Some(if busy { "IN_PROGRESS" } else { "IDLE" })
    }

    /// Cuts the open model turn: cancellation of its open calls (when `cancel`), then
    /// `interrupted` and `turnComplete` (`more`: a result turn follows at once).
    fn interrupt(&mut self, cancel: bool, more: bool) {
        if cancel {
            let ids = self.calls.cancel_turn(self.turn_no);
            if !ids.is_empty() {
                let msg = serde_json::json!({"toolCallCancellation": {"ids": ids}}).to_string();
                self.frame(msg, kind::TOOL_CALL_CANCELLATION);
            }
        }
        self.frame(
            Bytes::from_static(br#"{"serverContent":{"interrupted":true}}"#),
            kind::INTERRUPTED,
        );
        self.synthetic.clear();
        match self.interaction_status(more) {
            None => self.frame(
                Bytes::from_static(br#"{"serverContent":{"turnComplete":true}}"#),
                kind::TURN_COMPLETE,
            ),
            Some(st) => self.frame(
                format!(
                    r#"{{"serverContent":{{"turnComplete":true,"interactionStatus":"{st}"}}}}"#
                ),
                kind::TURN_COMPLETE,
            ),
        }
        self.turn_open = false;
        self.act = None;
        self.synthetic.clear();
        if self.owner == Owner::Scenario {
            self.skip_to_turn_boundary();
        }
        self.resumption_update();
    }

    fn skip_to_turn_boundary(&mut self) {
        let ops = &self.sc.ops;
        match ops
            .iter()
            .skip(self.pc)
            .position(|op| matches!(op, Op::WaitUserTurn))
        {
            Some(i) => self.pc += i,
            None if self.sc.repeat => self.pc = 0,
            None => self.done = true,
        }
    }

    /// Applies one function response; returns whether it reached a call.
    fn tool_response(&mut self, fr: &Value) -> bool {
        let Some(fr) = fr.as_object() else {
            return false;
        };
        let id = get(fr, "id").and_then(Value::as_str);
        let name = get(fr, "name").and_then(Value::as_str);
        let will_continue = get(fr, "willContinue")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let sent_scheduling = get(fr, "scheduling").map(Scheduling::from_wire);
        let scheduling = sent_scheduling.unwrap_or(Scheduling::WhenIdle);
        let result = if id.is_none_or(str::is_empty) && self.backend == Backend::DeveloperApi {
            Err((
                IgnoreReason::NoMatch,
                ViolationKind::MissingCallId,
                format!(
                    "function response without an id (name {name:?}); the Developer API requires one"
                ),
            ))
        } else {
            self.calls
                .respond(id, name, will_continue)
                .map_err(|e| match e {
                    ResponseError::UnknownId(id) => (
                        IgnoreReason::UnknownId,
                        ViolationKind::UnknownCallId,
                        format!("function response for unknown call id {id:?}"),
                    ),
                    ResponseError::AlreadyClosed(id) => (
                        IgnoreReason::Closed,
                        ViolationKind::ClosedCallId,
                        format!(
                            "function response for call {id:?}, already closed (willContinue was false)"
                        ),
                    ),
                    ResponseError::Cancelled(id) => (
                        IgnoreReason::Cancelled,
                        ViolationKind::CancelledCallId,
                        format!("function response for call {id:?}, which the server cancelled"),
                    ),
                    ResponseError::NoMatch(name) => (
                        IgnoreReason::NoMatch,
                        ViolationKind::MissingCallId,
                        format!(
                            "function response without an id matches no open call (name {name:?})"
                        ),
                    ),
                })
        };
        let call = match result {
            Ok(call) => call,
            Err((reason, kind, detail)) => {
                // Ignored: the model never hears it (pipecat-ai/pipecat PR #5497).
                self.out.push(Out::Note(Note::Ignored {
                    id: id.unwrap_or("").to_string(),
                    name: name.unwrap_or("").to_string(),
                    reason,
                }));
                self.violation(kind, detail);
                if self.strict_tool_responses {
                    self.out.push(Out::Close(
                        1008,
                        "Requested entity was not found.".to_string(),
                    ));
                }
                return false;
            }
        };
        self.out.push(Out::Note(Note::Accepted {
            id: call.id.clone(),
            name: call.name.clone(),
            will_continue,
            scheduling: sent_scheduling,
        }));
        self.resp_latch.push_back(call.name.clone());
        let summary = summarize(get(fr, "response"));
        let text: Arc<str> = self
            .sc
            .tool_result
            .text_for(&call.name)
            .replace("{name}", &call.name)
            .replace("{response}", &summary)
            .into();
        self.context_tokens += 16;
        match (call.behavior, scheduling) {
            (Behavior::Blocking, _) if call.responses == 1 => {
                if self.turn_open && self.owner == Owner::Scenario {
                    self.synthetic
                        .push_back(Synth::Speak(text, self.sc.tool_result.ms));
                } else {
                    self.idle_results.push_back(text);
                }
            }
            (Behavior::Blocking, _) | (_, Scheduling::WhenIdle) => {
                self.idle_results.push_back(text)
            }
            (Behavior::NonBlocking, Scheduling::Silent) => {}
            (Behavior::NonBlocking, Scheduling::Interrupt) => {
                if self.turn_open {
                    self.interrupt(false, true);
                }
                self.start_result_turn(text);
            }
        }
        if self.resumable() {
            // The last open call closed while the model is idle and nothing is left to
            // voice (a SILENT final result): a fresh handle after the lag.
            self.resumption_update();
        }
        true
    }

    // --------------------------------------------------------------------------------
    // Model output
    // --------------------------------------------------------------------------------

    /// Announces the resumption state: `resumable: false` now, or a fresh handle
    /// `handle_lag` from now (at once when the lag is zero).
    fn resumption_update(&mut self) {
        if self.setup.resumption.is_none() {
            return;
        }
        if !self.resumable() {
            self.handle_due = None;
            self.out.push(Out::ResumptionUpdate {
                resumable: false,
                snapshot: None,
            });
        } else if self.handle_lag.is_zero() {
            self.issue_handle();
        } else {
            self.handle_due = Some(self.now + self.handle_lag);
        }
    }

    /// A resumable update, with a checkpoint of the conversation in checkpoint mode.
    fn issue_handle(&mut self) {
        self.handle_due = None;
        let snapshot = self.checkpoints.then(|| self.snapshot());
        self.out.push(Out::ResumptionUpdate {
            resumable: true,
            snapshot,
        });
    }

    /// Sends the handle if it is due (and drops it if the conversation is no longer
    /// resumable: a turn or a call opened during the lag).
    fn handle_check(&mut self, now: Instant) {
        if let Some(due) = self.handle_due {
            if !self.resumable() {
                self.handle_due = None;
            } else if due <= now {
                self.issue_handle();
            }
        }
    }

    /// The update that follows `setupComplete` (no lag: the conversation is as it was).
    pub fn initial_update(&mut self) -> Out {
        let resumable = self.resumable();
        Out::ResumptionUpdate {
            resumable,
            snapshot: (resumable && self.checkpoints).then(|| self.snapshot()),
        }
    }

    fn open_turn(&mut self, owner: Owner) {
        if !self.turn_open {
            self.turn_open = true;
            self.spoke = false;
            self.owner = owner;
            self.turn_no += 1;
            self.response_tokens = 0;
            self.resumption_update();
        }
    }

    fn start_result_turn(&mut self, text: Arc<str>) {
        self.open_turn(Owner::Result);
        self.synthetic
            .push_back(Synth::Speak(text, self.sc.tool_result.ms));
        self.synthetic.push_back(Synth::EndTurn);
    }

    fn start_speaking(&mut self, text: Arc<str>, ms: u32, now: Instant) {
        let chunks = ms.div_ceil(self.sc.audio.chunk_ms).max(1);
        let words = text.split_whitespace().count();
        self.act = Some(Act::Speaking(Speaking {
            text,
            words,
            chunks,
            next: 0,
            next_at: now,
        }));
    }

    /// Emits chunk `i` of an utterance.
    fn speak_chunk(&mut self, s_text: &str, words: usize, i: u32, chunks: u32) {
        let w0 = (i as usize * words) / chunks as usize;
        let w1 = ((i as usize + 1) * words) / chunks as usize;
        let lead = w0 > 0 || self.spoke;
        self.spoke |= w1 > w0;
        let piece = |lead: bool| {
            let mut t = String::new();
            for (n, w) in s_text.split_whitespace().skip(w0).take(w1 - w0).enumerate() {
                if n > 0 || lead {
                    t.push(' ');
                }
                t.push_str(w);
            }
            t
        };
        if self.setup.text_modality {
            if w1 > w0 {
                let mut m = String::with_capacity(64 + s_text.len());
                m.push_str(r#"{"serverContent":{"modelTurn":{"#);
                if self.backend == Backend::VertexAi {
                    m.push_str(r#""role":"model","#);
                }
                m.push_str(r#""parts":[{"text":"#);
                json_str(&mut m, &piece(lead));
                m.push_str("}]}}}");
                self.frame(m, kind::MODEL_TURN);
            }
            self.response_tokens += (w1 - w0) as u64 * 2;
        } else {
            let frame = self.sc.frames(self.backend).frame(self.audio_chunk_counter);
            self.audio_chunk_counter = self.audio_chunk_counter.wrapping_add(1);
            self.frame(frame, kind::MODEL_TURN);
            if self.setup.output_transcription && w1 > w0 {
                let mut m = String::with_capacity(64 + s_text.len());
                m.push_str(r#"{"serverContent":{"outputTranscription":{"text":"#);
                json_str(&mut m, &piece(lead));
                m.push_str("}}}");
                self.frame(m, kind::OUTPUT_TRANSCRIPTION);
            }
            self.response_tokens += (self.sc.audio.chunk_ms as u64 * 32).div_ceil(1000);
        }
    }

    fn end_turn(&mut self) {
        self.frame(
            Bytes::from_static(br#"{"serverContent":{"generationComplete":true}}"#),
            kind::GENERATION_COMPLETE,
        );
        let prompt = self.context_tokens;
        let resp = self.response_tokens.max(1);
        let modality = if self.setup.text_modality {
            "TEXT"
        } else {
            "AUDIO"
        };
        let status = match self.interaction_status(false) {
            Some(st) => format!(r#","interactionStatus":"{st}""#),
            None => String::new(),
        };
        let msg = match self.backend {
            Backend::DeveloperApi => format!(
                r#"{{"serverContent":{{"turnComplete":true{status}}},"usageMetadata":{{"promptTokenCount":{prompt},"responseTokenCount":{resp},"totalTokenCount":{},"promptTokensDetails":[{{"modality":"TEXT","tokenCount":{prompt}}}],"responseTokensDetails":[{{"modality":"{modality}","tokenCount":{resp}}}]}}}}"#,
                prompt + resp
            ),
            Backend::VertexAi => format!(
                r#"{{"serverContent":{{"turnComplete":true{status}}},"usageMetadata":{{"promptTokenCount":{prompt},"candidatesTokenCount":{resp},"totalTokenCount":{},"trafficType":"ON_DEMAND","promptTokensDetails":[{{"modality":"TEXT","tokenCount":{prompt}}}],"candidatesTokensDetails":[{{"modality":"{modality}","tokenCount":{resp}}}]}}}}"#,
                prompt + resp
            ),
        };
        self.context_tokens += resp;
        self.frame(msg, kind::TURN_COMPLETE);
        self.turn_open = false;
        self.resumption_update();
    }

    fn issue_calls(&mut self, specs: &[CallSpec]) {
        let mut chosen: Vec<(&CallSpec, Behavior)> = Vec::with_capacity(specs.len());
        for spec in specs {
            let declared = self
                .setup
                .declared
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, b)| *b);
            if self.setup.text_planned.contains(&spec.name) {
                // Planned as text instead of called (UNVERIFIED; see `SetupInfo`).
                continue;
            }
            match declared {
                Some(b) => chosen.push((spec, b)),
                None if spec.force => chosen.push((spec, self.setup.default_behavior)),
                None => {}
            }
        }
        if chosen.is_empty() {
            return;
        }
        self.open_turn(Owner::Scenario);
        self.last_call_ids.clear();
        let mut calls = Vec::with_capacity(chosen.len());
        for (spec, behavior) in chosen {
            let id = self.rng.call_id(self.backend);
            self.calls
                .issue(id.clone(), spec.name.clone(), behavior, self.turn_no);
            self.out.push(Out::Note(Note::Issued {
                id: id.clone(),
                name: spec.name.clone(),
                behavior,
            }));
            self.last_call_ids.push(id.clone());
            calls.push(
                serde_json::json!({"id": id, "name": spec.name, "args": self.render(&spec.args)}),
            );
        }
        let msg = serde_json::json!({"toolCall": {"functionCalls": calls}}).to_string();
        self.frame(msg, kind::TOOL_CALL);
        self.response_tokens += 8;
    }

    fn eval(&self, c: &Cond) -> bool {
        match c {
            Cond::TextContains(t) => self
                .last_user_text
                .to_lowercase()
                .contains(&t.to_lowercase()),
            Cond::InputWas(k) => self.last_input == k,
            Cond::Declared(n) => self.setup.declared.iter().any(|(d, _)| d == n),
            Cond::Not(c) => !self.eval(c),
            Cond::Any(cs) => cs.iter().any(|c| self.eval(c)),
            Cond::All(cs) => cs.iter().all(|c| self.eval(c)),
        }
    }

    fn render(&self, v: &Value) -> Value {
        match v {
            Value::String(s) if s.contains("{{") => Value::String(
                s.replace(
                    "{{lastCallId}}",
                    self.last_call_ids.first().map_or("", |s| s),
                )
                .replace("{{sessionId}}", &self.session_id)
                .replace("{{userText}}", &self.last_user_text),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.render(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.render(x))).collect())
            }
            other => other.clone(),
        }
    }

    fn advance(&mut self) {
        self.pc += 1;
        if self.pc >= self.sc.ops.len() {
            if self.sc.repeat {
                self.pc = 0;
            } else {
                self.done = true;
            }
        }
    }

    fn vad_deadline(&self) -> Option<Instant> {
        if self.setup.auto_vad && self.user_speaking {
            self.last_voiced
                .map(|t| t + Duration::from_millis(self.sc.turn_detection.silence_ms))
        } else {
            None
        }
    }

    /// Runs the model until it has to wait; returns when to call again (None: only
    /// when the client sends something).
    pub fn poll(&mut self, now: Instant) -> Option<Instant> {
        self.now = self.now.max(now);
        self.handle_check(now);
        let next = self.run(now);
        self.handle_check(now);
        match (next, self.handle_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn run(&mut self, now: Instant) -> Option<Instant> {
        let mut budget = BUDGET;
        let sc = self.sc.clone();
        loop {
            budget -= 1;
            if budget == 0 {
                return Some(now);
            }
            let vad = self.vad_deadline();
            if let Some(t) = vad
                && t <= now
            {
                self.end_user_turn("audio");
                continue;
            }
            let min = |a: Instant| Some(vad.map_or(a, |v| v.min(a)));
            // 1. Whatever is in progress.
            match &mut self.act {
                Some(Act::Speaking(s)) => {
                    if s.next_at > now {
                        return min(s.next_at);
                    }
                    let (text, words, i, chunks) = (s.text.clone(), s.words, s.next, s.chunks);
                    s.next += 1;
                    s.next_at += sc.chunk_interval();
                    if s.next >= s.chunks {
                        self.act = None;
                    }
                    self.speak_chunk(&text, words, i, chunks);
                    continue;
                }
                Some(Act::Delay(until)) => {
                    if *until > now {
                        return min(*until);
                    }
                    self.act = None;
                    continue;
                }
                None => {}
            }
            // 2. The rest of a result turn, or a blocking call's result.
            if let Some(s) = self.synthetic.pop_front() {
                match s {
                    Synth::Speak(text, ms) => {
                        if self.turn_open {
                            self.start_speaking(text, ms, now);
                        }
                    }
                    Synth::EndTurn => {
                        if self.turn_open {
                            self.end_turn();
                        }
                    }
                }
                continue;
            }
            // 3. Results waiting for the model and the user to be idle.
            if !self.turn_open
                && !self.user_speaking
                && let Some(text) = self.idle_results.pop_front()
            {
                self.start_result_turn(text);
                continue;
            }
            // 4. The script.
            if self.done || self.calls.blocking_open() {
                return vad;
            }
            let Some(op) = sc.ops.get(self.pc) else {
                self.done = true;
                return vad;
            };
            match op {
                Op::WaitUserTurn => {
                    if !self.user_turn_latch {
                        return vad;
                    }
                    self.user_turn_latch = false;
                    self.advance();
                }
                Op::WaitToolResponse(name) => {
                    let pos = self
                        .resp_latch
                        .iter()
                        .position(|n| name.as_ref().is_none_or(|w| w == n));
                    match pos {
                        Some(p) => {
                            self.resp_latch.remove(p);
                            self.advance();
                        }
                        None => return vad,
                    }
                }
                Op::WaitClient { .. } => return vad,
                Op::Delay(d) => {
                    self.act = Some(Act::Delay(now + *d));
                    self.advance();
                }
                Op::InputTranscription(t) => {
                    if self.setup.input_transcription && self.last_turn_had_audio {
                        let mut m = String::with_capacity(64 + t.len());
                        m.push_str(r#"{"serverContent":{"inputTranscription":{"text":"#);
                        json_str(&mut m, t);
                        m.push_str(r#","finished":true}}}"#);
                        self.frame(m, kind::INPUT_TRANSCRIPTION);
                    }
                    self.advance();
                }
                Op::Speak { ms, text } => {
                    self.open_turn(Owner::Scenario);
                    self.start_speaking(text.clone(), *ms, now);
                    self.advance();
                }
                Op::Call(specs) => {
                    self.issue_calls(specs);
                    self.advance();
                }
                Op::EndTurn => {
                    if self.turn_open {
                        self.end_turn();
                    } else {
                        // A turn with no output (e.g. all calls skipped) still ends.
                        self.open_turn(Owner::Scenario);
                        self.end_turn();
                    }
                    self.advance();
                }
                Op::Emit(v) => {
                    let v = self.render(v);
                    let k = classify(&v);
                    self.frame(v.to_string(), k);
                    self.advance();
                }
                Op::JumpUnless(c, target) => {
                    if self.eval(c) {
                        self.advance();
                    } else {
                        self.pc = *target;
                        if self.pc >= sc.ops.len() {
                            self.pc -= 1;
                            self.advance();
                        }
                    }
                }
                Op::Jump(target) => {
                    self.pc = *target;
                    if self.pc >= sc.ops.len() {
                        self.pc -= 1;
                        self.advance();
                    }
                }
                Op::GoAway(d) => {
                    self.out.push(Out::GoAway(*d));
                    self.advance();
                }
                Op::Close(code, reason) => {
                    self.out.push(Out::Close(*code, reason.clone()));
                    self.advance();
                    return vad;
                }
            }
        }
    }
}

/// A short rendering of a function response for the spoken result.
fn summarize(v: Option<&Value>) -> String {
    let v = match v {
        Some(Value::Object(o)) => o
            .get("output")
            .or_else(|| o.get("result"))
            .unwrap_or(&Value::Null),
        _ => &Value::Null,
    };
    let s = match v {
        Value::Null => String::from("done"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    clip(&s, 60).to_string()
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::Scenario;
    use serde_json::json;

    fn setup(v: Value) -> SetupInfo {
        SetupInfo::from_setup(v.as_object().unwrap(), Backend::DeveloperApi, true)
    }

    fn engine(sc: &str, s: Value) -> Engine {
        let sc = Scenario::from_json(sc).unwrap();
        Engine::new(sc.0, Backend::DeveloperApi, "sid".into(), setup(s))
    }

    fn kinds(e: &mut Engine) -> Vec<&'static str> {
        e.out
            .drain(..)
            .filter_map(|o| match o {
                Out::Frame(_, k) => Some(k),
                _ => None,
            })
            .collect()
    }

    fn run_until_quiet(e: &mut Engine, mut now: Instant) -> Instant {
        while let Some(t) = e.poll(now) {
            now = t.max(now);
        }
        now
    }

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn setup_parsing_accepts_snake_case() {
        let s = setup(json!({"model": "models/m",
            "generation_config": {"response_modalities": ["TEXT"]},
            "realtime_input_config": {"automatic_activity_detection": {"disabled": true}, "activity_handling": "NO_INTERRUPTION"},
            "session_resumption": {}, "output_audio_transcription": {},
            "tools": [{"function_declarations": [{"name": "a", "behavior": "NON_BLOCKING"}, {"name": "b"}]}]}));
        assert!(s.text_modality && !s.auto_vad && !s.barge_in && s.output_transcription);
        assert_eq!(s.resumption, Some(false));
        assert_eq!(
            s.declared,
            vec![
                ("a".into(), Behavior::NonBlocking),
                ("b".into(), Behavior::Blocking)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn text_turn_with_nonblocking_call() {
        let mut e = engine(
            r#"{"steps":[{"waitUserTurn":{}},{"speak":{"ms":300,"text":"one two three"}},
                {"call":{"name":"search","args":{"q":1}}},{"endTurn":{}}]}"#,
            json!({"model":"models/m","outputAudioTranscription":{},
                   "tools":[{"functionDeclarations":[{"name":"search","behavior":"NON_BLOCKING"}]}]}),
        );
        let now = Instant::now();
        assert_eq!(e.poll(now), None);
        e.on_event(Event::Text("hi"), kind::TEXT, now);
        run_until_quiet(&mut e, now);
        let k = kinds(&mut e);
        assert_eq!(
            k,
            vec![
                kind::MODEL_TURN,
                kind::OUTPUT_TRANSCRIPTION,
                kind::MODEL_TURN,
                kind::OUTPUT_TRANSCRIPTION,
                kind::MODEL_TURN,
                kind::OUTPUT_TRANSCRIPTION,
                kind::TOOL_CALL,
                kind::GENERATION_COMPLETE,
                kind::TURN_COMPLETE
            ]
        );
        assert!(e.calls().any_open());
    }

    /// The resumption updates in `out` (resumable, has a snapshot), draining it.
    fn updates(e: &mut Engine) -> Vec<(bool, bool)> {
        e.out
            .drain(..)
            .filter_map(|o| match o {
                Out::ResumptionUpdate {
                    resumable,
                    snapshot,
                } => Some((resumable, snapshot.is_some())),
                _ => None,
            })
            .collect()
    }

    const NB: &str = r#"{"steps":[{"waitUserTurn":{}},{"speak":{"ms":200,"text":"ok"}},
        {"call":{"name":"search","args":{}}},{"endTurn":{}}]}"#;

    fn nb_engine(lag: Duration) -> Engine {
        let mut e = engine(
            NB,
            json!({"model":"models/m","sessionResumption":{},
                   "tools":[{"functionDeclarations":[{"name":"search","behavior":"NON_BLOCKING"}]}]}),
        );
        e.handle_lag = lag;
        e.checkpoints = true;
        e
    }

    fn respond(e: &mut Engine, id: &str, extra: Value, now: Instant) {
        let mut fr = json!({"id": id, "name": "search", "response": {"output": 1}});
        for (k, v) in extra.as_object().unwrap() {
            fr[k] = v.clone();
        }
        e.on_event(
            Event::ToolResponses(std::slice::from_ref(&fr)),
            kind::TOOL_RESPONSE,
            now,
        );
    }

    /// Answers `id` and checks that the response reached nothing: the engine notes it
    /// as ignored for `reason` and reports a `violation`, and produces nothing else.
    fn assert_ignored(
        e: &mut Engine,
        id: &str,
        now: Instant,
        reason: IgnoreReason,
        violation: ViolationKind,
    ) {
        respond(e, id, json!({}), now);
        run_until_quiet(e, now);
        let notes: Vec<_> = e.out.drain(..).collect();
        assert!(
            matches!(
                &notes[..],
                [Out::Note(Note::Ignored { reason: r, .. }), Out::Violation(v, _)]
                    if *r == reason && *v == violation
            ),
            "{notes:?}"
        );
    }

    fn open_call_id(e: &Engine) -> String {
        e.calls().last_open_id().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_fresh_handle_follows_the_turn_after_the_lag() {
        let lag = Duration::from_millis(300);
        let mut e = engine(
            r#"{"steps":[{"waitUserTurn":{}},{"speak":{"ms":200,"text":"ok"}},{"endTurn":{}}]}"#,
            json!({"model":"models/m","sessionResumption":{}}),
        );
        e.handle_lag = lag;
        e.checkpoints = true;
        let t0 = Instant::now();
        e.on_event(Event::Text("hi"), kind::TEXT, t0);
        // Speak until the turn ends: the turn start said "not resumable", and the
        // handle is not there yet.
        let mut now = t0;
        let mut due = None;
        while let Some(t) = e.poll(now) {
            if !e.turn_open {
                due = Some(t);
                break;
            }
            now = t.max(now);
        }
        assert_eq!(updates(&mut e), vec![(false, false)]);
        let boundary = now;
        let due = due.expect("the engine wakes up for the handle");
        assert_eq!(due, boundary + lag);
        assert_eq!(e.poll(due), None);
        assert_eq!(updates(&mut e), vec![(true, true)]);

        // Another turn; a user turn during the lag after it opens a new turn, and the
        // handle that was due is never sent.
        e.on_event(Event::Text("again"), kind::TEXT, due);
        let mut now = due;
        while e.poll(now).is_some() && e.turn_open {
            now += Duration::from_millis(100);
        }
        updates(&mut e);
        e.on_event(
            Event::Text("and again"),
            kind::TEXT,
            now + Duration::from_millis(10),
        );
        let next = e.poll(now + Duration::from_millis(10));
        assert!(e.turn_open);
        assert!(e.handle_due.is_none(), "dropped when the turn opened");
        assert!(next.is_some());
        assert_eq!(updates(&mut e), vec![(false, false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn open_calls_keep_the_session_unresumable_until_the_final_response() {
        let mut e = nb_engine(Duration::ZERO);
        let t0 = Instant::now();
        e.on_event(Event::Text("search"), kind::TEXT, t0);
        let now = run_until_quiet(&mut e, t0);
        // Turn start, then the turn ended with the call open.
        assert_eq!(updates(&mut e), vec![(false, false), (false, false)]);
        let id = open_call_id(&e);
        // Acknowledged (willContinue) and SILENT: still open, nothing announced.
        respond(
            &mut e,
            &id,
            json!({"willContinue": true, "scheduling": "SILENT"}),
            now,
        );
        let now = run_until_quiet(&mut e, now);
        assert!(!e.resumable());
        assert_eq!(updates(&mut e), vec![]);
        // The final SILENT response closes it while the model is idle: a fresh handle.
        respond(&mut e, &id, json!({"scheduling": "SILENT"}), now);
        run_until_quiet(&mut e, now);
        assert_eq!(updates(&mut e), vec![(true, true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn ignored_responses_reach_nothing() {
        let mut e = nb_engine(Duration::ZERO);
        let t0 = Instant::now();
        e.on_event(Event::Text("search"), kind::TEXT, t0);
        let now = run_until_quiet(&mut e, t0);
        e.out.clear();
        let id = open_call_id(&e);
        assert_ignored(
            &mut e,
            "function-call-7",
            now,
            IgnoreReason::UnknownId,
            ViolationKind::UnknownCallId,
        );
        // The real call is answered, then answered again: closed, ignored.
        respond(&mut e, &id, json!({}), now);
        let now = run_until_quiet(&mut e, now);
        assert!(kinds(&mut e).contains(&kind::MODEL_TURN), "voiced");
        assert_ignored(
            &mut e,
            &id,
            now,
            IgnoreReason::Closed,
            ViolationKind::ClosedCallId,
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_restored_checkpoint_forgets_later_calls_and_draws_new_ids() {
        let mut e = nb_engine(Duration::ZERO);
        let t0 = Instant::now();
        let checkpoint = match e.initial_update() {
            Out::ResumptionUpdate {
                resumable: true,
                snapshot: Some(s),
            } => s,
            other => panic!("{other:?}"),
        };
        e.on_event(Event::Text("search"), kind::TEXT, t0);
        let now = run_until_quiet(&mut e, t0);
        let id = open_call_id(&e);
        let mut r = checkpoint.restored();
        let mut r2 = checkpoint.restored();
        assert!(r.resumable() && !r.calls().any_open());
        respond(&mut r, &id, json!({}), now);
        assert!(r.out.iter().any(|o| matches!(
            o,
            Out::Note(Note::Ignored {
                reason: IgnoreReason::UnknownId,
                ..
            })
        )));
        // The restored conversation answers the same user turn with a new call id.
        for x in [&mut r, &mut r2] {
            x.on_event(Event::Text("search"), kind::TEXT, now);
            run_until_quiet(x, now);
        }
        let (a, b) = (open_call_id(&r), open_call_id(&r2));
        assert!(a != id && b != id && a != b, "{id} {a} {b}");
    }
}
