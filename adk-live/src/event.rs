//! What the application hears from a session, and the queue that carries it.
//!
//! The queue never blocks the session, and its memory is bounded whatever the application
//! does: audio chunks count against one bound, every other event against another; past
//! either, new events of that kind are dropped and counted
//! ([`crate::MetricsSnapshot::audio_chunks_dropped`],
//! [`crate::MetricsSnapshot::events_dropped`]). The final `Closed` is always kept. The
//! socket task, the keepalive and the tool lane therefore never wait for a slow consumer.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use genai_wire::CloseInfo;
use genai_wire::protocol::UsageMetadata;
use serde_json::Value;

use crate::metrics::Metrics;
use crate::waiters::Waiters;

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LiveEvent {
    /// The session is set up (first connection).
    Connected {
        /// Vertex's session id, when sent.
        session_id: Option<String>,
    },
    /// Model audio: PCM16 little-endian mono at `sample_rate` Hz.
    Audio {
        /// The samples' bytes.
        pcm: Vec<u8>,
        /// Sample rate (24000 unless the mime type says otherwise).
        sample_rate: u32,
    },
    /// Model text (a text part of the model turn).
    Text(String),
    /// Transcript of the user's speech.
    InputTranscript {
        /// Text of this fragment.
        text: String,
        /// True when the server marked the transcript finished.
        finished: bool,
    },
    /// Transcript of the model's speech.
    OutputTranscript {
        /// Text of this fragment.
        text: String,
        /// True when the server marked the transcript finished.
        finished: bool,
    },
    /// The model finished generating (audio may still be playing).
    GenerationComplete,
    /// The model's turn is over.
    TurnComplete,
    /// The user cut the model off: drop queued playback.
    Interrupted,
    /// A tool call started.
    ToolStarted {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments.
        args: Value,
        /// True for a background call.
        background: bool,
    },
    /// A background call was acked (the model was told it is running).
    ToolAcked {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
    },
    /// A tool reported progress.
    ToolProgress {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// The progress value.
        progress: Value,
    },
    /// A tool finished and its result was queued for the model.
    ToolCompleted {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// The result.
        result: Value,
        /// How long it ran.
        elapsed: Duration,
    },
    /// A tool failed (error, panic, timeout, unknown tool, rejected duplicate) and the
    /// error was queued for the model.
    ToolFailed {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// What went wrong.
        error: String,
    },
    /// A call's final response could not go as a `functionResponse` because the server
    /// session no longer knows the call (the session resumed from a checkpoint older than
    /// the call, or started afresh): it was delivered as conversation instead (a user
    /// text turn carrying the formatted result).
    ToolResultAsConversation {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
    },
    /// A call was cancelled. What the model gets depends on who cancelled it:
    ///
    /// * the server (`toolCallCancellation`) or the end of the session: nothing, the
    ///   server has dropped the call;
    /// * the application ([`LiveHandle::cancel_tool`](crate::LiveHandle::cancel_tool)),
    ///   the model (task control) or a replacing duplicate: a final response, so the model
    ///   does not wait for it: for a background call `payload` (the formatter's
    ///   `format_cancelled`) with the tool's cancel scheduling, for a standard call an
    ///   error.
    ToolCancelled {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// The formatter's `format_cancelled` output (sent to the model only as described
        /// above).
        payload: Value,
        /// Who cancelled it.
        reason: CancelReason,
    },
    /// A final tool response was never written to the server: the session ended first.
    /// The model does not have it.
    ToolResultUndelivered {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
    },
    /// A final tool response was written, but the session ended before the server
    /// confirmed it (no newer resumption checkpoint covered it, or the close came before
    /// proof that the server read it). The model probably has it; nothing more can tell.
    ToolResultUnconfirmed {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
    },
    /// The server will close this connection; the session is moving to a new one.
    GoAway {
        /// Time the server gave.
        time_left: Option<Duration>,
    },
    /// The connection ended and the session is reconnecting (sends are queued meanwhile):
    /// the connection is being replaced, the conversation goes on.
    ///
    /// This includes a server close with 1000: the real server closes connections at its
    /// limits (after `goAway`, or at the end of a connection's lifetime) and the session
    /// resumes. A conversation is over only when the application ends it
    /// ([`LiveHandle::disconnect`](crate::LiveHandle::disconnect)) or a
    /// [`LiveEvent::Closed`] arrives (a fatal close, the reconnect budget spent, or
    /// [`ReconnectPolicy::never`](crate::ReconnectPolicy::never)). An application that
    /// treats a server's normal close as the end of the call can look at `close` here.
    Reconnecting {
        /// What ended the connection.
        error: String,
        /// The server's close frame, when it sent one (code 1000 for a normal close).
        close: Option<CloseInfo>,
    },
    /// The connection was replaced (goAway or loss) and the session continues.
    Reconnected {
        /// True when the session resumed with a handle (conversation kept).
        resumed: bool,
    },
    /// A new resumption handle arrived.
    Resumption {
        /// The handle.
        handle: Option<String>,
        /// Whether the session can be resumed right now.
        resumable: bool,
    },
    /// Token usage.
    Usage(UsageMetadata),
    /// The server detected the start or end of user speech (`voiceActivity`).
    VoiceActivity {
        /// True at the start of activity.
        start: bool,
    },
    /// A non-fatal problem (e.g. an undecodable frame).
    Error(String),
    /// The session ended; this is the last event.
    Closed {
        /// The server's close, when it ended with one.
        close: Option<CloseInfo>,
        /// The error that ended it, if any.
        error: Option<String>,
    },
}

