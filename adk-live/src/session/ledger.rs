//! What the server session knows about each tool call: the bookkeeping that lets a
//! result survive a change of connection.
//!
//! Why: a resumption handle is a *checkpoint*, not a pointer to the latest state. The
//! server sends `resumable: false` "while the model is executing function calls or just
//! generating", and resuming from an older handle "will result in some data loss"
//! (google-genai `types.py`, `LiveServerSessionResumptionUpdate`). A resumed session
//! does not act on a `functionResponse` for a call it did not issue (pipecat-ai/pipecat
//! PR #5497, checked against the live API on 2.5 native-audio and 3.1 flash-live): such a
//! result must reach the model as conversation instead. Clients that switch on goAway
//! with the handle from before an open call lose its result (yagudaev/voiceclaw PR #53,
//! dograh-hq/pipecat PR #39).
//!
//! How: every resumable handle starts a new *generation*. Each call remembers the
//! generation it was issued in and, once answered, the generation of its final response.
//! A session resumed from the handle of generation `H` knows a call iff the call was
//! issued before that handle (`issued < H`), and knows its answer iff the answer was
//! written before it (`answered < H`). A call is *settled* once a handle newer than its
//! answer has arrived: no checkpoint can lose it any more, and the ledger forgets it.
//!
//! A handle covers only what the server had *read* when it made the checkpoint, and a
//! handle can be in flight while the client writes (the one a server sends right after a
//! resume, one sent on a timer after a turn), or the server can have stopped reading
//! altogether. So a handle settles an answer only if the server is known to have read the
//! answer before it: after every final, the task writes a *barrier* (a ping carrying a
//! sequence number, see `WireWriter::barrier`), and the pong for it proves the server read
//! everything before it. A handle that arrives before that proof counts as older than the
//! answer: a switch to it says the answer again. (Found by the fault soak: a result written
//! just before the resume-time handle, or into a socket the server no longer read, was
//! taken as covered and lost at the next rollback.) UNVERIFIED against the real service:
//! that its pong follows its reading of earlier frames into the session (the Google front
//! end may answer pings itself); where it does not, a result can be said twice after a
//! switch, never lost.

use std::collections::{HashMap, HashSet};

use genai_wire::protocol::FunctionResponse;

/// One call the ledger follows.
#[derive(Debug)]
struct Call {
    name: String,
    issued: u64,
    /// The final response and the generation it was written in.
    answered: Option<(u64, FunctionResponse)>,
    /// The current server session does not know this call: its responses must not be
    /// sent as `functionResponse`.
    orphaned: bool,
    /// Answered at once with a final "running" response (synchronous-only model): the
    /// real result goes as conversation.
    deferred: bool,
    /// The model waits for this call (a blocking call): user input now would disturb it
    /// (on 3.8 it cancels the call).
    blocking: bool,
    /// Its answer goes as conversation (a user turn), not as a `functionResponse`: queued
    /// while `answered` is `None`, written once it is `Some`.
    via_conversation: bool,
    /// The barrier whose pong proves the server read the answer (`None`: proven, or not
    /// answered).
    unread: Option<u64>,
}

/// What to do after resuming (or starting afresh) for the calls the ledger follows.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Recovery {
    /// Finals the restored checkpoint lacks, for calls it knows: send them again.
    pub(crate) resend: Vec<FunctionResponse>,
    /// Finals for calls the new server session does not know: deliver as conversation.
    pub(crate) as_conversation: Vec<(String, FunctionResponse)>,
    /// Calls still running that the new server session does not know (their results will
    /// go as conversation).
    pub(crate) orphaned: Vec<(String, String)>,
}

