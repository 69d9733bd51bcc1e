//! What the example programs print: timestamped lines for transcripts, model output and
//! each tool's lifecycle, plus the bookkeeping that tells a program when a conversation
//! is over (no tool running, every result voiced, the last turn complete).
//!
//! Lines look like this (the voice agent and the text agent print the same ones):
//!
//! ```text
//! [  8.01s] tool ▸ search started (background) {"query":"flights Zurich to Lisbon"}
//! [  8.01s] tool ✓ search acked: the model knows it is running
//! [  8.71s] tool … search progress {"percent":33,"stage":"comparing fares"}
//! [ 10.12s] tool ✔ search completed in 2.10s: {...}
//! [ 12.32s] model : Good news: the search came back.
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use adk_live::prelude::*;

/// Prints lines stamped with the seconds since the program started.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    start: Instant,
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

impl Console {
    /// A console whose clock starts now.
    pub fn new() -> Self {
        Console {
            start: Instant::now(),
        }
    }

    /// Prints `[  1.23s] what` on stdout.
    pub fn say(&self, what: &str) {
        println!("[{:>6.2}s] {what}", self.start.elapsed().as_secs_f32());
    }
}

#[derive(Debug)]
struct Running {
    name: String,
    started: Instant,
    background: bool,
}

/// The state of a conversation as far as the console is concerned: transcripts being
/// collected, tools running, turns begun and completed.
///
/// Feed it every event with [`Conversation::show`]; it prints what is worth printing.
/// Audio payloads and the final `Closed` event are left to the caller.
#[derive(Debug)]
pub struct Conversation {
    console: Console,
    running: BTreeMap<String, Running>,
    /// When any call last finished (completed, failed or cancelled).
    last_finish: Option<Instant>,
    /// When a background call last completed or failed: its result is voiced in a turn
    /// of its own, after this.
    last_background_result: Option<Instant>,
    /// When a standard call last completed or failed: its result is voiced in the turn
    /// that made the call.
    last_standard_result: Option<Instant>,
    /// When the model's current turn produced its first output.
    turn_began: Option<Instant>,
    /// The last completed turn: (first output, if any; completion).
    last_turn: Option<(Option<Instant>, Instant)>,
    all_voiced: bool,
    said: String,
    heard: String,
}

impl Conversation {
    /// A conversation printing on `console`.
    pub fn new(console: Console) -> Self {
        Conversation {
            console,
            running: BTreeMap::new(),
            last_finish: None,
            last_background_result: None,
            last_standard_result: None,
            turn_began: None,
            last_turn: None,
            all_voiced: false,
            said: String::new(),
            heard: String::new(),
        }
    }

