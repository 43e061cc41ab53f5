//! `vigil-loadgen`: simulated agents against a real aggregator over loopback
//! gRPC, and the measurements docs/performance.md reports — sustained signals/s applied
//! (from Acks), the aggregator's CPU and RSS, observation → visible latency,
//! GetTree/GetNode latency under load, rejections — plus the in-process floor.
//!
//! Owns load generation and measurement. It speaks only the public wire
//! contract to the aggregator under test (the floor alone links the
//! aggregator library) and must not change the aggregator's behaviour.
#![forbid(unsafe_code)]

pub mod fleet;
pub mod floor;
pub mod marker;
pub mod model;
pub mod observer;
pub mod process;
pub mod query;
pub mod scrape;
pub mod stats;
pub mod target;
pub mod tls;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use fleet::{FleetCounters, FleetSpec, Pace};
pub use floor::{FloorPlan, FloorReport};
pub use model::{EvaluationShape, FleetModel};
pub use process::{ProcSample, ProcessUsage};
pub use stats::Percentiles;
pub use target::AggregatorProcess;

/// Why a load run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("bad target: {0}")]
    Target(String),
    #[error("cannot connect to the aggregator at {0}")]
    Connect(String),
    #[error("generated model refused: {0}")]
    Model(String),
    #[error("marker stream: {0}")]
    Marker(String),
    #[error("in-process floor: {0}")]
    Floor(String),
    #[error("{0}")]
    Io(String),
    #[error(
        "only {welcomed} of {agents} streams were welcomed within {waited:?}; fix: fewer agents, more --streams-per-connection, or a higher open-file limit (ulimit -n)"
    )]
    NotWelcomed {
        welcomed: u64,
        agents: usize,
        waited: Duration,
    },
    #[error(transparent)]
    Proc(#[from] process::ProcError),
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The aggregator's gRPC listener (`http://` or, with the run's
    /// certificates, `https://`).
    pub target: fleet::Target,
    /// The aggregator process to read CPU and RSS from, if known.
    pub aggregator_pid: Option<u32>,
    pub fleet: FleetSpec,
    /// Agents sharing one HTTP/2 connection (1: one connection per agent,
    /// as in a real fleet).
    pub streams_per_connection: usize,
    /// How long every stream may take to be welcomed.
    pub connect_deadline: Duration,
    /// Load before measuring, so windows fill and rings reach their size.
    pub warmup: Duration,
    /// The measured interval.
    pub duration: Duration,
    /// Marker samples (0: none), one every `marker_every`.
    pub markers: usize,
    pub marker_every: Duration,
    /// Time between query samples (None: no query sampling).
    pub query_every: Option<Duration>,
    /// The aggregator's `/metrics` URL and the time between scrapes (None:
    /// no scraping).
    pub scrape: Option<(String, Duration)>,
    /// Time between readings of the aggregator's RSS during the measured
    /// interval, to show whether memory stays flat (a soak).
    pub rss_every: Duration,
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub agents: usize,
    pub probes: u32,
    pub signals_per_batch: u32,
    pub connections: usize,
    pub streams_welcomed: u64,
    pub connect_seconds: f64,
    pub measured_seconds: f64,
    /// Signals acknowledged as applied during the measured interval, per second.
    pub applied_per_sec: f64,
    /// Signals sent during the measured interval, per second.
    pub offered_per_sec: f64,
    pub signals_acked_total: u64,
    pub batches_deferred: u64,
    pub rejected_streams: u64,
    pub failed_streams: u64,
    pub aggregator: Option<ProcessUsage>,
    /// Aggregator RSS growth during the measured interval over the number of
    /// (agent, probe) pairs; the steady-state cost of the load itself.
    pub rss_per_pair_bytes: Option<f64>,
    pub evidence_latency: Option<Percentiles>,
    pub state_latency: Option<Percentiles>,
    pub markers_lost: usize,
    /// (seconds into the measured interval, aggregator RSS in MiB).
    pub rss_samples: Vec<(f64, f64)>,
    /// Request to the last byte of the response.
    pub get_tree: Option<Percentiles>,
    /// The client's decode of that response, apart.
    pub get_tree_decode: Option<Percentiles>,
    pub get_node: Option<Percentiles>,
    pub tree_nodes: usize,
    pub query_errors: u64,
    /// `GET /metrics`, request to the last byte of the page.
    pub scrape: Option<Percentiles>,
    pub scrape_page_bytes: usize,
    pub scrape_errors: u64,
}