/// Answered calls kept for a checkpoint that never comes (a server that sends no
/// handles): beyond this, the oldest are forgotten.
const MAX_UNSETTLED_ANSWERS: usize = 256;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Resumption is off: an answered call is settled once the server has read it (a new
    /// connection is a fresh session anyway: what it never read goes there as
    /// conversation).
    no_checkpoints: bool,
    /// Generation of the newest resumable handle (0: none yet).
    generation: u64,
    /// Generation of the handle the session would resume with now.
    handle_generation: u64,
    calls: HashMap<String, Call>,
    /// Ids the server cancelled or that are closed: nothing more may be sent for them.
    closed: HashSet<String>,
    /// The conversation changed (model output, a turn we wrote) since the newest handle.
    output_since_handle: bool,
    barriers: Barriers,
}

/// The barriers' sequence numbers (a field of its own, so that it can be borrowed beside
/// a call of the ledger's map).
#[derive(Debug, Default)]
struct Barriers {
    /// The last barrier handed out to be written.
    sent: u64,
    /// An answer waits for the barrier `sent + 1`, not yet written.
    due: bool,
    /// The highest barrier the server answered.
    read: u64,
}

impl Barriers {
    /// The barrier that will follow what is written now.
    fn next(&mut self) -> u64 {
        self.due = true;
        self.sent + 1
    }
}

/// Closed ids remembered (oldest forgotten past this, by clearing: a late response for a
/// long-closed id is rare and the server ignores it).
const MAX_CLOSED: usize = 1024;

/// How a response for a call may go out on the current connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// As a `functionResponse` (the server knows the call).
    Wire,
    /// As conversation (the server does not know the call); only for finals.
    Conversation,
    /// Not at all (an interim response for a call the server does not know).
    Drop,
}

impl Ledger {
    /// A ledger for a session without resumption.
    pub(crate) fn without_checkpoints() -> Self {
        Ledger {
            no_checkpoints: true,
            ..Default::default()
        }
    }

    /// A call arrived in a `toolCall`; `deferred` when the lane answers it at once and
    /// delivers the real result later (a synchronous-only model).
    pub(crate) fn issued(&mut self, call_id: &str, name: &str, deferred: bool, blocking: bool) {
        self.closed.remove(call_id);
        self.calls.insert(
            call_id.to_owned(),
            Call {
                name: name.to_owned(),
                issued: self.generation,
                answered: None,
                orphaned: false,
                deferred,
                blocking,
                via_conversation: false,
                unread: None,
            },
        );
    }

    /// The server cancelled these calls: nothing more is owed for them, and nothing more
    /// may be sent for them (a result that raced the cancellation is dropped).
    pub(crate) fn cancelled(&mut self, ids: &[String]) {
        if self.closed.len() > MAX_CLOSED {
            self.closed.clear();
        }
        for id in ids {
            self.calls.remove(id);
            self.closed.insert(id.clone());
        }
    }

    /// True while the model waits on a blocking call the server knows and that is not
    /// answered: user input now would disturb it.
    pub(crate) fn awaits_blocking_call(&self) -> bool {
        self.calls
            .values()
            .any(|c| c.blocking && c.answered.is_none() && !c.orphaned)
    }

    /// The conversation changed: the model produced output, or this client wrote a turn
    /// (text, `clientContent`, a function response). The newest handle predates it.
    pub(crate) fn model_output(&mut self) {
        self.output_since_handle = true;
    }

    /// A resumable handle arrived: a new checkpoint. Settles every call answered before it.
    pub(crate) fn new_handle(&mut self) {
        self.generation += 1;
        self.handle_generation = self.generation;
        self.output_since_handle = false;
        let generation = self.generation;
        self.calls.retain(|_, c| match &mut c.answered {
            // Not known to be read: this checkpoint may lack it, as if written after it.
            Some((at, _)) if c.unread.is_some() => {
                *at = generation;
                true
            }
            Some((at, _)) => *at >= generation,
            None => true,
        });
    }

    /// The handle was dropped (refused by the server): the next session starts afresh.
    pub(crate) fn forget_handle(&mut self) {
        self.handle_generation = 0;
    }

