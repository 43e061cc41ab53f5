//! Turns finished probe runs into numbered `SignalBatch`es: a batch closes at
//! `batch_max_signals` or when its first run is `batch_max_delay` old.
//! Owns sequence numbers and the compact signal encoding; it must not talk
//! to the network (finished batches go to the `Outbox`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use vigil_proto::v1::{Signal, SignalBatch, SignalDetail};

use super::{Counters, Outbox, ProbeRun};
use crate::probe::Observation;

pub struct Batcher {
    pub max_signals: usize,
    pub max_delay: Duration,
    pub outbox: Arc<Outbox>,
    pub counters: Arc<Counters>,
}

impl Batcher {
    /// Runs until every sender is gone, then flushes what it holds.
    pub async fn run(self, mut runs: mpsc::Receiver<ProbeRun>) {
        let mut sequence = 0u64;
        let mut pending: Vec<ProbeRun> = Vec::with_capacity(self.max_signals);
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                next = runs.recv() => match next {
                    Some(r) => {
                        self.counters.signals_produced.fetch_add(1, Ordering::Relaxed);
                        if pending.is_empty() {
                            deadline = Some(Instant::now() + self.max_delay);
                        }
                        pending.push(r);
                        if pending.len() >= self.max_signals {
                            self.flush(&mut sequence, &mut pending);
                            deadline = None;
                        }
                    }
                    None => {
                        self.flush(&mut sequence, &mut pending);
                        return;
                    }
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.flush(&mut sequence, &mut pending);
                    deadline = None;
                }
            }
        }
    }

    fn flush(&self, sequence: &mut u64, pending: &mut Vec<ProbeRun>) {
        if pending.is_empty() {
            return;
        }
        *sequence += 1;
        let batch = encode(*sequence, pending.drain(..));
        let dropped = self.outbox.push(batch);
        if dropped > 0 {
            self.counters
                .signals_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                total = self.outbox.dropped_total(),
                "delivery buffer full: dropped the oldest signals"
            );
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The wire latency of a run: 0 means "no latency" (see
/// `Observation::latency_reported`), so a measured one is at least 1 µs.
fn latency_us(o: &Observation) -> u32 {
    if !o.latency_reported {
        return 0;
    }
    u32::try_from(o.latency.as_micros())
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Encodes probe runs compactly: times as deltas from the earliest run.
pub fn encode(sequence: u64, runs: impl ExactSizeIterator<Item = ProbeRun>) -> SignalBatch {
    let runs: Vec<ProbeRun> = runs.collect();
    let base = runs
        .iter()
        .map(|r| r.observed_at_unix_ms)
        .min()
        .unwrap_or_default();
    let signals = runs
        .into_iter()
        .map(|r| {
            let o = r.observation;
            Signal {
                probe_index: r.probe_index,
                outcome: o.outcome as i32,
                error_class: o.error_class as i32,
                latency_us: latency_us(&o),
                time_offset_ms: i32::try_from(r.observed_at_unix_ms - base).unwrap_or(i32::MAX),
                message: if o.is_success() {
                    String::new()
                } else {
                    o.message
                },
                detail: o.detail.map(|d| SignalDetail { detail: Some(d) }),
            }
        })
        .collect();
    SignalBatch {
        sequence,
        base_time_unix_ms: base,
        signals,
        dropped_signals_total: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(observation: Observation) -> ProbeRun {
        ProbeRun {
            probe_index: 0,
            observed_at_unix_ms: 1_000,
            observation,
        }
    }

    #[test]
    fn a_latency_that_is_not_the_targets_is_sent_as_none() {
        let measured = Observation::success(Duration::from_millis(2_000));
        let blocked = measured.clone().without_latency();
        let instant = Observation::success(Duration::ZERO);
        let batch = encode(1, [measured, blocked, instant].map(run).into_iter());
        let sent: Vec<u32> = batch.signals.iter().map(|s| s.latency_us).collect();
        // 0 is reserved for "no latency": a real one is at least 1 µs.
        assert_eq!(sent, [2_000_000, 0, 1]);
    }
}
