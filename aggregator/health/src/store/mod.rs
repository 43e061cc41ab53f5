//! Live ingest state: agents, and one series per (agent, probe) holding its
//! window and its recent signals.
//!
//! Owns concurrency for the hot path: sharded maps (dashmap) keyed by agent
//! and series, and a small mutex per series. There is no global lock, no
//! dashmap guard is held across an `.await` or while touching another key, and
//! recording a signal does not allocate. It must not score or judge health
//! (that is `evaluate`), nor validate wire input (that is `ingest`).
//!
//! Memory is per (agent, probe) pair across the whole fleet, so a series is
//! kept under a kilobyte: an inline window, a short ring of compact signals
//! and a binding shared by every agent that declares the same probe.

mod counters;
mod news;
mod reading;
mod series;
mod signal;
mod window;

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use vigil_proto::v1::Vantage;

use vigil_model::{Model, NodeIx, ProbeFacts};

pub use counters::{
    Api, ApiDenials, DENIAL_REASONS, IngestCounters, IngestStats, RejectReason, RejectedCounts,
};
pub use news::News;
pub use reading::{
    AgentView, Evidence, LeafReadings, SeriesCounts, SeriesReading, SeriesView, StoreReading,
    VantageReading, agent_of,
};
pub use series::{Binding, ProbeInfo, Series};
pub use signal::StoredSignal;
pub use window::{LATENCY_BOUNDS_US, LatencyHistogram, Window, WindowSummary};

/// One agent as the aggregator knows it, across its streams.
#[derive(Debug)]
pub struct AgentEntry {
    pub id: Arc<str>,
    /// Dense index, assigned once: ticks refer to agents by it.
    ix: u32,
    vantage: ArcSwap<Vantage>,
    streams: AtomicU32,
    /// Distinct probes declared over the agent's life (its series).
    probes: AtomicU32,
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

