//! Session resumption: handles, and what a handle resumes.
//!
//! A handle names the logical session it belongs to and carries a sequence number and
//! a tag derived from a per-session secret, all base64url-encoded (opaque to clients,
//! like the real `CiQ…` handles). Because the session id is inside the handle, issuing
//! a handle touches no shared table (nothing global on the hot path), and checking one
//! is a lookup of its session plus three comparisons.
//!
//! # What a handle resumes ([`ResumptionMode`])
//!
//! The real server's handle is a **checkpoint**, and the default
//! [`ResumptionMode::Checkpoint`] models that: each `resumable: true` update snapshots
//! the conversation (history, scenario position, calls and their states, turn state),
//! and resuming with handle H restores H's snapshot. Calls issued after H are unknown
//! there, so their responses are ignored ([`IgnoreReason::UnknownId`]); a call H saw
//! answered stays closed. Sources (ai.google.dev/gemini-api/docs/live-session; google-genai `types.py`):
//! * the SDK documents `resumable: false` with an empty handle "while the model is
//!   executing function calls or just generating", and that "resuming session (using
//!   previous session token) in such state will result in some data loss" (google-genai
//!   `types.py`, `LiveServerSessionResumptionUpdate.resumable`);
//! * a resumed session does not act on a `FunctionResponse` for a call it did not
//!   issue, checked against the live API on 2.5 native-audio and 3.1 flash-live
//!   (pipecat-ai/pipecat PR #5497, issue #5465);
//! * clients wait for the fresh handle that follows the call and the turn before they
//!   switch (yagudaev/voiceclaw PR #53, dograh-hq/pipecat PR #39).
//!
//! Because a handle is only issued while nothing is open (no model turn, no open call,
//! no result waiting to be voiced), every checkpoint is a quiet conversation: a restored
//! session never has an open call. The restored conversation draws fresh call ids (the
//! real server's ids are unique), so a response for a call from the abandoned branch
//! can never land on a new call by accident.
//!
//! [`ResumptionMode::Latest`] keeps the emulator's earlier simplification: any handle
//! resumes the session's latest state, open calls included. It is not what the real
//! server does; use it only for tests that are not about resumption.
//!
//! # Modelled, but unverified against the real server
//! * When the fresh handle comes: the emulator sends it at the turn boundary
//!   (`turnComplete`) once no call is open and nothing waits to be voiced, or when the
//!   last open call is closed by a SILENT response while the model is idle, after
//!   [`handle_lag`](super::EmulatorBuilder::handle_lag) (default
//!   [`DEFAULT_HANDLE_LAG`]). Reports say a fresh handle "typically arrives after the
//!   turn that answered the calls completes"; the delay is not documented.
//! * That a handle is resumable only while it is among the last
//!   [`checkpoints_kept`](super::EmulatorBuilder::checkpoints_kept) (default
//!   [`DEFAULT_CHECKPOINTS_KEPT`]) of its session: older handles are refused like unknown
//!   ones, with 1008 "BidiGenerateContent session not found". The docs only say handles
//!   stay valid for 2 hours after the session ends.
//! * That resuming from an older handle leaves newer handles of the abandoned branch
//!   valid (they restore that branch).
//! * What happens to a response for an unknown id: pipecat observed it ignored; the
//!   emulator ignores it (and records a violation; with `strict_tool_responses` it
//!   closes 1008, after reports of 1008 closes following stale tool responses).
//!
//! In both modes handles expire `handle_ttl` after the session was last connected, can
//! be invalidated through the control handle, and resuming while the session still has
//! an open connection closes the new one with 1011.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::engine::Engine;
#[cfg(doc)]
use super::ledger::IgnoreReason;

/// What a resumption handle resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResumptionMode {
    /// The conversation as it was when the handle was issued, as the real server does
    /// (the default): calls issued after the handle are unknown after resuming.
    #[default]
    Checkpoint,
    /// The session's latest conversation, open calls included, whichever of its handles
    /// is used. Not what the real server does: for tests that are not about resumption.
    Latest,
}

