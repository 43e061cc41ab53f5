//! Fault attribution: places every failure on the platform or the workload
//! side, names the suspected component, and says how sure it is.
//!
//! Owns the pure decision (`attribute`, in `candidates`) and the lifecycle of
//! faults across evaluations (`fault`). It reads a per-evaluation view of
//! every (agent, probe) window and must not touch ingest state or keep
//! anything but fault bookkeeping between evaluations.
//!
//! The method (docs/attribution.md): compare the same target seen from several
//! vantage points and eliminate in order, hub, then spoke connectivity, then
//! workload. Each candidate is scored by how many failing probes it explains,
//! how many distinct networks see it fail, and the counter-evidence of healthy
//! probes through it. The best candidate of the earliest stage that clears the
//! bar is taken, what it explains is removed, and the search repeats, so two
//! independent faults come out as two.

mod board;
mod candidates;
pub mod config;
mod fault;
pub mod observe;
mod run;

pub use board::FaultBoard;
pub use candidates::attribute;
pub use config::AttributionConfig;
pub use fault::{Fault, FaultEvent, FaultId, FaultTracker, TrackerParams};
pub use run::Attributor;

use std::collections::BTreeMap;

use vigil_proto::Label;
use vigil_proto::v1::{ErrorClass, Layer, ProbeKind, Side};

/// One (agent, probe) series as attribution sees it over the current
/// window: the observing agent and its network, the probe's target, and the
/// window's counts. (The agent's own result of one probe run is its
/// `Observation`; a sighting sums up many of them.)
#[derive(Clone, Debug)]
pub struct Sighting<'a> {
    pub agent: &'a str,
    /// The observing agent's network (`hub`, `spoke-a`).
    pub network: &'a str,
    /// Whether the agent's stream is connected or its data is fresh.
    pub agent_live: bool,
    pub probe_id: &'a str,
    pub component: &'a str,
    pub layer: Layer,
    pub kind: ProbeKind,
    pub target: &'a str,
    /// The network the target lives in, when declared (probe label
    /// `target_network`). A probe into another network crosses the hub.
    pub target_network: Option<&'a str>,
    pub window: WindowView<'a>,
}

/// Counts over the evaluation window of one (agent, probe) pair.
#[derive(Clone, Debug, Default)]
pub struct WindowView<'a> {
    pub total: u32,
    pub failures: u32,
    /// The most frequent error class among the failures.
    pub dominant_class: ErrorClass,
    /// An example failure message, for evidence.
    pub example: &'a str,
    /// Whether the pair has data newer than the staleness bound.
    pub fresh: bool,
    /// Whether the newest signal failed: a pair under the failing threshold
    /// whose latest signal failed is starting to fail, not healthy.
    pub last_failed: bool,
    /// Consecutive successes at the newest end of the window.
    pub success_streak: u32,
    /// Consecutive failures at the newest end of the window.
    pub failure_streak: u32,
    /// Observation time (Unix ms) of the newest failure in the window.
    pub last_failure_ms: Option<i64>,
    /// Age of the pair's newest signal, `None` without any.
    pub age_ms: Option<i64>,
    /// Observation time (Unix ms) of the pair's newest signal.
    pub last_signal_ms: Option<i64>,
    /// The probe's declared interval: how often the pair brings news.
    pub interval_ms: u32,
}

impl WindowView<'_> {
    /// A pair whose newest signals have succeeded at least as often in a row
    /// as it failed in the window is draining old failures: recovering.
    pub fn recovering(&self) -> bool {
        self.success_streak >= 3 && self.success_streak >= self.failures
    }
}

impl WindowView<'_> {
    pub fn failure_ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.failures) / f64::from(self.total)
        }
    }
}

/// Model facts attribution needs: which network is the hub, and which
/// components depend on which (from the model's `depends_on` edges, lifted to
/// the components bound to each node).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub hub_network: String,
    /// The hub component that stands for the hub's forwarding path (the
    /// firewall); `None` derives it from the hub's firewall probes.
    pub firewall: Option<String>,
    /// component → the platform components it depends on.
    pub depends_on: BTreeMap<String, Vec<String>>,
}

/// Thresholds of the method. Defaults are the ones the attribution benchmark
/// is run with.
#[derive(Clone, Debug)]
pub struct Params {
    /// A pair is failing from this failure ratio on…
    pub failing_ratio: f64,
    /// …and with at least this many failures in the window.
    pub min_failures: u32,
    /// A pair is failing hard (outage rather than gray failure) from here on.
    pub outage_ratio: f64,
    /// A candidate must reach this confidence to be attributed.
    pub min_confidence: f64,
    /// Fewer live vantage networks than this makes a finding "insufficient data".
    pub min_vantage_networks: usize,
    /// An agent whose newest signal is older than this is silent even if
    /// its stream still looks open (a cut link can leave it half-open).
    pub silence_after_ms: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            failing_ratio: 0.1,
            min_failures: 3,
            outage_ratio: 0.5,
            min_confidence: 0.6,
            min_vantage_networks: 2,
            silence_after_ms: 15_000,
        }
    }
}

/// Where a fault is placed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Suspect {
    /// A hub service, e.g. `hub-dns`, `hub-firewall`.
    Hub { component: String },
    /// One spoke's path to the hub: peering, routes.
    Connectivity { network: String },
    /// A workload component: application, data store, user flow.
    Workload { component: String },
}

