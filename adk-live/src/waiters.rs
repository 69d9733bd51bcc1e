//! Tasks waiting on a mutex-guarded queue (the event queue's consumers, the application
//! queue's senders), kept in the queue's own state.
//!
//! Why not `tokio::sync::Notify`: an application's `select!` drops a pending wait on every
//! turn, and each drop locked and unlinked a Notify waiter. Here a dropped wait leaves its
//! waker behind and costs nothing; its task is woken once for nothing later. Each task is
//! kept once, the list is bounded (past [`Waiters::MAX`] everyone is woken and registers
//! again), and wakers are always woken after the lock is released.

use std::task::Waker;

/// The waiting tasks. Register and take under the queue's lock; wake what is returned
/// after releasing it.
#[derive(Default)]
pub(crate) struct Waiters(Vec<Waker>);

impl Waiters {
    /// More waiting tasks than this and the list is emptied by waking them all.
    pub(crate) const MAX: usize = 64;

    /// Registers `waker`'s task unless it is there already. A full list is handed back to
    /// be woken (its tasks register again if they still wait).
    #[must_use = "wake what is returned once the lock is released"]
    pub(crate) fn register(&mut self, waker: &Waker) -> Woken {
        if self.0.iter().any(|w| w.will_wake(waker)) {
            return Woken::default();
        }
        let full = if self.0.len() >= Self::MAX {
            self.take()
        } else {
            Woken::default()
        };
        self.0.push(waker.clone());
        full
    }

    /// Takes every waiting task, to be woken. The usual case, one task, keeps the list's
    /// memory for its next registration.
    #[must_use = "wake what is returned once the lock is released"]
    pub(crate) fn take(&mut self) -> Woken {
        match self.0.len() {
            0 => Woken::default(),
            1 => Woken(self.0.pop(), Vec::new()),
            _ => Woken(None, std::mem::take(&mut self.0)),
        }
    }

    /// How many tasks are registered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Wakers taken from a [`Waiters`], woken by [`Woken::wake`] outside the lock.
#[derive(Default)]
pub(crate) struct Woken(Option<Waker>, Vec<Waker>);

impl Woken {
    /// Wakes them.
    pub(crate) fn wake(self) {
        if let Some(w) = self.0 {
            w.wake();
        }
        for w in self.1 {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn each_task_once_bounded_and_all_woken() {
        let counts: Vec<Arc<Count>> = (0..Waiters::MAX + 1)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let mut w = Waiters::default();
        w.register(&wakers[0]).wake();
        w.register(&wakers[0]).wake();
        assert_eq!(w.len(), 1, "a task is kept once");
        for waker in &wakers[1..Waiters::MAX] {
            w.register(waker).wake();
        }
        assert_eq!(w.len(), Waiters::MAX);
        // One more: the full list is woken and emptied, the newcomer kept.
        w.register(&wakers[Waiters::MAX]).wake();
        assert_eq!(w.len(), 1);
        assert!(
            counts[..Waiters::MAX]
                .iter()
                .all(|c| c.0.load(Ordering::SeqCst) == 1)
        );
        w.take().wake();
        assert_eq!(counts[Waiters::MAX].0.load(Ordering::SeqCst), 1);
        assert_eq!(w.len(), 0);
    }
}
