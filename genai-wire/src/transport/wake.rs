//! Per-wait wakers for a task that owns a socket: poll only what was woken.
//!
//! Why: a task that owns a websocket waits on several things at once (for adk-live's
//! session task: shutdown, the tool lane's outbox, the socket, the keepalive timer, the
//! application's queue). A `select!` polls every one of them on every wake-up, and a
//! voice session wakes 50 times a second for its audio alone. Each of those wake-ups
//! polled the socket for nothing: tungstenite zero-fills its read buffer before every
//! read attempt, then rustls and the reactor are asked (with the rest, about a tenth of
//! adk-live's CPU in the N = 200 profile, BENCHMARKS.md, "Where the time goes").
//!
//! Here each wait is polled with a waker of its own, which records the wait's bit
//! before waking the task, and a wait is polled again only once that waker fired, or
//! after it completed (a stream that yielded may have more; a finished future is
//! replaced). A wait that is not polled keeps its registration from its last poll, so
//! nothing is missed: this is how `FuturesUnordered` avoids polling idle futures.
//!
//! The contract: a wait may be gated only if its registration outlives the future that
//! made it. [`WireReader::next_frame`](super::WireReader::next_frame) and
//! [`Keepalive::tick`](super::Keepalive::tick) qualify (the waker is kept by the socket
//! and by the keepalive's own timer), so they may be re-created each turn and still be
//! gated. A future that holds its own registration (a `tokio::time::sleep` made anew each
//! turn) must be polled on every turn with the task's own context instead. So should a
//! cheap wait that wakes the task most often (for adk-live, the application's queue): a
//! wait waker in between adds a step to each of its wake-ups.
//!
//! ```
//! use std::future::Future;
//! use std::task::Poll;
//! use genai_wire::transport::{Wait, Wakes};
//!
//! const TICK: Wait = Wait::new(0);
//! const DONE: Wait = Wait::new(1);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let wakes = Wakes::new(2);
//! let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
//! let done = tokio::time::sleep(std::time::Duration::from_millis(5));
//! let mut done = std::pin::pin!(done);
//! let mut ticks = 0;
//! loop {
//!     let finished = std::future::poll_fn(|cx| {
//!         let woken = wakes.begin(cx);
//!         if wakes.poll(woken, DONE, |cx| done.as_mut().poll(cx)).is_ready() {
//!             return Poll::Ready(true);
//!         }
//!         if wakes.poll(woken, TICK, |cx| tick.poll_tick(cx)).is_ready() {
//!             return Poll::Ready(false);
//!         }
//!         Poll::Pending
//!     })
//!     .await;
//!     if finished {
//!         break;
//!     }
//!     ticks += 1;
//! }
//! assert!(ticks >= 1);
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// One of a loop's waits: its index (below [`Wait::MAX`]) in the woken set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(u8);

impl Wait {
    /// How many waits one [`Wakes`] can track.
    pub const MAX: usize = 8;

    /// The wait at `index` (a compile-time error in a `const` when `index >= MAX`).
    pub const fn new(index: usize) -> Wait {
        assert!(index < Self::MAX, "a Wakes tracks at most 8 waits");
        Wait(index as u8)
    }

    /// Its index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    fn bit(self) -> u8 {
        1 << self.0
    }
}

/// The woken set and the task's waker, shared with the waits' wakers.
#[derive(Default)]
struct Shared {
    woken: AtomicU8,
    task: AtomicWaker,
}

/// The waker handed to one wait.
struct WaitWaker {
    shared: Arc<Shared>,
    wait: Wait,
}

impl Wake for WaitWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared
            .woken
            .fetch_or(self.wait.bit(), Ordering::AcqRel);
        self.shared.task.wake();
    }
}

/// Per-wait wakers for one task's loop. See the module docs.
pub struct Wakes {
    shared: Arc<Shared>,
    wakers: Box<[Waker]>,
    all: u8,
}

impl std::fmt::Debug for Wakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakes")
            .field("waits", &self.wakers.len())
            .field("woken", &self.shared.woken.load(Ordering::Relaxed))
            .finish()
    }
}

/// The waits woken, as read by [`Wakes::begin`].
#[derive(Debug, Clone, Copy)]
pub struct Woken(u8);

impl Wakes {
    /// Wakers for waits `0..count`, all of them marked woken (a first poll registers
    /// each). Panics if `count` is above [`Wait::MAX`].
    pub fn new(count: usize) -> Self {
        assert!(count <= Wait::MAX, "a Wakes tracks at most 8 waits");
        let all = ((1u16 << count) - 1) as u8;
        let shared = Arc::new(Shared {
            woken: AtomicU8::new(all),
            task: AtomicWaker::new(),
        });
        let wakers = (0..count)
            .map(|i| {
                Waker::from(Arc::new(WaitWaker {
                    shared: shared.clone(),
                    wait: Wait(i as u8),
                }))
            })
            .collect();
        Wakes {
            shared,
            wakers,
            all,
        }
    }

    /// Marks every wait woken: their futures are new (e.g. a new connection).
    pub fn rouse_all(&self) {
        self.shared.woken.store(self.all, Ordering::Release);
    }

    /// Starts one poll of the loop: registers the task's waker, then reads the set of
    /// waits woken (in this order, so a wake in between is never lost: it is either in
    /// the set read or wakes the task again).
    pub fn begin(&self, cx: &Context<'_>) -> Woken {
        self.shared.task.register(cx.waker());
        Woken(self.shared.woken.load(Ordering::Acquire))
    }

