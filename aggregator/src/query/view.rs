//! Builds the query contract's messages from a [`Snapshot`].
//!
//! Owns the snapshot → `vigil.v1` mapping shared by gRPC, HTTP/JSON and the
//! change stream, so every surface says the same thing. It reads snapshots
//! and the recent-signal rings only; it must not mutate anything.

use std::sync::{Arc, Mutex, PoisonError};

use vigil_proto::v1::{
    self, GetNodeResponse, GetTreeResponse, HealthState, LayerScore, SignalView,
    WatchChangesResponse,
};

use vigil_health::attribution::FaultId;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::Store;
use vigil_model::{Model, NodeIx, NodeRole, RollUp};

/// Default and maximum recent signals returned for one node.
pub const DEFAULT_RECENT: usize = 20;
pub const MAX_RECENT: usize = 500;

pub fn health_node(snap: &Snapshot, ix: NodeIx) -> v1::HealthNode {
    let health = snap.node(ix);
    v1::HealthNode {
        state: health.state as i32,
        score: u32::from(health.score),
        reason: health.reason.clone(),
        state_since_unix_ms: health.state_since_ms,
        window_signals: health.window_signals,
        window_vantages: health.window_vantages,
        ..model_node(&snap.model, ix)
    }
}

/// The fields of a node that come from the model alone and never change
/// between evaluations; [`health_node`] adds the evaluated ones.
pub fn model_node(model: &Model, ix: NodeIx) -> v1::HealthNode {
    let node = model.node(ix);
    let roll_up = match node.role {
        NodeRole::Group(RollUp::WorstOf) => v1::RollUp::WorstOf,
        NodeRole::Group(RollUp::Weighted) => v1::RollUp::Weighted,
        NodeRole::Group(RollUp::Quorum(_)) => v1::RollUp::Quorum,
        NodeRole::Leaf(_) | NodeRole::Unmodelled => v1::RollUp::Unspecified,
    };
    v1::HealthNode {
        id: node.id.clone(),
        name: node.name.clone(),
        layer: node.layer.unwrap_or(v1::Layer::Unspecified) as i32,
        owner: node.owner as i32,
        children: node
            .children
            .iter()
            .map(|c| model.node(*c).id.clone())
            .collect(),
        depends_on: node
            .depends_on
            .iter()
            .map(|d| model.node(*d).id.clone())
            .collect(),
        roll_up: roll_up as i32,
        parent: node
            .parent
            .map(|p| model.node(p).id.clone())
            .unwrap_or_default(),
        ..v1::HealthNode::default()
    }
}

pub fn layers(snap: &Snapshot) -> Vec<LayerScore> {
    snap.layers
        .iter()
        .map(|l| LayerScore {
            name: l.name.to_string(),
            score: u32::from(l.score),
            state: l.state as i32,
        })
        .collect()
}

pub fn tree(snap: &Snapshot) -> GetTreeResponse {
    GetTreeResponse {
        nodes: snap
            .model
            .order()
            .iter()
            .map(|&ix| health_node(snap, ix))
            .collect(),
        layers: layers(snap),
        evaluated_at_unix_ms: snap.evaluated_at_ms,
        generation: snap.generation,
    }
}

/// The `GetTree` answer built once per snapshot generation and shared by
/// every caller until the next one, so a busy dashboard does not rebuild
/// every node on each request.
#[derive(Debug, Default)]
pub struct TreeCache {
    latest: Mutex<Option<Arc<GetTreeResponse>>>,
}