/// Default delay between the turn boundary and the fresh resumable handle.
pub const DEFAULT_HANDLE_LAG: Duration = Duration::from_millis(20);

/// Default number of checkpoints (hence resumable handles) kept per session.
pub const DEFAULT_CHECKPOINTS_KEPT: usize = 8;

/// The newest checkpoints of one session, by handle sequence number.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    kept: usize,
    list: VecDeque<(u64, Box<Engine>)>,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints::new(DEFAULT_CHECKPOINTS_KEPT)
    }
}

impl Checkpoints {
    /// Keeps at most `kept` (at least 1).
    pub fn new(kept: usize) -> Self {
        Checkpoints {
            kept: kept.max(1),
            list: VecDeque::new(),
        }
    }

    /// Stores the snapshot handle `seq` names, forgetting the oldest beyond the bound.
    pub fn push(&mut self, seq: u64, snapshot: Box<Engine>) {
        self.list.push_back((seq, snapshot));
        while self.list.len() > self.kept {
            self.list.pop_front();
        }
    }

    /// A conversation restored from the snapshot handle `seq` names, if still kept.
    pub fn restore(&self, seq: u64) -> Option<Box<Engine>> {
        self.list
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, e)| e.restored())
    }

    /// Forgets every checkpoint.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// How many are kept right now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// A decoded handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The session it belongs to.
    pub session: String,
    /// Its sequence number within the session (1, 2, ...).
    pub seq: u64,
    /// Authenticity tag.
    pub tag: u64,
}

/// Derives a handle's tag from the session secret and the sequence number.
pub fn tag(secret: u64, seq: u64) -> u64 {
    let mut z = secret ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Encodes a handle.
pub fn encode(session: &str, seq: u64, secret: u64) -> String {
    let text = format!("{session}|{seq}|{:016x}", tag(secret, seq));
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a handle (None if it is not one of ours).
pub fn decode(handle: &str) -> Option<Handle> {
    let bytes = URL_SAFE_NO_PAD.decode(handle.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut parts = text.split('|');
    let session = parts.next()?.to_string();
    let seq = parts.next()?.parse().ok()?;
    let tag = u64::from_str_radix(parts.next()?, 16).ok()?;
    if parts.next().is_some() || session.is_empty() {
        return None;
    }
    Some(Handle { session, seq, tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::emulator::Scenario;
    use crate::emulator::engine::SetupInfo;

    #[test]
    fn checkpoints_are_bounded() {
        let sc = Scenario::default();
        let setup = SetupInfo::from_setup(
            serde_json::json!({"model": "models/m"})
                .as_object()
                .unwrap(),
            Backend::DeveloperApi,
            true,
        );
        let e = Engine::new(sc.0, Backend::DeveloperApi, "s".into(), setup);
        let mut c = Checkpoints::new(3);
        for seq in 1..=5 {
            c.push(seq, e.snapshot());
        }
        assert_eq!(c.len(), 3);
        assert!(c.restore(1).is_none() && c.restore(2).is_none());
        assert!(c.restore(3).is_some() && c.restore(5).is_some());
        assert!(c.restore(6).is_none());
        c.clear();
        assert!(c.restore(5).is_none());
        assert_eq!(Checkpoints::new(0).kept, 1);
    }

    #[test]
    fn round_trip() {
        let h = encode("9f5a799e-f8b3-4ba4-978b-714a89f1fd02", 3, 42);
        let d = decode(&h).unwrap();
        assert_eq!(d.session, "9f5a799e-f8b3-4ba4-978b-714a89f1fd02");
        assert_eq!(d.seq, 3);
        assert_eq!(d.tag, tag(42, 3));
        assert_ne!(d.tag, tag(43, 3));
        assert!(decode("not a handle").is_none());
        assert!(decode("").is_none());
        assert!(decode(&URL_SAFE_NO_PAD.encode("a|b|c")).is_none());
    }
}
