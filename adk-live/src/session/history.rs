//! A compact client-side record of the conversation, to seed a fresh server session.
//!
//! Why: when the server refuses the resumption handle (1008, e.g. it expired after the
//! 2-hour window) or there is none, the new server session starts empty. Without this
//! record the model would forget the whole conversation and every call in flight; with it
//! the fresh session is seeded with what was said (transcripts, typed text), which tools
//! were called and what they answered, and the results of calls still running then reach
//! it as conversation (see `ledger`).
//!
//! What is kept is text only, merged per speaker turn, and bounded: past the limit the
//! oldest turns go first. It is off when the limit is 0.

use std::collections::VecDeque;

use genai_wire::protocol::{ClientMessage, Content, FunctionResponse, Part};

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    User,
    Model,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct History {
    turns: VecDeque<(Speaker, String)>,
    chars: usize,
    limit: usize,
}

impl History {
    /// A record of at most `limit` characters (0: keep nothing).
    pub(crate) fn new(limit: usize) -> Self {
        History {
            limit,
            ..Default::default()
        }
    }

    fn add(&mut self, speaker: Speaker, text: &str) {
        if self.limit == 0 || text.trim().is_empty() {
            return;
        }
        match self.turns.back_mut() {
            Some((s, t)) if *s == speaker => t.push_str(text),
            _ => self.turns.push_back((speaker, text.to_owned())),
        }
        self.chars += text.len();
        while self.chars > self.limit {
            let Some((_, oldest)) = self.turns.pop_front() else {
                break;
            };
            self.chars -= oldest.len();
        }
    }

    /// The user said or typed this.
    pub(crate) fn user(&mut self, text: &str) {
        self.add(Speaker::User, text);
    }

    /// The model said or wrote this.
    pub(crate) fn model(&mut self, text: &str) {
        self.add(Speaker::Model, text);
    }

    /// The model called a tool. The id is left out: a later result names it, and the
    /// seed is context only.
    pub(crate) fn call(&mut self, name: &str) {
        self.add(Speaker::Model, &format!(" [called `{name}`]"));
    }

    /// A tool's final response reached the model.
    pub(crate) fn result(&mut self, call_id: &str, response: &FunctionResponse) {
        self.add(
            Speaker::User,
            &format!(
                " [result of `{}` (id {call_id}): {}]",
                response.name, response.response
            ),
        );
    }

    /// Records what a client message adds to the conversation (its text).
    pub(crate) fn sent(&mut self, message: &ClientMessage) {
        match message {
            ClientMessage::RealtimeInput(r) => {
                if let Some(t) = &r.text {
                    self.user(t);
                }
            }
            ClientMessage::ToolResponse(t) => {
                for r in t
                    .function_responses
                    .iter()
                    .filter(|r| r.will_continue != Some(true))
                {
                    self.result(r.id.as_deref().unwrap_or_default(), r);
                }
            }
            ClientMessage::ClientContent(c) => {
                for turn in &c.turns {
                    let text: String = turn
                        .parts
                        .iter()
                        .filter_map(|p| p.text.as_deref())
                        .collect();
                    if turn.role.as_deref() == Some("model") {
                        self.model(&text);
                    } else {
                        self.user(&text);
                    }
                }
            }
            _ => {}
        }
    }

    /// True when there is nothing to seed.
    pub(crate) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// The record as `clientContent` turns, ending with a user turn (2.5 models need the
    /// seed to end with one: pipecat-ai/pipecat PR #4355).
    pub(crate) fn seed_turns(&self) -> Vec<Content> {
        let mut turns: Vec<Content> = self
            .turns
            .iter()
            .map(|(speaker, text)| Content {
                role: Some(
                    match speaker {
                        Speaker::User => "user",
                        Speaker::Model => "model",
                    }
                    .into(),
                ),
                parts: vec![Part {
                    text: Some(text.trim().to_owned()),
                    ..Default::default()
                }],
            })
            .collect();
        if self.turns.back().is_some_and(|(s, _)| *s == Speaker::Model) {
            turns.push(Content {
                role: Some("user".into()),
                parts: vec![Part {
                    text: Some(
                        "[The connection was restored; the conversation above continues.]".into(),
                    ),
                    ..Default::default()
                }],
            });
        }
        turns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_turns_bounds_size_and_ends_with_the_user() {
        let mut h = History::new(60);
        h.user("hello ");
        h.user("there");
        h.model("hi!");
        h.call("search");
        assert_eq!(h.turns.len(), 2);
        let seed = h.seed_turns();
        assert_eq!(seed.len(), 3);
        assert_eq!(seed[0].parts[0].text.as_deref(), Some("hello there"));
        assert_eq!(seed.last().unwrap().role.as_deref(), Some("user"));
        for _ in 0..10 {
            h.user("0123456789");
        }
        assert!(h.chars <= 60);
        let mut off = History::new(0);
        off.user("x");
        assert!(off.is_empty());
    }
}
