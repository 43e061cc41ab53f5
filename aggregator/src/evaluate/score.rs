//! Leaf scoring: a window of signals against thresholds gives a state and a
//! 0..=100 score.
//!
//! Owns the threshold rules and the score bands. Pure functions of their
//! inputs (the clock is an argument); no hysteresis here.

use vigil_proto::v1::HealthState;

use crate::model::Thresholds;
use crate::store::WindowSummary;

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

/// A window judged against thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub state: HealthState,
    pub score: u8,
    pub failure_ratio: f64,
    pub latency_p95_us: Option<u32>,
    pub reason: String,
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
            reason: format!(
                "{} signals in the window, fewer than min_signals {}",
                w.signals, t.min_signals
            ),
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
    let latency = p95.map_or_else(
        || "no successful latency".to_string(),
        |us| format!("p95 {}", fmt_us(us)),
    );
    Judgement {
        state,
        score: clamp_to_band(state, raw),
        failure_ratio: ratio,
        latency_p95_us: p95,
        reason: format!(
            "{:.0}% failed ({}/{}), {latency}",
            ratio * 100.0,
            w.failures,
            w.signals
        ),
    }
}

pub fn fmt_us(us: u32) -> String {
    if us >= 1_000_000 {
        format!("{:.1}s", f64::from(us) / 1e6)
    } else if us >= 1_000 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}µs")
    }
}
