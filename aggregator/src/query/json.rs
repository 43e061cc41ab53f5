//! JSON renderings of the query messages for the HTTP API, with short enum
//! names (`"state": "unhealthy"`, `"layer": "platform_hub"`).
//!
//! Owns the JSON shape only; content comes from `view`, so HTTP and gRPC
//! always agree.

use serde_json::{Value, json};
use vigil_proto::v1::{
    AgentRole, Certainty, ErrorClass, Fault, FaultChange, FaultEventKind, FaultEvidence, FaultKind,
    GetNodeResponse, GetTreeResponse, HealthNode, HealthState, Layer, LayerScore,
    ListFaultsResponse, ObservabilityGap, Outcome, ProbeKind, RollUp, Side, SignalDetail, Vantage,
    WatchChangesResponse, WhyNodeResponse, signal_detail,
};
use vigil_proto::{ShortName, error_class_name};

fn short<E: ShortName + Default>(value: i32, parse: impl Fn(i32) -> Option<E>) -> String {
    parse(value).unwrap_or_default().short_name()
}

fn state(v: i32) -> String {
    short(v, |v| HealthState::try_from(v).ok())
}

pub fn node(n: &HealthNode) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "layer": short(n.layer, |v| Layer::try_from(v).ok()),
        "owner": short(n.owner, |v| Side::try_from(v).ok()),
        "state": state(n.state),
        "score": n.score,
        "children": n.children,
        "depends_on": n.depends_on,
        "reason": n.reason,
        "state_since_unix_ms": n.state_since_unix_ms,
        "roll_up": short(n.roll_up, |v| RollUp::try_from(v).ok()),
        "window_signals": n.window_signals,
        "window_vantages": n.window_vantages,
        "parent": n.parent,
    })
}

fn layers(ls: &[LayerScore]) -> Value {
    ls.iter()
        .map(|l| json!({"name": l.name, "score": l.score, "state": state(l.state)}))
        .collect()
}

fn vantage(v: Option<&Vantage>) -> Value {
    let Some(v) = v else { return Value::Null };
    json!({
        "network": v.network,
        "role": short(v.role, |r| AgentRole::try_from(r).ok()),
        "cluster": v.cluster,
        "zone": v.zone,
        "region": v.region,
        "labels": v.labels,
    })
}

fn detail(d: Option<&SignalDetail>) -> Value {
    match d.and_then(|d| d.detail.as_ref()) {
        None => Value::Null,
        Some(signal_detail::Detail::Http(h)) => json!({"http": {"status": h.status}}),
        Some(signal_detail::Detail::Dns(d)) => json!({"dns": {
            "rcode": d.rcode, "addresses": d.addresses, "cname_chain": d.cname_chain, "resolver": d.resolver,
        }}),
        Some(signal_detail::Detail::Tls(t)) => json!({"tls": {
            "days_to_expiry": t.days_to_expiry, "subject": t.subject, "issuer": t.issuer,
        }}),
        Some(signal_detail::Detail::Reachability(r)) => json!({"reachability": {
            "sent": r.sent, "received": r.received, "rtt_p50_us": r.rtt_p50_us, "rtt_p99_us": r.rtt_p99_us,
        }}),
        Some(signal_detail::Detail::Egress(e)) => json!({"egress": {"observed_ip": e.observed_ip}}),
        Some(signal_detail::Detail::Grpc(g)) => {
            json!({"grpc": {"serving_status": g.serving_status}})
        }
    }
}

pub fn tree(t: &GetTreeResponse) -> Value {
    json!({
        "generation": t.generation,
        "evaluated_at_unix_ms": t.evaluated_at_unix_ms,
        "layers": layers(&t.layers),
        "nodes": t.nodes.iter().map(node).collect::<Vec<_>>(),
    })
}

