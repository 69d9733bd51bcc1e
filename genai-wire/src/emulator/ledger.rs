//! The function-call ledger of a session: every call the model issued, every function
//! response the server acted on, every one it ignored, and every client text that
//! carried a call's result as conversation.
//!
//! Tests need to prove "every call was answered exactly once, by a response the server
//! knew" from the server's side, not from the client's own counters. Frames alone do
//! not say that: after a resumption from a checkpoint the same id can be known on one
//! connection and unknown on the next. So the engine reports what it did with each
//! response, and the session adds where (connection) and when, in the order it happened.
//!
//! The ledger is kept under every [`RecordMode`](super::RecordMode) (it is small: one
//! entry per call and per response).

use std::time::Duration;

use super::tools::{Behavior, Scheduling};

/// A function call the model issued (`toolCall.functionCalls[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCall {
    /// The connection (index within the session) it was sent on.
    pub conn: u32,
    /// The call id.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The behavior it was issued with.
    pub behavior: Behavior,
    /// The sequence number of the newest resumption handle sent before the call (0:
    /// none). In checkpoint mode a handle whose
    /// [`handle_seq`](super::SessionHandle::handle_seq) is at most this does not know the
    /// call; only later handles do.
    pub handle_seq: u64,
    /// When (since the session started).
    pub at: Duration,
}

/// A function response the server acted on: it matched an open call of the current
/// conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedResponse {
    /// The connection it arrived on.
    pub conn: u32,
    /// The id of the call it answered (for id-less responses matched by name, the
    /// matched call's id).
    pub id: String,
    /// The call's function name.
    pub name: String,
    /// `willContinue` (true: more responses follow, the call stays open).
    pub will_continue: bool,
    /// The `scheduling` the response carried, if any (the model applies `WHEN_IDLE`
    /// when absent; BLOCKING calls ignore it).
    pub scheduling: Option<Scheduling>,
    /// When (since the session started).
    pub at: Duration,
}

/// Why a function response was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// The current conversation never issued this id (a call from after the
    /// checkpoint the session resumed from, from another session, or made up).
    UnknownId,
    /// The call was already answered with `willContinue` false.
    Closed,
    /// The server cancelled the call (`toolCallCancellation`).
    Cancelled,
    /// No id (required on the Developer API), or an id-less response whose name
    /// matches no open call.
    NoMatch,
}

/// A function response the server did not act on: it reached no call, the model never
/// saw it and nothing was generated for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredResponse {
    /// The connection it arrived on.
    pub conn: u32,
    /// The id it named (empty if none).
    pub id: String,
    /// The name it carried (empty if none).
    pub name: String,
    /// Why it was ignored.
    pub reason: IgnoreReason,
    /// When (since the session started).
    pub at: Duration,
}

/// A client text (`clientContent` user turn or `realtimeInput.text`) that names a call
/// this emulator issued (in this session or another one: a fresh session after a
/// refused handle hears results of calls the old session made): a result delivered as
/// conversation, which the model hears whether or not the current conversation knows
/// the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationResult {
    /// The connection it arrived on.
    pub conn: u32,
    /// The call id the text contains.
    pub id: String,
    /// That call's function name.
    pub name: String,
    /// The message kind ([`kind::CLIENT_CONTENT`](super::kind::CLIENT_CONTENT) or
    /// [`kind::TEXT`](super::kind::TEXT)).
    pub via: &'static str,
    /// The text.
    pub text: String,
    /// When (since the session started).
    pub at: Duration,
}

/// What the engine did with a call or a response (the session adds connection, time
/// and handle sequence number).
#[derive(Debug)]
pub(crate) enum Note {
    Issued {
        id: String,
        name: String,
        behavior: Behavior,
    },
    Accepted {
        id: String,
        name: String,
        will_continue: bool,
        scheduling: Option<Scheduling>,
    },
    Ignored {
        id: String,
        name: String,
        reason: IgnoreReason,
    },
}

/// The ledger of one session.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub issued: Vec<IssuedCall>,
    pub accepted: Vec<AcceptedResponse>,
    pub ignored: Vec<IgnoredResponse>,
    pub conversation: Vec<ConversationResult>,
}

