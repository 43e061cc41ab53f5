//! Leaf scoring: a window of signals against thresholds gives a state and a
//! 0..=100 score.
//!
//! Owns the threshold rules and the score bands. Pure functions of their
//! inputs (the clock is an argument); no hysteresis here.

use std::fmt::Write as _;

use vigil_proto::v1::HealthState;

use crate::store::WindowSummary;
use vigil_model::Thresholds;

/// Score bands, so a score never contradicts its state:
/// Healthy 80..=100, Degraded 40..=79, Unhealthy 0..=39, Unknown 0.
pub fn band(state: HealthState) -> (u8, u8) {
    match state {
        HealthState::Healthy => (80, 100),
        HealthState::Degraded => (40, 79),
        HealthState::Unhealthy => (0, 39),
        HealthState::Unknown | HealthState::Unspecified => (0, 0),
    }
}

pub fn clamp_to_band(state: HealthState, score: f64) -> u8 {
    let (lo, hi) = band(state);
    let s = if score.is_finite() { score } else { 0.0 };
    s.round().clamp(f64::from(lo), f64::from(hi)) as u8
}

/// The state a score falls in (for weighted roll-ups).
pub fn state_of_score(score: f64) -> HealthState {
    if score >= 80.0 {
        HealthState::Healthy
    } else if score >= 40.0 {
        HealthState::Degraded
    } else {
        HealthState::Unhealthy
    }
}

/// Maps a "bad" quantity onto the bands: 100 at zero, 80 at the degraded
/// threshold, 40 at the unhealthy one, 0 at twice that.
fn quantity_score(x: f64, degraded: f64, unhealthy: f64) -> f64 {
    if x <= 0.0 {
        return 100.0;
    }
    if x < degraded {
        return 100.0 - 20.0 * x / degraded;
    }
    if x < unhealthy {
        return 80.0 - 40.0 * (x - degraded) / (unhealthy - degraded);
    }
    if unhealthy <= 0.0 {
        return 0.0;
    }
    (40.0 * (1.0 - (x - unhealthy) / unhealthy)).max(0.0)
}

/// A window judged against thresholds. Its reason is written only when
/// asked ([`Judgement::write_reason`]): every vantage of every leaf is judged
/// on every tick, but only the pooled judgement of a leaf is explained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub state: HealthState,
    pub score: u8,
    pub failure_ratio: f64,
    pub latency_p95_us: Option<u32>,
    signals: u32,
    failures: u32,
    /// Set when the window held fewer signals than this minimum.
    too_few_for: Option<u32>,
}

impl Judgement {
    /// Appends the one-line explanation of this judgement to `out`.
    pub fn write_reason(&self, out: &mut String) {
        if let Some(min) = self.too_few_for {
            let _ = write!(
                out,
                "{} signals in the window, fewer than min_signals {min}",
                self.signals
            );
            return;
        }
        let _ = write!(
            out,
            "{:.0}% failed ({}/{}), ",
            self.failure_ratio * 100.0,
            self.failures,
            self.signals
        );
        match self.latency_p95_us {
            Some(us) => {
                out.push_str("p95 ");
                write_us(out, us);
            }
            None => out.push_str("no successful latency"),
        }
    }

    /// The one-line explanation of this judgement.
    pub fn reason(&self) -> String {
        let mut out = String::new();
        self.write_reason(&mut out);
        out
    }
}

/// Judges a fresh window (staleness is checked by the caller). A failure
/// ratio at or above a threshold counts (a threshold of 0 means "any
/// failure"); a p95 latency strictly above a threshold counts.
pub fn judge(w: &WindowSummary, t: &Thresholds) -> Judgement {
    if w.signals < t.min_signals || w.signals == 0 {
        return Judgement {
            state: HealthState::Unknown,
            score: 0,
            failure_ratio: 0.0,
            latency_p95_us: None,
            signals: w.signals,
            failures: w.failures,
            too_few_for: Some(t.min_signals),
        };
    }
    let ratio = f64::from(w.failures) / f64::from(w.signals);
    let p95 = w.latency.quantile(0.95);
    let p95_us = p95.map_or(0.0, f64::from);
    let d_lat = t.degraded_latency.as_micros() as f64;
    let u_lat = t.unhealthy_latency.as_micros() as f64;
    let failing = |threshold: f64| w.failures > 0 && ratio >= threshold;
    let state = if failing(t.unhealthy_failure_ratio) || p95_us > u_lat {
        HealthState::Unhealthy
    } else if failing(t.degraded_failure_ratio) || p95_us > d_lat {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    };
    let raw = quantity_score(ratio, t.degraded_failure_ratio, t.unhealthy_failure_ratio)
        .min(quantity_score(p95_us, d_lat, u_lat));
    Judgement {
        state,
        score: clamp_to_band(state, raw),
        failure_ratio: ratio,
        latency_p95_us: p95,
        signals: w.signals,
        failures: w.failures,
        too_few_for: None,
    }
}

/// Appends a latency in the unit that reads best.
pub fn write_us(out: &mut String, us: u32) {
    let _ = if us >= 1_000_000 {
        write!(out, "{:.1}s", f64::from(us) / 1e6)
    } else if us >= 1_000 {
        write!(out, "{}ms", us / 1_000)
    } else {
        write!(out, "{us}µs")
    };
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::Window;

    /// A minute of signals every second, each with `latency_us` (0: none).
    fn steady(latency_us: u32) -> WindowSummary {
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..60 {
            w.record(t * 1_000, false, latency_us);
        }
        w.summarize(59_000)
    }

    #[test]
    fn blocked_deny_probes_without_latency_are_healthy() {
        // What a deny firewall probe meeting a silent drop now sends.
        let j = judge(&steady(0), &Thresholds::default());
        assert_eq!(j.state, HealthState::Healthy, "{}", j.reason());
        assert_eq!(j.latency_p95_us, None);
        assert_eq!(j.signals, 60);
    }

    #[test]
    fn identical_samples_are_judged_by_their_own_latency() {
        // 2.00 s every time against a 2 s threshold: not above it. The
        // window keeps its extremes to within 0.1 %.
        let j = judge(&steady(2_000_000), &Thresholds::default());
        let p95 = j.latency_p95_us.expect("a p95");
        assert!(p95.abs_diff(2_000_000) <= 2_000, "{}", j.reason());
        assert_eq!(j.state, HealthState::Degraded, "{}", j.reason());
        // 2.9 s every time is above it.
        let j = judge(&steady(2_900_000), &Thresholds::default());
        assert_eq!(j.state, HealthState::Unhealthy, "{}", j.reason());
        assert!(j.reason().contains("p95 2.9s"), "{}", j.reason());
    }
}
