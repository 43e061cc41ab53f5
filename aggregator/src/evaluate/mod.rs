//! The evaluator: turns leaf readings into a published [`Snapshot`] on each
//! tick — leaf judgement per vantage and overall, staleness, hysteresis,
//! roll-up to parents, per-layer scores and the diff.
//!
//! Owns the evaluation state that must persist between ticks (hysteresis
//! streaks). It only reads the ingest store, never blocks it, and takes `now`
//! as an argument so tests drive it with an explicit clock.

pub mod rollup;
pub mod score;

use std::sync::Arc;
use std::time::Duration;

use vigil_proto::v1::{HealthState, Side};

use crate::attribution::FaultBoard;
use crate::config::EvaluationConfig;
use crate::model::{Model, NodeIx, NodeRole};
use crate::snapshot::{LayerHealth, NodeChange, NodeHealth, Snapshot, VantageHealth};
use crate::store::{LeafReadings, WindowSummary};
use rollup::{Child, badness, combine};
use score::judge;

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
        let model = Arc::clone(&self.model);
        let mut nodes: Vec<NodeHealth> = vec![NodeHealth::unknown("", now_ms); model.nodes().len()];
        // Reverse depth-first order visits children before their parents.
        for &ix in model.order().iter().rev() {
            let node = model.node(ix);
            nodes[ix.get()] = match &node.role {
                NodeRole::Leaf(_) | NodeRole::Unmodelled => self.leaf(ix, now_ms, readings),
                NodeRole::Group(rule) => {
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
                    NodeHealth {
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
                        vantages: Vec::new(),
                    }
                }
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
        let changes = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let prev = &self.previous.nodes[i];
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
            generation: self.previous.generation + 1,
            evaluated_at_ms: now_ms,
            model,
            nodes,
            layers,
            changes,
            faults,
        });
        self.previous = Arc::clone(&snapshot);
        snapshot
    }

    fn leaf(&mut self, ix: NodeIx, now_ms: i64, readings: &LeafReadings) -> NodeHealth {
        let node = self.model.node(ix);
        let t = &node.thresholds;
        let staleness = millis(self.config.staleness);
        let fresh = |w: &WindowSummary| {
            w.signals > 0 && w.last_signal_ms.is_some_and(|l| now_ms - l <= staleness)
        };
        let mut pooled = WindowSummary::default();
        let mut fresh_count = 0u32;
        let mut vantages = Vec::new();
        for r in readings.leaf(ix) {
            let agent = readings.agent(r);
            let is_fresh = fresh(&r.window);
            let state = if is_fresh {
                pooled.merge(&r.window);
                fresh_count += 1;
                judge(&r.window, t).state
            } else {
                HealthState::Unknown
            };
            vantages.push(VantageHealth {
                agent_id: Arc::clone(&agent.id),
                vantage: Arc::clone(&agent.vantage),
                state,
                signals: r.window.signals,
                failures: r.window.failures,
                latency_p50_us: r.window.latency.quantile(0.5),
                latency_p95_us: r.window.latency.quantile(0.95),
                last_signal_ms: r.window.last_signal_ms,
                agent_connected: agent.connected,
            });
        }
        vantages.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        let total = vantages.len();
        let (raw_state, raw_score, mut reason) = if fresh_count == 0 {
            let why = if total == 0 {
                "no signals yet: no probe is bound to this leaf".to_string()
            } else {
                format!(
                    "no signal newer than {} from any of {total} vantage(s)",
                    crate::duration::format(self.config.staleness)
                )
            };
            (HealthState::Unknown, 0, why)
        } else {
            let j = judge(&pooled, t);
            let mut why = j.reason;
            let silent = total - fresh_count as usize;
            if silent > 0 {
                why.push_str(&format!("; {silent} of {total} vantage(s) silent"));
            }
            let failing: Vec<String> = vantages
                .iter()
                .filter(|v| badness(v.state) >= 2)
                .map(|v| {
                    if v.vantage.network.is_empty() {
                        v.agent_id.to_string()
                    } else {
                        format!("{} ({})", v.vantage.network, v.agent_id)
                    }
                })
                .collect();
            if !failing.is_empty() && failing.len() < fresh_count as usize {
                why.push_str(&format!("; bad from {}", failing.join(", ")));
            }
            (j.state, j.score, why)
        };

        let d = &mut self.debounce[ix.get()];
        if raw_state == d.published {
            d.streak = 0;
            d.candidate = raw_state;
        } else {
            if raw_state == d.candidate {
                d.streak += 1;
            } else {
                d.candidate = raw_state;
                d.streak = 1;
            }
            if d.streak >= self.config.hysteresis {
                d.published = raw_state;
                d.since_ms = now_ms;
                d.streak = 0;
            } else {
                reason.push_str(&format!(
                    " (turning {} after {}/{} evaluations)",
                    state_name(raw_state),
                    d.streak,
                    self.config.hysteresis
                ));
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
            vantages,
        }
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

fn state_name(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => "healthy",
        HealthState::Degraded => "degraded",
        HealthState::Unhealthy => "unhealthy",
        HealthState::Unknown | HealthState::Unspecified => "unknown",
    }
}
