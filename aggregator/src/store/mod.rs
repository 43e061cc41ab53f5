//! Live ingest state: agents, and one series per (agent, probe) holding its
//! window and its recent signals.
//!
//! Owns concurrency for the hot path: sharded maps (dashmap) keyed by agent
//! and series, and a small mutex per series. There is no global lock, no
//! dashmap guard is held across an `.await` or while touching another key, and
//! recording a signal does not allocate. It must not score or judge health
//! (that is `evaluate`), nor validate wire input (that is `ingest`).

mod window;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use vigil_proto::v1::{ErrorClass, Layer, Outcome, ProbeKind, SignalDetail, Vantage};

use crate::model::{Model, NodeIx, ProbeFacts};

pub use window::{LATENCY_BOUNDS_US, LatencyHistogram, Window, WindowSummary};

/// One agent as the aggregator knows it, across its streams.
#[derive(Debug)]
pub struct AgentEntry {
    pub id: Arc<str>,
    vantage: ArcSwap<Vantage>,
    streams: AtomicU32,
    last_seen_ms: AtomicI64,
    dropped_signals_total: AtomicU64,
    ledger: Mutex<Ledger>,
}

/// Which batches of the current incarnation are applied.
#[derive(Debug, Default)]
struct Ledger {
    incarnation: u64,
    last_applied: u64,
}

impl AgentEntry {
    pub fn vantage(&self) -> Arc<Vantage> {
        self.vantage.load_full()
    }

    pub fn connected(&self) -> bool {
        self.streams.load(Ordering::Relaxed) > 0
    }

    pub fn last_seen_ms(&self) -> i64 {
        self.last_seen_ms.load(Ordering::Relaxed)
    }

    pub fn dropped_signals_total(&self) -> u64 {
        self.dropped_signals_total.load(Ordering::Relaxed)
    }

    pub(crate) fn touch(&self, now_ms: i64) {
        self.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub(crate) fn set_dropped(&self, total: u64) {
        self.dropped_signals_total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn stream_opened(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }

    /// Applies batch `sequence` of `incarnation` with `apply` unless it was
    /// already applied; returns the last applied sequence on refusal. The
    /// ledger lock makes check-and-apply atomic if the same agent has two
    /// streams (a reconnect racing the old one).
    pub(crate) fn apply_once(
        &self,
        incarnation: u64,
        sequence: u64,
        apply: impl FnOnce(),
    ) -> Result<(), u64> {
        let mut ledger = lock(&self.ledger);
        if ledger.incarnation != incarnation {
            // A newer stream switched incarnations; this one's numbering is void.
            return Err(ledger.last_applied);
        }
        if sequence <= ledger.last_applied {
            return Err(ledger.last_applied);
        }
        apply();
        ledger.last_applied = sequence;
        Ok(())
    }
}

/// A probe as declared by an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    pub probe_id: String,
    pub kind: ProbeKind,
    pub target: String,
    pub component: String,
    pub layer: Layer,
    pub labels: HashMap<String, String>,
    pub interval_ms: u32,
}

/// A probe and the leaves its signals feed, decided once per declaration.
#[derive(Debug)]
pub struct Binding {
    pub probe: ProbeInfo,
    pub leaves: Vec<NodeIx>,
}

/// One signal kept as evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSignal {
    pub outcome: Outcome,
    pub error_class: ErrorClass,
    pub latency_us: u32,
    pub observed_ms: i64,
    pub message: String,
    pub detail: Option<SignalDetail>,
}

#[derive(Debug)]
struct SeriesData {
    window: Window,
    recent: VecDeque<StoredSignal>,
    recent_cap: usize,
}

/// The signals of one probe from one agent.
#[derive(Debug)]
pub struct Series {
    pub agent: Arc<AgentEntry>,
    binding: ArcSwap<Binding>,
    data: Mutex<SeriesData>,
}

impl Series {
    pub fn binding(&self) -> Arc<Binding> {
        self.binding.load_full()
    }

