//! Latency summaries: exact percentiles over collected samples (microseconds).

use serde::{Deserialize, Serialize};

/// p50 / p90 / p99 / max of a set of samples, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Mean.
    pub mean_us: u64,
}

impl Summary {
    /// Summarises the samples (sorts them in place).
    pub fn of(samples: &mut [u64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        // Nearest-rank percentile.
        let pct = |p: f64| samples[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Summary {
            count: n as u64,
            p50_us: pct(50.0),
            p90_us: pct(90.0),
            p99_us: pct(99.0),
            p999_us: pct(99.9),
            max_us: samples[n - 1],
            mean_us: samples.iter().sum::<u64>() / n as u64,
        }
    }

    /// `p50 / p99 / max` in milliseconds, for tables.
    pub fn ms(&self) -> String {
        if self.count == 0 {
            return "n/a".into();
        }
        format!(
            "{} / {} / {} ms",
            fmt_ms(self.p50_us),
            fmt_ms(self.p99_us),
            fmt_ms(self.max_us)
        )
    }
}

/// Microseconds as milliseconds with a sensible number of decimals.
pub fn fmt_ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut v: Vec<u64> = (1..=1000).collect();
        let s = Summary::of(&mut v);
        assert_eq!(
            (s.count, s.p50_us, s.p99_us, s.max_us),
            (1000, 500, 990, 1000)
        );
        assert_eq!(Summary::of(&mut []).count, 0);
        let mut one = [7];
        assert_eq!(Summary::of(&mut one).p99_us, 7);
    }
}