    /// Where a response for `call_id` goes on the current connection.
    pub(crate) fn route(&mut self, call_id: &str, response: &FunctionResponse) -> Route {
        if self.closed.contains(call_id) {
            return Route::Drop;
        }
        match self.calls.get_mut(call_id) {
            Some(c) if c.orphaned && c.deferred => {
                // Its immediate "running" answer never reached the server that issued it:
                // moot now; the real result will go as conversation.
                if response.will_continue != Some(true) {
                    c.deferred = false;
                }
                Route::Drop
            }
            Some(c) if c.via_conversation => Route::Drop,
            Some(c) if c.orphaned => {
                if response.will_continue == Some(true) {
                    Route::Drop
                } else {
                    Route::Conversation
                }
            }
            _ => Route::Wire,
        }
    }

    /// A final response for `call_id` is queued to go as conversation (the server session
    /// does not know the call). Nothing more goes for it on the wire, and it is owed until
    /// the turn is written and a newer handle covers it.
    pub(crate) fn queued_as_conversation(&mut self, call_id: &str, name: &str) {
        let issued = self.generation;
        let c = self
            .calls
            .entry(call_id.to_owned())
            .or_insert_with(|| Call {
                name: name.to_owned(),
                issued,
                answered: None,
                orphaned: true,
                deferred: false,
                blocking: false,
                via_conversation: true,
                unread: None,
            });
        c.orphaned = true;
        c.deferred = false;
        c.via_conversation = true;
        c.answered = None;
        c.unread = None;
    }

    /// A result queued as conversation was written. Like a final on the wire, it is lost
    /// by a switch to a checkpoint older than this write, and said again then.
    pub(crate) fn written_as_conversation(&mut self, call_id: &str, response: &FunctionResponse) {
        let generation = self.generation;
        if let Some(c) = self.calls.get_mut(call_id) {
            c.answered = Some((generation, response.clone()));
            c.unread = Some(self.barriers.next());
        }
    }

    /// The barrier to write now (after the answers it covers), if one is owed.
    pub(crate) fn take_barrier(&mut self) -> Option<u64> {
        if !std::mem::take(&mut self.barriers.due) {
            return None;
        }
        self.barriers.sent += 1;
        Some(self.barriers.sent)
    }

    /// The server answered barrier `seq`: it has read every answer written before it.
    pub(crate) fn barrier_read(&mut self, seq: u64) {
        if seq <= self.barriers.read {
            return;
        }
        self.barriers.read = seq;
        for c in self.calls.values_mut() {
            if c.unread.is_some_and(|b| b <= seq) {
                c.unread = None;
            }
        }
        if self.no_checkpoints {
            // No checkpoint can lose what the server read: nothing further is owed.
            self.calls
                .retain(|_, c| !(c.answered.is_some() && c.unread.is_none()));
        }
    }

    /// Nothing can be sent for this call any more (its answer was refused locally and
    /// reported): the ledger stops following it.
    pub(crate) fn abandoned(&mut self, call_id: &str) {
        self.calls.remove(call_id);
    }

    /// A final response was written on the wire. Returns a call the ledger had to stop
    /// following to stay bounded (its answer may be lost by a later rollback: report it).
    pub(crate) fn answered(
        &mut self,
        call_id: &str,
        response: &FunctionResponse,
    ) -> Option<(String, String)> {
        if response.will_continue == Some(true) {
            return None;
        }
        let generation = self.generation;
        let c = self.calls.get_mut(call_id)?;
        if c.deferred {
            // The immediate "running" answer closed the call on the server: the result
            // that follows goes as conversation.
            c.deferred = false;
            c.orphaned = true;
            return None;
        }
        // Kept until a newer handle settles it: a switch before then resumes a checkpoint
        // that lacks it.
        c.answered = Some((generation, response.clone()));
        c.unread = Some(self.barriers.next());
        let answered = self.calls.values().filter(|c| c.answered.is_some()).count();
        if answered > MAX_UNSETTLED_ANSWERS {
            let oldest = self
                .calls
                .iter()
                .filter_map(|(id, c)| c.answered.as_ref().map(|(at, _)| (*at, id.clone())))
                .min();
            if let Some((_, id)) = oldest {
                return self.calls.remove(&id).map(|c| (id, c.name));
            }
        }
        None
    }

