//! What the evaluation tick reads out of the store: per-leaf readings for
//! the evaluator and per-series views for attribution, both taken in one
//! pass so each series is locked and summarized once per tick.
//!
//! Owns the shapes of those readings; must not judge health or attribute.

use std::sync::Arc;

use vigil_proto::v1::{ErrorClass, Outcome, Vantage};

use super::series::Binding;
use super::signal::StoredSignal;
use super::window::WindowSummary;
use vigil_model::{Model, NodeIx};

/// One agent as a tick saw it. Readings refer to agents by their index in
/// [`LeafReadings::agents`], so a tick over 100,000 series copies no strings
/// and bumps no reference counts per series.
#[derive(Debug, Clone)]
pub struct AgentView {
    pub id: Arc<str>,
    pub vantage: Arc<Vantage>,
    pub connected: bool,
    pub last_seen_ms: i64,
    /// Signals the agent's incarnation reports having dropped on a full
    /// buffer, as of its latest applied batch.
    pub dropped_signals_total: u64,
}

impl Default for AgentView {
    fn default() -> Self {
        AgentView {
            id: Arc::from(""),
            vantage: Arc::new(Vantage::default()),
            connected: false,
            last_seen_ms: 0,
            dropped_signals_total: 0,
        }
    }
}

/// What one agent contributes to one leaf at evaluation time.
#[derive(Debug, Clone)]
pub struct VantageReading {
    /// Index into [`LeafReadings::agents`].
    pub agent: u32,
    pub window: WindowSummary,
}

/// Per-leaf readings, indexed by [`NodeIx::get`]; one entry per agent.
#[derive(Debug, Clone, Default)]
pub struct LeafReadings {
    /// Every agent known at the tick, by index.
    pub agents: Arc<Vec<AgentView>>,
    pub per_node: Vec<Vec<VantageReading>>,
}

impl LeafReadings {
    pub fn for_model(model: &Model) -> Self {
        Self {
            agents: Arc::new(Vec::new()),
            per_node: vec![Vec::new(); model.nodes().len()],
        }
    }

    /// Registers an agent for readings built by hand; returns its index.
    pub fn add_agent(&mut self, agent: AgentView) -> u32 {
        let agents = Arc::make_mut(&mut self.agents);
        agents.push(agent);
        u32::try_from(agents.len() - 1).unwrap_or(u32::MAX)
    }

    /// The agent a reading comes from.
    pub fn agent(&self, reading: &VantageReading) -> &AgentView {
        agent_of(&self.agents, reading)
    }

    /// Adds an agent's window to a leaf, merging with that agent's other
    /// probes on the same leaf.
    pub fn add(&mut self, leaf: NodeIx, agent: u32, window: &WindowSummary) {
        if let Some(list) = self.per_node.get_mut(leaf.get()) {
            merge_reading(list, agent, window);
        }
    }

    pub fn leaf(&self, leaf: NodeIx) -> &[VantageReading] {
        self.per_node.get(leaf.get()).map_or(&[], Vec::as_slice)
    }
}

/// The agent `reading` comes from among a tick's `agents`; a placeholder
/// for an index the tick does not know.
pub fn agent_of<'a>(agents: &'a [AgentView], reading: &VantageReading) -> &'a AgentView {
    static UNKNOWN: std::sync::OnceLock<AgentView> = std::sync::OnceLock::new();
    agents
        .get(reading.agent as usize)
        .unwrap_or_else(|| UNKNOWN.get_or_init(AgentView::default))
}

/// Adds `agent`'s window to one leaf's readings, merged with that agent's
/// other probes on the leaf: one reading per agent per leaf.
pub(super) fn merge_reading(list: &mut Vec<VantageReading>, agent: u32, window: &WindowSummary) {
    match list.iter_mut().find(|r| r.agent == agent) {
        Some(r) => r.window.merge(window),
        None => list.push(VantageReading {
            agent,
            window: *window,
        }),
    }
}

/// The counters of one series' window that attribution reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeriesCounts {
    pub signals: u32,
    pub failures: u32,
    /// Newest observation time seen, even outside the window.
    pub last_signal_ms: Option<i64>,
}

impl From<&WindowSummary> for SeriesCounts {
    fn from(w: &WindowSummary) -> Self {
        SeriesCounts {
            signals: w.signals,
            failures: w.failures,
            last_signal_ms: w.last_signal_ms,
        }
    }
}

/// One (agent, probe) series at one instant.
#[derive(Debug, Clone)]
pub struct SeriesView {
    /// Index into the tick's agents ([`LeafReadings::agents`]).
    pub agent: u32,
    /// Index into the tick's bindings ([`SeriesReading::bindings`]): the
    /// probe and the leaves it feeds.
    pub binding: u32,
    pub window: SeriesCounts,
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
    /// Consecutive failures at the newest end of the window (of the signals
    /// still in the evidence ring), so an outage is told from a gray failure
    /// by what is happening now, not by the window's average.
    pub failure_streak: u32,
    /// Observation time of the newest failure in the window, so failures
    /// delivered late (an agent replaying its buffer) are judged by when
    /// they happened.
    pub last_failure_ms: Option<i64>,
}

/// Every series of one tick, with the agents and bindings they refer to by
/// index: what attribution reads.
#[derive(Debug, Clone, Default)]
pub struct SeriesReading {
    pub agents: Arc<Vec<AgentView>>,
    pub bindings: Arc<Vec<Arc<Binding>>>,
    pub series: Vec<SeriesView>,
}

impl SeriesReading {
    pub fn agent(&self, view: &SeriesView) -> Option<&AgentView> {
        self.agents.get(view.agent as usize)
    }

    pub fn binding(&self, view: &SeriesView) -> Option<&Binding> {
        self.bindings.get(view.binding as usize).map(|b| &**b)
    }
}

/// The whole store read at one instant: every leaf's readings for the
/// evaluator and every series for attribution, what one evaluation needs.
#[derive(Debug, Clone, Default)]
pub struct StoreReading {
    pub leaves: LeafReadings,
    pub series: SeriesReading,
}

/// A recent signal with the probe it came from, for evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub agent_id: Arc<str>,
    pub vantage: Arc<Vantage>,
    pub binding: Arc<Binding>,
    pub signal: StoredSignal,
}
