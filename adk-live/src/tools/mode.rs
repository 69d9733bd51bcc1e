//! How each tool runs: answered plainly (standard) or in the background with an ack,
//! progress and a scheduled result; plus per-tool timeouts and duplicate-call policy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use genai_wire::protocol::FunctionResponseScheduling;

use super::formatter::ResultFormatter;

/// How a tool's calls are executed and answered.
#[derive(Clone, Default)]
pub enum ToolExecutionMode {
    /// The call runs and its result is sent as one plain function response. The tool is
    /// declared with the model's default behavior (blocking on most models).
    #[default]
    Standard,
    /// The tool is declared `NON_BLOCKING`; each call is acked at once, may stream
    /// progress, and its final result is delivered with `scheduling`.
    Background {
        /// Phrases the ack, result and cancellation (default: [`super::DefaultResultFormatter`]).
        formatter: Option<Arc<dyn ResultFormatter>>,
        /// When the model should voice the final result (default `WHEN_IDLE`).
        scheduling: Option<FunctionResponseScheduling>,
    },
}

impl ToolExecutionMode {
    /// A background mode with the default formatter and `WHEN_IDLE` scheduling.
    pub fn background() -> Self {
        ToolExecutionMode::Background {
            formatter: None,
            scheduling: None,
        }
    }

    /// True for [`ToolExecutionMode::Background`].
    pub fn is_background(&self) -> bool {
        matches!(self, ToolExecutionMode::Background { .. })
    }
}

impl fmt::Debug for ToolExecutionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolExecutionMode::Standard => f.write_str("Standard"),
            ToolExecutionMode::Background {
                formatter,
                scheduling,
            } => f
                .debug_struct("Background")
                .field("formatter", &formatter.as_ref().map(|_| "custom"))
                .field("scheduling", scheduling)
                .finish(),
        }
    }
}

/// What to do with a call whose name and arguments match a call of the same tool that is
/// still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// Run both (default).
    #[default]
    Allow,
    /// Answer the new call at once with an error naming the running one.
    Reject,
    /// Stop the running call (it is answered as cancelled) and run the new one.
    Replace,
}

/// Per-tool execution options.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ToolOptions {
    /// Standard or background.
    pub mode: ToolExecutionMode,
    /// A call running longer than this is stopped and answered with an error.
    /// `None` uses the default: 60 s for standard tools, no limit for background tools.
    pub timeout: Option<Duration>,
    /// What to do with a duplicate of a running call.
    pub duplicates: DuplicatePolicy,
}

/// The default timeout of a standard tool.
pub const DEFAULT_STANDARD_TIMEOUT: Duration = Duration::from_secs(60);

impl ToolOptions {
    /// Options with the given mode and defaults for the rest.
    pub fn new(mode: ToolExecutionMode) -> Self {
        ToolOptions {
            mode,
            ..Default::default()
        }
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the duplicate-call policy.
    pub fn with_duplicates(mut self, policy: DuplicatePolicy) -> Self {
        self.duplicates = policy;
        self
    }

    /// The timeout in force: the configured one, else the mode's default.
    pub fn effective_timeout(&self) -> Option<Duration> {
        match (self.timeout, &self.mode) {
            (Some(t), _) => Some(t),
            (None, ToolExecutionMode::Standard) => Some(DEFAULT_STANDARD_TIMEOUT),
            (None, ToolExecutionMode::Background { .. }) => None,
        }
    }
}