/// Why a call was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The server sent `toolCallCancellation`.
    Server,
    /// A duplicate call with the `Replace` policy took its place.
    Replaced,
    /// The application cancelled it ([`LiveHandle::cancel_tool`](crate::LiveHandle::cancel_tool)).
    Application,
    /// The model cancelled it through the opt-in task control
    /// ([`SessionConfig::llm_task_control`](crate::SessionConfig::llm_task_control)).
    Model,
    /// The session ended (disconnect, drop of the handle, fatal close).
    SessionEnded,
}

/// Events the queue keeps room for once drained.
const IDLE_CAPACITY: usize = 8;

/// The default number of audio chunks queued for the application before new ones drop.
pub const DEFAULT_AUDIO_QUEUE: usize = 256;

/// The default number of other events queued for the application before new ones drop.
pub const DEFAULT_EVENT_QUEUE: usize = 4096;

#[derive(Default)]
struct State {
    queue: VecDeque<LiveEvent>,
    audio: usize,
    closed: bool,
    /// The consumers waiting in `recv` (see [`Waiters`]): the next push wakes them all,
    /// so two consumers waiting at once both see the end.
    waiters: Waiters,
}

/// The session → application event queue (see the module docs for the policy).
pub(crate) struct EventQueue {
    state: Mutex<State>,
    audio_bound: usize,
    event_bound: usize,
    metrics: Arc<Metrics>,
}

impl EventQueue {
    pub(crate) fn new(audio_bound: usize, event_bound: usize, metrics: Arc<Metrics>) -> Self {
        EventQueue {
            state: Mutex::default(),
            audio_bound,
            event_bound,
            metrics,
        }
    }

    /// Reports a final tool response that never reached the socket
    /// ([`LiveEvent::ToolResultUndelivered`]), and counts it.
    pub(crate) fn result_undelivered(&self, call_id: String, name: String) {
        Metrics::inc(&self.metrics.undelivered_results);
        self.push(LiveEvent::ToolResultUndelivered { call_id, name });
    }

    /// Reports a final tool response written but not confirmed
    /// ([`LiveEvent::ToolResultUnconfirmed`]), and counts it.
    pub(crate) fn result_unconfirmed(&self, call_id: String, name: String) {
        Metrics::inc(&self.metrics.unconfirmed_results);
        self.push(LiveEvent::ToolResultUnconfirmed { call_id, name });
    }

