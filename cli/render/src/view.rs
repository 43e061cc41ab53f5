//! The JSON shape of `--output json`: stable, documented field names and short
//! lower-case enum names (`platform_hub`, `unhealthy`, `dns_timeout`), so
//! scripts can rely on them with `jq`.
//!
//! Owns only the mapping from wire messages to these views. Field names here
//! are a public interface: add fields, never rename or remove them.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_proto::ShortName;
use vigil_proto::v1::{
    Fault, FaultEvidence, GetFaultResponse, GetNodeResponse, GetTreeResponse, HealthNode,
    LayerScore, ListFaultsResponse, NodeChange, ObservabilityGap, SignalDetail, SignalView,
    VantageHealth, WatchChangesResponse, signal_detail,
};

use super::state_name;

#[derive(Debug, Serialize)]
pub struct TreeJson {
    pub generation: u64,
    pub evaluated_at_unix_ms: i64,
    pub layers: Vec<LayerJson>,
    /// Depth-first, parents before children; the first node is the root.
    pub nodes: Vec<NodeJson>,
}

#[derive(Debug, Serialize)]
pub struct LayerJson {
    pub name: String,
    pub score: u32,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct NodeJson {
    pub id: String,
    pub name: String,
    pub layer: String,
    pub owner: String,
    pub state: String,
    pub score: u32,
    pub reason: String,
    /// `null` for the root.
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub depends_on: Vec<String>,
    pub roll_up: String,
    pub state_since_unix_ms: i64,
    pub window_signals: u32,
    pub window_vantages: u32,
}

#[derive(Debug, Serialize)]
pub struct NodeDetailJson {
    /// `null` if the aggregator answered without the node.
    pub node: Option<NodeJson>,
    /// Ids from the root down to this node.
    pub path: Vec<String>,
    pub vantages: Vec<VantageJson>,
    pub recent_signals: Vec<SignalJson>,
}

#[derive(Debug, Serialize)]
pub struct VantageJson {
    pub agent_id: String,
    pub network: String,
    pub role: String,
    pub cluster: String,
    pub zone: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub signals: u32,
    pub failures: u32,
    pub latency_p50_us: u32,
    pub latency_p95_us: u32,
    pub last_seen_unix_ms: i64,
    pub connected: bool,
}

#[derive(Debug, Serialize)]
pub struct SignalJson {
    pub observed_at_unix_ms: i64,
    pub agent_id: String,
    pub network: String,
    pub probe_id: String,
    pub kind: String,
    pub target: String,
    pub outcome: String,
    /// `none` on success.
    pub error_class: String,
    pub latency_us: u32,
    pub message: String,
    /// Kind-specific evidence, e.g. `{"http": {"status": 503}}`; `null` if absent.
    pub detail: Option<DetailJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailJson {
    Http {
        status: u32,
    },
    Dns {
        rcode: String,
        addresses: Vec<String>,
        cname_chain: Vec<String>,
        resolver: String,
    },
    Tls {
        days_to_expiry: i32,
        subject: String,
        issuer: String,
    },
    Reachability {
        sent: u32,
        received: u32,
        rtt_p50_us: u32,
        rtt_p99_us: u32,
    },
    Egress {
        observed_ip: String,
    },
    Grpc {
        serving_status: String,
    },
}

/// One message of the change stream, whole: the HTTP API's server-sent
/// `snapshot` and `changes` events carry it as their data.
#[derive(Debug, Serialize)]
pub struct ChangesJson {
    pub generation: u64,
    pub evaluated_at_unix_ms: i64,
    /// True for the first message of a stream, which lists every node.
    pub snapshot: bool,
    pub layers: Vec<LayerJson>,
    pub changes: Vec<NodeChangeJson>,
    pub faults: Vec<FaultChangeJson>,
}

/// One node whose state changed (or, in a snapshot message, every node).
#[derive(Debug, Serialize)]
pub struct NodeChangeJson {
    pub id: String,
    pub previous_state: String,
    pub state: String,
    pub score: u32,
    pub reason: String,
}

impl From<&NodeChange> for NodeChangeJson {
    fn from(c: &NodeChange) -> Self {
        Self {
            id: c.id.clone(),
            previous_state: state_name(c.previous_state()),
            state: state_name(c.state()),
            score: c.score,
            reason: c.reason.clone(),
        }
    }
}

/// A fault opened, updated or resolved.
#[derive(Debug, Serialize)]
pub struct FaultChangeJson {
    /// `opened`, `updated`, `resolved`.
    pub event: String,
    /// `null` if the aggregator sent the event without its fault.
    pub fault: Option<FaultJson>,
}

impl From<&WatchChangesResponse> for ChangesJson {
    fn from(m: &WatchChangesResponse) -> Self {
        Self {
            generation: m.generation,
            evaluated_at_unix_ms: m.evaluated_at_unix_ms,
            snapshot: m.snapshot,
            layers: m.layers.iter().map(LayerJson::from).collect(),
            changes: m.changes.iter().map(NodeChangeJson::from).collect(),
            faults: m
                .faults
                .iter()
                .map(|c| FaultChangeJson {
                    event: c.event().short_name(),
                    fault: c.fault.as_ref().map(FaultJson::from),
                })
                .collect(),
        }
    }
}

/// One line of `vigil watch --output json` (newline-delimited JSON).
#[derive(Debug, Serialize)]
pub struct ChangeJson {
    pub generation: u64,
    pub evaluated_at_unix_ms: i64,
    /// True for the lines of the first message, which lists every node.
    pub snapshot: bool,
    /// The change's own fields, inline: `id`, `previous_state`, `state`,
    /// `score`, `reason`.
    #[serde(flatten)]
    pub change: NodeChangeJson,
}

impl From<&HealthNode> for NodeJson {
    fn from(n: &HealthNode) -> Self {
        Self {
            id: n.id.clone(),
            name: n.name.clone(),
            layer: n.layer().short_name(),
            owner: n.owner().short_name(),
            state: state_name(n.state()),
            score: n.score,
            reason: n.reason.clone(),
            parent: (!n.parent.is_empty()).then(|| n.parent.clone()),
            children: n.children.clone(),
            depends_on: n.depends_on.clone(),
            roll_up: n.roll_up().short_name(),
            state_since_unix_ms: n.state_since_unix_ms,
            window_signals: n.window_signals,
            window_vantages: n.window_vantages,
        }
    }
}

impl From<&LayerScore> for LayerJson {
    fn from(l: &LayerScore) -> Self {
        Self {
            name: l.name.clone(),
            score: l.score,
            state: state_name(l.state()),
        }
    }
}

impl From<&GetTreeResponse> for TreeJson {
    fn from(t: &GetTreeResponse) -> Self {
        Self {
            generation: t.generation,
            evaluated_at_unix_ms: t.evaluated_at_unix_ms,
            layers: t.layers.iter().map(LayerJson::from).collect(),
            nodes: t.nodes.iter().map(NodeJson::from).collect(),
        }
    }
}

impl From<&VantageHealth> for VantageJson {
    fn from(v: &VantageHealth) -> Self {
        let vantage = v.vantage.clone().unwrap_or_default();
        Self {
            agent_id: v.agent_id.clone(),
            network: vantage.network.clone(),
            role: vantage.role().short_name(),
            cluster: vantage.cluster,
            zone: vantage.zone,
            region: vantage.region,
            labels: vantage.labels.into_iter().collect(),
            state: state_name(v.state()),
            signals: v.signals,
            failures: v.failures,
            latency_p50_us: v.latency_p50_us,
            latency_p95_us: v.latency_p95_us,
            last_seen_unix_ms: v.last_seen_unix_ms,
            connected: v.agent_connected,
        }
    }
}

impl From<&SignalView> for SignalJson {
    fn from(s: &SignalView) -> Self {
        Self {
            observed_at_unix_ms: s.observed_at_unix_ms,
            agent_id: s.agent_id.clone(),
            network: s.network.clone(),
            probe_id: s.probe_id.clone(),
            kind: s.kind().short_name(),
            target: s.target.clone(),
            outcome: s.outcome().short_name(),
            error_class: vigil_proto::error_class_name(s.error_class()).to_owned(),
            latency_us: s.latency_us,
            message: s.message.clone(),
            detail: s.detail.as_ref().and_then(DetailJson::from_wire),
        }
    }
}

impl DetailJson {
    fn from_wire(d: &SignalDetail) -> Option<Self> {
        use signal_detail::Detail;
        Some(match d.detail.as_ref()? {
            Detail::Http(h) => Self::Http { status: h.status },
            Detail::Dns(d) => Self::Dns {
                rcode: d.rcode.clone(),
                addresses: d.addresses.clone(),
                cname_chain: d.cname_chain.clone(),
                resolver: d.resolver.clone(),
            },
            Detail::Tls(t) => Self::Tls {
                days_to_expiry: t.days_to_expiry,
                subject: t.subject.clone(),
                issuer: t.issuer.clone(),
            },
            Detail::Reachability(r) => Self::Reachability {
                sent: r.sent,
                received: r.received,
                rtt_p50_us: r.rtt_p50_us,
                rtt_p99_us: r.rtt_p99_us,
            },
            Detail::Egress(e) => Self::Egress {
                observed_ip: e.observed_ip.clone(),
            },
            Detail::Grpc(g) => Self::Grpc {
                serving_status: g.serving_status.clone(),
            },
        })
    }
}

impl From<&GetNodeResponse> for NodeDetailJson {
    fn from(r: &GetNodeResponse) -> Self {
        Self {
            node: r.node.as_ref().map(NodeJson::from),
            path: r.path.clone(),
            vantages: r.vantages.iter().map(VantageJson::from).collect(),
            recent_signals: r.recent_signals.iter().map(SignalJson::from).collect(),
        }
    }
}

impl ChangeJson {
    /// One view per change in a watch message.
    pub fn from_message(m: &WatchChangesResponse) -> Vec<Self> {
        m.changes.iter().map(|c| Self::from_change(m, c)).collect()
    }

