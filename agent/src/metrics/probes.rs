//! Per-probe run statistics: how often each probe ran and with what outcome,
//! why it failed, how long it took, and whether its last run succeeded.
//!
//! Owns the counters only. One cell per configured probe is allocated when
//! the agent starts and written by that probe's own task, so recording a run
//! never allocates and never waits on another probe. It must not format or
//! send anything: the `/metrics` page and the OTLP export read snapshots.

use std::sync::{Arc, Mutex, PoisonError};

use vigil_proto::ShortName;
use vigil_proto::v1::{ErrorClass, Outcome};

use crate::config::ProbeConfig;
use crate::probe::Observation;

/// Upper bounds (seconds) of the duration histogram buckets, shared by the
/// Prometheus page and OTLP so both carry the same distribution. They span a
/// loopback connect (sub-millisecond) to the longest sensible probe timeout.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How one run ended, as the series label `outcome` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Success,
    /// Succeeded but crossed a warning threshold (e.g. a certificate close
    /// to expiry): counts as up.
    Warning,
    Failure,
}

impl RunOutcome {
    pub const ALL: [Self; 3] = [Self::Success, Self::Warning, Self::Failure];

    /// A run without a stated outcome is not evidence of health.
    pub fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Success,
            Outcome::Warning => Self::Warning,
            Outcome::Failure | Outcome::Unspecified => Self::Failure,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Failure => "failure",
        }
    }

    pub fn is_up(self) -> bool {
        !matches!(self, Self::Failure)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The labels that identify one probe's series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLabels {
    pub probe: String,
    /// Short kind name: `http`, `tcp`, `dns`, ...
    pub kind: String,
    pub target: String,
    pub component: String,
}

impl ProbeLabels {
    pub fn of(config: &ProbeConfig) -> Self {
        Self {
            probe: config.id.clone(),
            kind: config.kind().short_name(),
            target: config.target(),
            component: config.component.clone(),
        }
    }

    /// Label pairs in exposition order.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("probe", &self.probe),
            ("kind", &self.kind),
            ("target", &self.target),
            ("component", &self.component),
        ]
    }
}

/// Error classes a failure can carry, in taxonomy order, plus `unknown` for
/// a value the taxonomy does not name.
fn class_names() -> impl Iterator<Item = &'static str> {
    vigil_proto::error_classes()
        .map(|(_, name, _)| name)
        .chain(std::iter::once("unknown"))
}

fn class_slot(class: ErrorClass) -> usize {
    vigil_proto::error_classes()
        .position(|(c, _, _)| c == class)
        .unwrap_or_else(|| vigil_proto::error_classes().count())
}

/// Everything counted for one probe. Sized once; recording only adds.
#[derive(Debug, Clone)]
struct Tally {
    runs: [u64; 3],
    failures: Box<[u64]>,
    /// Per-bucket (not cumulative) counts; the last slot is `+Inf`.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    duration_sum: f64,
    last: Option<RunOutcome>,
}

/// One probe's statistics: written by its task, read by exporters.
#[derive(Debug)]
pub struct ProbeCell {
    labels: ProbeLabels,
    // A tiny lock rather than separate atomics so that a reader always sees
    // a histogram whose `+Inf` bucket equals its count.
    tally: Mutex<Tally>,
}

impl ProbeCell {
    pub fn new(labels: ProbeLabels) -> Self {
        Self {
            labels,
            tally: Mutex::new(Tally {
                runs: [0; 3],
                failures: vec![0; class_names().count()].into_boxed_slice(),
                buckets: [0; DURATION_BUCKETS.len() + 1],
                duration_sum: 0.0,
                last: None,
            }),
        }
    }

    pub fn labels(&self) -> &ProbeLabels {
        &self.labels
    }

    /// Counts one finished run.
    pub fn record(&self, observation: &Observation) {
        let outcome = RunOutcome::of(observation.outcome);
        let seconds = observation.latency.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(DURATION_BUCKETS.len());
        let class = (outcome == RunOutcome::Failure).then(|| class_slot(observation.error_class));
        let mut t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        t.runs[outcome.slot()] += 1;
        if let Some(slot) = class {
            t.failures[slot] += 1;
        }
        t.buckets[bucket] += 1;
        t.duration_sum += seconds;
        t.last = Some(outcome);
    }

