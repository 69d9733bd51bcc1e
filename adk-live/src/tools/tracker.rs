//! The calls in flight: each one's cancellation token and task, keyed by call id.
//!
//! Who answers a call is decided by who removes it from the map first. The call's own
//! task removes it when it finishes and then delivers its result; a cancellation removes
//! it first, so the result that comes later finds nothing and is dropped (and counted).
//! There is no window where both a cancellation and a result go out for one id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::Value;
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
    background: bool,
    progress: Option<Value>,
    updates: u64,
}

/// A tool call in flight, as the application sees it (see [`RunningTools`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunningCall {
    /// The call id.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// How long it has run.
    pub elapsed: Duration,
    /// Runs in the background (acked, progress, scheduled result).
    pub background: bool,
    /// The last progress the tool reported, if any.
    pub progress: Option<Value>,
    /// How many progress updates it reported.
    pub progress_updates: u64,
}

/// A read-only view of the calls in flight, from [`LiveHandle::tools`]: what runs, for how
/// long, how far along. Cancel through [`LiveHandle::cancel_tool`], which answers the
/// model and reports the cancellation; this view cannot stop anything.
///
/// [`LiveHandle::tools`]: crate::LiveHandle::tools
/// [`LiveHandle::cancel_tool`]: crate::LiveHandle::cancel_tool
#[derive(Debug, Clone)]
pub struct RunningTools(pub(crate) BackgroundToolTracker);

impl RunningTools {
    /// The running calls, oldest first.
    pub fn list(&self) -> Vec<RunningCall> {
        let mut calls: Vec<RunningCall> = self
            .0
            .inner
            .calls
            .iter()
            .map(|e| e.value().view(e.key()))
            .collect();
        calls.sort_by_key(|c| std::cmp::Reverse(c.elapsed));
        calls
    }

    /// One running call.
    pub fn get(&self, call_id: &str) -> Option<RunningCall> {
        self.0.inner.calls.get(call_id).map(|r| r.view(call_id))
    }

    /// How many calls are running.
    pub fn len(&self) -> usize {
        self.0.active_count()
    }

    /// True when no call is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many tool tasks are still alive (running calls, and cancelled ones within their
    /// grace period): 0 once a session has ended means nothing leaked.
    pub fn live_tasks(&self) -> usize {
        self.0.live_tasks()
    }
}

impl Running {
    fn view(&self, call_id: &str) -> RunningCall {
        RunningCall {
            call_id: call_id.to_owned(),
            name: self.name.clone(),
            elapsed: self.started.elapsed(),
            background: self.background,
            progress: self.progress.clone(),
            progress_updates: self.updates,
        }
    }
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
pub(crate) struct BackgroundToolTracker {
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

    /// Registers `call_id` and runs `task` on the tokio runtime. The task should call
    /// [`BackgroundToolTracker::remove`] when it has a result, and deliver it only if that
    /// returns true. `dedup_key` identifies equal calls (name and arguments).
    pub fn spawn<F>(
        &self,
        call_id: String,
        name: String,
        dedup_key: String,
        background: bool,
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
                background,
                progress: None,
                updates: 0,
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

    /// Records a progress update of a running call; false if it is not running.
    pub fn note_progress(&self, call_id: &str, value: &Value) -> bool {
        match self.inner.calls.get_mut(call_id) {
            Some(mut r) => {
                r.progress = Some(value.clone());
                r.updates += 1;
                true
            }
            None => false,
        }
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
            false,
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
        t.spawn(
            "a".into(),
            "x".into(),
            "k".into(),
            true,
            token,
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if t2.remove("a") {
                    d.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
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
                false,
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