    fn from_change(m: &WatchChangesResponse, c: &NodeChange) -> Self {
        Self {
            generation: m.generation,
            evaluated_at_unix_ms: m.evaluated_at_unix_ms,
            snapshot: m.snapshot,
            change: NodeChangeJson::from(c),
        }
    }
}

/// `vigil faults --output json`.
#[derive(Debug, Serialize)]
pub struct FaultsJson {
    pub evaluated_at_unix_ms: i64,
    /// Open faults first, platform before workload, then by confidence.
    pub faults: Vec<FaultJson>,
    /// Silent agents with no evidence that their network is cut off.
    pub gaps: Vec<GapJson>,
}

/// `vigil fault ID --output json`.
#[derive(Debug, Serialize)]
pub struct FaultDetailJson {
    /// `null` if the aggregator answered without the fault.
    pub fault: Option<FaultJson>,
}

#[derive(Debug, Serialize)]
pub struct FaultJson {
    /// `F-000042`.
    pub id: String,
    /// `platform`, `workload`, or `unspecified` when no side is attributed.
    pub side: String,
    /// `platform/hub/hub-dns`, `platform/spoke-a/connectivity`, `workload/checkout-api`.
    pub suspect: String,
    /// `outage`, `intermittent`, `security_drift`.
    pub kind: String,
    /// `attributed`, `ambiguous`, `insufficient_data`.
    pub certainty: String,
    /// 0..1; `null` if the aggregator sent a value that is not a number.
    pub confidence: Option<f64>,
    /// `open` or `resolved`.
    pub status: String,
    pub summary: String,
    pub evidence: Vec<EvidenceJson>,
    pub counter_evidence: Vec<EvidenceJson>,
    pub networks: Vec<String>,
    pub impact: Vec<String>,
    pub silent_agents: Vec<String>,
    /// `suspect_nodes` and `impact_nodes` together.
    pub nodes: Vec<String>,
    /// Model nodes the suspect itself stands for.
    pub suspect_nodes: Vec<String>,
    /// Model nodes of the impact.
    pub impact_nodes: Vec<String>,
    pub opened_at_unix_ms: i64,
    pub updated_at_unix_ms: i64,
    /// `null` while the fault is open.
    pub closed_at_unix_ms: Option<i64>,
    pub reopened: u32,
}

#[derive(Debug, Serialize)]
pub struct EvidenceJson {
    pub agent_id: String,
    pub network: String,
    pub probe_id: String,
    pub target: String,
    pub signals: u32,
    pub failures: u32,
    /// `none` for healthy probes.
    pub error_class: String,
    pub example: String,
}

#[derive(Debug, Serialize)]
pub struct GapJson {
    pub agent_id: String,
    pub network: String,
}

/// `vigil why NODE --output json`.
#[derive(Debug, Serialize)]
pub struct WhyJson {
    /// `platform`, `workload`, `both_sides`, `undetermined`,
    /// `no_attributed_fault`, `no_recent_data`, `healthy`.
    pub verdict: String,
    /// The answer in one sentence, as the text output's first line.
    pub answer: String,
    /// `null` if the aggregator answered without the node.
    pub node: Option<NodeJson>,
    pub path: Vec<String>,
    /// Ordered like [`FaultsJson::faults`].
    pub faults: Vec<FaultJson>,
    pub gaps: Vec<GapJson>,
}

impl From<&Fault> for FaultJson {
    fn from(f: &Fault) -> Self {
        let open = f.closed_at_unix_ms <= 0;
        Self {
            id: f.id.clone(),
            side: f.side().short_name(),
            suspect: f.suspect.clone(),
            kind: f.kind().short_name(),
            certainty: f.certainty().short_name(),
            confidence: f.confidence.is_finite().then_some(f.confidence),
            status: if open { "open" } else { "resolved" }.to_owned(),
            summary: f.summary.clone(),
            evidence: f.evidence.iter().map(EvidenceJson::from).collect(),
            counter_evidence: f.counter_evidence.iter().map(EvidenceJson::from).collect(),
            networks: f.networks.clone(),
            impact: f.impact.clone(),
            silent_agents: f.silent_agents.clone(),
            nodes: f.nodes.clone(),
            suspect_nodes: f.suspect_nodes.clone(),
            impact_nodes: f.impact_nodes.clone(),
            opened_at_unix_ms: f.opened_at_unix_ms,
            updated_at_unix_ms: f.updated_at_unix_ms,
            closed_at_unix_ms: (!open).then_some(f.closed_at_unix_ms),
            reopened: f.reopened,
        }
    }
}

impl From<&FaultEvidence> for EvidenceJson {
    fn from(e: &FaultEvidence) -> Self {
        Self {
            agent_id: e.agent_id.clone(),
            network: e.network.clone(),
            probe_id: e.probe_id.clone(),
            target: e.target.clone(),
            signals: e.signals,
            failures: e.failures,
            error_class: vigil_proto::error_class_name(e.error_class()).to_owned(),
            example: e.example.clone(),
        }
    }
}

impl From<&ObservabilityGap> for GapJson {
    fn from(g: &ObservabilityGap) -> Self {
        Self {
            agent_id: g.agent_id.clone(),
            network: g.network.clone(),
        }
    }
}

impl FaultsJson {
    /// The response's faults in display order ([`crate::faults::ordered`]).
    pub fn new(resp: &ListFaultsResponse) -> Self {
        Self {
            evaluated_at_unix_ms: resp.evaluated_at_unix_ms,
            faults: crate::faults::ordered(&resp.faults)
                .into_iter()
                .map(FaultJson::from)
                .collect(),
            gaps: resp.gaps.iter().map(GapJson::from).collect(),
        }
    }
}

impl From<&GetFaultResponse> for FaultDetailJson {
    fn from(resp: &GetFaultResponse) -> Self {
        Self {
            fault: resp.fault.as_ref().map(FaultJson::from),
        }
    }
}

/// Serialises a view. The views hold only strings, numbers and maps with string
/// keys, which cannot fail to serialise; the fallback keeps that a non-panic.
pub(crate) fn to_json<T: Serialize>(view: &T, pretty: bool) -> String {
    let result = if pretty {
        serde_json::to_string_pretty(view)
    } else {
        serde_json::to_string(view)
    };
    result.unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise output: {e}\"}}"))
}