    pub(crate) fn push(&self, event: LiveEvent) {
        let is_audio = matches!(event, LiveEvent::Audio { .. });
        let woken = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.closed {
                return;
            }
            if is_audio {
                if s.audio >= self.audio_bound {
                    drop(s);
                    Metrics::inc(&self.metrics.audio_chunks_dropped);
                    return;
                }
                s.audio += 1;
            } else if matches!(event, LiveEvent::Closed { .. }) {
                s.closed = true;
            } else if s.queue.len() - s.audio >= self.event_bound {
                drop(s);
                Metrics::inc(&self.metrics.events_dropped);
                return;
            }
            s.queue.push_back(event);
            s.waiters.take()
        };
        woken.wake();
    }

    /// The next event; `None` once the queue is closed and drained. Cancel-safe.
    pub(crate) fn recv(&self) -> impl Future<Output = Option<LiveEvent>> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = s.pop() {
                return Poll::Ready(Some(e));
            }
            if s.closed {
                return Poll::Ready(None);
            }
            let full = s.waiters.register(cx.waker());
            drop(s);
            full.wake();
            Poll::Pending
        })
    }

    /// How many tasks are registered as waiting (tests).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state.lock().unwrap().waiters.len()
    }

    pub(crate) fn try_recv(&self) -> Option<LiveEvent> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

impl State {
    /// The oldest event, keeping the audio count right and, once drained after a burst,
    /// giving the memory back so idle sessions stay small.
    fn pop(&mut self) -> Option<LiveEvent> {
        let e = self.queue.pop_front()?;
        if matches!(e, LiveEvent::Audio { .. }) {
            self.audio -= 1;
        }
        if self.queue.is_empty() && self.queue.capacity() > IDLE_CAPACITY {
            self.queue.shrink_to(IDLE_CAPACITY);
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drops_audio_past_the_bound_but_keeps_everything_else() {
        let m = Arc::new(Metrics::default());
        let q = EventQueue::new(2, 3, m.clone());
        for _ in 0..5 {
            q.push(LiveEvent::Audio {
                pcm: vec![0; 4],
                sample_rate: 24000,
            });
            q.push(LiveEvent::TurnComplete);
        }
        q.push(LiveEvent::Closed {
            close: None,
            error: None,
        });
        q.push(LiveEvent::TurnComplete); // after Closed: ignored
        let mut audio = 0;
        let mut turns = 0;
        while let Some(e) = q.recv().await {
            match e {
                LiveEvent::Audio { .. } => audio += 1,
                LiveEvent::TurnComplete => turns += 1,
                _ => {}
            }
        }
        assert_eq!((audio, turns), (2, 3), "Closed is kept past both bounds");
        assert_eq!(m.snapshot().audio_chunks_dropped, 3);
        assert_eq!(m.snapshot().events_dropped, 2);
    }

    /// Two consumers waiting at once (two clones of a handle) both end when the session
    /// closes, and a consumer that gave up waiting (a `select!` that took another
    /// branch) does not keep the next event from the one still waiting.
    #[tokio::test]
    async fn every_waiting_consumer_ends_at_close() {
        let q = Arc::new(EventQueue::new(8, 8, Arc::new(Metrics::default())));
        let (a, b) = (q.clone(), q.clone());
        let first = tokio::spawn(async move { a.recv().await });
        let second = tokio::spawn(async move { b.recv().await });
        // Both registered: each task has polled its recv once and is waiting.
        tokio::task::yield_now().await;
        while q.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        // One that waits and is dropped, as a `select!` drops it.
        {
            let abandoned = q.recv();
            futures::pin_mut!(abandoned);
            assert!(futures::poll!(abandoned.as_mut()).is_pending());
        }
        q.push(LiveEvent::Closed {
            close: None,
            error: None,
        });
        let ends = tokio::time::timeout(Duration::from_secs(10), async {
            (first.await.unwrap(), second.await.unwrap())
        })
        .await
        .expect("both consumers end");
        let closed = [&ends.0, &ends.1]
            .iter()
            .filter(|e| matches!(e, Some(LiveEvent::Closed { .. })))
            .count();
        assert_eq!(closed, 1, "one gets Closed, the other the end: {ends:?}");
    }
}