    /// Polls `wait` through `poll`, with the wait's own waker, if it was woken; else
    /// `Pending` without polling it. A wait beyond the count given to [`Wakes::new`] is
    /// a bug (it would never be polled): debug builds panic, release builds return
    /// `Pending`. Its mark is cleared only when it is polled, so a
    /// wait skipped because an earlier one completed keeps its mark. A wait that
    /// completes is marked again, so the next turn polls it (for a stream, the next
    /// item; for a future, its replacement).
    pub fn poll<T>(
        &self,
        woken: Woken,
        wait: Wait,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        debug_assert!(
            wait.index() < self.wakers.len(),
            "wait {} of {}",
            wait.index(),
            self.wakers.len()
        );
        let Some(waker) = self.wakers.get(wait.index()) else {
            return Poll::Pending;
        };
        if woken.0 & wait.bit() == 0 {
            return Poll::Pending;
        }
        // Cleared before the poll: a wake during it marks the wait again.
        self.shared.woken.fetch_and(!wait.bit(), Ordering::AcqRel);
        let mut cx = Context::from_waker(waker);
        let result = poll(&mut cx);
        if result.is_ready() {
            self.shared.woken.fetch_or(wait.bit(), Ordering::AcqRel);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use tokio::sync::{Notify, mpsc};

    const SHUTDOWN: Wait = Wait::new(0);
    const OUTBOX: Wait = Wait::new(1);
    const SOCKET: Wait = Wait::new(2);
    const KEEPALIVE: Wait = Wait::new(3);

    /// Counts how often the task itself is woken.
    struct Counter(std::sync::atomic::AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    #[should_panic(expected = "wait 7 of 4")]
    fn a_wait_beyond_the_count_is_a_bug() {
        let wakes = Wakes::new(4);
        let task = Waker::from(Arc::new(Counter(Default::default())));
        let cx = Context::from_waker(&task);
        let woken = wakes.begin(&cx);
        let _ = wakes.poll(woken, Wait::new(7), |_| Poll::Ready(()));
    }

    /// The contract that lets the session task re-create `tick()` every turn and still
    /// gate it: a tick dropped while pending leaves the keepalive's timer registered
    /// with the wait's waker.
    #[tokio::test(start_paused = true)]
    async fn a_dropped_keepalive_tick_still_wakes_its_wait() {
        use super::super::{Keepalive, Liveness};
        use std::time::Duration;

        let wakes = Wakes::new(4);
        let counter = Arc::new(Counter(Default::default()));
        let task = Waker::from(counter.clone());
        let cx = Context::from_waker(&task);
        let mut keepalive = Keepalive::new(Some(Duration::from_secs(20)), None, Liveness::new());
        {
            let mut tick = pin!(keepalive.tick());
            let woken = wakes.begin(&cx);
            assert!(
                wakes
                    .poll(woken, KEEPALIVE, |cx| tick.as_mut().poll(cx))
                    .is_pending()
            );
        }
        let woken = wakes.begin(&cx);
        assert!(
            wakes
                .poll(woken, KEEPALIVE, |_| -> Poll<()> {
                    panic!("not woken yet")
                })
                .is_pending()
        );
        // Paused time runs to the next timer: the keepalive's, at 20 s.
        tokio::time::sleep(Duration::from_secs(21)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        let mut tick = pin!(keepalive.tick());
        let woken = wakes.begin(&cx);
        assert!(
            wakes
                .poll(woken, KEEPALIVE, |cx| tick.as_mut().poll(cx))
                .is_ready()
        );
    }

    #[test]
    fn a_wait_is_polled_first_then_only_once_woken() {
        let wakes = Wakes::new(4);
        let counter = Arc::new(Counter(Default::default()));
        let task = Waker::from(counter.clone());
        let cx = Context::from_waker(&task);
        let notify = Notify::new();
        let mut notified = pin!(notify.notified());
        let polls = std::cell::Cell::new(0);
        let mut turn = || {
            let woken = wakes.begin(&cx);
            wakes.poll(woken, OUTBOX, |cx| {
                polls.set(polls.get() + 1);
                notified.as_mut().poll(cx)
            })
        };
        assert!(turn().is_pending());
        // Not woken: not polled again.
        assert!(turn().is_pending());
        assert!(turn().is_pending());
        assert_eq!(polls.get(), 1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        notify.notify_one();
        // The wait's waker woke the task and marked the wait.
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(turn().is_ready());
        assert_eq!(polls.get(), 2);
    }

    #[test]
    fn a_completed_wait_is_polled_again_and_a_skipped_one_keeps_its_mark() {
        let wakes = Wakes::new(4);
        let task = Waker::from(Arc::new(Counter(Default::default())));
        let cx = Context::from_waker(&task);
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let woken = wakes.begin(&cx);
            if let Poll::Ready(Some(v)) = wakes.poll(woken, SOCKET, |cx| rx.poll_recv(cx)) {
                got.push(v);
            }
        }
        // Both items, each on the turn after the previous completed, with no wake between.
        assert_eq!(got, [1, 2]);
        let woken = wakes.begin(&cx);
        assert!(wakes.poll(woken, SOCKET, |_| Poll::Ready(())).is_pending());
        // A woken wait that is not polled (an earlier one completed) keeps its mark.
        wakes.rouse_all();
        let woken = wakes.begin(&cx);
        assert!(wakes.poll(woken, SHUTDOWN, |_| Poll::Ready(())).is_ready());
        let woken = wakes.begin(&cx);
        assert!(wakes.poll(woken, OUTBOX, |_| Poll::Ready(())).is_ready());
        // Every wait is marked after `rouse_all`.
        wakes.rouse_all();
        let woken = wakes.begin(&cx);
        for wait in [SHUTDOWN, OUTBOX, SOCKET, KEEPALIVE] {
            assert!(wakes.poll(woken, wait, |_| Poll::Ready(())).is_ready());
        }
    }
}
