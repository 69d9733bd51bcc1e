//! Outstanding function calls: what the model asked for, with which `behavior`, and
//! what happened to each call since.
//!
//! The real service tracks calls so that a `toolResponse` lands on the call it answers,
//! a BLOCKING call keeps the model silent, `willContinue: true` keeps a call open for
//! more results, and barge-in cancels the calls of the interrupted turn. The emulator
//! keeps the same bookkeeping here, apart from the socket, so it travels with the
//! conversation: a checkpoint copies it (calls issued after the checkpoint are unknown
//! to a session resumed from it), and in latest-state resumption a response for a call
//! issued on an old connection is accepted on the new one. Responses that match nothing
//! the model asked for are not silently dropped: they come back as [`ResponseError`]s,
//! which the engine ignores (the model never hears them) and the session records.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Backend;

/// How long the model waits for a call's result (declared per function in setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// The model stays silent until the response arrives.
    Blocking,
    /// The conversation continues while the call runs.
    NonBlocking,
}

/// When a NON_BLOCKING result is voiced (set per response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    /// Add to context only; say nothing now.
    Silent,
    /// Speak about it once the current model turn is over (the default).
    WhenIdle,
    /// Cut the current output and speak about it now.
    Interrupt,
}

impl Scheduling {
    /// Parses the wire value (name or number); unknown or unspecified is `WHEN_IDLE`.
    pub fn from_wire(v: &serde_json::Value) -> Scheduling {
        match v {
            serde_json::Value::String(s) => match s.as_str() {
                "SILENT" => Scheduling::Silent,
                "INTERRUPT" => Scheduling::Interrupt,
                _ => Scheduling::WhenIdle,
            },
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(1) => Scheduling::Silent,
                Some(3) => Scheduling::Interrupt,
                _ => Scheduling::WhenIdle,
            },
            _ => Scheduling::WhenIdle,
        }
    }
}

/// The life of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Waiting for (more) results.
    Open,
    /// Answered with `willContinue` false or absent.
    Closed,
    /// Cancelled by the server (`toolCallCancellation`) after a barge-in.
    Cancelled,
}

/// One function call the model issued.
#[derive(Debug, Clone)]
pub struct Call {
    /// The call id sent in `toolCall.functionCalls[].id`.
    pub id: String,
    /// The function name.
    pub name: String,
    /// Its declared behavior.
    pub behavior: Behavior,
    /// Open, closed or cancelled.
    pub state: CallState,
    /// The model turn that issued it (for cancellation on barge-in).
    pub turn: u64,
    /// How many responses it received.
    pub responses: u32,
}

/// Why a function response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// No call with this id was ever issued (or it was forgotten long ago).
    UnknownId(String),
    /// The call was already answered with `willContinue` false.
    AlreadyClosed(String),
    /// The call was cancelled by a `toolCallCancellation`.
    Cancelled(String),
    /// No id, and no open call with this name to match it to (id-less responses are
    /// matched by name, as Vertex does).
    NoMatch(Option<String>),
}

/// Keeps at most this many finished calls around to tell "closed" from "unknown".
const MAX_FINISHED: usize = 1024;

/// The calls of one conversation.
#[derive(Debug, Default, Clone)]
pub struct Calls {
    calls: VecDeque<Call>,
}

impl Calls {
    /// Records a newly issued call.
    pub fn issue(&mut self, id: String, name: String, behavior: Behavior, turn: u64) {
        self.calls.push_back(Call {
            id,
            name,
            behavior,
            state: CallState::Open,
            turn,
            responses: 0,
        });
        if self.calls.len() > MAX_FINISHED
            && let Some(pos) = self.calls.iter().position(|c| c.state != CallState::Open)
        {
            self.calls.remove(pos);
        }
    }

    /// Applies one function response. On success returns the call (after the update).
    pub fn respond(
        &mut self,
        id: Option<&str>,
        name: Option<&str>,
        will_continue: bool,
    ) -> Result<Call, ResponseError> {
        let call = match id.filter(|s| !s.is_empty()) {
            Some(id) => match self.calls.iter_mut().rev().find(|c| c.id == id) {
                None => return Err(ResponseError::UnknownId(id.to_string())),
                Some(c) if c.state == CallState::Closed => {
                    return Err(ResponseError::AlreadyClosed(id.to_string()));
                }
                Some(c) if c.state == CallState::Cancelled => {
                    return Err(ResponseError::Cancelled(id.to_string()));
                }
                Some(c) => c,
            },
            None => match self
                .calls
                .iter_mut()
                .find(|c| c.state == CallState::Open && name.is_none_or(|n| n == c.name))
            {
                Some(c) => c,
                None => return Err(ResponseError::NoMatch(name.map(str::to_string))),
            },
        };
        call.responses += 1;
        if !will_continue {
            call.state = CallState::Closed;
        }
        Ok(call.clone())
    }

