//! [`Emulator`]: one emulator as tests, tools and benchmarks see it: its sessions,
//! violations and transcripts, waits for sessions, connection-level faults, and
//! shutdown. Cheap to clone; every clone shares one `Shared`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::builder::EmulatorBuilder;
use super::config::CloseAfterSetup;
use super::connection;
use super::control::Control;
use super::record::Violation;
use super::server::TlsMaterial;
use super::session_handle::{SessionHandle, SessionId, WaitTimeout};
use super::shared::Shared;

/// An emulator (cheap to clone): its sessions, recordings and controls.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts configuring an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Serves one connection over any byte stream (the websocket upgrade included),
    /// until it ends. Use with `tokio::io::duplex` for tests on paused time.
    pub async fn serve_stream<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        connection::serve(stream, self.shared.clone()).await
    }

    /// Every session so far (including failed connections), oldest first.
    pub fn sessions(&self) -> Vec<SessionHandle> {
        self.shared
            .registry
            .all()
            .into_iter()
            .map(|s| SessionHandle { s })
            .collect()
    }

    /// The session with this id.
    pub fn session(&self, id: &SessionId) -> Option<SessionHandle> {
        self.control().session(id)
    }

    /// Every violation in every session, with its session id.
    pub fn violations(&self) -> Vec<(SessionId, Violation)> {
        self.sessions()
            .into_iter()
            .flat_map(|s| {
                let id = s.id();
                s.violations().into_iter().map(move |v| (id.clone(), v))
            })
            .collect()
    }

    /// Waits until at least one session exists; returns the oldest.
    pub async fn wait_for_session(&self, timeout: Duration) -> Result<SessionHandle, WaitTimeout> {
        Ok(self.wait_for_sessions(1, timeout).await?.remove(0))
    }

    /// Waits until at least `n` sessions exist; returns them, oldest first.
    pub async fn wait_for_sessions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SessionHandle>, WaitTimeout> {
        let mut rx = self.shared.registry.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.sessions();
            if s.len() >= n {
                return Ok(s);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(WaitTimeout {
                    what: format!("{n} sessions"),
                    after: timeout,
                    session: "-".into(),
                    summary: format!("{} sessions", self.sessions().len()),
                });
            }
        }
    }

    /// From now on, closes the next `count` connections (every one with `None`) with
    /// this code and reason right after `setupComplete` (see
    /// [`EmulatorBuilder::close_after_setup`]); replaces whatever was armed.
    pub fn close_after_setup(&self, code: u16, reason: impl Into<String>, count: Option<usize>) {
        *self
            .shared
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(CloseAfterSetup {
            code,
            reason: reason.into(),
            remaining: count,
        });
    }

    /// Stops closing connections after setup.
    pub fn clear_close_after_setup(&self) {
        *self
            .shared
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Number of open connections.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Fault injection by session id.
    pub fn control(&self) -> Control {
        Control {
            registry: self.shared.registry.clone(),
        }
    }

    /// All transcripts, session after session, in the recordings' format.
    pub fn transcript(&self) -> String {
        self.sessions()
            .iter()
            .map(SessionHandle::transcript)
            .collect()
    }

    /// Forgets sessions whose connections ended and whose handles expired (or all
    /// ended sessions when `all`), to bound memory in long runs.
    pub fn prune(&self, all: bool) {
        self.shared.registry.prune(self.shared.cfg.handle_ttl, all);
    }

    /// The TLS material, when serving TLS.
    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.shared.tls.as_deref()
    }

    /// Asks every session to close (1001 "server shutting down") and waits up to 5 s
    /// for connections to end.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.active_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
