//! Faults as the contract shows them: the answers of `vigil.v1.FaultService`
//! (ListFaults, GetFault, WhyNode) and fault change events, built from a
//! published snapshot's [`FaultBoard`].
//!
//! Pure: snapshot in, contract message out. It must not reach the tracker or
//! ingest, and it serves no protocol: `grpc` and `http` call it.

use std::collections::BTreeSet;

use vigil_proto::v1::{self, GetFaultResponse, ListFaultsResponse, WhyNodeResponse};

use super::view;
use vigil_health::attribution::{self as attr, FaultBoard, FaultEvent, FaultId};
use vigil_health::snapshot::Snapshot;
use vigil_model::NodeIx;

fn evidence(e: &attr::EvidenceItem) -> v1::FaultEvidence {
    v1::FaultEvidence {
        agent_id: e.agent.clone(),
        network: e.network.clone(),
        probe_id: e.probe_id.clone(),
        target: e.target.clone(),
        signals: e.total,
        failures: e.failures,
        error_class: e.class as i32,
        example: e.example.clone(),
    }
}

/// A fault in contract form.
pub fn fault(f: &attr::Fault) -> v1::Fault {
    v1::Fault {
        id: f.id.to_string(),
        side: f.side() as i32,
        suspect: f.suspect.path(),
        kind: v1::FaultKind::from(f.kind) as i32,
        certainty: v1::Certainty::from(f.certainty) as i32,
        confidence: f.confidence,
        summary: f.summary(),
        evidence: f.evidence.iter().map(evidence).collect(),
        counter_evidence: f.counter_evidence.iter().map(evidence).collect(),
        networks: f.networks.clone(),
        impact: f.impact.clone(),
        silent_agents: f.silent_agents.clone(),
        nodes: f.nodes(),
        suspect_nodes: f.suspect_nodes.clone(),
        impact_nodes: f.impact_nodes.clone(),
        opened_at_unix_ms: f.opened_at_ms,
        updated_at_unix_ms: f.updated_at_ms,
        closed_at_unix_ms: f.closed_at_ms.unwrap_or(0),
        reopened: f.reopened,
    }
}

pub fn fault_change(e: &FaultEvent) -> v1::FaultChange {
    v1::FaultChange {
        event: e.kind() as i32,
        fault: Some(fault(e.fault())),
    }
}

fn gaps(board: &FaultBoard) -> Vec<v1::ObservabilityGap> {
    board
        .gaps
        .iter()
        .map(|g| v1::ObservabilityGap {
            agent_id: g.agent.clone(),
            network: g.network.clone(),
        })
        .collect()
}

pub fn list(snap: &Snapshot, include_resolved: bool) -> ListFaultsResponse {
    let board = &snap.faults;
    let mut faults: Vec<v1::Fault> = board.open.iter().map(fault).collect();
    if include_resolved {
        faults.extend(board.resolved.iter().map(fault));
    }
    ListFaultsResponse {
        faults,
        gaps: gaps(board),
        evaluated_at_unix_ms: snap.evaluated_at_ms,
    }
}

/// Why a fault id was not answered.
#[derive(Debug)]
pub enum FaultLookup {
    BadId(String),
    NotFound(String),
}

pub fn get(snap: &Snapshot, id: &str) -> Result<GetFaultResponse, FaultLookup> {
    let parsed: FaultId = id.parse().map_err(FaultLookup::BadId)?;
    snap.faults
        .get(parsed)
        .map(|f| GetFaultResponse {
            fault: Some(fault(f)),
        })
        .ok_or_else(|| {
            FaultLookup::NotFound(format!(
                "no fault {parsed}; ListFaults lists the open and recent ones"
            ))
        })
}

/// The node, its path, and the open faults whose nodes are it or lie below it.
pub fn why(snap: &Snapshot, id: &str) -> Option<WhyNodeResponse> {
    let ix = snap.model.find(id)?;
    let mut below: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<NodeIx> = vec![ix];
    while let Some(n) = stack.pop() {
        let node = snap.model.node(n);
        below.insert(node.id.as_str());
        stack.extend(node.children.iter().copied());
    }
    let faults = snap
        .faults
        .open
        .iter()
        .filter(|f| f.nodes().iter().any(|n| below.contains(n.as_str())))
        .map(fault)
        .collect();
    // Silent agents that feed this node are blind spots worth naming here.
    let feeding: BTreeSet<String> = below
        .iter()
        .filter_map(|n| snap.find(n))
        .flat_map(|(_, h)| h.vantages.iter().map(|v| v.agent_id.to_string()))
        .collect();
    let gaps = gaps(&snap.faults)
        .into_iter()
        .filter(|g| feeding.contains(&g.agent_id))
        .collect();
    Some(WhyNodeResponse {
        node: Some(view::health_node(snap, ix)),
        path: snap.model.path(ix),
        faults,
        gaps,
    })
}
