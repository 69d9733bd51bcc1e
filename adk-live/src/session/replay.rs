//! Vertex transparent resumption: what was sent but not yet consumed by the server.
//!
//! With `sessionResumption.transparent`, Vertex reports in each resumption update the
//! index of the last client message it consumed on the current connection (setup is
//! index 0). Messages after that index are kept here and sent again, in order, on the
//! connection that resumes the session. On the Developer API there is no such index:
//! there, what is replayed after a reconnect is only what never left the client (sends
//! queued during the switch, and a write that failed).

use std::collections::VecDeque;

use super::outbound::Outbound;

/// At most this many unconsumed messages are kept (oldest dropped first).
pub(crate) const MAX_UNCONSUMED: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Replay {
    enabled: bool,
    next_index: i64,
    unconsumed: VecDeque<(i64, Outbound)>,
}

impl Replay {
    pub(crate) fn new(enabled: bool) -> Self {
        Replay {
            enabled,
            next_index: 1,
            unconsumed: VecDeque::new(),
        }
    }

    /// Records a message written on the current connection (`item` makes the copy to
    /// keep, called only when replay is on).
    pub(crate) fn sent(&mut self, item: impl FnOnce() -> Outbound) {
        if !self.enabled {
            return;
        }
        if self.unconsumed.len() == MAX_UNCONSUMED {
            self.unconsumed.pop_front();
        }
        self.unconsumed.push_back((self.next_index, item()));
        self.next_index += 1;
    }

    /// The server consumed everything up to `index` on the current connection.
    pub(crate) fn consumed(&mut self, index: i64) {
        while self.unconsumed.front().is_some_and(|(i, _)| *i <= index) {
            self.unconsumed.pop_front();
        }
    }

    /// A new connection: returns the messages to send again (oldest first) and restarts
    /// the numbering.
    pub(crate) fn take_for_new_link(&mut self) -> Vec<Outbound> {
        self.next_index = 1;
        self.unconsumed.drain(..).map(|(_, m)| m).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genai_wire::protocol::ClientMessage;

    fn text(t: &str) -> impl FnOnce() -> Outbound {
        let t = t.to_owned();
        move || ClientMessage::realtime_text(t).into()
    }

    fn texts(items: Vec<Outbound>) -> Vec<ClientMessage> {
        items
            .into_iter()
            .map(|o| match o {
                Outbound::Message(m) => *m,
                other => panic!("not a message: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn keeps_what_was_not_consumed() {
        let mut r = Replay::new(true);
        for t in ["a", "b", "c"] {
            r.sent(text(t));
        }
        r.consumed(1);
        let again = texts(r.take_for_new_link());
        assert_eq!(
            again,
            vec![
                ClientMessage::realtime_text("b"),
                ClientMessage::realtime_text("c")
            ]
        );
        r.sent(text("d"));
        r.consumed(1);
        assert!(r.take_for_new_link().is_empty());
        let mut off = Replay::new(false);
        off.sent(|| panic!("no copy is made when replay is off"));
        assert!(off.take_for_new_link().is_empty());
    }
}
