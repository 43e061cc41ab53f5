//! Fixed-size time buckets holding one series' signal counts and latency
//! histogram over the evaluation window.
//!
//! Owns the inline ring and the quantile estimate. A window is a few hundred
//! bytes with no heap allocation of its own, because there is one per
//! (agent, probe) pair across the fleet; recording must not allocate (it runs
//! once per signal on the ingest hot path). It must not know about thresholds
//! or states.
//!
//! A latency of 0 is no latency (the agent measured none, e.g. a deny
//! firewall probe that was blocked): such a signal is counted, its latency
//! is not.

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

/// A fixed latency histogram with the smallest and largest sample;
/// quantiles interpolate within a bin, never beyond the samples seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u32; BINS],
    /// Smallest sample (`u32::MAX` before the first).
    min_us: u32,
    /// Largest sample (0 before the first).
    max_us: u32,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BINS],
            min_us: u32::MAX,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency_us: u32) {
        let bin = LATENCY_BOUNDS_US.partition_point(|&b| b < latency_us);
        self.counts[bin] = self.counts[bin].saturating_add(1);
        self.min_us = self.min_us.min(latency_us);
        self.max_us = self.max_us.max(latency_us);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Estimated quantile `q` (0..=1) in microseconds, `None` without samples.
    /// Interpolates linearly inside the bin the quantile falls in, narrowed
    /// to the smallest and largest sample: samples that are all alike come
    /// out as themselves, not spread over their bin (2.0 s samples are not
    /// a p95 of 2.95 s).
    pub fn quantile(&self, q: f64) -> Option<u32> {
        let [v] = self.quantiles([q]);
        v
    }

    /// Several quantiles in one pass over the bins; `qs` must be ascending.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<u32>; N] {
        let mut out = [None; N];
        let total = self.count();
        if total == 0 {
            return out;
        }
        let mut next = 0;
        let mut below = 0u64;
        for (bin, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let upto = below + u64::from(c);
            while let Some(&q) = qs.get(next) {
                let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
                if (upto as f64) < rank {
                    break;
                }
                let lo = if bin == 0 {
                    0
                } else {
                    LATENCY_BOUNDS_US[bin - 1]
                };
                let hi = LATENCY_BOUNDS_US
                    .get(bin)
                    .copied()
                    .unwrap_or(u32::MAX)
                    .min(self.max_us);
                let lo = lo.max(self.min_us).min(hi);
                let frac = (rank - below as f64) / f64::from(c);
                out[next] = Some(lo + ((f64::from(hi - lo)) * frac).round() as u32);
                next += 1;
            }
            below = upto;
        }
        for slot in &mut out[next..] {
            *slot = Some(self.max_us);
        }
        out
    }
}

/// A latency in 16 bits, the way a float keeps it: exact below 2048 µs,
/// then 11 significant bits (within 0.1 %). Codes grow with the value and
/// the next code up is the next value up.
mod code {
    const MANTISSA: u32 = 11;
    const EXACT: u32 = 1 << MANTISSA;

    /// The code of the largest representable value at or below `us`.
    pub fn floor(us: u32) -> u16 {
        if us < EXACT {
            return us as u16;
        }
        let shift = 32 - us.leading_zeros() - MANTISSA;
        ((shift << (MANTISSA - 1)) + (us >> shift)) as u16
    }

    /// The code of the smallest representable value at or above `us`.
    pub fn ceil(us: u32) -> u16 {
        let code = floor(us);
        if decode(code) == us { code } else { code + 1 }
    }

    pub fn decode(code: u16) -> u32 {
        let code = u32::from(code);
        if code < EXACT {
            return code;
        }
        let shift = (code >> (MANTISSA - 1)) - 1;
        if shift >= 32 {
            return u32::MAX;
        }
        let top = (code & (EXACT / 2 - 1)) | (EXACT / 2);
        u32::try_from(u64::from(top) << shift).unwrap_or(u32::MAX)
    }
}

