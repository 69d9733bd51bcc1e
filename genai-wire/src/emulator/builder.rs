//! [`EmulatorBuilder`]: configures an emulator, then builds it (no listener) or binds it
//! (`server` accepts the connections).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::config::{CloseAfterSetup, Config};
use super::instance::Emulator;
use super::record::RecordMode;
use super::resume::ResumptionMode;
use super::scenario::Scenario;
use super::server::{self, Credentials, EmulatorHandle, TlsMaterial};
use super::shared::Shared;
#[cfg(doc)]
use super::{DEFAULT_CHECKPOINTS_KEPT, DEFAULT_HANDLE_LAG, Fault, SessionHandle, Violation};
use crate::Backend;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// Binding the listener failed.
    #[error("bind: {0}")]
    Bind(#[from] std::io::Error),
    /// Generating or loading the TLS certificate failed.
    #[error("tls: {0}")]
    Tls(String),
}

/// Configures and starts an emulator. Defaults: Developer API URLs, any credentials
/// accepted, the default scenario, plain ws, 10-minute connection lifetime with
/// `goAway` 60 s before, full recording, checkpoint resumption
/// ([`ResumptionMode::Checkpoint`]) keeping the last [`DEFAULT_CHECKPOINTS_KEPT`]
/// handles per session, fresh handles [`DEFAULT_HANDLE_LAG`] after the turn boundary.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EmulatorBuilder {
    cfg: Config,
}

impl EmulatorBuilder {
    /// Which backend [`EmulatorHandle::ws_url`] points at. (Both backends' paths are
    /// always served; a session's backend follows from its path.)
    pub fn backend(mut self, backend: Backend) -> Self {
        self.cfg.backend = backend;
        self
    }

    /// Accept this API key (may be called several times). Once any key or token is
    /// set, connections must present one of them.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.add_credential(key.into());
        self
    }

    /// Accept this access token (ephemeral `auth_tokens/...` or an OAuth bearer token).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.add_credential(token.into());
        self
    }

    fn add_credential(&mut self, c: String) {
        match &mut self.cfg.credentials {
            Credentials::AcceptAny => self.cfg.credentials = Credentials::OneOf(HashSet::from([c])),
            Credentials::OneOf(set) => {
                set.insert(c);
            }
        }
    }

    /// Accept any credentials, or none (the default).
    pub fn accept_any_credentials(mut self) -> Self {
        self.cfg.credentials = Credentials::AcceptAny;
        self
    }

    /// The scripted model.
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.cfg.scenario = scenario;
        self
    }

    /// Serve TLS (`wss://`) with the generated certificate.
    pub fn tls(mut self, on: bool) -> Self {
        self.cfg.tls = on;
        self
    }

    /// How long a connection lives (`None`: forever). Default 10 minutes.
    pub fn connection_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.cfg.lifetime = lifetime.into();
        self
    }

    /// How long before the end of the lifetime `goAway` is sent. Default 60 s.
    pub fn goaway_lead(mut self, lead: Duration) -> Self {
        self.cfg.goaway_lead = lead;
        self
    }

    /// Close code and reason at the end of the lifetime. Default 1000 "connection
    /// lifetime reached".
    pub fn lifetime_close(mut self, code: u16, reason: impl Into<String>) -> Self {
        self.cfg.lifetime_close = (code, reason.into());
        self
    }

    /// How much to record per session. Default [`RecordMode::Full`].
    pub fn record(mut self, mode: RecordMode) -> Self {
        self.cfg.record = mode;
        self
    }

    /// Close with 1008 "Requested entity was not found." when a function response names
    /// an unknown, closed or cancelled call (default: the response is ignored, recorded
    /// in [`SessionHandle::ignored_function_responses`] and as a [`Violation`]).
    pub fn strict_tool_responses(mut self, on: bool) -> Self {
        self.cfg.strict_tool_responses = on;
        self
    }

    /// Only these model ids (last path segment, e.g. `gemini-live-2.5-flash-preview`)
    /// exist; others get 1008. Default: any well-formed model name.
    pub fn known_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.known_models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// How long to wait for `setup` after the upgrade. Default 60 s.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.setup_timeout = timeout;
        self
    }

    /// How long resumption handles stay valid after the session's last connection
    /// ended. Default 2 hours.
    pub fn handle_ttl(mut self, ttl: Duration) -> Self {
        self.cfg.handle_ttl = ttl;
        self
    }

    /// What a resumption handle resumes. Default [`ResumptionMode::Checkpoint`], as the
    /// real server does; [`ResumptionMode::Latest`] restores the latest state instead.
    pub fn resumption_mode(mut self, mode: ResumptionMode) -> Self {
        self.cfg.resumption_mode = mode;
        self
    }

    /// Delay between the turn boundary (or the SILENT close of the last open call) and
    /// the fresh resumable handle. Default [`DEFAULT_HANDLE_LAG`] (20 ms; the real delay
    /// is not documented). If a turn or call opens during the lag, no handle is sent.
    pub fn handle_lag(mut self, lag: Duration) -> Self {
        self.cfg.handle_lag = lag;
        self
    }

    /// How many checkpoints (the newest handles) each session keeps in checkpoint mode
    /// (at least 1). Older handles are refused with 1008 "BidiGenerateContent session
    /// not found". Default [`DEFAULT_CHECKPOINTS_KEPT`].
    pub fn checkpoints_kept(mut self, n: usize) -> Self {
        self.cfg.checkpoints_kept = n.max(1);
        self
    }

    /// Closes the next `count` connections (every one with `None`) with this code and
    /// reason right after they get `setupComplete`, before any other message (1005, 1006
    /// and 1015 drop the connection instead). Counted over connections that complete
    /// setup; recorded as [`Fault::ClosedAfterSetup`]. Re-arm at run time with
    /// [`Emulator::close_after_setup`].
    pub fn close_after_setup(
        mut self,
        code: u16,
        reason: impl Into<String>,
        count: impl Into<Option<usize>>,
    ) -> Self {
        self.cfg.close_after_setup = Some(CloseAfterSetup {
            code,
            reason: reason.into(),
            remaining: count.into(),
        });
        self
    }

    /// Largest client message accepted (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.cfg.max_message_size = bytes;
        self
    }

    /// Also serve this exact path, as Vertex (the SDKs' "proxy mode").
    pub fn vertex_proxy_path(mut self, path: impl Into<String>) -> Self {
        self.cfg.proxy_path = Some(path.into());
        self
    }

    /// Append each connection's transcript to this file when the connection ends.
    pub fn transcript_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.cfg.transcript_out = Some(path.into());
        self
    }

    /// Builds an emulator without a listener: feed it connections with
    /// [`Emulator::serve_stream`] (e.g. one end of `tokio::io::duplex`, for tests on
    /// paused time).
    pub fn build(self) -> Result<Emulator, EmulatorError> {
        let tls = if self.cfg.tls {
            Some(TlsMaterial::shared().map_err(EmulatorError::Tls)?)
        } else {
            None
        };
        Ok(Emulator {
            shared: Arc::new(Shared::new(self.cfg, tls)),
        })
    }

    /// Binds a listener (e.g. `"127.0.0.1:0"`) and starts accepting connections.
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<EmulatorHandle, EmulatorError> {
        let emu = self.build()?;
        server::listen(emu, addr).await
    }
}
