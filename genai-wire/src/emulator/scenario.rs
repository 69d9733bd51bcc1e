//! Scenario files: what the scripted "model" says and does, as data.
//!
//! A scenario is a small JSON document (see `fixtures/scenarios/README.md` for the
//! full reference and `emulator/default_scenario.json` in this crate for the default). It is a list
//! of steps run top to bottom, reacting to the client:
//!
//! ```json
//! {
//!   "description": "Answer every user turn and call `search`.",
//!   "repeat": true,
//!   "audio": {"chunkMs": 100, "speed": 1.0},
//!   "turnDetection": {"silenceMs": 500, "level": 300},
//!   "toolResult": {"ms": 800, "text": "Here is what {name} found."},
//!   "steps": [
//!     {"waitUserTurn": {}},
//!     {"inputTranscription": "What's the weather in Paris?"},
//!     {"speak": {"ms": 1200, "text": "Let me look that up."}},
//!     {"call": {"name": "search", "args": {"query": "weather in Paris"}}},
//!     {"endTurn": {}}
//!   ]
//! }
//! ```
//!
//! Steps (each an object with one key):
//!
//! | step | effect |
//! |---|---|
//! | `{"waitUserTurn": {}}` | wait for the end of a user turn (see below) |
//! | `{"waitToolResponse": {"name": "search"}}` | wait for an accepted function response (any name if omitted) |
//! | `{"waitClient": {"kind": "realtimeInput.text", "textContains": "bye"}}` | wait for a client message of that kind (and/or text) |
//! | `{"delay": 250}` | pause, in milliseconds |
//! | `{"inputTranscription": "text"}` | send `inputTranscription` (only if setup enabled it and the user turn had audio) |
//! | `{"speak": {"ms": 1200, "text": "..."}}` | speak: PCM chunks + `outputTranscription` (AUDIO), or text parts (TEXT) |
//! | `{"call": {"name": "f", "args": {}}}` or `{"call": [..]}` | send a `toolCall` (skipped for undeclared functions unless `"force": true`) |
//! | `{"endTurn": {}}` | `generationComplete`, then `turnComplete` with `usageMetadata` |
//! | `{"emit": {...}}` | send this JSON verbatim; strings may use `{{lastCallId}}`, `{{sessionId}}`, `{{userText}}` |
//! | `{"if": {"when": COND, "then": [..], "else": [..]}}` | branch on what the client sent |
//! | `{"goAway": {"timeLeftMs": 1000}}` | send `goAway`, close the connection when the time is up |
//! | `{"close": {"code": 1011, "reason": "Internal error occurred."}}` | close the connection |
//!
//! Conditions: `{"textContains": "x"}` (last user text, case-insensitive),
//! `{"inputWas": "audio"|"text"|"clientContent"|"activityEnd"|"audioStreamEnd"}`,
//! `{"declared": "fn"}` (function declared in setup), `{"not": C}`, `{"any": [C..]}`,
//! `{"all": [C..]}`.
//!
//! End of a user turn: `realtimeInput.activityEnd`, `realtimeInput.audioStreamEnd`,
//! `realtimeInput.text`, `clientContent` with `turnComplete: true`, or (with automatic
//! activity detection on) voiced audio followed by `turnDetection.silenceMs` without
//! voiced audio. Audio is "voiced" when its mean absolute sample value is at least
//! `turnDetection.level`.
//!
//! Steps are compiled into a flat program (branches become jumps), so the position in
//! a scenario is one integer that survives a session resumption.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::audio::AudioFrames;
use crate::Backend;

/// An error in a scenario file.
#[derive(Debug, thiserror::Error)]
#[error("scenario: {0}")]
pub struct ScenarioError(pub String);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    repeat: bool,
    #[serde(default)]
    audio: AudioOpts,
    #[serde(default)]
    turn_detection: TurnDetection,
    #[serde(default)]
    tool_result: ToolResult,
    #[serde(default)]
    default_behavior: Option<BehaviorName>,
    steps: Vec<Step>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum BehaviorName {
    Blocking,
    NonBlocking,
}

/// How the model's audio is chunked and paced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AudioOpts {
    /// Milliseconds of audio per `serverContent` chunk (10..=1000, default 100).
    #[serde(default = "chunk_ms")]
    pub chunk_ms: u32,
    /// Pacing relative to real time: 1.0 sends audio as fast as it plays, 2.0 twice as
    /// fast (default 1.0; 0.1..=100).
    #[serde(default = "one")]
    pub speed: f64,
}