/// How many latency slots a window keeps: each covers
/// `BUCKETS / LATENCY_SLOTS` count buckets. Latency is kept coarser than
/// counts because a histogram is 21 bins wide; quantiles therefore describe
/// the newest four to five sixths of the window.
pub const LATENCY_SLOTS: usize = 5;
const BUCKETS_PER_SLOT: i64 = (BUCKETS / LATENCY_SLOTS) as i64;

/// Latency bins as stored per series: `u16` counts, saturating, and the
/// smallest and largest sample as 16-bit codes (rounded outwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CompactHistogram {
    counts: [u16; BINS],
    min: u16,
    max: u16,
}

impl Default for CompactHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BINS],
            min: u16::MAX,
            max: 0,
        }
    }
}

impl CompactHistogram {
    fn record(&mut self, latency_us: u32) {
        let bin = LATENCY_BOUNDS_US.partition_point(|&b| b < latency_us);
        self.counts[bin] = self.counts[bin].saturating_add(1);
        self.min = self.min.min(code::floor(latency_us));
        self.max = self.max.max(code::ceil(latency_us));
    }

    fn add_to(&self, out: &mut LatencyHistogram) {
        if self.is_empty() {
            return;
        }
        for (a, &b) in out.counts.iter_mut().zip(self.counts.iter()) {
            *a = a.saturating_add(u32::from(b));
        }
        out.min_us = out.min_us.min(code::decode(self.min));
        out.max_us = out.max_us.max(code::decode(self.max));
    }

    fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

/// Counts of one bucket. `tag` is the bucket's epoch (`time / width`)
/// truncated to 32 bits: only the distance between epochs inside one window
/// matters, and that never wraps.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    tag: u32,
    signals: u16,
    failures: u16,
}

#[derive(Debug, Clone, Copy, Default)]
struct LatencySlot {
    tag: u32,
    latency: CompactHistogram,
}

/// What a window holds at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowSummary {
    pub signals: u32,
    pub failures: u32,
    /// Latency of signals that did not fail and carry one (a timeout's
    /// latency is the timeout, already counted as a failure; a blocked deny
    /// probe's wait is no latency at all).
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

/// Where a stored tag stands relative to `current`: 0 is the same epoch,
/// positive is older, negative is newer (a clock ahead of ours).
fn age(current: i64, tag: u32) -> i32 {
    (current as u32).wrapping_sub(tag) as i32
}

/// A ring of [`BUCKETS`] count buckets and [`LATENCY_SLOTS`] latency slots
/// covering the window, stored inline (about 500 bytes).
#[derive(Debug)]
pub struct Window {
    /// Newest observation time seen; `i64::MIN` before the first.
    last_signal_ms: i64,
    width_ms: u32,
    buckets: [Bucket; BUCKETS],
    slots: [LatencySlot; LATENCY_SLOTS],
}

impl Window {
    pub fn new(window: Duration) -> Self {
        let ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let width_ms = (ms + BUCKETS as i64 - 1) / BUCKETS as i64;
        Self {
            width_ms: u32::try_from(width_ms.max(1)).unwrap_or(u32::MAX),
            last_signal_ms: i64::MIN,
            buckets: [Bucket::default(); BUCKETS],
            slots: [LatencySlot::default(); LATENCY_SLOTS],
        }
    }