impl TreeCache {
    /// The tree of `snap`, built on the first call for its generation.
    pub fn tree(&self, snap: &Snapshot) -> Arc<GetTreeResponse> {
        if let Some(hit) = self
            .lock()
            .as_ref()
            .filter(|t| t.generation == snap.generation)
        {
            return Arc::clone(hit);
        }
        // Built outside the lock: a reader of the cached generation never
        // waits for a build of the next one.
        let built = Arc::new(tree(snap));
        let mut latest = self.lock();
        if latest
            .as_ref()
            .is_none_or(|t| t.generation < built.generation)
        {
            *latest = Some(Arc::clone(&built));
        }
        built
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<GetTreeResponse>>> {
        // The guarded value is only ever replaced whole, so a panic elsewhere
        // cannot leave it half-written.
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One node with its vantages, recent signals and path; `None` for an
/// unknown id.
pub fn node(snap: &Snapshot, store: &Store, id: &str, recent: usize) -> Option<GetNodeResponse> {
    let (ix, health) = snap.find(id)?;
    let limit = if recent == 0 {
        DEFAULT_RECENT
    } else {
        recent.min(MAX_RECENT)
    };
    let vantages = health
        .vantages
        .iter()
        .map(|v| v1::VantageHealth {
            agent_id: v.agent_id.to_string(),
            vantage: Some((*v.vantage).clone()),
            state: v.state as i32,
            signals: v.signals,
            failures: v.failures,
            latency_p50_us: v.latency_p50_us.unwrap_or(0),
            latency_p95_us: v.latency_p95_us.unwrap_or(0),
            last_seen_unix_ms: v.last_signal_ms.unwrap_or(0),
            agent_connected: v.agent_connected,
        })
        .collect();
    let recent_signals = if snap.model.node(ix).is_leaf() {
        store
            .recent(ix, limit)
            .into_iter()
            .map(|e| SignalView {
                agent_id: e.agent_id.to_string(),
                network: e.vantage.network.clone(),
                probe_id: e.binding.probe.probe_id.clone(),
                kind: e.binding.probe.kind as i32,
                target: e.binding.probe.target.clone(),
                outcome: e.signal.outcome() as i32,
                error_class: e.signal.error_class() as i32,
                latency_us: e.signal.latency_us(),
                observed_at_unix_ms: e.signal.observed_ms(),
                message: e.signal.message().to_string(),
                detail: e.signal.detail().cloned(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(GetNodeResponse {
        node: Some(health_node(snap, ix)),
        vantages,
        recent_signals,
        path: snap.model.path(ix),
    })
}

/// What one watcher has been told, so it gets correct diffs even when it
/// skipped generations (the watch channel keeps only the newest snapshot).
#[derive(Debug, Default)]
pub struct WatcherView {
    told: Vec<(HealthState, u32)>,
    /// Fault id → (updated at, open) as this watcher was last told.
    told_faults: std::collections::HashMap<FaultId, i64>,
}

impl WatcherView {
    /// The first message: every node, `snapshot = true`.
    pub fn first(&mut self, snap: &Snapshot) -> WatchChangesResponse {
        self.told = vec![(HealthState::Unspecified, u32::MAX); snap.nodes.len()];
        let mut resp = self.diff(snap);
        resp.snapshot = true;
        resp
    }

    /// Nodes that differ from what this watcher was last told, or `None`.
    pub fn next(&mut self, snap: &Snapshot) -> Option<WatchChangesResponse> {
        let resp = self.diff(snap);
        (!resp.changes.is_empty() || !resp.faults.is_empty()).then_some(resp)
    }

    fn diff(&mut self, snap: &Snapshot) -> WatchChangesResponse {
        if self.told.len() != snap.nodes.len() {
            self.told = vec![(HealthState::Unspecified, u32::MAX); snap.nodes.len()];
        }
        let mut changes = Vec::new();
        for &ix in snap.model.order() {
            let h = snap.node(ix);
            let now = (h.state, u32::from(h.score));
            let before = self.told[ix.get()];
            if before != now {
                changes.push(v1::NodeChange {
                    id: snap.model.node(ix).id.clone(),
                    previous_state: before.0 as i32,
                    state: h.state as i32,
                    score: now.1,
                    reason: h.reason.clone(),
                });
                self.told[ix.get()] = now;
            }
        }
        WatchChangesResponse {
            generation: snap.generation,
            evaluated_at_unix_ms: snap.evaluated_at_ms,
            changes,
            layers: layers(snap),
            snapshot: false,
            faults: self.fault_diff(snap),
        }
    }

    /// Faults opened, updated or resolved since this watcher was last told.
    fn fault_diff(&mut self, snap: &Snapshot) -> Vec<v1::FaultChange> {
        use vigil_health::attribution::FaultEvent;
        let board = &snap.faults;
        let mut out = Vec::new();
        for f in &board.open {
            match self.told_faults.insert(f.id, f.updated_at_ms) {
                None => out.push(super::fault_view::fault_change(&FaultEvent::Opened(
                    f.clone(),
                ))),
                Some(t) if t != f.updated_at_ms => {
                    out.push(super::fault_view::fault_change(&FaultEvent::Updated(
                        f.clone(),
                    )));
                }
                Some(_) => {}
            }
        }
        let open: std::collections::HashSet<FaultId> = board.open.iter().map(|f| f.id).collect();
        let gone: Vec<FaultId> = self
            .told_faults
            .keys()
            .filter(|id| !open.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.told_faults.remove(&id);
            if let Some(f) = board.resolved.iter().find(|f| f.id == id) {
                out.push(super::fault_view::fault_change(&FaultEvent::Resolved(
                    f.clone(),
                )));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{TreeCache, tree};
    use vigil_health::snapshot::Snapshot;
    use vigil_model::Model;

    fn snapshot(generation: u64) -> Snapshot {
        let model = Model::from_yaml(
            "nodes:\n  - id: root\n    children: [web]\n  - id: web\n    select: { component: web }\n",
            "test model",
        )
        .expect("valid model");
        let mut snap = Snapshot::initial(Arc::new(model), 1_000);
        snap.generation = generation;
        snap.evaluated_at_ms = 1_000 + generation as i64;
        snap
    }

    #[test]
    fn tree_is_built_once_per_generation() {
        let cache = TreeCache::default();
        let first = snapshot(1);
        let a = cache.tree(&first);
        assert_eq!(*a, tree(&first));
        assert!(
            Arc::ptr_eq(&a, &cache.tree(&first)),
            "same generation rebuilt"
        );

        let second = snapshot(2);
        let b = cache.tree(&second);
        assert_eq!(b.generation, 2);
        assert_eq!(*b, tree(&second));

        // A reader still holding the older snapshot gets its own tree, and
        // the newer one stays cached.
        assert_eq!(cache.tree(&first).generation, 1);
        assert!(Arc::ptr_eq(&b, &cache.tree(&second)), "newer tree evicted");
    }
}
