//! Keepalive for a socket owned by one task.
//!
//! Why this shape: the session runtime has one task own the socket and wait on inbound
//! frames, an outbound queue and a timer at once. [`Keepalive::tick`] is that timer: it
//! completes when a ping is due (`Ok(())`) or when nothing at all has been received for
//! the timeout (`Err(Error::KeepaliveTimeout)`). It is cancel-safe, so it can be
//! re-created in every turn of a loop; its timer lives in the `Keepalive`, so a `tick`
//! dropped while pending leaves the timer's waker registered (what lets
//! [`Wakes`](super::Wakes) poll it only when that timer fired).
//!
//! Liveness is "any frame received", pongs included. The [`WireReader`] swallows pings
//! and pongs but marks a shared [`Liveness`], so a pong that arrives while the select is
//! waiting on something else still counts. The real server can take 8–30 s to pong; the
//! default 90 s timeout lets a slow pong through and only a silent peer expires.
//!
//! [`WireReader`]: super::WireReader

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

use crate::{Error, Result};

/// When something was last received on a connection. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Liveness(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    base: Instant,
    /// Nanoseconds after `base` of the last received frame.
    last_ns: AtomicU64,
}

impl Liveness {
    /// A liveness marked "now".
    pub fn new() -> Self {
        Liveness(Arc::new(Inner {
            base: Instant::now(),
            last_ns: AtomicU64::new(0),
        }))
    }

    /// Records that a frame was received now.
    pub fn mark(&self) {
        let ns = self.0.base.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.0.last_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// When a frame was last received (or the liveness was created).
    pub fn last(&self) -> Instant {
        self.0.base + Duration::from_nanos(self.0.last_ns.load(Ordering::Relaxed))
    }

    /// Time since [`Liveness::last`].
    pub fn idle(&self) -> Duration {
        Instant::now().saturating_duration_since(self.last())
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

/// Ping schedule and liveness deadline for one connection. See the module docs.
///
/// ```no_run
/// # async fn f(conn: genai_wire::transport::Connection) -> genai_wire::Result<()> {
/// let mut keepalive = conn.keepalive();
/// let (mut writer, mut reader) = conn.split();
/// loop {
///     tokio::select! {
///         frame = reader.next_frame() => match frame {
///             Some(Ok(frame)) => { /* decode frame.data() */ }
///             Some(Err(e)) => return Err(e),
///             None => return Ok(()),
///         },
///         due = keepalive.tick() => { due?; writer.ping().await?; }
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Keepalive {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    liveness: Liveness,
    next_ping: Option<Instant>,
    /// One timer for the connection's life, re-armed only when it fires: a session
    /// task re-creates `tick()` on every turn of its loop, and a new timer each time
    /// would be a timer-wheel insert and removal per message. It may fire early (the
    /// liveness deadline moves later with every frame); `tick` then re-arms it.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Clone for Keepalive {
    fn clone(&self) -> Self {
        Keepalive {
            interval: self.interval,
            timeout: self.timeout,
            liveness: self.liveness.clone(),
            next_ping: self.next_ping,
            timer: None,
        }
    }
}

impl Keepalive {
    /// Pings every `interval` (none if `None`), expires after `timeout` without any
    /// received frame (never if `None`), reading liveness from `liveness`.
    pub fn new(interval: Option<Duration>, timeout: Option<Duration>, liveness: Liveness) -> Self {
        let interval = interval.filter(|d| !d.is_zero());
        let timeout = timeout.filter(|d| !d.is_zero());
        Keepalive {
            interval,
            timeout,
            next_ping: interval.map(|i| Instant::now() + i),
            liveness,
            timer: None,
        }
    }

    /// Marks liveness by hand (frames read through a [`WireReader`](super::WireReader)
    /// are marked already).
    pub fn on_frame(&self) {
        self.liveness.mark();
    }

    /// The shared liveness this keepalive reads.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// `Some(Error::KeepaliveTimeout)` if nothing was received for the timeout.
    pub fn expired(&self) -> Option<Error> {
        let t = self.timeout?;
        (self.liveness.idle() >= t).then_some(Error::KeepaliveTimeout(t))
    }

    /// Completes with `Ok(())` when a ping is due (send one), or with
    /// `Err(Error::KeepaliveTimeout)` once nothing was received for the timeout.
    /// Pends forever when keepalive is disabled. Cancel-safe.
    pub async fn tick(&mut self) -> Result<()> {
        loop {
            let now = Instant::now();
            let deadline = self.timeout.map(|t| self.liveness.last() + t);
            if let (Some(d), Some(t)) = (deadline, self.timeout)
                && now >= d
            {
                return Err(Error::KeepaliveTimeout(t));
            }
            if let (Some(at), Some(i)) = (self.next_ping, self.interval)
                && now >= at
            {
                // Skip missed pings rather than bursting them.
                let mut next = at + i;
                while next <= now {
                    next += i;
                }
                self.next_ping = Some(next);
                return Ok(());
            }
            let wake = match (deadline, self.next_ping) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => return std::future::pending().await,
            };
            match &mut self.timer {
                // Armed no later than needed (deadlines only move later): keep it.
                Some(t) if !t.is_elapsed() && t.deadline() <= wake => {}
                Some(t) => t.as_mut().reset(wake),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(wake))),
            }
            if let Some(t) = &mut self.timer {
                t.as_mut().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[tokio::test(start_paused = true)]
    async fn pings_on_schedule_and_expires_when_silent() {
        let start = Instant::now();
        let mut k = Keepalive::new(Some(S(20)), Some(S(90)), Liveness::new());
        for n in 1..=4 {
            k.tick().await.unwrap();
            assert_eq!(start.elapsed(), S(20 * n));
        }
        assert!(k.expired().is_none());
        let err = k.tick().await.unwrap_err();
        assert!(matches!(err, Error::KeepaliveTimeout(d) if d == S(90)));
        assert_eq!(start.elapsed(), S(90));
        assert!(k.expired().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn frames_push_the_deadline() {
        let start = Instant::now();
        let live = Liveness::new();
        let mut k = Keepalive::new(None, Some(S(90)), live.clone());
        let marker = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(S(60)).await;
                live.mark();
            }
        });
        let err = k.tick().await.unwrap_err();
        assert!(matches!(err, Error::KeepaliveTimeout(_)));
        assert_eq!(start.elapsed(), S(300 + 90));
        marker.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_never_fires() {
        let mut k = Keepalive::new(None, None, Liveness::new());
        let r = tokio::time::timeout(S(3600), k.tick()).await;
        assert!(r.is_err());
        assert!(k.expired().is_none());
    }
}
