//! The series Vigil exports, and how one snapshot plus the live counters
//! become their samples.
//!
//! Owns the metric names, units and labels shared by every exporter, so the
//! Prometheus page and the OTLP stream always carry the same series. It must
//! not format or send anything: `prometheus` and `otlp` do that.

use std::sync::Arc;

use vigil_proto::ShortName;
use vigil_proto::v1::{HealthState, Side};

use crate::attribution::FaultKind;
use crate::ingest::IngestStats;
use crate::model::NodeRole;
use crate::snapshot::Snapshot;

/// Whether a series only goes up (a counter) or moves both ways (a gauge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Counter,
}

/// One exported metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Prometheus name, `vigil_` prefix, unit suffix and `_total` included.
    pub name: &'static str,
    /// OpenTelemetry instrument name (dotted, no `_total`).
    pub otel_name: &'static str,
    /// UCUM unit for OpenTelemetry.
    pub unit: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
}

macro_rules! families {
    ($($ix:ident = $name:literal, $otel:literal, $unit:literal, $kind:ident, $help:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        #[repr(usize)]
        enum Ix { $($ix,)* }
        /// Every family, in exposition order.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, otel_name: $otel, unit: $unit, kind: MetricKind::$kind, help: $help },)*
        ];
    };
}

families! {
    NODE_SCORE = "vigil_node_score", "vigil.node.score", "{score}", Gauge,
        "Health score of a node in the layered model, 0 (unhealthy or unknown) to 100.";
    NODE_STATE = "vigil_node_state", "vigil.node.state", "1", Gauge,
        "1 for the node's current state (unknown, healthy, degraded, unhealthy), 0 for the others.";
    LAYER_SCORE = "vigil_layer_score", "vigil.layer.score", "{score}", Gauge,
        "Health score of the platform or the workload layer, 0 to 100.";
    LAYER_STATE = "vigil_layer_state", "vigil.layer.state", "1", Gauge,
        "1 for the layer's current state, 0 for the others.";
    OVERALL_SCORE = "vigil_overall_score", "vigil.overall.score", "{score}", Gauge,
        "Health score of the whole system, 0 to 100.";
    OVERALL_STATE = "vigil_overall_state", "vigil.overall.state", "1", Gauge,
        "1 for the whole system's current state, 0 for the others.";
    VANTAGE_SUCCESS = "vigil_vantage_success_ratio", "vigil.vantage.success", "1", Gauge,
        "Share of a leaf's signals from one agent that succeeded in the evaluation window; absent without signals.";
    VANTAGE_SIGNALS = "vigil_vantage_window_signals", "vigil.vantage.window_signals", "{signal}", Gauge,
        "Signals from one agent counted for a leaf in the evaluation window.";
    FAULTS_OPEN = "vigil_faults_open", "vigil.faults.open", "{fault}", Gauge,
        "Open attributed faults by owning side and kind.";
    GAPS = "vigil_observability_gaps", "vigil.observability.gaps", "{agent}", Gauge,
        "Agents gone silent without evidence that their network is cut off (blamed on no side).";
    EVALUATIONS = "vigil_evaluations_total", "vigil.evaluations", "{evaluation}", Counter,
        "Evaluations of the health tree since the aggregator started.";
    EVALUATED_AT = "vigil_last_evaluation_timestamp_seconds", "vigil.last_evaluation.timestamp", "s", Gauge,
        "Unix time of the latest evaluation.";
    EVALUATION_SECONDS = "vigil_last_evaluation_duration_seconds", "vigil.last_evaluation.duration", "s", Gauge,
        "Wall time of the latest evaluation, the store's read included.";
    SIGNALS = "vigil_ingest_signals_total", "vigil.ingest.signals", "{signal}", Counter,
        "Signals applied from agent streams.";
    BATCHES = "vigil_ingest_batches_total", "vigil.ingest.batches", "{batch}", Counter,
        "Signal batches applied from agent streams.";
    REJECTED = "vigil_ingest_rejected_total", "vigil.ingest.rejected", "{stream}", Counter,
        "Ingest streams ended by the aggregator, by reason.";
    STREAMS = "vigil_ingest_streams_open", "vigil.ingest.streams_open", "{stream}", Gauge,
        "Agent streams connected now.";
    AGENT_DROPPED = "vigil_agent_dropped_signals_total", "vigil.agent.dropped_signals", "{signal}", Counter,
        "Signals an agent incarnation dropped because its buffer overflowed, as reported by the agent.";
    ALERT_SENT = "vigil_alert_notifications_total", "vigil.alert.notifications", "{notification}", Counter,
        "Alert notifications by receiver and result (sent, failed after retries, dropped on a full queue).";
    ALERT_QUEUE = "vigil_alert_queue_depth", "vigil.alert.queue_depth", "{notification}", Gauge,
        "Notifications waiting in a receiver's queue.";
}

