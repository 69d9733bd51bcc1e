//! The emulator's configuration: what [`EmulatorBuilder`](super::EmulatorBuilder) sets
//! and every connection reads, and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::record::RecordMode;
use super::resume::{DEFAULT_CHECKPOINTS_KEPT, DEFAULT_HANDLE_LAG, ResumptionMode};
use super::scenario::Scenario;
use super::server::Credentials;
use crate::Backend;

/// The emulator's configuration (set through [`EmulatorBuilder`](super::EmulatorBuilder)).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub backend: Backend,
    pub credentials: Credentials,
    pub scenario: Scenario,
    pub tls: bool,
    pub lifetime: Option<Duration>,
    pub goaway_lead: Duration,
    pub lifetime_close: (u16, String),
    pub record: RecordMode,
    pub strict_tool_responses: bool,
    pub known_models: Option<Vec<String>>,
    pub setup_timeout: Duration,
    pub handle_ttl: Duration,
    pub max_message_size: usize,
    pub proxy_path: Option<String>,
    pub transcript_out: Option<PathBuf>,
    pub resumption_mode: ResumptionMode,
    pub handle_lag: Duration,
    pub checkpoints_kept: usize,
    pub close_after_setup: Option<CloseAfterSetup>,
}

impl Default for Config {
    /// The defaults [`EmulatorBuilder`](super::EmulatorBuilder) documents.
    fn default() -> Self {
        Config {
            backend: Backend::DeveloperApi,
            credentials: Credentials::AcceptAny,
            scenario: Scenario::default(),
            tls: false,
            lifetime: Some(Duration::from_secs(600)),
            goaway_lead: Duration::from_secs(60),
            lifetime_close: (1000, "connection lifetime reached".to_string()),
            record: RecordMode::Full,
            strict_tool_responses: false,
            known_models: None,
            setup_timeout: Duration::from_secs(60),
            handle_ttl: Duration::from_secs(2 * 3600),
            max_message_size: 16 << 20,
            proxy_path: None,
            transcript_out: None,
            resumption_mode: ResumptionMode::Checkpoint,
            handle_lag: DEFAULT_HANDLE_LAG,
            checkpoints_kept: DEFAULT_CHECKPOINTS_KEPT,
            close_after_setup: None,
        }
    }
}

/// Close the next connections right after `setupComplete`.
#[derive(Debug, Clone)]
pub(crate) struct CloseAfterSetup {
    pub code: u16,
    pub reason: String,
    /// How many more connections (None: all).
    pub remaining: Option<usize>,
}
