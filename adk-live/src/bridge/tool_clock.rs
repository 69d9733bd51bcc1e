//! When each tool call started, so every later step of it can say how long it had run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The start times of a session's tool calls, bounded: past [`ToolClock::TRACKED`]
/// calls the oldest is forgotten (its later steps have no time), so a session with
/// endless calls stays small.
///
/// ```
/// use adk_live::bridge::ToolClock;
///
/// let mut clock = ToolClock::default();
/// clock.start("c1");
/// assert!(clock.elapsed("c1").is_some());
/// assert!(clock.finish("c1").is_some());
/// assert!(clock.elapsed("c1").is_none());
/// ```
#[derive(Debug, Default, Clone)]
pub struct ToolClock {
    started: HashMap<String, Instant>,
}

impl ToolClock {
    /// Calls whose start time is kept.
    pub const TRACKED: usize = 256;

    /// A call started now.
    pub fn start(&mut self, call_id: &str) {
        if self.started.len() >= Self::TRACKED
            && let Some(oldest) = self
                .started
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(id, _)| id.clone())
        {
            self.started.remove(&oldest);
        }
        self.started.insert(call_id.to_owned(), Instant::now());
    }

    /// How long the call has run, if its start is known.
    pub fn elapsed(&self, call_id: &str) -> Option<Duration> {
        self.started.get(call_id).map(Instant::elapsed)
    }

    /// How long the call ran, forgetting it.
    pub fn finish(&mut self, call_id: &str) -> Option<Duration> {
        self.started.remove(call_id).map(|t| t.elapsed())
    }

    /// Calls whose start is kept.
    pub fn len(&self) -> usize {
        self.started.len()
    }

    /// True when no start is kept.
    pub fn is_empty(&self) -> bool {
        self.started.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_call_is_forgotten_past_the_bound() {
        let mut clock = ToolClock::default();
        for i in 0..ToolClock::TRACKED + 10 {
            clock.start(&format!("c{i}"));
        }
        assert_eq!(clock.len(), ToolClock::TRACKED);
        assert!(
            clock
                .elapsed(&format!("c{}", ToolClock::TRACKED + 9))
                .is_some()
        );
    }
}
