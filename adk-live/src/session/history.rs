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

/// One stretch of a turn: text, or a tool result (kept apart, tagged with its call id,
/// so a seed can leave out a result that is about to be said again).
#[derive(Debug)]
struct Entry {
    speaker: Speaker,
    text: String,
    call_id: Option<String>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct History {
    turns: VecDeque<Entry>,
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

    fn add(&mut self, speaker: Speaker, text: &str, call_id: Option<&str>) {
        if self.limit == 0 || text.trim().is_empty() {
            return;
        }
        match self.turns.back_mut() {
            Some(e) if e.speaker == speaker && e.call_id.is_none() && call_id.is_none() => {
                e.text.push_str(text)
            }
            _ => self.turns.push_back(Entry {
                speaker,
                text: text.to_owned(),
                call_id: call_id.map(str::to_owned),
            }),
        }
        self.chars += text.len();
        while self.chars > self.limit {
            let Some(oldest) = self.turns.pop_front() else {
                break;
            };
            self.chars -= oldest.text.len();
        }
    }

    /// The user said or typed this.
    pub(crate) fn user(&mut self, text: &str) {
        self.add(Speaker::User, text, None);
    }

    /// The model said or wrote this.
    pub(crate) fn model(&mut self, text: &str) {
        self.add(Speaker::Model, text, None);
    }

    /// The model called a tool. The id is left out: a later result names it, and the
    /// seed is context only.
    pub(crate) fn call(&mut self, name: &str) {
        self.add(Speaker::Model, &format!(" [called `{name}`]"), None);
    }

    /// A tool's final response reached the model (on the wire or as conversation).
    pub(crate) fn result(&mut self, call_id: &str, response: &FunctionResponse) {
        self.add(
            Speaker::User,
            &format!(
                " [result of `{}` (id {call_id}): {}]",
                response.name, response.response
            ),
            Some(call_id),
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
    /// seed to end with one: pipecat-ai/pipecat PR #4355), leaving out the results of
    /// `skip` (they are about to be said again as conversation: once is enough).
    pub(crate) fn seed_turns(&self, skip: &[&str]) -> Vec<Content> {
        let mut merged: Vec<(Speaker, String)> = Vec::new();
        let kept = self
            .turns
            .iter()
            .filter(|e| !e.call_id.as_deref().is_some_and(|id| skip.contains(&id)));
        for e in kept {
            match merged.last_mut() {
                Some((s, t)) if *s == e.speaker => t.push_str(&e.text),
                _ => merged.push((e.speaker, e.text.clone())),
            }
        }
        let ends_with_model = merged.last().is_some_and(|(s, _)| *s == Speaker::Model);
        let mut turns: Vec<Content> = merged
            .into_iter()
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
        if ends_with_model {
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
        let seed = h.seed_turns(&[]);
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

    #[test]
    fn a_result_about_to_be_said_again_is_left_out_of_the_seed() {
        let mut h = History::new(1000);
        h.user("search it");
        h.call("search");
        let response = FunctionResponse {
            name: "search".into(),
            response: serde_json::json!({"hits": 1}),
            ..Default::default()
        };
        h.result("c1", &response);
        h.user(" thanks");
        let text = |seed: Vec<Content>| -> String {
            seed.iter()
                .flat_map(|c| c.parts.iter().filter_map(|p| p.text.clone()))
                .collect()
        };
        assert!(text(h.seed_turns(&[])).contains("(id c1)"));
        let seed = h.seed_turns(&["c1"]);
        assert_eq!(seed.len(), 3, "user, model, user: {seed:?}");
        assert!(!text(seed).contains("(id c1)"));
    }
}
