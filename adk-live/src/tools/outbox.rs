//! The tool lane's outbound queue: function responses waiting for the session task.
//!
//! Why not a plain channel: a tool may report progress faster than a slow socket drains,
//! and an unbounded channel would then grow without limit. Here progress is coalesced:
//! at most one progress response per call waits, and a newer one replaces it (counted).
//! A final response for a call drops the progress still waiting for it (the result
//! supersedes it). Acks and finals are one each per call, so the queue holds at most
//! about three entries per call in flight.
//!
//! Order is kept per call: an ack is queued before its call is spawned, progress after
//! the ack, the final after the last progress. Entries carry the lane's call id so the
//! session task can check each response against the server session that will read it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use genai_wire::protocol::FunctionResponse;
use tokio::sync::Notify;

/// One response ready to be written, with the lane's id of its call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub(crate) call_id: String,
    pub(crate) response: FunctionResponse,
}

#[derive(Debug)]
enum Entry {
    Response(Box<Outgoing>),
    /// The latest progress of this call, kept in `progress`.
    Progress(String),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Entry>,
    progress: HashMap<String, FunctionResponse>,
    closed: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The queue may hold entries: set under the lock with each push, cleared under it
    /// when a pop empties it. The session task looks at it whenever it drains the
    /// outbox, and skips the lock when it is clear.
    queued: AtomicBool,
    notify: Notify,
}

/// What [`Outbox::push_progress`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Queued as a new entry.
    New,
    /// Replaced a progress response still waiting for the same call.
    Coalesced,
    /// The outbox is closed (the session ended).
    Closed,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an ack or a final response. Gives it back if the session has ended.
    pub(crate) fn push(
        &self,
        call_id: &str,
        response: FunctionResponse,
    ) -> Result<(), Box<Outgoing>> {
        let item = Box::new(Outgoing {
            call_id: call_id.to_owned(),
            response,
        });
        {
            let mut s = self.lock();
            if s.closed {
                return Err(item);
            }
            if item.response.will_continue != Some(true) {
                s.progress.remove(call_id);
            }
            s.queue.push_back(Entry::Response(item));
            self.queued.store(true, Ordering::Release);
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Queues a progress response, replacing one still waiting for the same call.
    pub(crate) fn push_progress(&self, call_id: &str, response: FunctionResponse) -> Queued {
        {
            let mut s = self.lock();
            if s.closed {
                return Queued::Closed;
            }
            if let Some(waiting) = s.progress.get_mut(call_id) {
                *waiting = response;
                return Queued::Coalesced;
            }
            s.progress.insert(call_id.to_owned(), response);
            s.queue.push_back(Entry::Progress(call_id.to_owned()));
            self.queued.store(true, Ordering::Release);
        }
        self.notify.notify_one();
        Queued::New
    }

    /// The next response, if one is waiting.
    pub(crate) fn try_pop(&self) -> Option<Outgoing> {
        // A push the flag does not show yet also notifies the session task, which then
        // comes back here.
        if !self.queued.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.lock();
        loop {
            let Some(entry) = s.queue.pop_front() else {
                self.queued.store(false, Ordering::Release);
                return None;
            };
            match entry {
                Entry::Response(item) => return Some(*item),
                Entry::Progress(call_id) => {
                    // Absent when a final response superseded it.
                    if let Some(response) = s.progress.remove(&call_id) {
                        return Some(Outgoing { call_id, response });
                    }
                }
            }
        }
    }

    /// Completes when something was pushed since the last time it completed (a push
    /// with no one waiting leaves a permit, so none is missed). The session task keeps
    /// one across its loop and drains with [`Outbox::try_pop`]: no waiter is registered
    /// and dropped per turn of the loop.
    pub(crate) fn ready(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Waits for the next response. Cancel-safe. Pends forever once closed and empty.
    #[cfg(test)]
    pub(crate) async fn pop(&self) -> Outgoing {
        loop {
            let notified = self.notify.notified();
            if let Some(item) = self.try_pop() {
                return item;
            }
            notified.await;
        }
    }

    /// Closes the outbox (later pushes are refused) and returns the acks and finals still
    /// waiting; waiting progress is dropped.
    pub(crate) fn close(&self) -> Vec<Outgoing> {
        let mut s = self.lock();
        s.closed = true;
        s.progress.clear();
        s.queue
            .drain(..)
            .filter_map(|e| match e {
                Entry::Response(item) => Some(*item),
                Entry::Progress(_) => None,
            })
            .collect()
    }

    /// How many entries wait (for tests and bounds).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(id: &str, n: i64, more: bool) -> FunctionResponse {
        FunctionResponse {
            id: Some(id.into()),
            name: "t".into(),
            response: json!({ "n": n }),
            will_continue: Some(more),
            ..Default::default()
        }
    }

    #[test]
    fn progress_is_coalesced_per_call_and_superseded_by_the_final() {
        let o = Outbox::default();
        o.push("a", r("a", 0, true)).unwrap(); // ack
        for n in 1..=1000 {
            o.push_progress("a", r("a", n, true));
            o.push_progress("b", r("b", n, true));
        }
        assert_eq!(o.len(), 3, "ack + one progress per call");
        let first = o.try_pop().unwrap();
        assert_eq!(first.response.response, json!({"n": 0}));
        let p = o.try_pop().unwrap();
        assert_eq!(
            (p.call_id.as_str(), p.response.response.clone()),
            ("a", json!({"n": 1000}))
        );
        o.push("b", r("b", 9999, false)).unwrap(); // final drops b's waiting progress
        let f = o.try_pop().unwrap();
        assert_eq!(f.response.response, json!({"n": 9999}));
        assert!(o.try_pop().is_none());
        assert_eq!(o.push_progress("a", r("a", 1, true)), Queued::New);
        let left = o.close();
        assert!(left.is_empty(), "progress is not reported as undelivered");
        assert!(o.push("a", r("a", 1, false)).is_err());
        assert_eq!(o.push_progress("a", r("a", 1, true)), Queued::Closed);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let o = std::sync::Arc::new(Outbox::default());
        let o2 = o.clone();
        let waiter = tokio::spawn(async move { o2.pop().await });
        o.push("x", r("x", 1, false)).unwrap();
        let got = waiter.await.unwrap();
        assert_eq!(got.call_id, "x");
    }
}