    /// The console this conversation prints on.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// Prints `event` as it deserves and updates the state.
    pub fn show(&mut self, event: &LiveEvent) {
        let console = self.console;
        let model_output = matches!(
            event,
            LiveEvent::Audio { .. } | LiveEvent::OutputTranscript { .. } | LiveEvent::Text(_)
        );
        if model_output {
            self.turn_began.get_or_insert_with(Instant::now);
            if !self.heard.is_empty() {
                console.say(&format!(
                    "you   : {}",
                    std::mem::take(&mut self.heard).trim()
                ));
            }
        }
        match event {
            LiveEvent::InputTranscript { text, .. } => self.heard.push_str(text),
            LiveEvent::OutputTranscript { text, .. } => self.said.push_str(text),
            LiveEvent::Text(text) => self.said.push_str(text),
            LiveEvent::Interrupted => console.say("model interrupted"),
            LiveEvent::TurnComplete => {
                if !self.said.is_empty() {
                    console.say(&format!(
                        "model : {}",
                        std::mem::take(&mut self.said).trim()
                    ));
                }
                let began = self.turn_began.take();
                self.last_turn = Some((began, Instant::now()));
                // The turn in which the last result was voiced: one that began after the
                // last tool finished.
                self.all_voiced = self.running.is_empty()
                    && matches!((self.last_finish, began), (Some(f), Some(b)) if b > f);
            }
            LiveEvent::ToolStarted {
                call_id,
                name,
                args,
                background,
            } => {
                let kind = if *background {
                    "background"
                } else {
                    "standard"
                };
                console.say(&format!("tool ▸ {name} started ({kind}) {args}"));
                self.running.insert(
                    call_id.clone(),
                    Running {
                        name: name.clone(),
                        started: Instant::now(),
                        background: *background,
                    },
                );
            }
            LiveEvent::ToolAcked { name, .. } => console.say(&format!(
                "tool ✓ {name} acked: the model knows it is running"
            )),
            LiveEvent::ToolProgress { name, progress, .. } => {
                console.say(&format!("tool … {name} progress {progress}"))
            }
            LiveEvent::ToolCompleted {
                call_id,
                name,
                result,
                elapsed,
            } => {
                self.finished(call_id, true);
                console.say(&format!(
                    "tool ✔ {name} completed in {:.2}s: {result}",
                    elapsed.as_secs_f32()
                ));
            }
            LiveEvent::ToolFailed {
                call_id,
                name,
                error,
            } => {
                self.finished(call_id, true);
                console.say(&format!("tool ✘ {name} failed: {error}"));
            }
            LiveEvent::ToolCancelled {
                call_id,
                name,
                reason,
                ..
            } => {
                self.finished(call_id, false);
                console.say(&format!("tool ✘ {name} cancelled ({reason:?})"));
            }
            LiveEvent::GoAway { time_left } => console.say(&format!(
                "server goAway ({time_left:?} left): switching connection"
            )),
            LiveEvent::Reconnected { resumed } => {
                console.say(&format!("reconnected (resumed: {resumed})"))
            }
            LiveEvent::Error(e) => console.say(&format!("warning: {e}")),
            _ => {}
        }
    }

    fn finished(&mut self, call_id: &str, answered: bool) {
        let now = Instant::now();
        let background = self.running.remove(call_id).is_some_and(|r| r.background);
        self.last_finish = Some(now);
        if answered {
            if background {
                self.last_background_result = Some(now);
            } else {
                self.last_standard_result = Some(now);
            }
        }
    }

    /// True while a tool call runs.
    pub fn tools_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Prints the running calls and how long each has run (`⏳ running: search 1.0s`).
    pub fn print_running(&self) {
        if self.running.is_empty() {
            return;
        }
        let list: Vec<String> = self
            .running
            .values()
            .map(|r| format!("{} {:.1}s", r.name, r.started.elapsed().as_secs_f32()))
            .collect();
        self.console
            .say(&format!("⏳ running: {}", list.join(", ")));
    }

    /// True once a model turn that began after the last tool finished has completed and
    /// no tool is running: the voice agent's "every result was voiced".
    pub fn all_voiced(&self) -> bool {
        self.all_voiced
    }

    /// True while the model is producing a turn.
    pub fn in_turn(&self) -> bool {
        self.turn_began.is_some()
    }

    /// True when a model turn completed after `t`.
    pub fn turn_completed_since(&self, t: Instant) -> bool {
        self.last_turn.is_some_and(|(_, end)| end > t)
    }

    /// True when nothing is left to happen after input sent at `t`: no tool runs, no turn
    /// is in progress, a turn completed after `t`, a standard tool's result was followed
    /// by the end of a turn, and a background tool's result by a turn of its own (the
    /// one in which the model voiced it).
    pub fn settled_since(&self, t: Instant) -> bool {
        let Some((began, ended)) = self.last_turn else {
            return false;
        };
        self.running.is_empty()
            && !self.in_turn()
            && ended > t
            && self.last_standard_result.is_none_or(|f| ended > f)
            && self
                .last_background_result
                .is_none_or(|f| began.is_some_and(|b| b > f))
    }
}
