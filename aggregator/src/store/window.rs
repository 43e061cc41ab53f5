//! Fixed-size time buckets holding one series' signal counts and latency
//! histogram over the evaluation window.
//!
//! Owns the preallocated ring and the quantile estimate. Recording must not
//! allocate (it runs once per signal on the ingest hot path); it must not know
//! about thresholds or states.

use std::time::Duration;

/// Upper bounds (inclusive, microseconds) of the latency bins; a last,
/// unbounded bin catches everything slower.
pub const LATENCY_BOUNDS_US: [u32; 20] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000, 300_000, 500_000,
    750_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
];
const BINS: usize = LATENCY_BOUNDS_US.len() + 1;

/// How many buckets a window is split into: the resolution of "how far back".
pub const BUCKETS: usize = 30;

/// A fixed latency histogram; quantiles interpolate within a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyHistogram {
    counts: [u32; BINS],
}

impl LatencyHistogram {
    pub fn record(&mut self, latency_us: u32) {
        let bin = LATENCY_BOUNDS_US.partition_point(|&b| b < latency_us);
        self.counts[bin] = self.counts[bin].saturating_add(1);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Estimated quantile `q` (0..=1) in microseconds, `None` without samples.
    /// Interpolates linearly inside the bin the quantile falls in; the open
    /// last bin reports twice its lower bound.
    pub fn quantile(&self, q: f64) -> Option<u32> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut below = 0u64;
        for (bin, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let upto = below + u64::from(c);
            if upto as f64 >= rank {
                let lo = if bin == 0 {
                    0
                } else {
                    LATENCY_BOUNDS_US[bin - 1]
                };
                let hi = LATENCY_BOUNDS_US
                    .get(bin)
                    .copied()
                    .unwrap_or(lo.saturating_mul(2));
                let frac = (rank - below as f64) / f64::from(c);
                return Some(lo + ((f64::from(hi - lo)) * frac).round() as u32);
            }
            below = upto;
        }
        LATENCY_BOUNDS_US.last().copied()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// `time / width` of the bucket's span; identifies stale slots.
    epoch: i64,
    signals: u32,
    failures: u32,
    latency: LatencyHistogram,
}

/// What a window holds at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowSummary {
    pub signals: u32,
    pub failures: u32,
    /// Latency of signals that did not fail (a timeout's latency is the
    /// timeout, already counted as a failure).
    pub latency: LatencyHistogram,
    /// Newest observation time seen, even outside the window.
    pub last_signal_ms: Option<i64>,
}

impl WindowSummary {
    pub fn merge(&mut self, other: &WindowSummary) {
        self.signals = self.signals.saturating_add(other.signals);
        self.failures = self.failures.saturating_add(other.failures);
        self.latency.merge(&other.latency);
        self.last_signal_ms = match (self.last_signal_ms, other.last_signal_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A ring of [`BUCKETS`] buckets covering the window.
#[derive(Debug)]
pub struct Window {
    width_ms: i64,
    buckets: Box<[Bucket]>,
    last_signal_ms: Option<i64>,
}

impl Window {
    pub fn new(window: Duration) -> Self {
        let ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let width_ms = (ms + BUCKETS as i64 - 1) / BUCKETS as i64;
        Self {
            width_ms: width_ms.max(1),
            buckets: vec![
                Bucket {
                    epoch: i64::MIN,
                    ..Bucket::default()
                };
                BUCKETS
            ]
            .into_boxed_slice(),
            last_signal_ms: None,
        }
    }

    /// Counts one signal observed at `at_ms`. Signals older than the ring
    /// (replayed after an outage) only move `last_signal_ms`.
    pub fn record(&mut self, at_ms: i64, failed: bool, latency_us: u32) {
        self.last_signal_ms = Some(self.last_signal_ms.map_or(at_ms, |l| l.max(at_ms)));
        let epoch = at_ms.div_euclid(self.width_ms);
        let slot = epoch.rem_euclid(BUCKETS as i64) as usize;
        let bucket = &mut self.buckets[slot];
        if bucket.epoch < epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        } else if bucket.epoch > epoch {
            return;
        }
        bucket.signals = bucket.signals.saturating_add(1);
        if failed {
            bucket.failures = bucket.failures.saturating_add(1);
        } else {
            bucket.latency.record(latency_us);
        }
    }

    /// Sums the buckets inside the window that ends at `now_ms`.
    pub fn summarize(&self, now_ms: i64) -> WindowSummary {
        let oldest = now_ms.div_euclid(self.width_ms) - BUCKETS as i64;
        let mut out = WindowSummary {
            last_signal_ms: self.last_signal_ms,
            ..WindowSummary::default()
        };
        for b in self.buckets.iter().filter(|b| b.epoch > oldest) {
            out.signals = out.signals.saturating_add(b.signals);
            out.failures = out.failures.saturating_add(b.failures);
            out.latency.merge(&b.latency);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_forgets_old_buckets() {
        let mut w = Window::new(Duration::from_secs(30));
        w.record(1_000, true, 0);
        w.record(2_000, false, 1_000);
        let s = w.summarize(2_000);
        assert_eq!((s.signals, s.failures), (2, 1));
        let later = w.summarize(40_000);
        assert_eq!(later.signals, 0);
        assert_eq!(later.last_signal_ms, Some(2_000));
    }

    #[test]
    fn quantile_interpolates_inside_a_bin() {
        let mut h = LatencyHistogram::default();
        for _ in 0..100 {
            h.record(400_000);
        }
        let p95 = h.quantile(0.95).unwrap();
        assert!(p95 > 300_000 && p95 <= 500_000, "{p95}");
    }
}