/// Prometheus names of every exported family.
pub fn family_names() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|f| f.name)
}

/// One labelled value of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs; a label that does not apply is left out, never empty.
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// The samples of every family at one moment, indexed like [`FAMILIES`].
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub samples: Vec<Vec<Sample>>,
}

impl Frame {
    /// Families paired with their samples.
    pub fn families(&self) -> impl Iterator<Item = (&'static Family, &[Sample])> {
        FAMILIES.iter().zip(
            self.samples
                .iter()
                .map(Vec::as_slice)
                .chain(std::iter::repeat(&[][..])),
        )
    }

    /// The samples of the family with Prometheus name `name`.
    pub fn family(&self, name: &str) -> &[Sample] {
        self.families()
            .find(|(f, _)| f.name == name)
            .map_or(&[], |(_, s)| s)
    }

    fn push(&mut self, ix: Ix, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples[ix as usize].push(Sample { labels, value });
    }
}

/// One agent's self-reported drop counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDrops {
    pub agent: Arc<str>,
    pub network: String,
    pub dropped: u64,
}

/// One alert receiver's delivery counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverTotals {
    pub receiver: String,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: u64,
}

/// Everything a frame is built from, copied out of the live state.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub snapshot: Arc<Snapshot>,
    pub ingest: IngestStats,
    pub agents: Vec<AgentDrops>,
    pub receivers: Vec<ReceiverTotals>,
}

const STATES: [HealthState; 4] = [
    HealthState::Unknown,
    HealthState::Healthy,
    HealthState::Degraded,
    HealthState::Unhealthy,
];

const SIDES: [Side; 2] = [Side::Platform, Side::Workload];
const KINDS: [FaultKind; 3] = [
    FaultKind::Outage,
    FaultKind::Intermittent,
    FaultKind::SecurityDrift,
];

/// The state label value: `healthy`, `unknown`, … An unset state is Unknown.
pub fn state_name(state: HealthState) -> String {
    match state {
        HealthState::Unspecified => "unknown".to_string(),
        s => s.short_name(),
    }
}

