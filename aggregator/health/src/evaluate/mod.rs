//! The evaluator: turns leaf readings into a published [`Snapshot`] on each
//! tick — leaf judgement per vantage and overall, staleness, hysteresis,
//! roll-up to parents, per-layer scores and the diff.
//!
//! Owns the evaluation state that must persist between ticks (hysteresis
//! streaks). It only reads the ingest store, never blocks it, and takes `now`
//! as an argument so tests drive it with an explicit clock.

mod config;
pub mod rollup;
pub mod score;

pub use config::EvaluationConfig;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_proto::Label;
use vigil_proto::v1::{HealthState, Side};

use crate::attribution::FaultBoard;
use crate::snapshot::{LayerHealth, NodeChange, NodeHealth, Snapshot, VantageHealth};
use crate::store::{AgentView, LeafReadings, VantageReading, WindowSummary, agent_of};
use rollup::{Child, badness, combine};
use score::judge;
use vigil_model::{Model, NodeIx, NodeRole};

/// Why an evaluation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// On the evaluation interval.
    Scheduled,
    /// Ahead of schedule, because a series turned. It may start a leaf's
    /// hysteresis streak but only scheduled evaluations extend one, so a
    /// streak still measures time however often series turn elsewhere.
    Early,
}

/// Debounce state of one leaf.
#[derive(Debug, Clone)]
struct Debounce {
    published: HealthState,
    since_ms: i64,
    candidate: HealthState,
    streak: u32,
}

/// Evaluates the model tick after tick.
#[derive(Debug)]
pub struct Evaluator {
    model: Arc<Model>,
    config: EvaluationConfig,
    debounce: Vec<Debounce>,
    previous: Arc<Snapshot>,
}

impl Evaluator {
    /// Starts from `initial` (usually [`Snapshot::initial`]).
    pub fn new(model: Arc<Model>, config: EvaluationConfig, initial: Arc<Snapshot>) -> Self {
        let debounce = initial
            .nodes
            .iter()
            .map(|n| Debounce {
                published: n.state,
                since_ms: n.state_since_ms,
                candidate: n.state,
                streak: 0,
            })
            .collect();
        Self {
            model,
            config,
            debounce,
            previous: initial,
        }
    }

    /// The last published snapshot.
    pub fn latest(&self) -> &Arc<Snapshot> {
        &self.previous
    }

    /// One evaluation at `now_ms` over `readings`, keeping the previous
    /// faults (for callers that do not attribute).
    pub fn evaluate(&mut self, now_ms: i64, readings: &LeafReadings) -> Arc<Snapshot> {
        let faults = Arc::clone(&self.previous.faults);
        self.evaluate_with(now_ms, readings, faults)
    }

    /// One evaluation at `now_ms` over `readings`, publishing `faults` with it.
    pub fn evaluate_with(
        &mut self,
        now_ms: i64,
        readings: &LeafReadings,
        faults: Arc<FaultBoard>,
    ) -> Arc<Snapshot> {
        let mut pass = self.pass(now_ms, Occasion::Scheduled);
        for ix in (0..readings.per_node.len()).map(NodeIx) {
            pass.leaf(ix, readings.leaf(ix), &readings.agents);
        }
        pass.finish(Arc::clone(&readings.agents), faults)
    }