    /// Locks the series for a batch; hold it only for synchronous work.
    pub(crate) fn writer(&self) -> SeriesWriter<'_> {
        SeriesWriter {
            data: lock(&self.data),
        }
    }
}

/// Exclusive access to one series while a batch is applied.
pub(crate) struct SeriesWriter<'a> {
    data: MutexGuard<'a, SeriesData>,
}

impl SeriesWriter<'_> {
    /// Records a signal; reuses the recent ring's slots, so the success path
    /// moves strings instead of allocating.
    pub(crate) fn record(&mut self, signal: StoredSignal) {
        let d = &mut *self.data;
        d.window.record(
            signal.observed_ms,
            signal.outcome == Outcome::Failure,
            signal.latency_us,
        );
        if d.recent.len() >= d.recent_cap {
            d.recent.pop_front();
        }
        d.recent.push_back(signal);
    }
}

/// What one agent contributes to one leaf at evaluation time.
#[derive(Debug, Clone)]
pub struct VantageReading {
    pub agent_id: Arc<str>,
    pub vantage: Arc<Vantage>,
    pub connected: bool,
    pub last_seen_ms: i64,
    pub window: WindowSummary,
}

/// Per-leaf readings, indexed by [`NodeIx::get`]; one entry per agent.
#[derive(Debug, Clone, Default)]
pub struct LeafReadings {
    pub per_node: Vec<Vec<VantageReading>>,
}

impl LeafReadings {
    pub fn for_model(model: &Model) -> Self {
        Self {
            per_node: vec![Vec::new(); model.nodes().len()],
        }
    }

    /// Adds an agent's window to a leaf, merging with that agent's other
    /// probes on the same leaf.
    pub fn add(&mut self, leaf: NodeIx, reading: VantageReading) {
        let Some(list) = self.per_node.get_mut(leaf.get()) else {
            return;
        };
        match list.iter_mut().find(|r| r.agent_id == reading.agent_id) {
            Some(r) => r.window.merge(&reading.window),
            None => list.push(reading),
        }
    }

    pub fn leaf(&self, leaf: NodeIx) -> &[VantageReading] {
        self.per_node.get(leaf.get()).map_or(&[], Vec::as_slice)
    }
}

/// A recent signal with the probe it came from, for evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub agent_id: Arc<str>,
    pub network: String,
    pub probe: ProbeInfo,
    pub signal: StoredSignal,
}

/// One (agent, probe) series at one instant.
#[derive(Debug, Clone)]
pub struct SeriesView {
    pub agent_id: Arc<str>,
    pub vantage: Arc<Vantage>,
    pub agent_connected: bool,
    /// The probe and the leaves it feeds.
    pub binding: Arc<Binding>,
    pub window: WindowSummary,
    /// Most frequent error class among the window's failures still in the
    /// evidence ring; `Unspecified` without failures.
    pub dominant_error_class: ErrorClass,
    pub example_failure: Option<String>,
    /// Outcome of the newest signal kept, so a vantage that has just started
    /// failing is not taken for a healthy one.
    pub last_outcome: Outcome,
    /// Consecutive non-failures at the newest end, so a vantage that has
    /// recovered is not taken for a failing one while its window drains.
    pub success_streak: u32,
}

/// All live ingest state.
#[derive(Debug)]
pub struct Store {
    model: Arc<Model>,
    window: Duration,
    recent_cap: usize,
    agents: DashMap<Arc<str>, Arc<AgentEntry>>,
    series: DashMap<(Arc<str>, String), Arc<Series>>,
}

