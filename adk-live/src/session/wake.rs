//! Which of the session loop's waits were woken since they were last polled.
//!
//! Why: the session task waits on several things at once (shutdown, the tool lane's
//! outbox, the socket, the keepalive timer, the application's queue). A `select!` polls
//! every one of them on every wake-up, and a voice session wakes 50 times a second for
//! the application's audio alone. Each of those wake-ups polled the socket for nothing
//! (tungstenite zero-fills its read buffer before every read attempt, then rustls and
//! the reactor are asked), the outbox's `Notify` (a mutex), the keepalive and the
//! shutdown token: about a tenth of the client's CPU in the N = 200 profile
//! (BENCHMARKS.md §7).
//!
//! Here each wait is polled with a waker of its own, which records the wait's bit
//! before waking the task, and a wait is polled again only once that waker fired, or
//! after it completed (a stream that yielded may have more; a finished future is
//! replaced). A wait that is not polled keeps its registration from its last poll, so
//! nothing is missed: this is how `FuturesUnordered` avoids polling idle futures.
//!
//! The application's queue has no wait of its own: it is what wakes the task most
//! often and its poll is cheap, so it is polled on every turn with the task's own
//! waker (a wait waker in between would add a step to each of those wake-ups).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// One of the loop's waits: its bit in the woken set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait(u8);

impl Wait {
    pub(crate) const SHUTDOWN: Wait = Wait(0);
    pub(crate) const OUTBOX: Wait = Wait(1);
    pub(crate) const SOCKET: Wait = Wait(2);
    pub(crate) const KEEPALIVE: Wait = Wait(3);
    const COUNT: usize = 4;
    const ALL: u8 = (1 << Self::COUNT) - 1;

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
pub(crate) struct Wakes {
    shared: Arc<Shared>,
    wakers: [Waker; Wait::COUNT],
}

/// The waits woken since the last [`Wakes::begin`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Woken(u8);

impl Wakes {
    /// Wakers for every wait, all of them marked woken (a first poll registers each).
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared {
            woken: AtomicU8::new(Wait::ALL),
            task: AtomicWaker::new(),
        });
        let wakers = std::array::from_fn(|i| {
            Waker::from(Arc::new(WaitWaker {
                shared: shared.clone(),
                wait: Wait(i as u8),
            }))
        });
        Wakes { shared, wakers }
    }

    /// Marks every wait woken: their futures are new (a new connection).
    pub(crate) fn rouse_all(&self) {
        self.shared.woken.store(Wait::ALL, Ordering::Release);
    }

    /// Starts one poll of the loop: registers the task's waker, then reads the set of
    /// waits woken (in this order, so a wake in between is never lost: it is either in
    /// the set read or wakes the task again).
    pub(crate) fn begin(&self, cx: &Context<'_>) -> Woken {
        self.shared.task.register(cx.waker());
        Woken(self.shared.woken.load(Ordering::Acquire))
    }

    /// Polls `wait` through `poll`, with the wait's own waker, if it was woken; else
    /// `Pending` without polling it. Its mark is cleared only when it is polled, so a
    /// wait skipped because an earlier one completed keeps its mark. A wait that
    /// completes is marked again, so the next turn polls it (for a stream, the next
    /// item; for a future, its replacement).
    pub(crate) fn poll<T>(
        &self,
        woken: Woken,
        wait: Wait,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if woken.0 & wait.bit() == 0 {
            return Poll::Pending;
        }
        // Cleared before the poll: a wake during it marks the wait again.
        self.shared.woken.fetch_and(!wait.bit(), Ordering::AcqRel);
        let mut cx = Context::from_waker(&self.wakers[wait.0 as usize]);
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

    /// Counts how often the task itself is woken.
    struct Counter(std::sync::atomic::AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wait_is_polled_first_then_only_once_woken() {
        let wakes = Wakes::new();
        let counter = Arc::new(Counter(Default::default()));
        let task = Waker::from(counter.clone());
        let cx = Context::from_waker(&task);
        let notify = Notify::new();
        let mut notified = pin!(notify.notified());
        let polls = std::cell::Cell::new(0);
        let mut turn = || {
            let woken = wakes.begin(&cx);
            wakes.poll(woken, Wait::OUTBOX, |cx| {
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
        let wakes = Wakes::new();
        let task = Waker::from(Arc::new(Counter(Default::default())));
        let cx = Context::from_waker(&task);
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let woken = wakes.begin(&cx);
            if let Poll::Ready(Some(v)) = wakes.poll(woken, Wait::SOCKET, |cx| rx.poll_recv(cx)) {
                got.push(v);
            }
        }
        // Both items, each on the turn after the previous completed, with no wake between.
        assert_eq!(got, [1, 2]);
        let woken = wakes.begin(&cx);
        assert!(
            wakes
                .poll(woken, Wait::SOCKET, |_| Poll::Ready(()))
                .is_pending()
        );
        // A woken wait that is not polled (an earlier one completed) keeps its mark.
        wakes.rouse_all();
        let woken = wakes.begin(&cx);
        assert!(
            wakes
                .poll(woken, Wait::SHUTDOWN, |_| Poll::Ready(()))
                .is_ready()
        );
        let woken = wakes.begin(&cx);
        assert!(
            wakes
                .poll(woken, Wait::OUTBOX, |_| Poll::Ready(()))
                .is_ready()
        );
        // Every wait is marked after `rouse_all`.
        wakes.rouse_all();
        let woken = wakes.begin(&cx);
        for wait in [Wait::SHUTDOWN, Wait::OUTBOX, Wait::SOCKET, Wait::KEEPALIVE] {
            assert!(wakes.poll(woken, wait, |_| Poll::Ready(())).is_ready());
        }
    }
}