impl Suspect {
    pub fn side(&self) -> Side {
        match self {
            Suspect::Hub { .. } | Suspect::Connectivity { .. } => Side::Platform,
            Suspect::Workload { .. } => Side::Workload,
        }
    }

    /// Stable path such as `platform/hub/hub-dns`, `platform/spoke-a/connectivity`,
    /// `workload/checkout-api`.
    pub fn path(&self) -> String {
        match self {
            Suspect::Hub { component } => format!("platform/hub/{component}"),
            Suspect::Connectivity { network } => format!("platform/{network}/connectivity"),
            Suspect::Workload { component } => format!("workload/{component}"),
        }
    }
}

/// What kind of fault a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Things are down or failing most of the time.
    Outage,
    /// Intermittent failures (gray failure: loss, SNAT exhaustion).
    Intermittent,
    /// A destination that must be blocked is reachable: nothing is down, but
    /// the platform's policy has drifted.
    SecurityDrift,
}

impl FaultKind {
    /// How much a kind says is wrong: an outage over a security drift
    /// (nothing down, but the policy is open) over an intermittent failure.
    pub fn weight(self) -> u8 {
        match self {
            FaultKind::Outage => 2,
            FaultKind::SecurityDrift => 1,
            FaultKind::Intermittent => 0,
        }
    }

    pub fn name(self) -> &'static str {
        vigil_proto::v1::FaultKind::from(self).label()
    }
}

impl From<FaultKind> for vigil_proto::v1::FaultKind {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::Outage => Self::Outage,
            FaultKind::Intermittent => Self::Intermittent,
            FaultKind::SecurityDrift => Self::SecurityDrift,
        }
    }
}

/// How firm a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certainty {
    Attributed,
    /// More than one candidate explains the evidence about equally well.
    Ambiguous,
    /// Too few live vantage points to tell the sides apart.
    InsufficientData,
}

impl From<Certainty> for vigil_proto::v1::Certainty {
    fn from(c: Certainty) -> Self {
        match c {
            Certainty::Attributed => Self::Attributed,
            Certainty::Ambiguous => Self::Ambiguous,
            Certainty::InsufficientData => Self::InsufficientData,
        }
    }
}

/// One probe's part in a finding, as evidence a person can check.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceItem {
    pub agent: String,
    pub network: String,
    pub probe_id: String,
    pub target: String,
    pub total: u32,
    pub failures: u32,
    pub class: ErrorClass,
    pub example: String,
}

impl EvidenceItem {
    fn from_sighting(o: &Sighting<'_>) -> Self {
        EvidenceItem {
            agent: o.agent.to_string(),
            network: o.network.to_string(),
            probe_id: o.probe_id.to_string(),
            target: o.target.to_string(),
            total: o.window.total,
            failures: o.window.failures,
            class: o.window.dominant_class,
            example: o.window.example.to_string(),
        }
    }
}

/// One attributed explanation of part of the failing evidence.
#[derive(Clone, Debug)]
pub struct Finding {
    pub suspect: Suspect,
    pub kind: FaultKind,
    pub certainty: Certainty,
    pub confidence: f64,
    /// Failing probes this finding explains.
    pub evidence: Vec<EvidenceItem>,
    /// Healthy probes through the same suspect.
    pub counter_evidence: Vec<EvidenceItem>,
    /// Networks from which the suspect is seen failing.
    pub networks: Vec<String>,
    /// Workload components failing only because of this (platform) finding.
    pub impact: Vec<String>,
    /// Agents of the suspect network that went silent (a cut-off spoke).
    pub silent_agents: Vec<String>,
    /// When the newest failure of its evidence was observed (Unix ms):
    /// failures an agent delivers late are judged by when they happened.
    pub newest_failure_ms: Option<i64>,
    /// The longest probe interval among its evidence: how long until every
    /// vantage point behind it has spoken again.
    pub interval_ms: u32,
    /// Whether at least two networks see it down now (their newest two
    /// probes failed): an onset that noise does not make and that no later
    /// evaluation will see differently, so it needs no persistence.
    pub corroborated: bool,
}

impl Finding {
    /// Folds in a second finding about the same suspect: two findings naming
    /// one suspect are one fault seen two ways, so it says the worse kind, is
    /// as firm and as sure as the firmer of them, and carries the evidence
    /// of both.
    pub fn fold(&mut self, other: &Finding) {
        fn union<T: Clone + PartialEq>(into: &mut Vec<T>, other: &[T]) {
            for x in other {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        if other.kind.weight() > self.kind.weight() {
            self.kind = other.kind;
        }
        if other.certainty == Certainty::Attributed {
            self.certainty = Certainty::Attributed;
        }
        self.confidence = self.confidence.max(other.confidence);
        union(&mut self.evidence, &other.evidence);
        union(&mut self.counter_evidence, &other.counter_evidence);
        union(&mut self.networks, &other.networks);
        union(&mut self.impact, &other.impact);
        union(&mut self.silent_agents, &other.silent_agents);
        self.newest_failure_ms = self.newest_failure_ms.max(other.newest_failure_ms);
        self.interval_ms = self.interval_ms.max(other.interval_ms);
        self.corroborated |= other.corroborated;
    }
}

/// An observability gap: an agent that went silent without evidence that its
/// network is cut off. Never blamed on a side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub agent: String,
    pub network: String,
}

/// The result of one attribution pass.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    pub gaps: Vec<Gap>,
    /// Failing probes that no candidate explained well enough.
    pub unexplained: Vec<EvidenceItem>,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_paths;
