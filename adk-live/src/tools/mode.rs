//! How each tool runs, as one record per tool: standard or background, the formatter and
//! scheduling of a background tool's responses, its timeout and its duplicate policy.
//!
//! Why one record whose every setting is optional: the builders edit a tool's record in
//! place, setting by setting, and a record set later is *merged* into the one before (a
//! setting left unset keeps the earlier value). So `tool_background("search")` and a
//! timeout set in either order both survive: no call order can silently turn a
//! background tool back into a standard one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use genai_wire::protocol::FunctionResponseScheduling;

use super::formatter::ResultFormatter;

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

/// The default timeout of a standard tool.
pub const DEFAULT_STANDARD_TIMEOUT: Duration = Duration::from_secs(60);

/// One tool's settings. Every setting is optional; [`ToolOptions::merge`] lays one
/// record over another, setting by setting.
///
/// ```
/// use std::time::Duration;
/// use adk_live::prelude::*;
///
/// let options = ToolOptions::background()
///     .with_scheduling(FunctionResponseScheduling::Interrupt)
///     .with_timeout(Duration::from_secs(120))
///     .with_duplicates(DuplicatePolicy::Reject);
/// assert!(options.is_background());
/// assert_eq!(options.effective_timeout(), Some(Duration::from_secs(120)));
///
/// // Merged later, a timeout alone keeps everything else.
/// let mut record = options.clone();
/// record.merge(ToolOptions::new().with_timeout(Duration::from_secs(5)));
/// assert!(record.is_background());
/// assert_eq!(record.scheduling(), Some(FunctionResponseScheduling::Interrupt));
/// ```
#[derive(Clone, Default)]
pub struct ToolOptions {
    background: Option<bool>,
    formatter: Option<Arc<dyn ResultFormatter>>,
    scheduling: Option<FunctionResponseScheduling>,
    cancel_scheduling: Option<FunctionResponseScheduling>,
    timeout: Option<Duration>,
    duplicates: Option<DuplicatePolicy>,
}

impl ToolOptions {
    /// A record that sets nothing (a standard tool with the defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// A record that runs the tool in the background: declared `NON_BLOCKING`, each call
    /// acked at once, progress streamed, the result delivered `WHEN_IDLE`.
    pub fn background() -> Self {
        Self::new().in_background()
    }

    /// Runs the tool in the background.
    pub fn in_background(mut self) -> Self {
        self.background = Some(true);
        self
    }

    /// Runs the tool as a standard tool: one plain response, declared with the model's
    /// default behavior (BLOCKING where that is not the default). A formatter or a
    /// scheduling in the same record is an error at connect.
    pub fn standard(mut self) -> Self {
        self.background = Some(false);
        self
    }

    /// Words the ack, progress, result and cancellation of a background tool (implies
    /// background).
    pub fn with_formatter(mut self, formatter: Arc<dyn ResultFormatter>) -> Self {
        self.formatter = Some(formatter);
        self
    }

    /// When the model should take a background tool's result (default `WHEN_IDLE`;
    /// implies background).
    pub fn with_scheduling(mut self, scheduling: FunctionResponseScheduling) -> Self {
        self.scheduling = Some(scheduling);
        self
    }

    /// How the model takes the final "cancelled" response of a background call the
    /// application (or the model, or a replacing duplicate) cancelled: `SILENT` by
    /// default (the model hears it but says nothing), `WHEN_IDLE` or `INTERRUPT` to have
    /// it voiced. A server cancellation sends nothing. Implies background.
    pub fn with_cancel_scheduling(mut self, scheduling: FunctionResponseScheduling) -> Self {
        self.cancel_scheduling = Some(scheduling);
        self
    }

    /// A call running longer than this is stopped and answered with an error (default:
    /// [`DEFAULT_STANDARD_TIMEOUT`] for standard tools, none for background tools).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// What to do with a duplicate of a running call (default [`DuplicatePolicy::Allow`]).
    pub fn with_duplicates(mut self, policy: DuplicatePolicy) -> Self {
        self.duplicates = Some(policy);
        self
    }

    /// Lays `later` over this record: each setting `later` has replaces this one's, the
    /// others stay.
    pub fn merge(&mut self, later: ToolOptions) {
        let ToolOptions {
            background,
            formatter,
            scheduling,
            cancel_scheduling,
            timeout,
            duplicates,
        } = later;
        self.background = background.or(self.background);
        self.formatter = formatter.or(self.formatter.take());
        self.scheduling = scheduling.or(self.scheduling);
        self.cancel_scheduling = cancel_scheduling.or(self.cancel_scheduling);
        self.timeout = timeout.or(self.timeout);
        self.duplicates = duplicates.or(self.duplicates);
    }