    /// Starts an evaluation at `now_ms` fed leaf by leaf ([`Pass::leaf`],
    /// typically from [`crate::store::Store::read_with`]) and published by
    /// [`Pass::finish`].
    ///
    /// A scheduled pass judges every leaf: those it is not fed are judged
    /// with no readings. An early pass judges only the leaves it is fed and
    /// carries every other leaf over from the previous snapshot unchanged.
    pub fn pass(&mut self, now_ms: i64, occasion: Occasion) -> Pass<'_> {
        let n = self.model.nodes().len();
        let nodes = match occasion {
            Occasion::Scheduled => vec![NodeHealth::unknown("", now_ms); n],
            Occasion::Early => self.previous.nodes.clone(),
        };
        Pass {
            started: Instant::now(),
            occasion,
            nodes,
            judged: vec![false; n],
            now_ms,
            evaluator: self,
        }
    }

    fn leaf(
        &mut self,
        ix: NodeIx,
        now_ms: i64,
        occasion: Occasion,
        readings_here: &[VantageReading],
        agents: &[AgentView],
    ) -> NodeHealth {
        let node = self.model.node(ix);
        let t = &node.thresholds;
        let staleness = millis(self.config.staleness);
        let fresh = |w: &WindowSummary| {
            w.signals > 0 && w.last_signal_ms.is_some_and(|l| now_ms - l <= staleness)
        };
        let mut pooled = WindowSummary::default();
        let mut fresh_count = 0u32;
        let mut bad_count = 0usize;
        let mut vantages = Vec::with_capacity(readings_here.len());
        for r in readings_here {
            let agent = agent_of(agents, r);
            let [p50, p95] = r.window.latency.quantiles([0.5, 0.95]);
            let state = if fresh(&r.window) {
                pooled.merge(&r.window);
                fresh_count += 1;
                judge(&r.window, t).state
            } else {
                HealthState::Unknown
            };
            bad_count += usize::from(badness(state) >= 2);
            vantages.push(VantageHealth {
                agent_id: Arc::clone(&agent.id),
                vantage: Arc::clone(&agent.vantage),
                state,
                signals: r.window.signals,
                failures: r.window.failures,
                latency_p50_us: p50,
                latency_p95_us: p95,
                last_signal_ms: r.window.last_signal_ms,
                agent_connected: agent.connected,
            });
        }
        vantages.sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
        let total = vantages.len();
        let mut reason = String::with_capacity(64);
        let (raw_state, raw_score) = if fresh_count == 0 {
            if total == 0 {
                reason.push_str("no signals yet: no probe is bound to this leaf");
            } else {
                let _ = write!(
                    reason,
                    "no signal newer than {} from any of {total} vantage(s)",
                    vigil_model::duration::format(self.config.staleness)
                );
            }
            (HealthState::Unknown, 0)
        } else {
            let j = judge(&pooled, t);
            j.write_reason(&mut reason);
            let silent = total - fresh_count as usize;
            if silent > 0 {
                let _ = write!(reason, "; {silent} of {total} vantage(s) silent");
            }
            // Naming the bad vantages tells on-call where a problem is seen
            // from, when it is not seen from everywhere.
            if bad_count > 0 && bad_count < fresh_count as usize {
                reason.push_str("; bad from ");
                let bad = vantages.iter().filter(|v| badness(v.state) >= 2);
                for (i, v) in bad.enumerate() {
                    if i > 0 {
                        reason.push_str(", ");
                    }
                    if v.vantage.network.is_empty() {
                        reason.push_str(&v.agent_id);
                    } else {
                        let _ = write!(reason, "{} ({})", v.vantage.network, v.agent_id);
                    }
                }
            }
            (j.state, j.score)
        };

        let d = &mut self.debounce[ix.get()];
        if raw_state == d.published {
            d.streak = 0;
            d.candidate = raw_state;
        } else {
            if raw_state != d.candidate {
                d.candidate = raw_state;
                d.streak = 1;
            } else if occasion == Occasion::Scheduled {
                d.streak += 1;
            }
            if d.streak >= self.config.hysteresis {
                d.published = raw_state;
                d.since_ms = now_ms;
                d.streak = 0;
            } else {
                let _ = write!(
                    reason,
                    " (turning {} after {}/{} evaluations)",
                    raw_state.label(),
                    d.streak,
                    self.config.hysteresis
                );
            }
        }
        let published = d.published;
        NodeHealth {
            state: published,
            // Tied to the published state so a score never contradicts it
            // while hysteresis holds a change back.
            score: score::clamp_to_band(published, f64::from(raw_score)),
            reason,
            state_since_ms: d.since_ms,
            window_signals: pooled.signals,
            window_vantages: fresh_count,
            vantages: vantages.into(),
        }
    }
}

/// One evaluation in progress: leaves are judged as their readings arrive,
/// then [`Pass::finish`] rolls them up and publishes the snapshot.
#[derive(Debug)]
pub struct Pass<'e> {
    evaluator: &'e mut Evaluator,
    started: Instant,
    occasion: Occasion,
    now_ms: i64,
    nodes: Vec<NodeHealth>,
    /// Leaves already judged in this pass: each is judged once, so its
    /// hysteresis moves one step per evaluation.
    judged: Vec<bool>,
}