pub fn node_detail(n: &GetNodeResponse) -> Value {
    json!({
        "node": n.node.as_ref().map(node),
        "path": n.path,
        "vantages": n.vantages.iter().map(|v| json!({
            "agent_id": v.agent_id,
            "vantage": vantage(v.vantage.as_ref()),
            "state": state(v.state),
            "signals": v.signals,
            "failures": v.failures,
            "latency_p50_us": v.latency_p50_us,
            "latency_p95_us": v.latency_p95_us,
            "last_seen_unix_ms": v.last_seen_unix_ms,
            "agent_connected": v.agent_connected,
        })).collect::<Vec<_>>(),
        "recent_signals": n.recent_signals.iter().map(|s| json!({
            "agent_id": s.agent_id,
            "network": s.network,
            "probe_id": s.probe_id,
            "kind": short(s.kind, |v| ProbeKind::try_from(v).ok()),
            "target": s.target,
            "outcome": short(s.outcome, |v| Outcome::try_from(v).ok()),
            "error_class": error_class_name(ErrorClass::try_from(s.error_class).unwrap_or_default()),
            "latency_us": s.latency_us,
            "observed_at_unix_ms": s.observed_at_unix_ms,
            "message": s.message,
            "detail": detail(s.detail.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

pub fn changes(c: &WatchChangesResponse) -> Value {
    json!({
        "generation": c.generation,
        "evaluated_at_unix_ms": c.evaluated_at_unix_ms,
        "snapshot": c.snapshot,
        "layers": layers(&c.layers),
        "changes": c.changes.iter().map(|n| json!({
            "id": n.id,
            "previous_state": state(n.previous_state),
            "state": state(n.state),
            "score": n.score,
            "reason": n.reason,
        })).collect::<Vec<_>>(),
        "faults": c.faults.iter().map(fault_change).collect::<Vec<_>>(),
    })
}

fn evidence(e: &FaultEvidence) -> Value {
    json!({
        "agent_id": e.agent_id,
        "network": e.network,
        "probe_id": e.probe_id,
        "target": e.target,
        "signals": e.signals,
        "failures": e.failures,
        "error_class": ErrorClass::try_from(e.error_class).map_or("unknown", error_class_name),
        "example": e.example,
    })
}

pub fn fault(f: &Fault) -> Value {
    json!({
        "id": f.id,
        "side": short(f.side, |v| Side::try_from(v).ok()),
        "suspect": f.suspect,
        "kind": short(f.kind, |v| FaultKind::try_from(v).ok()),
        "certainty": short(f.certainty, |v| Certainty::try_from(v).ok()),
        "confidence": f.confidence,
        "summary": f.summary,
        "evidence": f.evidence.iter().map(evidence).collect::<Vec<_>>(),
        "counter_evidence": f.counter_evidence.iter().map(evidence).collect::<Vec<_>>(),
        "networks": f.networks,
        "impact": f.impact,
        "silent_agents": f.silent_agents,
        "nodes": f.nodes,
        "opened_at_unix_ms": f.opened_at_unix_ms,
        "updated_at_unix_ms": f.updated_at_unix_ms,
        "closed_at_unix_ms": (f.closed_at_unix_ms != 0).then_some(f.closed_at_unix_ms),
        "status": if f.closed_at_unix_ms == 0 { "open" } else { "resolved" },
        "reopened": f.reopened,
    })
}

fn fault_change(c: &FaultChange) -> Value {
    json!({
        "event": short(c.event, |v| FaultEventKind::try_from(v).ok()),
        "fault": c.fault.as_ref().map_or(Value::Null, fault),
    })
}

fn gaps(g: &[ObservabilityGap]) -> Value {
    g.iter()
        .map(|g| json!({"agent_id": g.agent_id, "network": g.network}))
        .collect()
}

pub fn faults(l: &ListFaultsResponse) -> Value {
    json!({
        "evaluated_at_unix_ms": l.evaluated_at_unix_ms,
        "faults": l.faults.iter().map(fault).collect::<Vec<_>>(),
        "gaps": gaps(&l.gaps),
    })
}

pub fn why(w: &WhyNodeResponse) -> Value {
    json!({
        "node": w.node.as_ref().map_or(Value::Null, node),
        "path": w.path,
        "faults": w.faults.iter().map(fault).collect::<Vec<_>>(),
        "gaps": gaps(&w.gaps),
    })
}
