//! Fault injection and remote control of live sessions, by session id.
//!
//! Tests usually hold a [`SessionHandle`] and call its methods;
//! [`Control`] is the same thing addressed by [`SessionId`], `'static` and cloneable,
//! for code that runs elsewhere (a benchmark driver, the example's debug console).
//! Commands travel over the connection task's channel, so they take effect between two
//! frames and never race with a send.

use std::sync::Arc;
use std::time::Duration;

use super::registry::Registry;
use super::session_handle::{SessionHandle, SessionId};

/// Controls the sessions of one emulator.
#[derive(Clone)]
pub struct Control {
    pub(crate) registry: Arc<Registry>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    fn with(&self, id: &SessionId, f: impl FnOnce(&SessionHandle) -> bool) -> bool {
        match self.registry.get(id.as_str()) {
            Some(s) => f(&SessionHandle { s }),
            None => false,
        }
    }

    /// The session with this id.
    pub fn session(&self, id: &SessionId) -> Option<SessionHandle> {
        self.registry.get(id.as_str()).map(|s| SessionHandle { s })
    }

    /// Ids of the sessions with an open connection.
    pub fn connected(&self) -> Vec<SessionId> {
        self.registry
            .all()
            .into_iter()
            .map(|s| SessionHandle { s })
            .filter(SessionHandle::is_connected)
            .map(|s| s.id())
            .collect()
    }

    /// Drops the session's TCP connection abruptly (the client sees 1006).
    pub fn drop_connection(&self, id: &SessionId) -> bool {
        self.with(id, SessionHandle::drop_connection)
    }

    /// Closes the session's connection with this code and reason.
    pub fn close(&self, id: &SessionId, code: u16, reason: &str) -> bool {
        self.with(id, |s| s.close(code, reason))
    }

    /// Stops answering pings (stops reading the socket) for `duration`.
    pub fn stall_pongs(&self, id: &SessionId, duration: Duration) -> bool {
        self.with(id, |s| s.stall_pongs(duration))
    }

    /// Stops reading the session's socket for good (see
    /// [`SessionHandle::stop_reading`]).
    pub fn stop_reading(&self, id: &SessionId) -> bool {
        self.with(id, SessionHandle::stop_reading)
    }

    /// Sends `goAway` now and closes when `time_left` runs out.
    pub fn go_away(&self, id: &SessionId, time_left: Duration) -> bool {
        self.with(id, |s| s.go_away(time_left))
    }

    /// Sends `goAway` to every connected session; returns how many got it.
    pub fn go_away_all(&self, time_left: Duration) -> usize {
        self.registry
            .all()
            .into_iter()
            .filter(|s| SessionHandle { s: s.clone() }.go_away(time_left))
            .count()
    }

    /// Sends a message verbatim (binary frame).
    pub fn inject(&self, id: &SessionId, message: &str) -> bool {
        self.with(id, |s| s.inject(message))
    }

    /// Sends arbitrary bytes verbatim (binary frame; any size, JSON or not).
    pub fn inject_bytes(&self, id: &SessionId, bytes: &[u8]) -> bool {
        self.with(id, |s| s.inject_bytes(bytes))
    }
}
