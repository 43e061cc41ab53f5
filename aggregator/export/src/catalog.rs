//! The series Vigil exports, and how one snapshot plus the live counters
//! become their samples.
//!
//! Owns the metric names, units and labels shared by every exporter, so the
//! Prometheus page and the OTLP stream always carry the same series. It must
//! not format or send anything: `prometheus` and `otlp` do that.

use std::sync::Arc;

use vigil_proto::Label;
use vigil_proto::ShortName;
use vigil_proto::v1::{HealthState, Side};

use vigil_alert::ReceiverTotals;
use vigil_health::attribution::FaultKind;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::IngestStats;
use vigil_model::NodeRole;

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
        /// Every family's index, in exposition order.
        const ALL: &[Ix] = &[$(Ix::$ix,)*];
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
    DENIED = "vigil_api_denied_total", "vigil.api.denied", "{request}", Counter,
        "Query and admin requests refused for their credentials, by API (http, grpc) and reason (missing, malformed, unknown, invalid, scope).";
    STREAMS = "vigil_ingest_streams_open", "vigil.ingest.streams_open", "{stream}", Gauge,
        "Agent streams connected now.";
    THROTTLED = "vigil_ingest_throttled_batches_total", "vigil.ingest.throttled_batches", "{batch}", Counter,
        "Batches held back to pace an agent down to ingest.rate_limit.";
    THROTTLED_SECONDS = "vigil_ingest_throttled_seconds_total", "vigil.ingest.throttled", "s", Counter,
        "Time batches were held back by ingest.rate_limit.";
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

/// The most labels any sample carries (a node's state: node, layer, side,
/// network, state).
pub const MAX_LABELS: usize = 6;

/// The label pairs of one sample, borrowed from the snapshot they describe:
/// building one allocates nothing, which matters at 260,000 series a page.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pairs: [(&'static str, &'a str); MAX_LABELS],
    len: usize,
}

impl<'a> Labels<'a> {
    pub const fn none() -> Self {
        Self {
            pairs: [("", ""); MAX_LABELS],
            len: 0,
        }
    }

    /// The same labels and `key="value"`.
    ///
    /// # Panics
    /// With more than [`MAX_LABELS`] labels, a catalog bug.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: &'a str) -> Self {
        self.pairs[self.len] = (key, value);
        self.len += 1;
        self
    }

    pub fn pairs(&self) -> &[(&'static str, &'a str)] {
        &self.pairs[..self.len]
    }
}

/// Where the catalog's samples go: a Prometheus page written as they come,
/// or a [`Frame`] kept for OTLP.
pub trait SampleSink {
    /// Starts the next family; families come in [`FAMILIES`] order, each
    /// exactly once, even without samples.
    fn family(&mut self, family: &'static Family);
    /// One sample of the family started last.
    fn sample(&mut self, labels: &Labels<'_>, value: f64);
}

/// One labelled value of a family, owned.
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
}

impl SampleSink for Frame {
    fn family(&mut self, _: &'static Family) {
        self.samples.push(Vec::new());
    }

