//! Runs each probe on its own task at its interval with random jitter, the
//! first run at a random offset so a fleet started together does not fire in
//! lockstep. Owns timing only; it must not await one probe behind another or
//! know how results are delivered beyond the channel it is given. Each run
//! is also counted in the probe's own metrics cell (and OTLP histogram, when
//! export is on) before it is handed to the shipper.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{ProbeConfig, Schedule};
use crate::export::DurationRecorder;
use crate::metrics::ProbeCell;
use crate::probe::{self, Probe};
use crate::shipper::ProbeRun;

/// Where one probe's runs are counted besides the shipper.
pub struct Tally {
    pub cell: Arc<ProbeCell>,
    pub otlp: Option<DurationRecorder>,
}

/// Spawns the run loop of one probe.
pub fn spawn(
    index: u32,
    probe: Box<dyn Probe>,
    config: &ProbeConfig,
    runs: mpsc::Sender<ProbeRun>,
    tally: Tally,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let probe: Arc<dyn Probe> = Arc::from(probe);
    let schedule = config.schedule;
    let threshold = config.latency_threshold;
    let id = config.id.clone();
    tokio::spawn(async move {
        let mut next = Instant::now() + first_offset(schedule.interval);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(next) => {}
            }
            let observed_at_unix_ms = unix_ms_now();
            let observation = tokio::select! {
                () = stop.cancelled() => return,
                o = probe::run_once(probe.as_ref(), schedule.timeout, threshold) => o,
            };
            tracing::debug!(probe = %id, outcome = ?observation.outcome, class = ?observation.error_class, "probe ran");
            tally.cell.record(&observation);
            if let Some(otlp) = &tally.otlp {
                otlp.record(observation.latency.as_secs_f64());
            }
            let run = ProbeRun {
                probe_index: index,
                observed_at_unix_ms,
                observation,
            };
            if runs.send(run).await.is_err() {
                return;
            }
            next = next_run(next, schedule, Instant::now());
        }
    })
}

fn first_offset(interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..nanos.max(1)))
}

/// The next run: one interval after the previous planned run, shifted by up
/// to ±jitter·interval, and never in the past.
fn next_run(previous: Instant, schedule: Schedule, now: Instant) -> Instant {
    let spread = schedule.interval.as_secs_f64() * schedule.jitter;
    let shift = if spread > 0.0 {
        rand::rng().random_range(-spread..=spread)
    } else {
        0.0
    };
    let base = previous + schedule.interval;
    let planned = if shift >= 0.0 {
        base + Duration::from_secs_f64(shift)
    } else {
        base.checked_sub(Duration::from_secs_f64(-shift))
            .unwrap_or(base)
    };
    planned.max(now)
}

pub fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run_stays_within_jitter() {
        let s = Schedule {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            jitter: 0.1,
        };
        let start = Instant::now();
        for _ in 0..100 {
            let n = next_run(start, s, start);
            assert!(n >= start + Duration::from_secs(9));
            assert!(n <= start + Duration::from_secs(11));
        }
        let late = start + Duration::from_secs(30);
        assert_eq!(next_run(start, s, late), late);
        assert!(first_offset(s.interval) < s.interval);
    }
}
