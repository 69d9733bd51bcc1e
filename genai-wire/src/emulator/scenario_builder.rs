//! Scenarios written in Rust: what the emulator's model says and does, step by step.
//!
//! Testing your own agent is the emulator's best use: script the model ("the user asks,
//! the model calls `book_table` with these arguments, then voices the result"), run the
//! agent against it, then read the emulator's record of what the model received. The
//! builder writes the same scenario a JSON file would (`fixtures/scenarios/README.md` in
//! the repository documents the format) and checks it the same way.

use serde_json::{Value, json};

use super::scenario::{Scenario, ScenarioError};

/// Builds a [`Scenario`] step by step.
///
/// ```
/// use genai_wire::emulator::Scenario;
/// use serde_json::json;
///
/// let scenario = Scenario::builder()
///     .wait_user_turn()
///     .say("Let me book that for you.")
///     .call("book_table", json!({"people": 4, "time": "20:00"}))
///     .end_turn()
///     // When the booking's result arrives, the model says this.
///     .tool_result_for("book_table", "Booked: {response}.")
///     .build()
///     .unwrap();
/// # let _ = scenario;
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    file: Value,
    steps: Vec<Value>,
}

impl Scenario {
    /// A scenario written in Rust (see [`ScenarioBuilder`]).
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder {
            file: json!({"repeat": true}),
            steps: Vec::new(),
        }
    }
}

impl ScenarioBuilder {
    /// Free text describing it.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.file["description"] = json!(text.into());
        self
    }

    /// Start again at the first step after the last (default true; a repeating scenario
    /// needs a wait step).
    pub fn repeat(mut self, on: bool) -> Self {
        self.file["repeat"] = json!(on);
        self
    }

    /// Pacing of the model's audio relative to real time (default 1.0).
    pub fn audio_speed(mut self, speed: f64) -> Self {
        self.file["audio"]["speed"] = json!(speed);
        self
    }

    /// What the model says when it voices any function's result (`{name}`,
    /// `{response}` are filled in).
    pub fn tool_result(mut self, text: impl Into<String>) -> Self {
        self.file["toolResult"]["text"] = json!(text.into());
        self
    }

    /// What the model says when it voices `name`'s result.
    pub fn tool_result_for(mut self, name: &str, text: impl Into<String>) -> Self {
        self.file["toolResult"]["byName"][name] = json!(text.into());
        self
    }

    /// Waits for the end of a user turn.
    pub fn wait_user_turn(self) -> Self {
        self.step(json!({"waitUserTurn": {}}))
    }

    /// Sends the transcription of the user's audio (when setup asked for it).
    pub fn input_transcription(self, text: impl Into<String>) -> Self {
        self.step(json!({"inputTranscription": text.into()}))
    }

    /// Speaks (audio and its transcription, or text with TEXT responses); 300 ms a word.
    pub fn say(self, text: impl Into<String>) -> Self {
        self.step(json!({"speak": {"text": text.into()}}))
    }

    /// Speaks for `ms` milliseconds.
    pub fn say_for(self, ms: u32, text: impl Into<String>) -> Self {
        self.step(json!({"speak": {"ms": ms, "text": text.into()}}))
    }

    /// Calls function `name` with `args`.
    pub fn call(self, name: &str, args: Value) -> Self {
        self.step(json!({"call": {"name": name, "args": args}}))
    }

    /// Waits for the model to accept a response to `name`.
    pub fn wait_tool_response(self, name: &str) -> Self {
        self.step(json!({"waitToolResponse": {"name": name}}))
    }

    /// Ends the model's turn.
    pub fn end_turn(self) -> Self {
        self.step(json!({"endTurn": {}}))
    }

    /// Pauses.
    pub fn delay(self, ms: u32) -> Self {
        self.step(json!({"delay": ms}))
    }

    /// Sends `goAway` and closes the connection when `time_left_ms` has passed.
    pub fn go_away(self, time_left_ms: u32) -> Self {
        self.step(json!({"goAway": {"timeLeftMs": time_left_ms}}))
    }

    /// Closes the connection.
    pub fn close(self, code: u16, reason: impl Into<String>) -> Self {
        self.step(json!({"close": {"code": code, "reason": reason.into()}}))
    }

    /// Any step of the JSON format, as it is.
    pub fn step(mut self, step: Value) -> Self {
        self.steps.push(step);
        self
    }

    /// Checks and compiles it.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        let mut file = self.file;
        file["steps"] = Value::Array(self.steps);
        Scenario::from_json(&file.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_scenario_without_a_wait_is_refused() {
        let err = Scenario::builder().say("hi").end_turn().build();
        assert!(err.is_err());
        assert!(
            Scenario::builder()
                .wait_user_turn()
                .say("hi")
                .end_turn()
                .build()
                .is_ok()
        );
    }
}