fn chunk_ms() -> u32 {
    100
}
fn one() -> f64 {
    1.0
}

impl Default for AudioOpts {
    fn default() -> Self {
        AudioOpts {
            chunk_ms: chunk_ms(),
            speed: 1.0,
        }
    }
}

/// End-of-turn detection for the user's audio.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TurnDetection {
    /// Silence after voiced audio that ends the user's turn (default 500 ms).
    #[serde(default = "silence_ms")]
    pub silence_ms: u64,
    /// Mean absolute PCM16 level from which audio counts as voiced (default 300).
    #[serde(default = "level")]
    pub level: u32,
}

fn silence_ms() -> u64 {
    500
}
fn level() -> u32 {
    300
}

impl Default for TurnDetection {
    fn default() -> Self {
        TurnDetection {
            silence_ms: silence_ms(),
            level: level(),
        }
    }
}

/// What the model says when it voices a function result.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolResult {
    /// Length of the spoken result (default 800 ms).
    #[serde(default = "result_ms")]
    pub ms: u32,
    /// Transcript; `{name}` becomes the function name, `{response}` a short rendering
    /// of the response JSON.
    #[serde(default = "result_text")]
    pub text: String,
    /// A transcript per function name, used instead of `text` for that function (same
    /// placeholders): each tool can say its own result.
    #[serde(default)]
    pub by_name: std::collections::BTreeMap<String, String>,
}

impl ToolResult {
    /// The transcript template for `name`'s result.
    pub fn text_for(&self, name: &str) -> &str {
        self.by_name.get(name).map_or(&self.text, String::as_str)
    }
}

fn result_ms() -> u32 {
    800
}
fn result_text() -> String {
    "Here is what {name} returned.".to_string()
}

impl Default for ToolResult {
    fn default() -> Self {
        ToolResult {
            ms: result_ms(),
            text: result_text(),
            by_name: Default::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum Step {
    WaitUserTurn {},
    WaitToolResponse {
        #[serde(default)]
        name: Option<String>,
    },
    WaitClient {
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        text_contains: Option<String>,
    },
    Delay(u64),
    InputTranscription(String),
    Speak(SpeakStep),
    Call(OneOrMany),
    EndTurn {},
    Emit(Value),
    If(IfStep),
    GoAway {
        time_left_ms: u64,
    },
    Close {
        #[serde(default = "close_code")]
        code: u16,
        #[serde(default)]
        reason: String,
    },
}

fn close_code() -> u16 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpeakStep {
    #[serde(default)]
    ms: Option<u32>,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(CallStep),
    Many(Vec<CallStep>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallStep {
    name: String,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IfStep {
    when: Cond,
    #[serde(default)]
    then: Vec<Step>,
    #[serde(default, rename = "else")]
    otherwise: Vec<Step>,
}

/// A branch condition over what the client sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Cond {
    /// The last user text (realtimeInput.text or clientContent) contains this,
    /// case-insensitively.
    TextContains(String),
    /// What ended the last user turn: `audio`, `text`, `clientContent`, `activityEnd`
    /// or `audioStreamEnd`.
    InputWas(String),
    /// The function is declared in setup.
    Declared(String),
    /// Negation.
    Not(Box<Cond>),
    /// Any of.
    Any(Vec<Cond>),
    /// All of.
    All(Vec<Cond>),
}

/// One function call a `call` step makes.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// Function name.
    pub name: String,
    /// Arguments (`{}` when omitted).
    pub args: Value,
    /// Call even if setup did not declare the function.
    pub force: bool,
}

/// One instruction of a compiled scenario.
#[derive(Debug, Clone)]
pub enum Op {
    /// Wait for the end of a user turn.
    WaitUserTurn,
    /// Wait for an accepted function response.
    WaitToolResponse(Option<String>),
    /// Wait for a client message of a kind and/or containing a text.
    WaitClient {
        /// Message kind (see `record::kind`), or prefix like `realtimeInput`.
        kind: Option<String>,
        /// Lower-cased text the message's text must contain.
        text_contains: Option<String>,
    },
    /// Pause.
    Delay(Duration),
    /// Send an input transcription.
    InputTranscription(Arc<str>),
    /// Speak for `ms` with this transcript.
    Speak {
        /// Duration.
        ms: u32,
        /// Transcript.
        text: Arc<str>,
    },
    /// Issue function calls (in one `toolCall`).
    Call(Vec<CallSpec>),
    /// End the model turn.
    EndTurn,
    /// Send a JSON template.
    Emit(Value),
    /// Jump to an op if the condition is false.
    JumpUnless(Cond, usize),
    /// Jump to an op.
    Jump(usize),
    /// Send goAway and close after the time left.
    GoAway(Duration),
    /// Close the connection.
    Close(u16, String),
}

impl Op {
    /// Does this op wait for the client (or time)?
    fn waits(&self) -> bool {
        match self {
            Op::WaitUserTurn | Op::WaitToolResponse(_) | Op::WaitClient { .. } => true,
            Op::Delay(d) => !d.is_zero(),
            _ => false,
        }
    }
}

/// A compiled scenario (shared, immutable).
#[derive(Debug)]
pub struct Compiled {
    /// Free-text description.
    pub description: String,
    /// Start again at the first step after the last one.
    pub repeat: bool,
    /// Audio chunking and pacing.
    pub audio: AudioOpts,
    /// User end-of-turn detection.
    pub turn_detection: TurnDetection,
    /// How function results are voiced.
    pub tool_result: ToolResult,
    /// Behavior of functions declared without one (default BLOCKING), for a model the
    /// profile table does not know; known models follow their profile's default.
    pub default_blocking: bool,
    /// The program.
    pub ops: Vec<Op>,
    dev_frames: OnceLock<AudioFrames>,
    vertex_frames: OnceLock<AudioFrames>,
}

impl Compiled {
    /// The pre-encoded audio frames for a backend (built on first use).
    pub fn frames(&self, backend: Backend) -> &AudioFrames {
        let cycle = (self.audio.chunk_ms * 24).clamp(2_400, 4_800);
        match backend {
            Backend::DeveloperApi => self.dev_frames.get_or_init(|| {
                AudioFrames::build(self.audio.chunk_ms, cycle, "audio/pcm;rate=24000", false)
            }),
            Backend::VertexAi => self
                .vertex_frames
                .get_or_init(|| AudioFrames::build(self.audio.chunk_ms, cycle, "audio/pcm", true)),
        }
    }

    /// Time between two chunks at the configured speed.
    pub fn chunk_interval(&self) -> Duration {
        Duration::from_secs_f64(self.audio.chunk_ms as f64 / 1000.0 / self.audio.speed)
    }
}

/// A scenario: what the emulated model does. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Scenario(pub(crate) Arc<Compiled>);

/// The built-in default scenario (`genai-wire/emulator/default_scenario.json`).
pub const DEFAULT_SCENARIO: &str = include_str!("../../emulator/default_scenario.json");

impl Default for Scenario {
    fn default() -> Self {
        Scenario::from_json(DEFAULT_SCENARIO).expect("the default scenario is valid")
    }
}

impl Scenario {
    /// Parses a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = serde_json::from_str(text).map_err(|e| ScenarioError(e.to_string()))?;
        compile(file)
    }

    /// Reads and parses a scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        Scenario::from_json(&text)
            .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))
    }