impl Ledger {
    /// Enters a note from the engine.
    pub fn enter(&mut self, conn: u32, at: Duration, handle_seq: u64, note: Note) {
        match note {
            Note::Issued { id, name, behavior } => self.issued.push(IssuedCall {
                conn,
                id,
                name,
                behavior,
                handle_seq,
                at,
            }),
            Note::Accepted {
                id,
                name,
                will_continue,
                scheduling,
            } => self.accepted.push(AcceptedResponse {
                conn,
                id,
                name,
                will_continue,
                scheduling,
                at,
            }),
            Note::Ignored { id, name, reason } => self.ignored.push(IgnoredResponse {
                conn,
                id,
                name,
                reason,
                at,
            }),
        }
    }

    /// The calls of this ledger whose id `text` contains: (id, name), once each.
    pub fn calls_in(&self, text: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for call in &self.issued {
            if !call.id.is_empty()
                && text.contains(call.id.as_str())
                && !out.iter().any(|(id, _)| *id == call.id)
            {
                out.push((call.id.clone(), call.name.clone()));
            }
        }
        out
    }

    /// The name of the call issued with this id, if this ledger has it.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.issued
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }

    /// Records a client text as the conversation result of each of `calls`.
    pub fn conversation(
        &mut self,
        conn: u32,
        at: Duration,
        via: &'static str,
        text: &str,
        calls: &[(String, String)],
    ) {
        for (id, name) in calls {
            self.conversation.push(ConversationResult {
                conn,
                id: id.clone(),
                name: name.clone(),
                via,
                text: text.to_string(),
                at,
            });
        }
    }
}

/// Substrings of `text` shaped like the emulator's call ids: `function-call-<digits>`
/// (Developer API) and UUIDs (Vertex). Used to find calls of *other* sessions without
/// scanning every session's ledger for every client text.
pub(crate) fn id_tokens(text: &str) -> Vec<&str> {
    const PREFIX: &str = "function-call-";
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(PREFIX) {
        let start = from + i;
        let digits = b[start + PREFIX.len()..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            out.push(&text[start..start + PREFIX.len() + digits]);
        }
        from = start + PREFIX.len();
    }
    let is_uuid = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    };
    let mut i = 0;
    while i + 36 <= b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_hexdigit();
        if boundary && is_uuid(&b[i..i + 36]) {
            out.push(&text[i..i + 36]);
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_texts() {
        let mut l = Ledger::default();
        let t = Duration::from_millis(5);
        l.enter(
            0,
            t,
            2,
            Note::Issued {
                id: "function-call-1".into(),
                name: "search".into(),
                behavior: Behavior::NonBlocking,
            },
        );
        l.enter(
            1,
            t,
            3,
            Note::Ignored {
                id: "function-call-1".into(),
                name: "search".into(),
                reason: IgnoreReason::UnknownId,
            },
        );
        assert_eq!(l.issued[0].handle_seq, 2);
        assert_eq!(l.ignored[0].conn, 1);
        assert!(l.calls_in("nothing here").is_empty());
        // The same id twice in one text is one result.
        let text = "Result of search (function-call-1): sunny. function-call-1";
        let calls = l.calls_in(text);
        assert_eq!(calls, [("function-call-1".into(), "search".into())]);
        l.conversation(1, t, "clientContent", text, &calls);
        assert_eq!(l.conversation[0].name, "search");
        assert_eq!(l.conversation[0].via, "clientContent");
        assert_eq!(l.name_of("function-call-1"), Some("search"));
        assert_eq!(l.name_of("function-call-2"), None);
    }

    #[test]
    fn id_shaped_tokens() {
        let text = "search (function-call-123) and 9f5a799e-f8b3-4ba4-978b-714a89f1fd02, \
                    not function-call- nor 9f5a799e-f8b3-4ba4-978b";
        assert_eq!(
            id_tokens(text),
            ["function-call-123", "9f5a799e-f8b3-4ba4-978b-714a89f1fd02"]
        );
        assert!(id_tokens("").is_empty());
        assert!(id_tokens("é function-call-").is_empty());
    }
}