/// Builds the samples of every family.
pub fn collect(inputs: &Inputs) -> Frame {
    let mut frame = Frame {
        samples: vec![Vec::new(); FAMILIES.len()],
    };
    let snap = &inputs.snapshot;
    let model = &snap.model;
    for ix in model.order() {
        let node = model.node(*ix);
        let health = snap.node(*ix);
        let mut labels = vec![("node", node.id.clone())];
        if let Some(layer) = node.layer {
            labels.push(("layer", layer.short_name()));
        }
        if node.owner != Side::Unspecified {
            labels.push(("side", node.owner.short_name()));
        }
        if let NodeRole::Leaf(selector) = &node.role
            && let Some(network) = &selector.network
        {
            labels.push(("network", network.clone()));
        }
        frame.push(Ix::NODE_SCORE, labels.clone(), f64::from(health.score));
        for state in STATES {
            let mut l = labels.clone();
            l.push(("state", state_name(state)));
            frame.push(Ix::NODE_STATE, l, one_if(state_of(health.state) == state));
        }
        for v in health.vantages.iter() {
            let mut l = vec![("node", node.id.clone()), ("agent", v.agent_id.to_string())];
            if !v.vantage.network.is_empty() {
                l.push(("network", v.vantage.network.clone()));
            }
            frame.push(Ix::VANTAGE_SIGNALS, l.clone(), f64::from(v.signals));
            if v.signals > 0 {
                let ok = v.signals.saturating_sub(v.failures);
                frame.push(Ix::VANTAGE_SUCCESS, l, f64::from(ok) / f64::from(v.signals));
            }
        }
    }
    for layer in &snap.layers {
        let (score_ix, state_ix, mut labels) = if layer.name == "overall" {
            (Ix::OVERALL_SCORE, Ix::OVERALL_STATE, Vec::new())
        } else {
            (
                Ix::LAYER_SCORE,
                Ix::LAYER_STATE,
                vec![("layer", layer.name.to_string())],
            )
        };
        frame.push(score_ix, labels.clone(), f64::from(layer.score));
        for state in STATES {
            labels.push(("state", state_name(state)));
            frame.push(
                state_ix,
                labels.clone(),
                one_if(state_of(layer.state) == state),
            );
            labels.pop();
        }
    }
    let board = &snap.faults;
    for side in SIDES {
        for kind in KINDS {
            let n = board
                .open
                .iter()
                .filter(|f| f.side() == side && f.kind == kind)
                .count();
            frame.push(
                Ix::FAULTS_OPEN,
                vec![
                    ("side", side.short_name()),
                    ("kind", kind.name().to_string()),
                ],
                n as f64,
            );
        }
    }
    frame.push(Ix::GAPS, Vec::new(), board.gaps.len() as f64);
    frame.push(Ix::EVALUATIONS, Vec::new(), snap.generation as f64);
    frame.push(
        Ix::EVALUATED_AT,
        Vec::new(),
        snap.evaluated_at_ms as f64 / 1000.0,
    );
    frame.push(
        Ix::EVALUATION_SECONDS,
        Vec::new(),
        snap.evaluation_took.as_secs_f64(),
    );
    let ingest = &inputs.ingest;
    frame.push(Ix::SIGNALS, Vec::new(), ingest.signals_applied as f64);
    frame.push(Ix::BATCHES, Vec::new(), ingest.batches_applied as f64);
    let r = &ingest.rejected;
    for (reason, n) in [
        ("malformed", r.malformed),
        ("unknown_probe", r.unknown_probe),
        ("too_large", r.too_large),
        ("bad_time", r.bad_time),
        ("not_identified", r.not_identified),
        ("duplicate_sequence", r.duplicate_sequence),
    ] {
        frame.push(Ix::REJECTED, vec![("reason", reason.to_string())], n as f64);
    }
    frame.push(Ix::STREAMS, Vec::new(), ingest.streams_open as f64);
    for a in &inputs.agents {
        let mut l = vec![("agent", a.agent.to_string())];
        if !a.network.is_empty() {
            l.push(("network", a.network.clone()));
        }
        frame.push(Ix::AGENT_DROPPED, l, a.dropped as f64);
    }
    for r in &inputs.receivers {
        for (result, n) in [
            ("sent", r.sent),
            ("failed", r.failed),
            ("dropped", r.dropped),
        ] {
            frame.push(
                Ix::ALERT_SENT,
                vec![
                    ("receiver", r.receiver.clone()),
                    ("result", result.to_string()),
                ],
                n as f64,
            );
        }
        frame.push(
            Ix::ALERT_QUEUE,
            vec![("receiver", r.receiver.clone())],
            r.queued as f64,
        );
    }
    frame
}

/// Missing data is Unknown, never Healthy.
fn state_of(state: HealthState) -> HealthState {
    if state == HealthState::Unspecified {
        HealthState::Unknown
    } else {
        state
    }
}

fn one_if(yes: bool) -> f64 {
    if yes { 1.0 } else { 0.0 }
}