    /// Counts one signal observed at `at_ms`, and its latency unless it
    /// failed or has none (0). Signals older than the ring (replayed after
    /// an outage) only move `last_signal_ms`.
    pub fn record(&mut self, at_ms: i64, failed: bool, latency_us: u32) {
        self.last_signal_ms = self.last_signal_ms.max(at_ms);
        let epoch = at_ms.div_euclid(i64::from(self.width_ms));
        let bucket = &mut self.buckets[epoch.rem_euclid(BUCKETS as i64) as usize];
        match age(epoch, bucket.tag) {
            0 if bucket.signals > 0 => {}
            // An older epoch's slot, or an empty one: claim it.
            d if d > 0 || bucket.signals == 0 => {
                *bucket = Bucket {
                    tag: epoch as u32,
                    ..Bucket::default()
                };
            }
            // The slot already holds a newer epoch: this signal is too old.
            _ => return,
        }
        bucket.signals = bucket.signals.saturating_add(1);
        if failed {
            bucket.failures = bucket.failures.saturating_add(1);
            return;
        }
        if latency_us == 0 {
            return;
        }
        let slot_epoch = epoch.div_euclid(BUCKETS_PER_SLOT);
        let slot = &mut self.slots[slot_epoch.rem_euclid(LATENCY_SLOTS as i64) as usize];
        match age(slot_epoch, slot.tag) {
            0 => {}
            d if d > 0 || slot.latency.is_empty() => {
                *slot = LatencySlot {
                    tag: slot_epoch as u32,
                    ..LatencySlot::default()
                };
            }
            _ => return,
        }
        slot.latency.record(latency_us);
    }

