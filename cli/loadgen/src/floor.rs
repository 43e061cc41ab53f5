//! The floor: the same batches decoded, validated and applied in a tight
//! loop in this process, through the aggregator library's real ingest path
//! (`vigil_aggregator::ingest::LocalStream`), with no network in between.
//!
//! Owns the in-process loop. It must not re-implement any ingest step: the
//! point is to measure the aggregator's own code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde::Serialize;
use vigil_aggregator::config::IngestConfig;
use vigil_aggregator::ingest::LocalStream;
use vigil_health::store::Store;
use vigil_model::Model;
use vigil_proto::v1::ProbeKind;

use super::LoadError;
use super::fleet::{now_ms, templates};
use super::model::FleetModel;
use super::process::ProcSample;
use super::wire;

/// What to run in-process.
#[derive(Debug, Clone)]
pub struct FloorPlan {
    pub model: FleetModel,
    pub agents: usize,
    pub probes: u32,
    pub signals_per_batch: u32,
    pub duration: Duration,
    pub threads: usize,
    pub window: Duration,
    pub recent_signals: usize,
}

/// Throughput of the in-process path.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub threads: usize,
    pub agents: usize,
    pub probes: u32,
    pub signals_per_batch: u32,
    pub batches: u64,
    pub signals: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub signals_per_sec: f64,
    /// Time to decode, validate and apply one batch, on one thread.
    pub ns_per_batch_per_thread: f64,
    /// This process's RSS growth from before the store existed to the end of
    /// the run (every series declared, its window and evidence ring full),
    /// over the number of (agent, probe) pairs: the live state one pair
    /// costs, allocator overhead included.
    pub state_bytes_per_pair: f64,
}

/// Runs the floor; blocks the calling thread for `plan.duration`.
pub fn run(plan: &FloorPlan) -> Result<FloorReport, LoadError> {
    let model = Model::from_yaml(&plan.model.yaml(), "generated fleet model")
        .map_err(|e| LoadError::Model(e.to_string()))?;
    let rss_before = ProcSample::read(std::process::id())?.rss_bytes;
    let store = Arc::new(Store::new(
        Arc::new(model),
        plan.window,
        plan.recent_signals,
    ));
    let limits = IngestConfig::default();
    let mut streams = Vec::with_capacity(plan.agents);
    for a in 0..plan.agents {
        let mut s = LocalStream::new(Arc::clone(&store), limits.clone());
        let components: Vec<String> = (0..plan.probes)
            .map(|p| plan.model.component(a, plan.probes, p))
            .collect();
        s.handle_encoded(&wire::hello(&format!("load-{a:05}"), 1, "spoke-0"))
            .map_err(|e| LoadError::Floor(e.to_string()))?;
        s.handle_encoded(&wire::declarations(&components, ProbeKind::Tcp, 1000))
            .map_err(|e| LoadError::Floor(e.to_string()))?;
        streams.push(s);
    }
    let templates = Arc::new(templates(plan.probes, plan.signals_per_batch, 1000));
    let threads = plan.threads.max(1);
    let chunk = plan.agents.div_ceil(threads).max(1);
    let started = Instant::now();
    let deadline = started + plan.duration;
    let totals: Vec<(u64, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .chunks_mut(chunk)
            .enumerate()
            .map(|(t, chunk)| {
                let templates = Arc::clone(&templates);
                scope.spawn(move || {
                    let mut buf = BytesMut::with_capacity(8192);
                    let (mut batches, mut signals, mut rejected) = (0u64, 0u64, 0u64);
                    let mut sequence = 0u64;
                    let mut next = t;
                    while Instant::now() < deadline {
                        sequence += 1;
                        let base = now_ms();
                        for s in chunk.iter_mut() {
                            let tpl = &templates[next % templates.len()];
                            next += 1;
                            let bytes = tpl.stamp(sequence, base, &mut buf);
                            match s.handle_encoded(&bytes) {
                                Ok(_) => {
                                    batches += 1;
                                    signals += u64::from(tpl.count());
                                }
                                Err(_) => rejected += 1,
                            }
                        }
                    }
                    (batches, signals, rejected)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, 0, 0)))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = ProcSample::read(std::process::id())?.rss_bytes;
    let pairs = (plan.agents as f64 * f64::from(plan.probes)).max(1.0);
    let (batches, signals, rejected) = totals
        .iter()
        .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2));
    Ok(FloorReport {
        threads,
        agents: plan.agents,
        probes: plan.probes,
        signals_per_batch: plan.signals_per_batch,
        batches,
        signals,
        rejected,
        seconds,
        signals_per_sec: signals as f64 / seconds,
        ns_per_batch_per_thread: if batches == 0 {
            0.0
        } else {
            seconds * 1e9 * threads as f64 / batches as f64
        },
        state_bytes_per_pair: rss_after.saturating_sub(rss_before) as f64 / pairs,
    })
}
