//! The playback fence: no audio of an interrupted turn reaches the caller.
//!
//! On barge-in the Live API sends `serverContent.interrupted` and then `turnComplete`; an
//! interrupted turn has no `generationComplete` (Gemini's `BidiGenerateContentServerContent`
//! docs; the order is also what our emulator does, and is unverified against the real
//! server on every model). A player drops what it queued when `interrupted` arrives, but
//! audio of the cut turn can still come after it: a front end that queued frames before
//! the interrupt reached it, a transport that reorders, a server that flushes late. Bridges
//! that played such audio were the cause of "the bot keeps talking after I cut it off"
//! (openai-agents-js PR #1608 fences stale audio by playback generation; twilio-samples
//! node #9).
//!
//! The fence closes on `interrupted` and opens again on the cut turn's `turnComplete` (or a
//! new connection): audio in between belongs to the cut turn and is dropped. Each closing
//! starts a new playback generation, so a front end can tag and discard what it queued for
//! an older one. A server that never sends the cut turn's `turnComplete` would keep the
//! fence closed for the rest of the call, so it also opens once it has been dropping audio
//! for [`PlaybackFence::MAX_CLOSED`] (counted from the first chunk it dropped, not from the
//! `interrupted`, so a consumer that stalled does not let the cut turn's backlog through).

use std::time::{Duration, Instant};

use crate::LiveEvent;

/// Drops model audio between `interrupted` and the end of the interrupted turn.
///
/// ```
/// use adk_live::LiveEvent;
/// use adk_live::bridge::PlaybackFence;
///
/// let audio = || LiveEvent::Audio { pcm: vec![0; 480], sample_rate: 24_000 };
/// let mut fence = PlaybackFence::default();
/// assert!(fence.admit(&audio()));
/// fence.admit(&LiveEvent::Interrupted);
/// assert!(!fence.admit(&audio()), "late audio of the cut turn");
/// fence.admit(&LiveEvent::TurnComplete);
/// assert!(fence.admit(&audio()), "the next turn plays");
/// assert_eq!((fence.generation(), fence.dropped_chunks()), (1, 1));
/// ```
#[derive(Debug, Default, Clone)]
pub struct PlaybackFence {
    closed: bool,
    /// When the first chunk was dropped since the fence closed.
    first_drop: Option<Instant>,
    generation: u64,
    dropped: u64,
    timed_out: u64,
}

impl PlaybackFence {
    /// How long the fence drops audio without the cut turn's `turnComplete`.
    pub const MAX_CLOSED: Duration = Duration::from_secs(3);

    /// Observes one event; returns false for audio that must not be played.
    pub fn admit(&mut self, event: &LiveEvent) -> bool {
        self.admit_at(event, Instant::now())
    }

    fn admit_at(&mut self, event: &LiveEvent, now: Instant) -> bool {
        match event {
            LiveEvent::Audio { .. } if self.closed => {
                let since = *self.first_drop.get_or_insert(now);
                if now.duration_since(since) < Self::MAX_CLOSED {
                    self.dropped += 1;
                    return false;
                }
                self.closed = false;
                self.first_drop = None;
                self.timed_out += 1;
            }
            LiveEvent::Interrupted => {
                self.closed = true;
                self.first_drop = None;
                self.generation += 1;
            }
            LiveEvent::TurnComplete | LiveEvent::Reconnected { .. } => {
                self.closed = false;
                self.first_drop = None;
            }
            _ => {}
        }
        true
    }

    /// Times the fence opened because no `turnComplete` followed an `interrupted` within
    /// [`MAX_CLOSED`](Self::MAX_CLOSED).
    pub fn timed_out(&self) -> u64 {
        self.timed_out
    }

    /// The playback generation: how many interruptions so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Audio chunks dropped as late audio of a cut turn.
    pub fn dropped_chunks(&self) -> u64 {
        self.dropped
    }

    /// True between `interrupted` and the end of the cut turn.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio() -> LiveEvent {
        LiveEvent::Audio {
            pcm: vec![1, 2],
            sample_rate: 24_000,
        }
    }

    #[test]
    fn a_new_connection_opens_the_fence() {
        let mut fence = PlaybackFence::default();
        fence.admit(&LiveEvent::Interrupted);
        assert!(fence.is_closed());
        assert!(!fence.admit(&audio()));
        fence.admit(&LiveEvent::Reconnected { resumed: true });
        assert!(fence.admit(&audio()));
    }

    #[test]
    fn a_fence_left_closed_by_the_server_opens_after_a_while() {
        let mut fence = PlaybackFence::default();
        let t0 = Instant::now();
        fence.admit_at(&LiveEvent::Interrupted, t0);
        // A consumer that stalled 10 s: the cut turn's backlog is still dropped...
        let late = t0 + Duration::from_secs(10);
        assert!(!fence.admit_at(&audio(), late));
        assert!(!fence.admit_at(&audio(), late + Duration::from_secs(1)));
        // ... and the fence opens only after dropping for MAX_CLOSED.
        assert!(fence.admit_at(&audio(), late + PlaybackFence::MAX_CLOSED));
        assert!(!fence.is_closed());
        assert_eq!((fence.dropped_chunks(), fence.timed_out()), (2, 1));
    }

    #[test]
    fn everything_but_audio_passes_a_closed_fence() {
        let mut fence = PlaybackFence::default();
        fence.admit(&LiveEvent::Interrupted);
        for e in [
            LiveEvent::Text("x".into()),
            LiveEvent::OutputTranscript {
                text: "x".into(),
                finished: false,
            },
            LiveEvent::GenerationComplete,
        ] {
            assert!(fence.admit(&e));
        }
        assert!(fence.is_closed());
        fence.admit(&LiveEvent::Interrupted);
        assert_eq!(fence.generation(), 2);
    }
}