    /// A consistent copy of the counters.
    pub fn snapshot(&self) -> ProbeSnapshot {
        let t = self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut cumulative = [0u64; DURATION_BUCKETS.len() + 1];
        let mut running = 0;
        for (slot, n) in cumulative.iter_mut().zip(t.buckets) {
            running += n;
            *slot = running;
        }
        ProbeSnapshot {
            runs: RunOutcome::ALL.map(|o| (o, t.runs[o.slot()])),
            failures: class_names()
                .zip(t.failures.iter().copied())
                .filter(|(_, n)| *n > 0)
                .collect(),
            cumulative_buckets: cumulative,
            duration_count: running,
            duration_sum: t.duration_sum,
            up: t.last.map(RunOutcome::is_up),
        }
    }
}

/// One probe's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSnapshot {
    /// Runs by outcome, every outcome present (zero until it happens).
    pub runs: [(RunOutcome, u64); 3],
    /// Failed runs by short error-class name; classes never seen are absent.
    pub failures: Vec<(&'static str, u64)>,
    /// Runs at or under each of [`DURATION_BUCKETS`], then all runs (`+Inf`).
    pub cumulative_buckets: [u64; DURATION_BUCKETS.len() + 1],
    pub duration_count: u64,
    pub duration_sum: f64,
    /// Whether the last run succeeded; `None` before the first run, which is
    /// unknown rather than up.
    pub up: Option<bool>,
}

/// The cells of every configured probe, in config order.
#[derive(Debug, Default)]
pub struct ProbeTable {
    cells: Vec<Arc<ProbeCell>>,
}

impl ProbeTable {
    pub fn new(probes: &[ProbeConfig]) -> Self {
        Self {
            cells: probes
                .iter()
                .map(|p| Arc::new(ProbeCell::new(ProbeLabels::of(p))))
                .collect(),
        }
    }

    pub fn cells(&self) -> &[Arc<ProbeCell>] {
        &self.cells
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cell() -> ProbeCell {
        ProbeCell::new(ProbeLabels {
            probe: "p".into(),
            kind: "tcp".into(),
            target: "10.0.0.1:443".into(),
            component: "c".into(),
        })
    }

    #[test]
    fn unknown_until_the_first_run() {
        let s = cell().snapshot();
        assert_eq!(s.up, None);
        assert_eq!(s.duration_count, 0);
        assert!(s.failures.is_empty());
        assert!(s.runs.iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn counts_runs_failures_and_durations() {
        let c = cell();
        c.record(&Observation::success(Duration::from_micros(500)));
        c.record(&Observation::failure(
            ErrorClass::ConnectionRefused,
            Duration::from_millis(2),
            "refused",
        ));
        c.record(&Observation::failure(
            ErrorClass::Timeout,
            Duration::from_secs(60),
            "late",
        ));
        let s = c.snapshot();
        assert_eq!(
            s.runs,
            [
                (RunOutcome::Success, 1),
                (RunOutcome::Warning, 0),
                (RunOutcome::Failure, 2)
            ]
        );
        assert_eq!(s.failures, vec![("timeout", 1), ("refused", 1)]);
        assert_eq!(s.cumulative_buckets[0], 1, "0.5ms is in the 1ms bucket");
        assert_eq!(s.cumulative_buckets[1], 2, "2ms is in the 2.5ms bucket");
        assert_eq!(s.cumulative_buckets[DURATION_BUCKETS.len() - 1], 2);
        assert_eq!(s.cumulative_buckets[DURATION_BUCKETS.len()], 3, "+Inf");
        assert_eq!(s.duration_count, 3);
        assert!(
            (s.duration_sum - 60.0025).abs() < 1e-9,
            "{}",
            s.duration_sum
        );
        assert_eq!(s.up, Some(false));
        c.record(&Observation::warning(
            ErrorClass::TlsExpiring,
            Duration::from_millis(1),
            "soon",
        ));
        let s = c.snapshot();
        assert_eq!(s.up, Some(true), "a warning is up");
        assert_eq!(s.failures.len(), 2, "a warning is not a failure");
    }
}
