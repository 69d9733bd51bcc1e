//! The per-page frame rate limit: a token bucket.

use std::time::Instant;

/// A token bucket holding at most `rate` tokens, refilled at `rate` a second: bursts of up
/// to a second's worth pass, a sustained flood does not.
#[derive(Debug, Clone)]
pub struct FrameRate {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl FrameRate {
    /// A full bucket for `rate` frames a second.
    pub fn new(rate: u32) -> Self {
        FrameRate {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    /// Takes a token for a frame arriving at `now`; false when the page is over the rate.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_passes_a_flood_does_not() {
        let t0 = Instant::now();
        let mut r = FrameRate::new(50);
        assert!((0..50).all(|_| r.admit(t0)), "a second's burst");
        assert!(!r.admit(t0), "the 51st at once");
        // 50 a second, evenly: always admitted.
        let mut r = FrameRate::new(50);
        assert!((1..500).all(|i| r.admit(t0 + Duration::from_millis(20 * i))));
        // 100 a second: refused within the first two seconds.
        let mut r = FrameRate::new(50);
        assert!((1..200).any(|i| !r.admit(t0 + Duration::from_millis(10 * i))));
    }
}