impl Pass<'_> {
    /// Judges leaf `ix` from its readings (one per agent, indexing
    /// `agents`). Readings for a group, for a node outside the model or for
    /// a leaf already judged in this pass are ignored.
    pub fn leaf(&mut self, ix: NodeIx, readings: &[VantageReading], agents: &[AgentView]) {
        if !self.evaluator.is_leaf(ix) || self.judged[ix.get()] {
            return;
        }
        self.nodes[ix.get()] =
            self.evaluator
                .leaf(ix, self.now_ms, self.occasion, readings, agents);
        self.judged[ix.get()] = true;
    }

    /// Publishes a snapshot in the middle of this pass, for news that
    /// should not wait for its end: the leaves `read` feeds are judged as an
    /// early evaluation would, every other node is as last published. A leaf
    /// this pass has already judged takes the fresher judgement, so the
    /// pass's own snapshot does not step back. `read` returns the agents its
    /// readings index, which the snapshot publishes.
    pub fn interject(
        &mut self,
        now_ms: i64,
        faults: Arc<FaultBoard>,
        read: impl FnOnce(
            &mut dyn FnMut(NodeIx, &[VantageReading], &[AgentView]),
        ) -> Arc<Vec<AgentView>>,
    ) -> Arc<Snapshot> {
        let started = Instant::now();
        let evaluator = &mut *self.evaluator;
        let mut nodes = evaluator.previous.nodes.clone();
        let (judged, own) = (&self.judged, &mut self.nodes);
        let agents = read(&mut |ix, readings, agents| {
            if !evaluator.is_leaf(ix) {
                return;
            }
            let health = evaluator.leaf(ix, now_ms, Occasion::Early, readings, agents);
            if judged[ix.get()] {
                own[ix.get()] = health.clone();
            }
            nodes[ix.get()] = health;
        });
        evaluator.publish(now_ms, started, nodes, agents, faults)
    }

    /// Judges the leaves nothing was read for (a scheduled pass), rolls
    /// every group up, and publishes the snapshot with the `agents` its
    /// readings index and `faults`.
    pub fn finish(self, agents: Arc<Vec<AgentView>>, faults: Arc<FaultBoard>) -> Arc<Snapshot> {
        let Pass {
            evaluator,
            started,
            occasion,
            now_ms,
            mut nodes,
            judged,
        } = self;
        if occasion == Occasion::Scheduled {
            for ix in (0..nodes.len()).map(NodeIx) {
                if !judged[ix.get()] && evaluator.is_leaf(ix) {
                    nodes[ix.get()] = evaluator.leaf(ix, now_ms, occasion, &[], &[]);
                }
            }
        }
        evaluator.publish(now_ms, started, nodes, agents, faults)
    }
}

impl Evaluator {
    /// Whether `ix` is judged from readings: a leaf or an unmodelled node.
    fn is_leaf(&self, ix: NodeIx) -> bool {
        self.model
            .nodes()
            .get(ix.get())
            .is_some_and(|n| !matches!(n.role, NodeRole::Group(_)))
    }

    /// Rolls every group of `nodes` up, diffs them against the previous
    /// snapshot and publishes the result.
    fn publish(
        &mut self,
        now_ms: i64,
        started: Instant,
        mut nodes: Vec<NodeHealth>,
        agents: Arc<Vec<AgentView>>,
        faults: Arc<FaultBoard>,
    ) -> Arc<Snapshot> {
        let model = Arc::clone(&self.model);
        // Reverse depth-first order visits children before their parents.
        for &ix in model.order().iter().rev() {
            let node = model.node(ix);
            let NodeRole::Group(rule) = &node.role else {
                continue;
            };
            let children: Vec<Child<'_>> = node
                .children
                .iter()
                .filter(|c| !matches!(model.node(**c).role, NodeRole::Unmodelled))
                .map(|&c| Child {
                    id: &model.node(c).id,
                    state: nodes[c.get()].state,
                    score: nodes[c.get()].score,
                    weight: model.node(c).weight,
                })
                .collect();
            let combined = combine(*rule, &children);
            let prev = self.previous.node(ix);
            nodes[ix.get()] = NodeHealth {
                state: combined.state,
                score: combined.score,
                reason: combined.reason,
                state_since_ms: if prev.state == combined.state {
                    prev.state_since_ms
                } else {
                    now_ms
                },
                window_signals: 0,
                window_vantages: 0,
                vantages: Arc::default(),
            };
        }
        let layers = vec![
            side_layer("platform", Side::Platform, &model, &nodes),
            side_layer("workload", Side::Workload, &model, &nodes),
            LayerHealth {
                name: "overall",
                state: nodes[model.root().get()].state,
                score: nodes[model.root().get()].score,
            },
        ];
        let previous = &self.previous;
        let changes = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let prev = &previous.nodes[i];
                (prev.state != n.state || prev.score != n.score).then(|| NodeChange {
                    node: NodeIx(i),
                    previous: prev.state,
                    state: n.state,
                    score: n.score,
                    reason: n.reason.clone(),
                })
            })
            .collect();
        let snapshot = Arc::new(Snapshot {
            generation: previous.generation + 1,
            evaluated_at_ms: now_ms,
            evaluation_took: started.elapsed(),
            model,
            nodes,
            layers,
            changes,
            faults,
            agents,
        });
        self.previous = Arc::clone(&snapshot);
        snapshot
    }
}

fn side_layer(name: &'static str, side: Side, model: &Model, nodes: &[NodeHealth]) -> LayerHealth {
    let leaves: Vec<&NodeHealth> = model
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.role, NodeRole::Leaf(_)) && n.owner == side)
        .map(|(i, _)| &nodes[i])
        .collect();
    let state = leaves
        .iter()
        .map(|n| n.state)
        .max_by_key(|s| badness(*s))
        .unwrap_or(HealthState::Unknown);
    let score = if state == HealthState::Unknown {
        0
    } else {
        leaves.iter().map(|n| n.score).min().unwrap_or(0)
    };
    LayerHealth { name, state, score }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