impl Store {
    pub fn new(model: Arc<Model>, window: Duration, recent_signals: usize) -> Self {
        Self {
            model,
            window,
            recent_cap: recent_signals.max(1),
            agents: DashMap::new(),
            series: DashMap::new(),
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Registers an identified agent (new or returning) and returns it with
    /// the last sequence applied for this incarnation.
    pub fn identify(
        &self,
        agent_id: &str,
        incarnation: u64,
        vantage: Vantage,
    ) -> (Arc<AgentEntry>, u64) {
        let entry = match self.agents.get(agent_id) {
            Some(e) => Arc::clone(e.value()),
            None => {
                let id: Arc<str> = Arc::from(agent_id);
                let fresh = Arc::new(AgentEntry {
                    id: Arc::clone(&id),
                    vantage: ArcSwap::from_pointee(Vantage::default()),
                    streams: AtomicU32::new(0),
                    last_seen_ms: AtomicI64::new(0),
                    dropped_signals_total: AtomicU64::new(0),
                    ledger: Mutex::new(Ledger {
                        incarnation,
                        last_applied: 0,
                    }),
                });
                Arc::clone(self.agents.entry(id).or_insert(fresh).value())
            }
        };
        entry.vantage.store(Arc::new(vantage));
        let last = {
            let mut ledger = lock(&entry.ledger);
            if ledger.incarnation != incarnation {
                *ledger = Ledger {
                    incarnation,
                    last_applied: 0,
                };
            }
            ledger.last_applied
        };
        (entry, last)
    }

    /// Binds a declared probe to its leaves (once, here) and returns its
    /// series, kept across reconnects so replayed signals join the same
    /// window.
    pub fn declare(&self, agent: &Arc<AgentEntry>, probe: ProbeInfo) -> Arc<Series> {
        let vantage = agent.vantage();
        let leaves = self.model.bind(&ProbeFacts {
            probe_id: &probe.probe_id,
            kind: probe.kind,
            component: &probe.component,
            layer: probe.layer,
            network: &vantage.network,
            probe_labels: &probe.labels,
            vantage_labels: &vantage.labels,
        });
        let key = (Arc::clone(&agent.id), probe.probe_id.clone());
        let binding = Arc::new(Binding { probe, leaves });
        if let Some(existing) = self.series.get(&key) {
            let series = Arc::clone(existing.value());
            drop(existing);
            series.binding.store(binding);
            return series;
        }
        let fresh = Arc::new(Series {
            agent: Arc::clone(agent),
            binding: ArcSwap::new(binding),
            data: Mutex::new(SeriesData {
                window: Window::new(self.window),
                recent: VecDeque::with_capacity(self.recent_cap),
                recent_cap: self.recent_cap,
            }),
        });
        Arc::clone(self.series.entry(key).or_insert(fresh).value())
    }

    fn all_series(&self) -> Vec<Arc<Series>> {
        self.series.iter().map(|e| Arc::clone(e.value())).collect()
    }

    /// Every agent known since start.
    pub fn agents(&self) -> Vec<Arc<AgentEntry>> {
        self.agents.iter().map(|e| Arc::clone(e.value())).collect()
    }

    /// Reads every series' window at `now_ms`, grouped by leaf and agent.
    pub fn read(&self, now_ms: i64) -> LeafReadings {
        let mut out = LeafReadings::for_model(&self.model);
        for series in self.all_series() {
            let binding = series.binding();
            let window = lock(&series.data).window.summarize(now_ms);
            for &leaf in &binding.leaves {
                out.add(
                    leaf,
                    VantageReading {
                        agent_id: Arc::clone(&series.agent.id),
                        vantage: series.agent.vantage(),
                        connected: series.agent.connected(),
                        last_seen_ms: series.agent.last_seen_ms(),
                        window,
                    },
                );
            }
        }
        out
    }

    /// One view per (agent, probe) series at `now_ms`, for consumers that
    /// reason across vantages (attribution, exporters) rather than per leaf.
    pub fn series_views(&self, now_ms: i64, window: Duration) -> Vec<SeriesView> {
        let since = now_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        self.all_series()
            .into_iter()
            .map(|series| {
                let binding = series.binding();
                let data = lock(&series.data);
                let summary = data.window.summarize(now_ms);
                let last_outcome = data
                    .recent
                    .back()
                    .map_or(Outcome::Unspecified, |s| s.outcome);
                let success_streak = data
                    .recent
                    .iter()
                    .rev()
                    .take_while(|s| s.outcome != Outcome::Failure)
                    .count() as u32;
                // Failures in the window, by class, from the evidence ring.
                let mut classes: Vec<(ErrorClass, u32)> = Vec::new();
                let mut example = None;
                for s in data.recent.iter().rev() {
                    if s.observed_ms < since || s.outcome != Outcome::Failure {
                        continue;
                    }
                    match classes.iter_mut().find(|(c, _)| *c == s.error_class) {
                        Some((_, n)) => *n += 1,
                        None => classes.push((s.error_class, 1)),
                    }
                    if example.is_none() && !s.message.is_empty() {
                        example = Some(s.message.clone());
                    }
                }
                drop(data);
                let dominant_error_class = classes
                    .iter()
                    .max_by_key(|(_, n)| *n)
                    .map_or(ErrorClass::Unspecified, |(c, _)| *c);
                SeriesView {
                    agent_id: Arc::clone(&series.agent.id),
                    vantage: series.agent.vantage(),
                    agent_connected: series.agent.connected(),
                    binding,
                    window: summary,
                    dominant_error_class,
                    example_failure: example,
                    last_outcome,
                    success_streak,
                }
            })
            .collect()
    }

    /// The newest `limit` signals feeding `leaf`, newest first.
    pub fn recent(&self, leaf: NodeIx, limit: usize) -> Vec<Evidence> {
        let mut out: Vec<Evidence> = Vec::new();
        for series in self.all_series() {
            let binding = series.binding();
            if !binding.leaves.contains(&leaf) {
                continue;
            }
            let network = series.agent.vantage().network.clone();
            let data = lock(&series.data);
            for s in data.recent.iter().rev().take(limit) {
                out.push(Evidence {
                    agent_id: Arc::clone(&series.agent.id),
                    network: network.clone(),
                    probe: binding.probe.clone(),
                    signal: s.clone(),
                });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.signal.observed_ms));
        out.truncate(limit);
        out
    }
}

/// A poisoned series only means another thread panicked mid-record; its
/// counters are still usable, so keep serving rather than cascade.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_views_report_the_dominant_failure_class() {
        let model = Arc::new(
            Model::from_yaml(
                "nodes:\n  - id: r\n    children: [dns]\n  - id: dns\n    select: { kind: dns }\n",
                "t.yaml",
            )
            .unwrap(),
        );
        let store = Store::new(Arc::clone(&model), Duration::from_secs(60), 10);
        let vantage = Vantage {
            network: "spoke-a".into(),
            ..Default::default()
        };
        let (agent, last) = store.identify("a", 1, vantage);
        assert_eq!(last, 0);
        let probe = ProbeInfo {
            probe_id: "p".into(),
            kind: ProbeKind::Dns,
            target: "10.0.0.4".into(),
            component: "hub-dns".into(),
            layer: Layer::PlatformHub,
            labels: HashMap::new(),
            interval_ms: 1000,
        };
        let series = store.declare(&agent, probe);
        assert_eq!(series.binding().leaves, vec![model.find("dns").unwrap()]);
        let signal = |class, at| StoredSignal {
            outcome: Outcome::Failure,
            error_class: class,
            latency_us: 0,
            observed_ms: at,
            message: "boom".into(),
            detail: None,
        };
        agent
            .apply_once(1, 1, || {
                let mut w = series.writer();
                w.record(signal(ErrorClass::DnsTimeout, 1_000));
                w.record(signal(ErrorClass::DnsServfail, 2_000));
                w.record(signal(ErrorClass::DnsServfail, 3_000));
            })
            .unwrap();
        assert_eq!(
            agent.apply_once(1, 1, || {}),
            Err(1),
            "a sequence applies once"
        );
        let views = store.series_views(3_000, Duration::from_secs(60));
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].window.failures, 3);
        assert_eq!(views[0].dominant_error_class, ErrorClass::DnsServfail);
        assert_eq!(views[0].example_failure.as_deref(), Some("boom"));
        assert_eq!(store.recent(model.find("dns").unwrap(), 2).len(), 2);
    }
}