    fn sample(&mut self, labels: &Labels<'_>, value: f64) {
        let labels = labels
            .pairs()
            .iter()
            .map(|(k, v)| (*k, (*v).to_string()))
            .collect();
        if let Some(family) = self.samples.last_mut() {
            family.push(Sample { labels, value });
        }
    }
}

/// Everything a frame is built from, copied out of the live state.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub snapshot: Arc<Snapshot>,
    pub ingest: IngestStats,
    /// Query and admin requests refused: `(api, reason, count)`.
    pub denials: Vec<(&'static str, &'static str, u64)>,
    pub receivers: Vec<ReceiverTotals>,
    /// Whether the per-agent vantage families carry samples
    /// (`export.vantage_series`).
    pub vantage_series: bool,
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

/// Builds the samples of every family.
pub fn collect(inputs: &Inputs) -> Frame {
    let mut frame = Frame {
        samples: Vec::with_capacity(FAMILIES.len()),
    };
    visit(inputs, &mut frame);
    frame
}

/// Hands every family and its samples to `sink`, in exposition order.
pub fn visit(inputs: &Inputs, sink: &mut impl SampleSink) {
    for (family, ix) in FAMILIES.iter().zip(ALL) {
        sink.family(family);
        samples(*ix, inputs, sink);
    }
}

fn samples(ix: Ix, inputs: &Inputs, sink: &mut impl SampleSink) {
    let snap = &inputs.snapshot;
    match ix {
        Ix::NODE_SCORE | Ix::NODE_STATE => node_samples(ix, snap, sink),
        Ix::VANTAGE_SUCCESS | Ix::VANTAGE_SIGNALS => {
            if inputs.vantage_series {
                vantage_samples(ix, snap, sink);
            }
        }
        Ix::LAYER_SCORE | Ix::LAYER_STATE | Ix::OVERALL_SCORE | Ix::OVERALL_STATE => {
            layer_samples(ix, snap, sink);
        }
        Ix::FAULTS_OPEN => {
            for side in SIDES {
                let side_name = side.short_name();
                for kind in KINDS {
                    let n = snap
                        .faults
                        .open
                        .iter()
                        .filter(|f| f.side() == side && f.kind == kind)
                        .count();
                    let labels = Labels::none()
                        .with("side", &side_name)
                        .with("kind", kind.name());
                    sink.sample(&labels, n as f64);
                }
            }
        }
        Ix::GAPS => sink.sample(&Labels::none(), snap.faults.gaps.len() as f64),
        Ix::EVALUATIONS => sink.sample(&Labels::none(), snap.generation as f64),
        Ix::EVALUATED_AT => sink.sample(&Labels::none(), snap.evaluated_at_ms as f64 / 1000.0),
        Ix::EVALUATION_SECONDS => {
            sink.sample(&Labels::none(), snap.evaluation_took.as_secs_f64());
        }
        Ix::SIGNALS => sink.sample(&Labels::none(), inputs.ingest.signals_applied as f64),
        Ix::BATCHES => sink.sample(&Labels::none(), inputs.ingest.batches_applied as f64),
        Ix::REJECTED => {
            for (reason, n) in inputs.ingest.rejected.by_reason() {
                sink.sample(&Labels::none().with("reason", reason), n as f64);
            }
        }
        Ix::DENIED => {
            for (api, reason, n) in &inputs.denials {
                let labels = Labels::none().with("api", api).with("reason", reason);
                sink.sample(&labels, *n as f64);
            }
        }
        Ix::STREAMS => sink.sample(&Labels::none(), inputs.ingest.streams_open as f64),
        Ix::THROTTLED => sink.sample(&Labels::none(), inputs.ingest.throttled_batches as f64),
        Ix::THROTTLED_SECONDS => {
            sink.sample(&Labels::none(), inputs.ingest.throttled_ms as f64 / 1000.0);
        }
        Ix::AGENT_DROPPED => {
            for a in snap.known_agents() {
                let mut labels = Labels::none().with("agent", &a.id);
                if !a.vantage.network.is_empty() {
                    labels = labels.with("network", &a.vantage.network);
                }
                sink.sample(&labels, a.dropped_signals_total as f64);
            }
        }
        Ix::ALERT_SENT => {
            for r in &inputs.receivers {
                for (result, n) in [
                    ("sent", r.sent),
                    ("failed", r.failed),
                    ("dropped", r.dropped),
                ] {
                    let labels = Labels::none()
                        .with("receiver", &r.receiver)
                        .with("result", result);
                    sink.sample(&labels, n as f64);
                }
            }
        }
        Ix::ALERT_QUEUE => {
            for r in &inputs.receivers {
                sink.sample(
                    &Labels::none().with("receiver", &r.receiver),
                    r.queued as f64,
                );
            }
        }
    }
}

fn node_samples(ix: Ix, snap: &Snapshot, sink: &mut impl SampleSink) {
    let model = &snap.model;
    for node_ix in model.order() {
        let node = model.node(*node_ix);
        let health = snap.node(*node_ix);
        let layer = node.layer.map(|l| l.short_name());
        let side = (node.owner != Side::Unspecified).then(|| node.owner.short_name());
        let mut labels = Labels::none().with("node", &node.id);
        if let Some(layer) = &layer {
            labels = labels.with("layer", layer);
        }
        if let Some(side) = &side {
            labels = labels.with("side", side);
        }
        if let NodeRole::Leaf(selector) = &node.role
            && let Some(network) = &selector.network
        {
            labels = labels.with("network", network);
        }
        if matches!(ix, Ix::NODE_SCORE) {
            sink.sample(&labels, f64::from(health.score));
            continue;
        }
        state_samples(&labels, health.state, sink);
    }
}

fn vantage_samples(ix: Ix, snap: &Snapshot, sink: &mut impl SampleSink) {
    let model = &snap.model;
    for node_ix in model.order() {
        let node = model.node(*node_ix);
        for v in snap.node(*node_ix).vantages.iter() {
            let mut labels = Labels::none()
                .with("node", &node.id)
                .with("agent", &v.agent_id);
            if !v.vantage.network.is_empty() {
                labels = labels.with("network", &v.vantage.network);
            }
            if matches!(ix, Ix::VANTAGE_SIGNALS) {
                sink.sample(&labels, f64::from(v.signals));
            } else if v.signals > 0 {
                let ok = v.signals.saturating_sub(v.failures);
                sink.sample(&labels, f64::from(ok) / f64::from(v.signals));
            }
        }
    }
}

fn layer_samples(ix: Ix, snap: &Snapshot, sink: &mut impl SampleSink) {
    let overall = matches!(ix, Ix::OVERALL_SCORE | Ix::OVERALL_STATE);
    let score = matches!(ix, Ix::LAYER_SCORE | Ix::OVERALL_SCORE);
    for layer in snap
        .layers
        .iter()
        .filter(|l| (l.name == "overall") == overall)
    {
        let labels = if overall {
            Labels::none()
        } else {
            Labels::none().with("layer", layer.name)
        };
        if score {
            sink.sample(&labels, f64::from(layer.score));
            continue;
        }
        state_samples(&labels, layer.state, sink);
    }
}

/// One sample per state, 1 for `current` and 0 for the others. Missing data
/// is Unknown, never Healthy.
fn state_samples(labels: &Labels<'_>, current: HealthState, sink: &mut impl SampleSink) {
    let current = if current == HealthState::Unspecified {
        HealthState::Unknown
    } else {
        current
    };
    for state in STATES {
        let value = if current == state { 1.0 } else { 0.0 };
        sink.sample(&labels.with("state", state.label()), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_their_order() {
        let labels = Labels::none().with("node", "a").with("state", "healthy");
        assert_eq!(labels.pairs(), &[("node", "a"), ("state", "healthy")]);
        assert!(Labels::none().pairs().is_empty());
    }
}
