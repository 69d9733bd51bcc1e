//! Counters a user can read while a session runs.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters of one session (cheap atomics, shared with the session's tasks).
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub(crate) $name: AtomicU64,)*
        }

        /// A point-in-time copy of [`Metrics`].
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct MetricsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Connections re-established after a loss or goAway.
    reconnects,
    /// Reconnects that resumed the session with a handle.
    resumptions,
    /// Running acks sent for background calls.
    tool_acks,
    /// Progress responses queued.
    tool_progress,
    /// Progress responses replaced by a newer one before the socket took them.
    progress_coalesced,
    /// Tool responses this client refused to send (too large, malformed); each became a
    /// small error response and a `ToolFailed` event.
    responses_refused,
    /// Final results delivered as conversation because the server session no longer knew
    /// their call (after resuming an older checkpoint, or a fresh session).
    results_as_conversation,
    /// Events other than audio dropped because the application did not read events.
    events_dropped,
    /// Final tool responses produced by the tools (queued for the socket).
    tool_results,
    /// Final tool responses written to the socket (as `functionResponse` or as
    /// conversation), counting each re-delivery after a connection change.
    results_written,
    /// Calls cancelled (by the server, the application or the end of the session).
    cancellations,
    /// Results that finished after their call was cancelled, and were dropped.
    late_results_dropped,
    /// Audio chunks dropped because the application did not read events fast enough.
    audio_chunks_dropped,
    /// Final tool responses reported undelivered (`ToolResultUndelivered`): the session
    /// ended before they could be written.
    undelivered_results,
    /// Final tool responses written but reported unconfirmed (`ToolResultUnconfirmed`):
    /// the session ended before a newer checkpoint or a read proof covered them.
    unconfirmed_results,
    /// Server frames that failed to decode (reported as error events, not fatal).
    decode_errors,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
