//! The application's queue to the session task: bounded, one consumer (the session task),
//! any number of concurrent senders through `&LiveHandle`.
//!
//! Why not `tokio::sync::mpsc`: its channel allocates ~1.3 KB per session up front (a
//! cache-padded channel state and a first block of 32 slots) that an idle session never
//! uses, and each send goes through a semaphore and a block list touched by both tasks.
//! Here the state is one mutex over a `VecDeque` that grows only as far as the traffic
//! needs, and the wakers wait in the same state: the consumer's (one) and the senders'
//! that found the queue full ([`Waiters`]: each task once, woken all at once when room
//! appears).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::outbound::Outbound;
use crate::waiters::Waiters;

/// Items the queue keeps room for once drained after a burst.
const IDLE_CAPACITY: usize = 8;

struct State {
    items: VecDeque<Outbound>,
    /// The session task, when it waits for an item.
    consumer: Option<Waker>,
    /// Senders that found the queue full (see [`Waiters`]).
    senders: Waiters,
    /// The sender is gone (the handle was dropped).
    sender_gone: bool,
    /// The receiver is gone (the session task ended).
    receiver_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    bound: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A queue of `bound` items (at least one): its sending and receiving ends.
pub(crate) fn queue(bound: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            consumer: None,
            senders: Waiters::default(),
            sender_gone: false,
            receiver_gone: false,
        }),
        bound: bound.max(1),
    });
    (Sender(shared.clone()), Receiver(shared))
}

/// The sending end; dropping it ends the queue once it is drained.
pub(crate) struct Sender(Arc<Shared>);

impl Sender {
    /// Queues `item`, waiting while the queue is full; `Err(item)` once the receiver is
    /// gone. Cancel-safe: a send dropped before it completes queued nothing.
    pub(crate) fn send(&self, item: Outbound) -> impl Future<Output = Result<(), Outbound>> + '_ {
        let mut item = Some(item);
        std::future::poll_fn(move |cx| {
            let mut s = self.0.lock();
            if s.receiver_gone {
                return Poll::Ready(Err(item.take().expect("polled after completion")));
            }
            if s.items.len() < self.0.bound {
                s.items
                    .push_back(item.take().expect("polled after completion"));
                let consumer = s.consumer.take();
                drop(s);
                if let Some(w) = consumer {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            let full = s.senders.register(cx.waker());
            drop(s);
            full.wake();
            Poll::Pending
        })
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let consumer = {
            let mut s = self.0.lock();
            s.sender_gone = true;
            s.consumer.take()
        };
        if let Some(w) = consumer {
            w.wake();
        }
    }
}

/// The receiving end (the session task's); dropping it refuses every later send.
pub(crate) struct Receiver(Arc<Shared>);

impl Receiver {
    /// The next item; `None` once the sender is gone and everything it queued was taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let mut s = self.0.lock();
        if let Some(item) = s.items.pop_front() {
            // A burst's buffer is given back once drained.
            if s.items.is_empty() && s.items.capacity() > IDLE_CAPACITY {
                s.items.shrink_to(IDLE_CAPACITY);
            }
            // Room again: whoever waited for it tries again.
            let senders = s.senders.take();
            drop(s);
            senders.wake();
            return Poll::Ready(Some(item));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        if !s.consumer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.consumer = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let (senders, items) = {
            let mut s = self.0.lock();
            s.receiver_gone = true;
            (s.senders.take(), std::mem::take(&mut s.items))
        };
        // Dropped outside the lock: an item's drop runs no code of ours, but a waker's
        // may.
        drop(items);
        senders.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn audio(n: usize) -> Outbound {
        Outbound::Audio(n.to_string().into_boxed_str())
    }

    fn text(o: Outbound) -> String {
        match o {
            Outbound::Audio(t) => t.into(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn keeps_order_and_waits_for_room_when_full() {
        let (tx, mut rx) = queue(2);
        tx.send(audio(1)).await.unwrap();
        tx.send(audio(2)).await.unwrap();
        // Full: the third waits, and a send dropped while waiting queued nothing.
        assert!(tx.send(audio(99)).now_or_never().is_none());
        let third = tokio::spawn(async move {
            tx.send(audio(3)).await.unwrap();
            tx
        });
        tokio::task::yield_now().await;
        let mut got = Vec::new();
        while got.len() < 3 {
            let item = std::future::poll_fn(|cx| rx.poll_recv(cx)).await;
            got.push(text(item.expect("an item")));
        }
        assert_eq!(got, ["1", "2", "3"]);
        // The sender gone: the queue ends after it is drained.
        drop(third.await.unwrap());
        assert!(std::future::poll_fn(|cx| rx.poll_recv(cx)).await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_and_by_the_senders_drop() {
        let (tx, mut rx) = queue(4);
        let recv = tokio::spawn(async move {
            let first = std::future::poll_fn(|cx| rx.poll_recv(cx)).await;
            let end = std::future::poll_fn(|cx| rx.poll_recv(cx)).await;
            (first.map(text), end.is_none())
        });
        tokio::task::yield_now().await;
        tx.send(audio(7)).await.unwrap();
        drop(tx);
        let (first, ended) = tokio::time::timeout(std::time::Duration::from_secs(10), recv)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(first.as_deref(), Some("7"));
        assert!(ended);
    }

    #[tokio::test]
    async fn sends_fail_once_the_receiver_is_gone_even_a_waiting_one() {
        let (tx, rx) = queue(1);
        tx.send(audio(1)).await.unwrap();
        let tx = Arc::new(tx);
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(audio(2)).await.map_err(text) }
        });
        tokio::task::yield_now().await;
        drop(rx);
        let res = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(res, Err("2".to_owned()), "the item comes back");
        assert!(tx.send(audio(3)).await.is_err());
    }
}