/// Runs `plan` against a running aggregator.
pub async fn run(plan: &LoadPlan) -> Result<LoadReport, LoadError> {
    let fleet = Arc::new(plan.fleet.clone());
    let per_conn = plan.streams_per_connection.max(1);
    let connections = fleet.agents.div_ceil(per_conn);
    let connect_started = Instant::now();
    let proc_before_load = match plan.aggregator_pid {
        Some(pid) => Some(ProcSample::read(pid)?),
        None => None,
    };
    let channels = fleet::connect(&plan.target, connections, |c| fleet.network(c)).await?;
    let spread = match fleet.pace {
        Pace::Every(d) => u32::try_from(d.as_millis()).unwrap_or(u32::MAX),
        Pace::InFlight(_) => 1000,
    };
    let templates = Arc::new(fleet::templates(
        fleet.probes,
        fleet.signals_per_batch,
        spread,
    ));
    let counters = Arc::new(FleetCounters::default());
    let stop = CancellationToken::new();
    let agents: Vec<_> = (0..fleet.agents)
        .map(|i| {
            fleet::spawn_agent(
                i,
                channels[i / per_conn].clone(),
                Arc::clone(&fleet),
                Arc::clone(&templates),
                Arc::clone(&counters),
                stop.clone(),
            )
        })
        .collect();
    let welcome_deadline = Instant::now() + plan.connect_deadline;
    loop {
        let welcomed = counters.streams_welcomed.load(Ordering::Relaxed);
        let ended = counters.rejected.load(Ordering::Relaxed)
            + counters.stream_errors.load(Ordering::Relaxed);
        if welcomed as usize >= fleet.agents {
            break;
        }
        if Instant::now() > welcome_deadline || welcomed + ended >= fleet.agents as u64 {
            stop.cancel();
            return Err(LoadError::NotWelcomed {
                welcomed,
                agents: fleet.agents,
                waited: plan.connect_deadline,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    tokio::time::sleep(plan.warmup).await;

    let window_stop = CancellationToken::new();
    let observers = observer::Observers::start(
        observer::Plan {
            target: plan.target.clone(),
            markers: (plan.markers > 0).then_some((plan.markers, plan.marker_every)),
            queries: plan.query_every.map(|every| (fleet.model, every)),
            scrapes: plan.scrape.clone(),
        },
        window_stop.clone(),
    )?;
    let acked0 = counters.signals_acked.load(Ordering::Relaxed);
    let sent0 = counters.signals_sent.load(Ordering::Relaxed);
    let proc0 = match plan.aggregator_pid {
        Some(pid) => Some(ProcSample::read(pid)?),
        None => None,
    };
    let t0 = Instant::now();
    let mut rss_samples = Vec::new();
    let every = plan.rss_every.max(Duration::from_millis(100));
    loop {
        if let Some(pid) = plan.aggregator_pid {
            let s = ProcSample::read(pid)?;
            rss_samples.push((
                t0.elapsed().as_secs_f64(),
                s.rss_bytes as f64 / (1u64 << 20) as f64,
            ));
        }
        let left = plan.duration.saturating_sub(t0.elapsed());
        if left.is_zero() {
            break;
        }
        tokio::time::sleep(left.min(every)).await;
    }
    let measured = t0.elapsed().as_secs_f64();
    let acked1 = counters.signals_acked.load(Ordering::Relaxed);
    let sent1 = counters.signals_sent.load(Ordering::Relaxed);
    let proc1 = match plan.aggregator_pid {
        Some(pid) => Some(ProcSample::read(pid)?),
        None => None,
    };
    window_stop.cancel();
    let observer::Observed {
        markers,
        queries,
        scrapes,
    } = observers.join().await?;
    stop.cancel();
    for a in agents {
        let _ = tokio::time::timeout(Duration::from_secs(5), a).await;
    }

    let aggregator = match (plan.aggregator_pid, &proc0, &proc1) {
        (Some(pid), Some(a), Some(b)) => Some(ProcessUsage::between(pid, a, b)),
        _ => None,
    };
    let pairs = fleet.agents as f64 * f64::from(fleet.probes);
    let rss_per_pair_bytes = match (&proc_before_load, &proc1) {
        (Some(a), Some(b)) if pairs > 0.0 => {
            Some(b.rss_bytes.saturating_sub(a.rss_bytes) as f64 / pairs)
        }
        _ => None,
    };
    let markers = markers.unwrap_or_default();
    let queries = queries.unwrap_or_default();
    let scrapes = scrapes.unwrap_or_default();
    Ok(LoadReport {
        agents: fleet.agents,
        probes: fleet.probes,
        signals_per_batch: fleet.signals_per_batch,
        connections,
        streams_welcomed: counters.streams_welcomed.load(Ordering::Relaxed),
        connect_seconds,
        measured_seconds: measured,
        applied_per_sec: (acked1 - acked0) as f64 / measured,
        offered_per_sec: (sent1 - sent0) as f64 / measured,
        signals_acked_total: acked1,
        batches_deferred: counters.batches_deferred.load(Ordering::Relaxed),
        rejected_streams: counters.rejected.load(Ordering::Relaxed),
        failed_streams: counters.stream_errors.load(Ordering::Relaxed),
        aggregator,
        rss_per_pair_bytes,
        evidence_latency: Percentiles::of(&markers.evidence),
        state_latency: Percentiles::of(&markers.state),
        markers_lost: markers.lost,
        rss_samples,
        get_tree: Percentiles::of(&queries.get_tree),
        get_tree_decode: Percentiles::of(&queries.get_tree_decode),
        get_node: Percentiles::of(&queries.get_node),
        tree_nodes: queries.tree_nodes,
        query_errors: queries.errors,
        scrape: Percentiles::of(&scrapes.took),
        scrape_page_bytes: scrapes.page_bytes,
        scrape_errors: scrapes.errors,
    })
}

impl LoadReport {
    /// A few lines for people; `serde_json` gives the same for scripts.
    pub fn render(&self) -> String {
        let pct = |p: &Option<Percentiles>| {
            p.map_or("n/a".to_string(), |p| {
                format!(
                    "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
                    p.p50_ms, p.p99_ms, p.max_ms, p.samples
                )
            })
        };
        let mut out = format!(
            "agents {} x probes {} ({} signals/batch) over {} connections; {} welcomed in {:.1}s\n\
             applied   {:>12.0} signals/s (offered {:.0}/s) over {:.1}s\n\
             rejected  {} streams, failed {} streams, deferred {} batches\n",
            self.agents,
            self.probes,
            self.signals_per_batch,
            self.connections,
            self.streams_welcomed,
            self.connect_seconds,
            self.applied_per_sec,
            self.offered_per_sec,
            self.measured_seconds,
            self.rejected_streams,
            self.failed_streams,
            self.batches_deferred,
        );
        if let Some(a) = &self.aggregator {
            out.push_str(&format!(
                "aggregator pid {}: cpu {:.2} cores, rss {:.1} -> {:.1} MiB (peak {:.1} MiB)\n",
                a.pid,
                a.cpu_cores,
                a.rss_start_bytes as f64 / 1048576.0,
                a.rss_end_bytes as f64 / 1048576.0,
                a.peak_rss_bytes as f64 / 1048576.0,
            ));
        }
        if let Some(b) = self.rss_per_pair_bytes {
            out.push_str(&format!("rss per (agent, probe) pair: {b:.0} bytes\n"));
        }
        if let (Some(first), Some(last)) = (self.rss_samples.first(), self.rss_samples.last()) {
            let max = self.rss_samples.iter().map(|s| s.1).fold(0.0, f64::max);
            out.push_str(&format!(
                "aggregator rss over the run: {:.1} MiB at start, {:.1} MiB at {:.0} s, peak {max:.1} MiB ({} samples)\n",
                first.1,
                last.1,
                last.0,
                self.rss_samples.len()
            ));
        }
        out.push_str(&format!(
            "observation -> evidence visible: {}\nobservation -> state visible:    {}\nmarkers lost: {}\n",
            pct(&self.evidence_latency),
            pct(&self.state_latency),
            self.markers_lost
        ));
        out.push_str(&format!(
            "GetTree ({} nodes): {}\n  client decode:    {}\nGetNode: {}\nquery errors: {}\n",
            self.tree_nodes,
            pct(&self.get_tree),
            pct(&self.get_tree_decode),
            pct(&self.get_node),
            self.query_errors
        ));
        if self.scrape.is_some() || self.scrape_errors > 0 {
            out.push_str(&format!(
                "/metrics scrape ({:.1} MB): {}, errors {}\n",
                self.scrape_page_bytes as f64 / 1e6,
                pct(&self.scrape),
                self.scrape_errors
            ));
        }
        out
    }
}