    /// True when switching connection now loses nothing: no call is unsettled, and the
    /// newest handle is newer than the model's last output.
    pub(crate) fn is_clean_checkpoint(&self) -> bool {
        self.calls.is_empty() && !self.output_since_handle
    }

    /// True once the server has issued a resumable handle the session still holds: before
    /// that, a switch can only start a fresh server session.
    pub(crate) fn has_handle(&self) -> bool {
        self.handle_generation > 0
    }

    /// True when no call waits for a response or for settlement.
    pub(crate) fn is_settled(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls answered but not yet covered by a newer handle: if the session dies now,
    /// whether the model got their answer is unknown.
    pub(crate) fn unsettled_answers(&self) -> Vec<(String, String)> {
        self.answers_where(|c| c.answered.is_some())
    }

    /// Calls answered that the server is not known to have read: if the session is closed
    /// now, the model may never have had them.
    pub(crate) fn unread_answers(&self) -> Vec<(String, String)> {
        self.answers_where(|c| c.answered.is_some() && c.unread.is_some())
    }

    /// The server read everything written (it answered our close).
    pub(crate) fn all_read(&mut self) {
        for c in self.calls.values_mut() {
            c.unread = None;
        }
    }

    fn answers_where(&self, keep: impl Fn(&Call) -> bool) -> Vec<(String, String)> {
        self.calls
            .iter()
            .filter(|(_, c)| keep(c))
            .map(|(id, c)| (id.clone(), c.name.clone()))
            .collect()
    }

    /// The generation of the handle the next dial would use (0 for none).
    pub(crate) fn resume_generation(&self) -> u64 {
        self.handle_generation
    }

    /// The connection changed: the server session now holds the checkpoint of
    /// generation `resumed` (0: a fresh session that knows nothing). Returns what must be
    /// sent again, and how.
    pub(crate) fn recover(&mut self, resumed: u64) -> Recovery {
        let mut recovery = Recovery::default();
        let mut done = Vec::new();
        for (id, c) in &mut self.calls {
            let known = resumed > c.issued && !c.orphaned;
            if c.via_conversation {
                match &c.answered {
                    // Still queued: it goes on the new connection.
                    None => {}
                    // The checkpoint predates the conversation turn: say it again (the
                    // task queues it anew, and the ledger follows it again).
                    Some((at, response)) if *at >= resumed => {
                        recovery
                            .as_conversation
                            .push((id.clone(), response.clone()));
                    }
                    Some(_) => done.push(id.clone()),
                }
                continue;
            }
            match (&c.answered, known) {
                (Some((at, response)), true) if *at >= resumed => {
                    recovery.resend.push(response.clone());
                    // Written again: the barrier that follows proves it read.
                    c.unread = Some(self.barriers.next());
                }
                (Some(_), true) => {}
                (Some((_, response)), false) => {
                    recovery
                        .as_conversation
                        .push((id.clone(), response.clone()));
                }
                (None, true) => {}
                (None, false) => {
                    if !c.orphaned {
                        recovery.orphaned.push((id.clone(), c.name.clone()));
                    }
                    c.orphaned = true;
                }
            }
        }
        for id in done {
            self.calls.remove(&id);
        }
        self.output_since_handle = false;
        recovery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fin(id: &str) -> FunctionResponse {
        FunctionResponse {
            id: Some(id.into()),
            name: "t".into(),
            response: json!({"ok": true}),
            will_continue: Some(false),
            ..Default::default()
        }
    }

    fn interim(id: &str) -> FunctionResponse {
        FunctionResponse {
            will_continue: Some(true),
            ..fin(id)
        }
    }

    /// The task writes the barrier owed and the server answers it.
    fn read(l: &mut Ledger) {
        if let Some(seq) = l.take_barrier() {
            l.barrier_read(seq);
        }
    }

    #[test]
    fn a_call_issued_after_the_handle_is_unknown_to_the_resumed_session() {
        let mut l = Ledger::default();
        read(&mut l);
        l.new_handle(); // H1
        l.issued("a", "t", false, false);
        assert!(!l.is_clean_checkpoint());
        // goAway before any newer handle: resume with H1.
        let r = l.recover(l.resume_generation());
        assert_eq!(r.orphaned, vec![("a".to_owned(), "t".to_owned())]);
        assert_eq!(l.route("a", &interim("a")), Route::Drop);
        assert_eq!(l.route("a", &fin("a")), Route::Conversation);
        l.queued_as_conversation("a", "t");
        read(&mut l);
        l.new_handle();
        assert!(!l.is_settled(), "queued, not written: no handle covers it");
        l.written_as_conversation("a", &fin("a"));
        assert!(!l.is_settled());
        read(&mut l);
        l.new_handle();
        assert!(l.is_settled());
    }

    #[test]
    fn an_answer_written_after_the_handle_goes_again() {
        let mut l = Ledger::default();
        read(&mut l);
        l.new_handle(); // H1
        l.issued("a", "t", false, false);
        l.answered("a", &fin("a"));
        // Result written, no fresh handle yet: the checkpoint H1 has no call "a".
        let r = l.recover(1);
        assert_eq!(r.as_conversation.len(), 1);
        l.queued_as_conversation("a", "t");
        assert_eq!(l.route("a", &fin("a")), Route::Drop, "not on the wire");
        l.written_as_conversation("a", &fin("a"));
        read(&mut l);
        l.new_handle();
        assert!(l.is_settled());

        // Known call (issued before H2), answered after H2: resend on the wire.
        let mut l = Ledger::default();
        l.issued("b", "t", false, false);
        read(&mut l);
        l.new_handle(); // H1 after the call (a server that checkpoints open calls)
        l.answered("b", &fin("b"));
        let r = l.recover(1);
        assert_eq!(r.resend, vec![fin("b")]);
        assert!(r.as_conversation.is_empty());
    }

    #[test]
    fn a_fresh_handle_settles_and_makes_the_checkpoint_clean() {
        let mut l = Ledger::default();
        l.issued("a", "t", false, false);
        l.model_output();
        l.answered("a", &fin("a"));
        assert!(!l.is_clean_checkpoint());
        read(&mut l);
        l.new_handle();
        assert!(l.is_clean_checkpoint());
        let r = l.recover(l.resume_generation());
        assert_eq!(r, Recovery::default());
    }

    #[test]
    fn a_fresh_session_knows_nothing() {
        let mut l = Ledger::default();
        read(&mut l);
        l.new_handle();
        l.issued("a", "t", false, false);
        read(&mut l);
        l.new_handle();
        l.issued("b", "t", false, false);
        l.forget_handle();
        let r = l.recover(0);
        assert_eq!(r.orphaned.len(), 2);
        l.cancelled(&["a".into()]);
        assert_eq!(l.route("b", &fin("b")), Route::Conversation);
    }

    #[test]
    fn a_deferred_call_answers_once_on_the_wire_then_as_conversation() {
        let mut l = Ledger::default();
        l.issued("a", "t", true, false);
        assert_eq!(l.route("a", &fin("a")), Route::Wire);
        l.answered("a", &fin("a"));
        assert_eq!(l.route("a", &interim("a")), Route::Drop);
        assert_eq!(l.route("a", &fin("a")), Route::Conversation);
        l.queued_as_conversation("a", "t");
        assert_eq!(l.route("a", &fin("a")), Route::Drop, "answered once");
        l.written_as_conversation("a", &fin("a"));
        assert!(!l.is_settled(), "until a newer handle");
        read(&mut l);
        l.new_handle();
        assert!(l.is_settled());
    }

    #[test]
    fn cancelled_ids_get_nothing_and_conversation_turns_survive_a_rollback() {
        let mut l = Ledger::default();
        l.issued("a", "t", false, true);
        assert!(l.awaits_blocking_call());
        l.cancelled(&["a".into()]);
        assert!(!l.awaits_blocking_call());
        assert_eq!(l.route("a", &fin("a")), Route::Drop);
        // A result delivered as conversation, then a switch before a fresh handle.
        read(&mut l);
        l.new_handle();
        l.issued("b", "t", false, false);
        l.recover(1);
        assert_eq!(l.route("b", &fin("b")), Route::Conversation);
        l.queued_as_conversation("b", "t");
        assert_eq!(l.recover(1), Recovery::default(), "still queued: goes next");
        l.written_as_conversation("b", &fin("b"));
        let r = l.recover(1);
        assert_eq!(r.as_conversation.len(), 1, "said again");
        assert!(!l.is_settled(), "followed until a handle covers it");
    }

    #[test]
    fn a_result_said_again_is_followed_through_every_rollback() {
        let mut l = Ledger::default();
        read(&mut l);
        l.new_handle(); // H1
        l.issued("a", "t", false, false);
        l.recover(1); // switch: "a" is unknown to the resumed session
        l.queued_as_conversation("a", "t");
        for rollback in 1..=3 {
            l.written_as_conversation("a", &fin("a"));
            // Another switch before any handle covers the turn: said again, every time.
            let r = l.recover(1);
            assert_eq!(r.as_conversation.len(), 1, "rollback {rollback}");
            l.queued_as_conversation("a", "t");
        }
        l.written_as_conversation("a", &fin("a"));
        read(&mut l);
        l.new_handle();
        assert!(l.is_settled());
        assert_eq!(l.recover(2), Recovery::default());
    }

    #[test]
    fn a_handle_before_the_server_read_the_answer_does_not_settle_it() {
        let mut l = Ledger::default();
        l.issued("a", "t", false, false);
        l.new_handle(); // H1 knows the call
        l.answered("a", &fin("a"));
        let barrier = l.take_barrier().expect("a barrier follows an answer");
        // H2 was in flight (or the server stopped reading): no pong for the barrier yet.
        l.new_handle();
        assert!(!l.is_settled());
        assert_eq!(l.recover(2).resend, vec![fin("a")], "H2 may lack it: again");
        let again = l.take_barrier().expect("the resend gets its own barrier");
        assert!(again > barrier);
        l.barrier_read(again);
        l.new_handle(); // H3, after the server read the resend
        assert!(l.is_settled());
    }

    #[test]
    fn a_call_forgotten_to_stay_bounded_is_handed_back_to_be_reported() {
        let mut l = Ledger::default();
        for i in 0..MAX_UNSETTLED_ANSWERS {
            let id = format!("c{i}");
            l.issued(&id, "t", false, false);
            assert_eq!(l.answered(&id, &fin(&id)), None);
        }
        l.issued("last", "t", false, false);
        assert_eq!(
            l.answered("last", &fin("last")),
            Some(("c0".to_owned(), "t".to_owned())),
            "the oldest, handed back"
        );
    }

    #[test]
    fn without_checkpoints_an_answer_is_followed_until_the_server_read_it() {
        let mut l = Ledger::without_checkpoints();
        l.issued("a", "t", false, false);
        l.answered("a", &fin("a"));
        assert_eq!(l.unread_answers(), vec![("a".to_owned(), "t".to_owned())]);
        read(&mut l);
        assert!(l.is_settled());
    }
}