    /// A scenario that waits for user turns and never answers (useful for tests that
    /// drive everything through control-handle injection).
    pub fn silent() -> Scenario {
        Scenario::from_json(r#"{"steps":[{"waitUserTurn":{}}]}"#).expect("valid")
    }

    /// The scenario's description.
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// The compiled program (for inspection and tests).
    pub fn ops(&self) -> &[Op] {
        &self.0.ops
    }
}

fn compile(file: File) -> Result<Scenario, ScenarioError> {
    if !(10..=1000).contains(&file.audio.chunk_ms) {
        return Err(ScenarioError(
            "audio.chunkMs must be within 10..=1000".into(),
        ));
    }
    if !(0.1..=100.0).contains(&file.audio.speed) {
        return Err(ScenarioError("audio.speed must be within 0.1..=100".into()));
    }
    let mut ops = Vec::new();
    emit_steps(file.steps, &mut ops)?;
    if file.repeat && !ops.iter().any(Op::waits) {
        return Err(ScenarioError(
            "a repeating scenario needs a wait step (waitUserTurn, waitClient, waitToolResponse or a delay)"
                .into(),
        ));
    }
    Ok(Scenario(Arc::new(Compiled {
        description: file.description,
        repeat: file.repeat,
        audio: file.audio,
        turn_detection: file.turn_detection,
        tool_result: file.tool_result,
        default_blocking: !matches!(file.default_behavior, Some(BehaviorName::NonBlocking)),
        ops,
        dev_frames: OnceLock::new(),
        vertex_frames: OnceLock::new(),
    })))
}

fn emit_steps(steps: Vec<Step>, ops: &mut Vec<Op>) -> Result<(), ScenarioError> {
    for step in steps {
        match step {
            Step::WaitUserTurn {} => ops.push(Op::WaitUserTurn),
            Step::WaitToolResponse { name } => ops.push(Op::WaitToolResponse(name)),
            Step::WaitClient {
                kind,
                text_contains,
            } => ops.push(Op::WaitClient {
                kind,
                text_contains: text_contains.map(|t| t.to_lowercase()),
            }),
            Step::Delay(ms) => ops.push(Op::Delay(Duration::from_millis(ms))),
            Step::InputTranscription(t) => ops.push(Op::InputTranscription(t.into())),
            Step::Speak(s) => {
                let words = s.text.split_whitespace().count() as u32;
                let ms = s.ms.unwrap_or((words * 300).max(300));
                if ms == 0 || ms > 600_000 {
                    return Err(ScenarioError("speak.ms must be within 1..=600000".into()));
                }
                ops.push(Op::Speak {
                    ms,
                    text: s.text.into(),
                });
            }
            Step::Call(c) => {
                let list = match c {
                    OneOrMany::One(c) => vec![c],
                    OneOrMany::Many(v) => v,
                };
                if list.is_empty() {
                    return Err(ScenarioError("call needs at least one function".into()));
                }
                let mut specs = Vec::with_capacity(list.len());
                for c in list {
                    let args = c.args.unwrap_or_else(|| Value::Object(Default::default()));
                    if !args.is_object() {
                        return Err(ScenarioError(format!(
                            "call {}: args must be an object",
                            c.name
                        )));
                    }
                    specs.push(CallSpec {
                        name: c.name,
                        args,
                        force: c.force,
                    });
                }
                ops.push(Op::Call(specs));
            }
            Step::EndTurn {} => ops.push(Op::EndTurn),
            Step::Emit(v) => {
                if !v.is_object() {
                    return Err(ScenarioError("emit needs a JSON object".into()));
                }
                ops.push(Op::Emit(v));
            }
            Step::If(s) => {
                let jump_unless = ops.len();
                ops.push(Op::Jump(0)); // patched below
                emit_steps(s.then, ops)?;
                if s.otherwise.is_empty() {
                    let end = ops.len();
                    ops[jump_unless] = Op::JumpUnless(s.when, end);
                } else {
                    let jump_end = ops.len();
                    ops.push(Op::Jump(0));
                    let else_start = ops.len();
                    emit_steps(s.otherwise, ops)?;
                    let end = ops.len();
                    ops[jump_unless] = Op::JumpUnless(s.when, else_start);
                    ops[jump_end] = Op::Jump(end);
                }
            }
            Step::GoAway { time_left_ms } => {
                ops.push(Op::GoAway(Duration::from_millis(time_left_ms)))
            }
            Step::Close { code, reason } => ops.push(Op::Close(code, reason)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_compiles() {
        let s = Scenario::default();
        assert!(s.0.repeat);
        assert!(matches!(s.ops()[0], Op::WaitUserTurn));
        assert!(s.ops().iter().any(|o| matches!(o, Op::Call(_))));
    }

    #[test]
    fn every_fixture_compiles() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                Scenario::from_file(&p).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn branches_compile_to_jumps() {
        let s = Scenario::from_json(
            r#"{"steps":[{"waitUserTurn":{}},
                {"if":{"when":{"textContains":"Bye"},"then":[{"close":{"code":1000}}],
                       "else":[{"speak":{"text":"hello there"}},{"endTurn":{}}]}}]}"#,
        )
        .unwrap();
        let ops = s.ops();
        assert!(matches!(ops[1], Op::JumpUnless(_, 4)));
        assert!(matches!(ops[3], Op::Jump(6)));
        assert!(matches!(ops[4], Op::Speak { ms: 600, .. }));
    }

    #[test]
    fn bad_scenarios_are_refused() {
        assert!(Scenario::from_json(r#"{"steps":[{"speak":{"text":"x"}}]}"#).is_err());
        assert!(Scenario::from_json(r#"{"steps":[{"waitUserTurn":{}},{"dance":{}}]}"#).is_err());
        assert!(
            Scenario::from_json(r#"{"steps":[{"waitUserTurn":{}}],"audio":{"chunkMs":1}}"#)
                .is_err()
        );
        assert!(
            Scenario::from_json(
                r#"{"steps":[{"waitUserTurn":{}},{"call":{"name":"f","args":[1]}}]}"#
            )
            .is_err()
        );
        assert!(
            Scenario::from_json(r#"{"repeat":false,"steps":[{"speak":{"text":"x"}}]}"#).is_ok()
        );
    }
}