    pub fn touch(&self, now_ms: i64) {
        self.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub fn set_dropped(&self, total: u64) {
        self.dropped_signals_total.store(total, Ordering::Relaxed);
    }

    pub fn stream_opened(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_closed(&self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }

    /// Distinct probes this agent has declared (each is a series).
    pub fn probes(&self) -> usize {
        self.probes.load(Ordering::Relaxed) as usize
    }

    /// Applies batch `sequence` of `incarnation` with `apply` unless it was
    /// already applied; returns the last applied sequence on refusal. The
    /// ledger lock makes check-and-apply atomic if the same agent has two
    /// streams (a reconnect racing the old one).
    pub fn apply_once(
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

/// All live ingest state.
#[derive(Debug)]
pub struct Store {
    model: Arc<Model>,
    window: Duration,
    recent_cap: u16,
    agents: DashMap<Arc<str>, Arc<AgentEntry>>,
    next_agent_ix: AtomicU32,
    /// Keyed by (agent index, probe id).
    series: DashMap<(u32, Box<str>), Arc<Series>>,
    /// Every distinct binding with its index in `binding_table`, so
    /// identical declarations share one.
    bindings: DashMap<Arc<Binding>, u32>,
    /// Bindings by index, append-only; a tick copies it once instead of
    /// loading every series' binding.
    binding_table: RwLock<Vec<Arc<Binding>>>,
    /// The series feeding each leaf, indexed by [`NodeIx::get`], so a
    /// node's evidence is read from its own series only.
    by_leaf: Box<[Mutex<Vec<Arc<Series>>>]>,
    /// Held while a redeclared series moves between leaves.
    rebinding: Mutex<()>,
    /// Raised by ingest when a series turns, for an early evaluation.
    news: News,
}

impl Store {
    pub fn new(model: Arc<Model>, window: Duration, recent_signals: usize) -> Self {
        let model_nodes = model.nodes().len();
        let by_leaf = (0..model_nodes).map(|_| Mutex::new(Vec::new())).collect();
        Self {
            model,
            window,
            recent_cap: u16::try_from(recent_signals.max(1)).unwrap_or(u16::MAX),
            agents: DashMap::new(),
            next_agent_ix: AtomicU32::new(0),
            series: DashMap::new(),
            bindings: DashMap::new(),
            binding_table: RwLock::new(Vec::new()),
            by_leaf,
            rebinding: Mutex::new(()),
            news: News::new(model_nodes),
        }
    }

    /// Raised when a series turns (see [`News`]).
    pub fn news(&self) -> &News {
        &self.news
    }

    /// Tells the evaluation that `series` turned, and which leaves it feeds.
    pub fn turned(&self, series: &Series) {
        self.news.raise_for(&self.binding(series).leaves);
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
                    ix: self.next_agent_ix.fetch_add(1, Ordering::Relaxed),
                    vantage: ArcSwap::from_pointee(Vantage::default()),
                    streams: AtomicU32::new(0),
                    probes: AtomicU32::new(0),
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
        let key = (agent.ix, Box::from(probe.probe_id.as_str()));
        let (binding, binding_ix) = self.intern(Binding { probe, leaves });
        if let Some(existing) = self.series.get(&key) {
            let series = Arc::clone(existing.value());
            drop(existing);
            // Serialised, so two streams of one agent redeclaring at once
            // cannot leave the leaf index half-updated. Not under the series
            // lock: a tick holds a leaf's list while it locks that leaf's
            // series, so taking them the other way round could deadlock.
            {
                let _rebinding = lock(&self.rebinding);
                let old = self.binding(&series);
                series.binding_ix.store(binding_ix, Ordering::Relaxed);
                if old.leaves != binding.leaves {
                    for &leaf in &old.leaves {
                        if let Some(list) = self.by_leaf.get(leaf.get()) {
                            lock(list).retain(|s| !Arc::ptr_eq(s, &series));
                        }
                    }
                    self.index(&series, &binding.leaves);
                }
            }
            return series;
        }
        let fresh = Arc::new(Series::new(
            Arc::clone(agent),
            binding_ix,
            Window::new(self.window),
            self.recent_cap,
        ));
        let mut inserted = false;
        let series = Arc::clone(
            self.series
                .entry(key)
                .or_insert_with(|| {
                    inserted = true;
                    Arc::clone(&fresh)
                })
                .value(),
        );
        if inserted {
            agent.probes.fetch_add(1, Ordering::Relaxed);
            self.index(&series, &binding.leaves);
        }
        series
    }

    /// Whether `agent` has declared `probe_id` before.
    pub fn knows_probe(&self, agent: &AgentEntry, probe_id: &str) -> bool {
        self.series
            .contains_key(&(agent.ix, Box::<str>::from(probe_id)))
    }

    /// What `series` is bound to now.
    pub fn binding(&self, series: &Series) -> Arc<Binding> {
        let ix = series.binding_ix.load(Ordering::Relaxed) as usize;
        let table = self
            .binding_table
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Indices only ever come from this table, which only grows.
        Arc::clone(&table[ix])
    }

    fn intern(&self, binding: Binding) -> (Arc<Binding>, u32) {
        if let Some(shared) = self.bindings.get(&binding) {
            return (Arc::clone(shared.key()), *shared.value());
        }
        let fresh = Arc::new(binding);
        let entry = self.bindings.entry(Arc::clone(&fresh)).or_insert_with(|| {
            // Under the entry's shard lock: one index per distinct binding.
            let mut table = self
                .binding_table
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            table.push(fresh);
            u32::try_from(table.len() - 1).unwrap_or(u32::MAX)
        });
        (Arc::clone(entry.key()), *entry.value())
    }

    fn index(&self, series: &Arc<Series>, leaves: &[NodeIx]) {
        for &leaf in leaves {
            if let Some(list) = self.by_leaf.get(leaf.get()) {
                lock(list).push(Arc::clone(series));
            }
        }
    }

    /// How many (agent, probe) series are held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Reads every series once at `now_ms`: grouped by leaf and agent for
    /// the evaluator, and one view per series for attribution, whose failure
    /// classes look back `evidence_window`. Keeps every leaf's readings; the
    /// evaluation tick uses [`Store::read_with`], which does not.
    pub fn read(&self, now_ms: i64, evidence_window: Duration) -> StoreReading {
        let mut per_node = vec![Vec::new(); self.by_leaf.len()];
        let series = self.read_with(now_ms, evidence_window, |leaf, list, _| {
            per_node[leaf.get()] = list.to_vec();
        });
        StoreReading {
            leaves: LeafReadings {
                agents: Arc::clone(&series.agents),
                per_node,
            },
            series,
        }
    }

    /// Reads every series once at `now_ms`, handing each leaf's readings
    /// (one per agent, with the agents they index) to `each_leaf` as soon as
    /// they are merged, and returns one view per series for attribution.
    /// A leaf's readings are gone when `each_leaf` returns: judging them
    /// while they are in cache is what keeps a tick over 100,000 series
    /// short, and nothing the size of the fleet is allocated for them.
    pub fn read_with(
        &self,
        now_ms: i64,
        evidence_window: Duration,
        mut each_leaf: impl FnMut(NodeIx, &[VantageReading], &[AgentView]),
    ) -> SeriesReading {
        let mut pass = LeafPass::new(self, now_ms, evidence_window);
        let mut views = Vec::with_capacity(self.series.len());
        for leaf in (0..self.by_leaf.len()).map(NodeIx) {
            pass.leaf(leaf, Some(&mut views), &mut each_leaf);
        }
        SeriesReading {
            agents: pass.agents,
            bindings: pass.bindings,
            series: views,
        }
    }

    /// Like [`Store::read_with`], for `leaves` only and without views for
    /// attribution: what an early evaluation reads. Returns the agents the
    /// readings index.
    pub fn read_leaves(
        &self,
        now_ms: i64,
        leaves: &[NodeIx],
        mut each_leaf: impl FnMut(NodeIx, &[VantageReading], &[AgentView]),
    ) -> Arc<Vec<AgentView>> {
        let mut pass = LeafPass::new(self, now_ms, Duration::ZERO);
        for &leaf in leaves {
            pass.leaf(leaf, None, &mut each_leaf);
        }
        pass.agents
    }

    /// Every agent by index; an index lost to a registration race stays a
    /// placeholder no series refers to.
    fn agent_views(&self) -> Vec<AgentView> {
        let mut out =
            vec![AgentView::default(); self.next_agent_ix.load(Ordering::Relaxed) as usize];
        for entry in self.agents.iter() {
            let agent = entry.value();
            if let Some(slot) = out.get_mut(agent.ix as usize) {
                *slot = AgentView {
                    id: Arc::clone(&agent.id),
                    vantage: agent.vantage(),
                    connected: agent.connected(),
                    last_seen_ms: agent.last_seen_ms(),
                    dropped_signals_total: agent.dropped_signals_total(),
                };
            }
        }
        out
    }

    /// The newest `limit` signals feeding `leaf`, newest first.
    pub fn recent(&self, leaf: NodeIx, limit: usize) -> Vec<Evidence> {
        let feeding: Vec<Arc<Series>> = self
            .by_leaf
            .get(leaf.get())
            .map(|list| lock(list).clone())
            .unwrap_or_default();
        let mut out: Vec<Evidence> = Vec::new();
        for series in feeding {
            let binding = self.binding(&series);
            if !binding.leaves.contains(&leaf) {
                continue;
            }
            let vantage = series.agent.vantage();
            for signal in series.newest(limit) {
                out.push(Evidence {
                    agent_id: Arc::clone(&series.agent.id),
                    vantage: Arc::clone(&vantage),
                    binding: Arc::clone(&binding),
                    signal,
                });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.signal.observed_ms()));
        out.truncate(limit);
        out
    }
}

/// One read of the store, leaf by leaf: the agents and bindings as they
/// were when it began, and the scratch lists every leaf reuses.
struct LeafPass<'s> {
    store: &'s Store,
    now_ms: i64,
    /// Failure classes are read back to here.
    since_ms: i64,
    agents: Arc<Vec<AgentView>>,
    bindings: Arc<Vec<Arc<Binding>>>,
    list: Vec<VantageReading>,
    bound_ix: Vec<u32>,
}

impl<'s> LeafPass<'s> {
    fn new(store: &'s Store, now_ms: i64, evidence_window: Duration) -> Self {
        let window = i64::try_from(evidence_window.as_millis()).unwrap_or(i64::MAX);
        LeafPass {
            store,
            now_ms,
            since_ms: now_ms.saturating_sub(window),
            agents: Arc::new(store.agent_views()),
            bindings: Arc::new(
                store
                    .binding_table
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            list: Vec::new(),
            bound_ix: Vec::new(),
        }
    }

    /// Merges the readings of `leaf`, one per agent, hands them to
    /// `each_leaf`, and adds a view of each series first bound to the leaf
    /// to `views` when given.
    fn leaf(
        &mut self,
        leaf: NodeIx,
        mut views: Option<&mut Vec<SeriesView>>,
        each_leaf: &mut impl FnMut(NodeIx, &[VantageReading], &[AgentView]),
    ) {
        self.list.clear();
        let Some(feeding) = self.store.by_leaf.get(leaf.get()) else {
            return each_leaf(leaf, &self.list, &self.agents);
        };
        let feeding = lock(feeding);
        // Each series lives at its own place on the heap, so touching one
        // is a cache miss. Loading every binding index of the leaf first, in
        // a loop whose loads do not depend on each other, lets the CPU wait
        // for all of those misses at once instead of one after another
        // under the lock-and-summarize below.
        self.bound_ix.clear();
        self.bound_ix.extend(
            feeding
                .iter()
                .map(|series| series.binding_ix.load(Ordering::Relaxed)),
        );
        for (series, &binding) in feeding.iter().zip(&self.bound_ix) {
            let Some(bound) = self.bindings.get(binding as usize) else {
                continue;
            };
            let state = series.read(self.now_ms, self.since_ms);
            reading::merge_reading(&mut self.list, series.agent_ix, &state.window);
            // A series feeding several leaves is viewed once, at its first.
            if let Some(views) = views.as_deref_mut()
                && bound.leaves.first() == Some(&leaf)
            {
                views.push(SeriesView {
                    agent: series.agent_ix,
                    window: SeriesCounts::from(&state.window),
                    binding,
                    dominant_error_class: state.dominant_error_class,
                    example_failure: state.example_failure,
                    last_outcome: state.last_outcome,
                    success_streak: state.success_streak,
                    failure_streak: state.failure_streak,
                    last_failure_ms: state.last_failure_ms,
                });
            }
        }
        drop(feeding);
        each_leaf(leaf, &self.list, &self.agents);
    }
}

/// A poisoned series only means another thread panicked mid-record; its
/// counters are still usable, so keep serving rather than cascade.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vigil_proto::v1::{ErrorClass, Layer, Outcome, ProbeKind};

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
            labels: BTreeMap::new(),
            interval_ms: 1000,
        };
        let series = store.declare(&agent, probe);
        assert_eq!(
            store.binding(&series).leaves,
            vec![model.find("dns").unwrap()]
        );
        let signal =
            |class, at| StoredSignal::new(Outcome::Failure, class, 0, at, "boom".into(), None);
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
        agent.set_dropped(4);
        let reading = store.read(3_000, Duration::from_secs(60));
        assert_eq!(
            reading.series.agents[0].dropped_signals_total, 4,
            "the agent's reported drops travel with the tick's agents"
        );
        let views = reading.series.series;
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].window.failures, 3);
        assert_eq!(views[0].dominant_error_class, ErrorClass::DnsServfail);
        assert_eq!(views[0].example_failure.as_deref(), Some("boom"));
        assert_eq!(store.recent(model.find("dns").unwrap(), 2).len(), 2);
    }

    fn dns_probe(component: &str) -> ProbeInfo {
        ProbeInfo {
            probe_id: "p".into(),
            kind: ProbeKind::Dns,
            target: "10.0.0.4".into(),
            component: component.into(),
            layer: Layer::PlatformHub,
            labels: BTreeMap::new(),
            interval_ms: 1000,
        }
    }

    #[test]
    fn identical_declarations_share_one_binding_and_a_redeclared_probe_moves_leaves() {
        let model = Arc::new(
            Model::from_yaml(
                "nodes:\n  - id: r\n    children: [dns, fw]\n  - id: dns\n    select: { component: hub-dns }\n  - id: fw\n    select: { component: hub-fw }\n",
                "t.yaml",
            )
            .unwrap(),
        );
        let (dns, fw) = (model.find("dns").unwrap(), model.find("fw").unwrap());
        let store = Store::new(Arc::clone(&model), Duration::from_secs(60), 4);
        let (a, _) = store.identify("a", 1, Vantage::default());
        let (b, _) = store.identify("b", 1, Vantage::default());
        let sa = store.declare(&a, dns_probe("hub-dns"));
        let sb = store.declare(&b, dns_probe("hub-dns"));
        assert!(Arc::ptr_eq(&store.binding(&sa), &store.binding(&sb)));
        let ok = |at| {
            StoredSignal::new(
                Outcome::Success,
                ErrorClass::Unspecified,
                5,
                at,
                String::new(),
                None,
            )
        };
        for at in 1..=6 {
            sa.writer().record(ok(at));
        }
        assert_eq!(
            store.recent(dns, 10).len(),
            4,
            "the ring keeps its capacity"
        );
        assert_eq!(
            store.recent(dns, 10)[0].signal.observed_ms(),
            6,
            "newest first"
        );

        // Agent a now declares the same probe id against another component.
        let moved = store.declare(&a, dns_probe("hub-fw"));
        assert!(
            Arc::ptr_eq(&moved, &sa),
            "the series survives a redeclaration"
        );
        assert_eq!(store.recent(fw, 10).len(), 4);
        assert!(store.recent(dns, 10).is_empty(), "b has sent nothing");
        assert_eq!(store.series_count(), 2);
        let reading = store.read(6, Duration::from_secs(60));
        assert_eq!(reading.leaves.leaf(fw).len(), 1);
        assert_eq!(reading.leaves.leaf(dns).len(), 1);
        assert_eq!(reading.leaves.leaf(fw)[0].window.signals, 6);
        let view = reading
            .series
            .series
            .iter()
            .find(|v| &*reading.series.agent(v).unwrap().id == "a")
            .unwrap();
        assert_eq!(
            (view.success_streak, view.last_outcome),
            (6, Outcome::Success)
        );
    }
}
