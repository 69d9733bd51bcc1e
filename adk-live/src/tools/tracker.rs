//! The calls in flight: each one's cancellation token and task, keyed by call id.
//!
//! Who answers a call is decided by who removes it from the map first. The call's own
//! task removes it when it finishes and then delivers its result; a cancellation removes
//! it first, so the result that comes later finds nothing and is dropped (and counted).
//! There is no window where both a cancellation and a result go out for one id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The default time a cancelled call gets to stop by itself before its task is aborted.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Running {
    name: String,
    dedup_key: String,
    token: CancellationToken,
    abort: Option<AbortHandle>,
    started: Instant,
}

/// A call that was removed by [`BackgroundToolTracker::cancel`] or `cancel_all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledCall {
    /// The call id.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// How long it had run.
    pub elapsed: Duration,
}

/// Tracks running tool calls: spawns them, cancels them (token first, abort after a grace
/// period), and waits for every task at shutdown so none outlives its session.
#[derive(Debug, Clone)]
pub struct BackgroundToolTracker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    calls: DashMap<String, Running>,
    tasks: TaskTracker,
    grace: Duration,
}

impl Default for BackgroundToolTracker {
    fn default() -> Self {
        Self::new(DEFAULT_CANCEL_GRACE)
    }
}

impl BackgroundToolTracker {
    /// A tracker whose cancelled calls are aborted `grace` after their token fires.
    pub fn new(grace: Duration) -> Self {
        BackgroundToolTracker {
            inner: Arc::new(Inner {
                // A session has a handful of calls in flight: two shards, not one per core
                // times four (the default), keep idle sessions small.
                calls: DashMap::with_shard_amount(2),
                tasks: TaskTracker::new(),
                grace,
            }),
        }
    }

    /// The grace period before a cancelled call's task is aborted.
    pub fn grace(&self) -> Duration {
        self.inner.grace
    }

    /// Registers `call_id` and runs `task` on the tokio runtime. The task should call
    /// [`BackgroundToolTracker::remove`] when it has a result, and deliver it only if that
    /// returns true. `dedup_key` identifies equal calls (name and arguments).
    pub fn spawn<F>(
        &self,
        call_id: String,
        name: String,
        dedup_key: String,
        token: CancellationToken,
        task: F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.calls.insert(
            call_id.clone(),
            Running {
                name,
                dedup_key,
                token,
                abort: None,
                started: Instant::now(),
            },
        );
        let handle = self.inner.tasks.spawn(task);
        if let Some(mut running) = self.inner.calls.get_mut(&call_id) {
            running.abort = Some(handle.abort_handle());
        }
    }

    /// Removes a call; true if it was still running (the caller now owns its answer).
    pub fn remove(&self, call_id: &str) -> bool {
        self.inner.calls.remove(call_id).is_some()
    }

    /// True if the call is still running and not cancelled.
    pub fn is_active(&self, call_id: &str) -> bool {
        self.inner.calls.contains_key(call_id)
    }

    /// Cancels these calls: removes them, triggers their tokens and aborts their tasks
    /// after the grace period. Returns the calls that were running.
    pub fn cancel(&self, ids: &[String]) -> Vec<CancelledCall> {
        ids.iter()
            .filter_map(|id| self.inner.calls.remove(id))
            .map(|(id, r)| self.stop(id, r))
            .collect()
    }

    /// Cancels every running call.
    pub fn cancel_all(&self) -> Vec<CancelledCall> {
        let ids = self.active_ids();
        self.cancel(&ids)
    }

    fn stop(&self, call_id: String, running: Running) -> CancelledCall {
        running.token.cancel();
        if let Some(abort) = running.abort {
            let grace = self.inner.grace;
            self.inner.tasks.spawn(async move {
                tokio::time::sleep(grace).await;
                abort.abort();
            });
        }
        CancelledCall {
            call_id,
            name: running.name,
            elapsed: running.started.elapsed(),
        }
    }

    /// The ids of the running calls.
    pub fn active_ids(&self) -> Vec<String> {
        self.inner.calls.iter().map(|e| e.key().clone()).collect()
    }

    /// How many calls are running.
    pub fn active_count(&self) -> usize {
        self.inner.calls.len()
    }

    /// The running call of `name` with this dedup key, if any.
    pub fn find_duplicate(&self, dedup_key: &str) -> Option<String> {
        self.inner
            .calls
            .iter()
            .find(|e| e.value().dedup_key == dedup_key)
            .map(|e| e.key().clone())
    }

    /// How many tasks (calls and pending aborts) are still alive.
    pub fn live_tasks(&self) -> usize {
        self.inner.tasks.len()
    }

    /// Cancels everything and waits until every task has ended (at most about the grace
    /// period, after which stragglers are aborted).
    pub async fn shutdown(&self) {
        self.cancel_all();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.inner.tasks.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_then_abort_after_grace() {
        let t = BackgroundToolTracker::new(Duration::from_millis(100));
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(dropped.clone());
        let token = CancellationToken::new();
        // A task that ignores its token.
        t.spawn(
            "a".into(),
            "slow".into(),
            "k".into(),
            token.clone(),
            async move {
                let _g = guard;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            },
        );
        assert_eq!(t.active_count(), 1);
        let cancelled = t.cancel(&["a".into(), "missing".into()]);
        assert_eq!(cancelled.len(), 1);
        assert!(token.is_cancelled());
        assert_eq!(t.active_count(), 0);
        tokio::time::sleep(Duration::from_millis(150)).await;
        tokio::task::yield_now().await;
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "aborted after grace");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_remover_owns_the_answer() {
        let t = BackgroundToolTracker::default();
        let delivered = Arc::new(AtomicUsize::new(0));
        let (d, t2) = (delivered.clone(), t.clone());
        let token = CancellationToken::new();
        t.spawn("a".into(), "x".into(), "k".into(), token, async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if t2.remove("a") {
                d.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert!(!t.cancel(&["a".into()]).is_empty());
        t.shutdown().await;
        assert_eq!(delivered.load(Ordering::SeqCst), 0);
        assert_eq!(t.live_tasks(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_leaves_nothing() {
        let t = BackgroundToolTracker::new(Duration::from_millis(50));
        for i in 0..10 {
            let token = CancellationToken::new();
            let tok = token.clone();
            t.spawn(
                format!("c{i}"),
                "x".into(),
                format!("k{i}"),
                token,
                async move {
                    if i % 2 == 0 {
                        tok.cancelled().await; // cooperative
                    } else {
                        std::future::pending::<()>().await; // must be aborted
                    }
                },
            );
        }
        assert_eq!(t.find_duplicate("k3").as_deref(), Some("c3"));
        t.shutdown().await;
        assert_eq!(t.active_count(), 0);
        assert_eq!(t.live_tasks(), 0);
    }
}
