//! A token cache with refresh-before-expiry and bounded retries.
//!
//! Why: a Live session reconnects (goAway every ~10 minutes, resumption), and each
//! reconnect needs a token. Fetching one per connect wastes a round trip and hammers
//! the token endpoint; fetching none after expiry gets the socket closed. And token
//! endpoints fail transiently (5xx, resets) while yup-oauth2 never retries.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{Error, Result, Secret};

/// Retries for a failed token fetch: exponential backoff from `initial_backoff`,
/// doubled each time up to `max_backoff`, at most `max_attempts` attempts in all.
/// Only transient failures (network errors, 5xx, 429, malformed answers) are retried;
/// a refusal (`invalid_grant`, 400, 401, 403) fails at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, including the first (default 4; 1 disables retries).
    pub max_attempts: u32,
    /// Wait before the first retry (default 250 ms).
    pub initial_backoff: Duration,
    /// Longest wait between attempts (default 4 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts in all (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first backoff and the backoff cap.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Default margin: a token is refreshed when less than this remains (5 minutes).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A token as a fetcher returns it.
pub(crate) struct Fetched {
    pub token: Secret,
    /// `None`: the token does not expire (or we were not told).
    pub expires_in: Option<Duration>,
}

/// Why a fetch failed, and whether trying again may help.
pub(crate) struct FetchError {
    pub message: String,
    pub retryable: bool,
}

impl FetchError {
    pub fn transient(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
            retryable: true,
        }
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
            retryable: false,
        }
    }
}

struct Cached {
    token: Secret,
    refresh_at: Option<Instant>,
}

/// Caches one token; concurrent callers share one fetch (the lock is held during it).
pub(crate) struct TokenCache {
    margin: Duration,
    retry: RetryPolicy,
    slot: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn new() -> Self {
        TokenCache {
            margin: DEFAULT_REFRESH_MARGIN,
            retry: RetryPolicy::default(),
            slot: Mutex::new(None),
        }
    }

    pub fn set_margin(&mut self, margin: Duration) {
        self.margin = margin;
    }

    pub fn set_retry(&mut self, retry: RetryPolicy) {
        self.retry = retry;
    }

    /// Forgets the cached token, so the next `get` fetches.
    pub fn invalidate(&self) {
        if let Ok(mut slot) = self.slot.try_lock() {
            *slot = None;
        }
    }

    /// The cached token if still fresh, else one fetched (with retries) by `fetch`.
    pub async fn get<F, Fut>(&self, what: &str, mut fetch: F) -> Result<Secret>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<Fetched, FetchError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref()
            && c.refresh_at.is_none_or(|t| Instant::now() < t)
        {
            return Ok(c.token.clone());
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            match fetch().await {
                Ok(f) => {
                    let refresh_at = f
                        .expires_in
                        .map(|d| started + d.saturating_sub(self.margin));
                    tracing::debug!(
                        source = what,
                        attempt,
                        expires_in_s = f.expires_in.map(|d| d.as_secs()),
                        "fetched access token"
                    );
                    *slot = Some(Cached {
                        token: f.token.clone(),
                        refresh_at,
                    });
                    return Ok(f.token);
                }
                Err(e) if e.retryable && attempt < self.retry.max_attempts => {
                    let wait = self.retry.backoff(attempt - 1);
                    tracing::debug!(
                        source = what,
                        attempt,
                        error = %e.message,
                        backoff_ms = wait.as_millis() as u64,
                        "token fetch failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::debug!(source = what, attempt, error = %e.message, "token fetch failed");
                    let message = format!(
                        "{what}: {} (after {attempt} attempt{})",
                        e.message,
                        if attempt == 1 { "" } else { "s" }
                    );
                    // A failure that may pass stays retryable; a refusal is fatal.
                    return Err(if e.retryable {
                        Error::TokenUnavailable(message)
                    } else {
                        Error::Auth(message)
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(250));
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(4), Duration::from_secs(4));
        assert_eq!(p.backoff(40), Duration::from_secs(4));
        assert_eq!(RetryPolicy::none().max_attempts, 1);
        assert_eq!(RetryPolicy::default().with_max_attempts(0).max_attempts, 1);
    }

    fn counting(
        calls: &Arc<AtomicU32>,
        expires: Option<Duration>,
        fail_first: u32,
        retryable: bool,
    ) -> impl FnMut() -> std::future::Ready<std::result::Result<Fetched, FetchError>> {
        let calls = calls.clone();
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if n <= fail_first {
                Err(FetchError {
                    message: "boom".into(),
                    retryable,
                })
            } else {
                Ok(Fetched {
                    token: Secret::new(format!("tok{n}")),
                    expires_in: expires,
                })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn caches_until_margin_then_refreshes() {
        let cache = TokenCache::new();
        let calls = Arc::new(AtomicU32::new(0));
        let mut f = counting(&calls, Some(Duration::from_secs(3600)), 0, true);
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok1");
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // 54 minutes later: still more than 5 minutes left.
        tokio::time::advance(Duration::from_secs(54 * 60)).await;
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok1");
        // 56 minutes: inside the margin, refresh.
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok2");
        cache.invalidate();
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok3");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_boundedly() {
        let cache = TokenCache::new();
        let calls = Arc::new(AtomicU32::new(0));
        let mut f = counting(&calls, None, 2, true);
        assert_eq!(cache.get("t", &mut f).await.unwrap().expose(), "tok3");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let cache = TokenCache::new();
        let calls = Arc::new(AtomicU32::new(0));
        let mut f = counting(&calls, None, 100, true);
        let err = cache.get("t", &mut f).await.unwrap_err();
        assert!(matches!(err, Error::TokenUnavailable(_)) && err.is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let cache = TokenCache::new();
        let calls = Arc::new(AtomicU32::new(0));
        let mut f = counting(&calls, None, 100, false);
        assert!(cache.get("t", &mut f).await.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "fatal errors are not retried"
        );
    }
}