    /// True when the tool runs in the background: marked so, or given a formatter or a
    /// scheduling (which only background tools have).
    pub fn is_background(&self) -> bool {
        self.background.unwrap_or(
            self.formatter.is_some()
                || self.scheduling.is_some()
                || self.cancel_scheduling.is_some(),
        )
    }

    /// The scheduling of a cancelled background call's final response (default `SILENT`).
    pub fn cancel_scheduling(&self) -> FunctionResponseScheduling {
        self.cancel_scheduling
            .unwrap_or(FunctionResponseScheduling::Silent)
    }

    /// The formatter set, if any.
    pub fn formatter(&self) -> Option<&Arc<dyn ResultFormatter>> {
        self.formatter.as_ref()
    }

    /// The scheduling set, if any.
    pub fn scheduling(&self) -> Option<FunctionResponseScheduling> {
        self.scheduling
    }

    /// The timeout set, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The duplicate policy in force.
    pub fn duplicates(&self) -> DuplicatePolicy {
        self.duplicates.unwrap_or_default()
    }

    /// The timeout in force: the one set, else the default of the tool's kind.
    pub fn effective_timeout(&self) -> Option<Duration> {
        match self.timeout {
            Some(t) => Some(t),
            None if self.is_background() => None,
            None => Some(DEFAULT_STANDARD_TIMEOUT),
        }
    }

    /// A contradiction in the record (a standard tool with background-only settings).
    pub(crate) fn conflict(&self) -> Option<&'static str> {
        if self.background != Some(false) {
            return None;
        }
        if self.formatter.is_some() {
            Some("a formatter")
        } else if self.scheduling.is_some() {
            Some("a scheduling")
        } else {
            None
        }
    }
}

impl fmt::Debug for ToolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolOptions")
            .field("background", &self.is_background())
            .field("formatter", &self.formatter.as_ref().map(|_| "custom"))
            .field("scheduling", &self.scheduling)
            .field("timeout", &self.timeout)
            .field("duplicates", &self.duplicates)
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tools::DefaultResultFormatter;

    /// A setting's name, a record with only it, and a check that a record has it.
    pub(crate) type Setting = (&'static str, ToolOptions, fn(&ToolOptions) -> bool);

    /// Each setting alone, as a record of its own, with a check that a record has it.
    pub(crate) fn settings() -> Vec<Setting> {
        vec![
            ("background", ToolOptions::background(), |o| {
                o.is_background()
            }),
            (
                "formatter",
                ToolOptions::new().with_formatter(Arc::new(DefaultResultFormatter)),
                |o| o.formatter().is_some() && o.is_background(),
            ),
            (
                "scheduling",
                ToolOptions::new().with_scheduling(FunctionResponseScheduling::Silent),
                |o| o.scheduling() == Some(FunctionResponseScheduling::Silent),
            ),
            (
                "timeout",
                ToolOptions::new().with_timeout(Duration::from_secs(7)),
                |o| o.effective_timeout() == Some(Duration::from_secs(7)),
            ),
            (
                "duplicates",
                ToolOptions::new().with_duplicates(DuplicatePolicy::Replace),
                |o| o.duplicates() == DuplicatePolicy::Replace,
            ),
        ]
    }

    #[test]
    fn every_pair_of_settings_survives_in_both_orders() {
        let all = settings();
        for (a, first, has_first) in &all {
            for (b, second, has_second) in &all {
                let mut record = ToolOptions::new();
                record.merge(first.clone());
                record.merge(second.clone());
                assert!(has_first(&record), "{a} then {b}: {a} lost: {record:?}");
                assert!(has_second(&record), "{a} then {b}: {b} lost: {record:?}");
            }
        }
    }

    #[test]
    fn standard_is_the_default_and_contradictions_are_named() {
        let o = ToolOptions::new();
        assert!(!o.is_background());
        assert_eq!(o.effective_timeout(), Some(DEFAULT_STANDARD_TIMEOUT));
        assert_eq!(ToolOptions::background().effective_timeout(), None);
        let mut o = ToolOptions::background();
        o.merge(ToolOptions::new().standard());
        assert!(!o.is_background(), "an explicit later choice wins");
        o.merge(ToolOptions::new().with_scheduling(FunctionResponseScheduling::Interrupt));
        assert_eq!(o.conflict(), Some("a scheduling"));
    }
}