    /// Cancels the open calls issued in `turn`; returns their ids.
    pub fn cancel_turn(&mut self, turn: u64) -> Vec<String> {
        self.calls
            .iter_mut()
            .filter(|c| c.turn == turn && c.state == CallState::Open)
            .map(|c| {
                c.state = CallState::Cancelled;
                c.id.clone()
            })
            .collect()
    }

    /// Cancels every open BLOCKING call; returns their ids.
    pub fn cancel_blocking(&mut self) -> Vec<String> {
        self.calls
            .iter_mut()
            .filter(|c| c.behavior == Behavior::Blocking && c.state == CallState::Open)
            .map(|c| {
                c.state = CallState::Cancelled;
                c.id.clone()
            })
            .collect()
    }

    /// Is any BLOCKING call still open? (The model stays silent while one is.)
    pub fn blocking_open(&self) -> bool {
        self.calls
            .iter()
            .any(|c| c.state == CallState::Open && c.behavior == Behavior::Blocking)
    }

    /// Is any call still open?
    pub fn any_open(&self) -> bool {
        self.calls.iter().any(|c| c.state == CallState::Open)
    }

    /// The id of the newest open call.
    #[cfg(test)]
    pub fn last_open_id(&self) -> Option<String> {
        self.calls
            .iter()
            .rev()
            .find(|c| c.state == CallState::Open)
            .map(|c| c.id.clone())
    }
}

/// A small, fast, non-cryptographic random source (splitmix64), seeded per process
/// from the std hasher's random keys; enough for ids and handles that only need to be
/// unique and unguessable by accident.
#[derive(Debug, Clone)]
pub struct Rng(u64);

static SEED_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Rng {
    /// A fresh generator with a unique seed.
    pub fn new() -> Rng {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(SEED_COUNTER.fetch_add(1, Ordering::Relaxed));
        Rng(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random version-4 UUID in canonical text form.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    /// A call id in the backend's style: `function-call-<digits>` on the Developer
    /// API, a UUID on Vertex (as in recorded traffic from both backends).
    pub fn call_id(&mut self, backend: Backend) -> String {
        match backend {
            Backend::DeveloperApi => {
                format!(
                    "function-call-{}",
                    self.next_u64() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000
                )
            }
            Backend::VertexAi => self.uuid(),
        }
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let mut c = Calls::default();
        c.issue("a".into(), "search".into(), Behavior::NonBlocking, 1);
        c.issue("b".into(), "book".into(), Behavior::Blocking, 1);
        assert!(c.blocking_open());
        assert_eq!(
            c.respond(Some("a"), None, true).unwrap().state,
            CallState::Open
        );
        assert_eq!(
            c.respond(Some("a"), None, false).unwrap().state,
            CallState::Closed
        );
        assert_eq!(
            c.respond(Some("a"), None, false).unwrap_err(),
            ResponseError::AlreadyClosed("a".into())
        );
        assert_eq!(
            c.respond(Some("zz"), None, false).unwrap_err(),
            ResponseError::UnknownId("zz".into())
        );
        assert_eq!(c.cancel_turn(1), vec!["b".to_string()]);
        assert!(!c.blocking_open());
        assert_eq!(
            c.respond(Some("b"), None, false).unwrap_err(),
            ResponseError::Cancelled("b".into())
        );
        assert!(!c.any_open());
    }

    #[test]
    fn idless_responses_match_by_name() {
        let mut c = Calls::default();
        c.issue("x".into(), "f".into(), Behavior::Blocking, 1);
        assert!(c.respond(None, Some("g"), false).is_err());
        assert_eq!(c.respond(None, Some("f"), false).unwrap().id, "x");
    }

    #[test]
    fn ids_look_like_the_backends() {
        let mut r = Rng::new();
        let d = r.call_id(Backend::DeveloperApi);
        assert!(
            d.starts_with("function-call-") && d.len() == "function-call-".len() + 19,
            "{d}"
        );
        let u = r.call_id(Backend::VertexAi);
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_ne!(r.uuid(), r.uuid());
    }
}