    /// Sums the buckets inside the window that ends at `now_ms`.
    pub fn summarize(&self, now_ms: i64) -> WindowSummary {
        let newest = now_ms.div_euclid(i64::from(self.width_ms));
        let mut out = WindowSummary {
            last_signal_ms: (self.last_signal_ms != i64::MIN).then_some(self.last_signal_ms),
            ..WindowSummary::default()
        };
        // Epochs ahead of ours (an agent's clock running fast) still count,
        // as long as they are less than a window away.
        let within = |d: i32, n: usize| d.unsigned_abs() < n as u32;
        for b in &self.buckets {
            if b.signals > 0 && within(age(newest, b.tag), BUCKETS) {
                out.signals = out.signals.saturating_add(u32::from(b.signals));
                out.failures = out.failures.saturating_add(u32::from(b.failures));
            }
        }
        let newest_slot = newest.div_euclid(BUCKETS_PER_SLOT);
        for s in &self.slots {
            if within(age(newest_slot, s.tag), LATENCY_SLOTS) {
                s.latency.add_to(&mut out.latency);
            }
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
    fn window_stays_small_and_inline() {
        // One window per (agent, probe) pair: its size is the fleet's memory.
        assert!(
            std::mem::size_of::<Window>() <= 512,
            "{}",
            std::mem::size_of::<Window>()
        );
    }

    #[test]
    fn a_signal_older_than_the_ring_is_not_counted() {
        let mut w = Window::new(Duration::from_secs(30));
        w.record(100_000, false, 1_000);
        w.record(40_000, true, 0);
        let s = w.summarize(100_000);
        assert_eq!((s.signals, s.failures), (1, 0));
        assert_eq!(s.last_signal_ms, Some(100_000));
    }

    #[test]
    fn a_clock_slightly_ahead_still_counts() {
        let mut w = Window::new(Duration::from_secs(30));
        w.record(12_000, true, 0);
        let s = w.summarize(10_000);
        assert_eq!((s.signals, s.failures), (1, 1));
    }

    #[test]
    fn latency_expires_with_the_window() {
        let mut w = Window::new(Duration::from_secs(60));
        w.record(1_000, false, 900_000);
        w.record(61_000, false, 1_000);
        let s = w.summarize(61_000);
        assert_eq!(s.signals, 1, "the first signal left the window");
        assert_eq!(s.latency.count(), 1);
        assert!(s.latency.quantile(0.99).unwrap() <= 1_000);
    }

    #[test]
    fn every_bucket_of_a_full_window_counts() {
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..60 {
            w.record(t * 1_000, t % 10 == 0, 5_000);
        }
        let s = w.summarize(59_999);
        assert_eq!((s.signals, s.failures), (60, 6));
        assert!(s.latency.count() >= 40, "{}", s.latency.count());
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut w = Window::new(Duration::from_secs(30));
        for _ in 0..70_000 {
            w.record(5_000, false, 10);
        }
        let s = w.summarize(5_000);
        assert_eq!(s.signals, u32::from(u16::MAX));
    }

    #[test]
    fn quantiles_in_one_pass_match_one_at_a_time() {
        let mut h = LatencyHistogram::default();
        for us in [50, 120, 800, 4_000, 4_000, 90_000, 2_500_000, 20_000_000] {
            h.record(us);
        }
        let qs = [0.1, 0.5, 0.95, 1.0];
        let together = h.quantiles(qs);
        assert_eq!(together, qs.map(|q| h.quantile(q)));
        assert!(together[0] < together[1] && together[2] <= together[3]);
        assert_eq!(LatencyHistogram::default().quantiles(qs), [None; 4]);
    }

    #[test]
    fn quantiles_of_identical_samples_are_those_samples() {
        // 2.00 s sits low in the 2-3 s bin: spread over the bin, its p95
        // read 2.95 s and turned a 2 s threshold's leaf unhealthy.
        for us in [2_000_000, 2_000_417, 87, 1_234_567, 9_999_999, 40_000_000] {
            let mut w = Window::new(Duration::from_secs(60));
            for t in 0..20 {
                w.record(t * 1_000, false, us);
            }
            let h = w.summarize(19_000).latency;
            for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
                let got = h.quantile(q).unwrap();
                let err = f64::from(got.abs_diff(us)) / f64::from(us);
                assert!(err <= 0.001, "q{q} of {us} µs samples: {got} µs");
            }
        }
    }

    #[test]
    fn quantiles_stay_between_the_smallest_and_largest_sample() {
        let mut h = LatencyHistogram::default();
        for us in [2_100_000, 2_200_000, 2_300_000] {
            h.record(us);
        }
        let [p0, p95, p100] = h.quantiles([0.0, 0.95, 1.0]);
        assert!(p0.unwrap() >= 2_100_000, "{p0:?}");
        assert!(p95.unwrap() <= 2_300_000, "{p95:?}");
        assert_eq!(p100, Some(2_300_000));
    }

    #[test]
    fn a_signal_without_latency_is_counted_but_has_no_latency() {
        let mut w = Window::new(Duration::from_secs(60));
        w.record(1_000, false, 0);
        w.record(2_000, false, 0);
        let s = w.summarize(2_000);
        assert_eq!((s.signals, s.failures), (2, 0));
        assert_eq!(s.latency.quantile(0.95), None);
        w.record(3_000, false, 5_000);
        assert_eq!(w.summarize(3_000).latency.quantile(0.95), Some(5_000));
    }

    #[test]
    fn latency_codes_round_outwards_within_a_thousandth() {
        assert_eq!(code::decode(u16::MAX), u32::MAX);
        for us in [
            0,
            1,
            2_047,
            2_048,
            2_049,
            3_001,
            999_999,
            2_000_417,
            u32::MAX,
        ] {
            let (lo, hi) = (code::decode(code::floor(us)), code::decode(code::ceil(us)));
            assert!(lo <= us && us <= hi, "{us}: {lo}..{hi}");
            assert!(
                f64::from(hi - lo) <= f64::from(us) / 1000.0,
                "{us}: {lo}..{hi}"
            );
        }
        // Codes grow with the value, so min and max compare as codes.
        let mut last = 0;
        for us in (0..40_000_000).step_by(997) {
            let c = code::floor(us);
            assert!(c >= last, "{us}");
            last = c;
        }
    }

    #[test]
    fn quantile_interpolates_inside_a_bin() {
        let mut h = LatencyHistogram::default();
        for i in 0..100 {
            h.record(300_001 + i * 2_000);
        }
        let p95 = h.quantile(0.95).unwrap();
        assert!(p95 > 450_000 && p95 <= 500_000, "{p95}");
    }
}
