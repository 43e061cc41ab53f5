//! The lifecycle of faults across evaluations: open after the finding has
//! persisted, update while it lasts, close after it has been absent, and
//! reopen the same fault when it recurs within the flap window.
//!
//! Owns fault ids and times. It must not decide attribution: it only tracks
//! what `attribute` found, keyed by its suspect and concern (availability or
//! policy).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use vigil_proto::Label;
use vigil_proto::v1::{FaultEventKind, Side};

use super::{Certainty, EvidenceItem, FaultKind, Finding, Gap, Suspect, Verdict};

/// A fault's stable id, shown to people as `F-000042`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultId(pub u64);

impl fmt::Display for FaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "F-{:06}", self.0)
    }
}

impl std::str::FromStr for FaultId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("F-").unwrap_or(s);
        digits
            .parse()
            .map(FaultId)
            .map_err(|_| format!("'{s}' is not a fault id; ids look like F-000042"))
    }
}

/// A first-class fault: who owns it, where, how sure, and the evidence.
#[derive(Clone, Debug)]
pub struct Fault {
    pub id: FaultId,
    pub suspect: Suspect,
    pub kind: FaultKind,
    pub certainty: Certainty,
    pub confidence: f64,
    pub evidence: Vec<EvidenceItem>,
    pub counter_evidence: Vec<EvidenceItem>,
    pub networks: Vec<String>,
    pub impact: Vec<String>,
    pub silent_agents: Vec<String>,
    /// Model nodes the suspect stands for, sorted: where the fault is.
    pub suspect_nodes: Vec<String>,
    /// Model nodes the impact stands for, sorted: what fails because of it.
    pub impact_nodes: Vec<String>,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// How often the fault cleared and came back within the flap window.
    pub reopened: u32,
}

impl Fault {
    pub fn side(&self) -> Side {
        self.suspect.side()
    }

    pub fn is_open(&self) -> bool {
        self.closed_at_ms.is_none()
    }

    /// Every model node the fault touches, suspect and impact, sorted and
    /// each once.
    pub fn nodes(&self) -> Vec<String> {
        let all: BTreeSet<&String> = self
            .suspect_nodes
            .iter()
            .chain(&self.impact_nodes)
            .collect();
        all.into_iter().cloned().collect()
    }

    /// One line a person can hand to the other team.
    pub fn summary(&self) -> String {
        let side = self.side().label();
        let certainty = match self.certainty {
            Certainty::Attributed => String::new(),
            Certainty::Ambiguous => " ambiguous,".into(),
            Certainty::InsufficientData => " insufficient data,".into(),
        };
        let agents: BTreeSet<&str> = self.evidence.iter().map(|e| e.agent.as_str()).collect();
        let probing: BTreeSet<&str> = self
            .evidence
            .iter()
            .chain(&self.counter_evidence)
            .map(|e| e.agent.as_str())
            .collect();
        let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &self.evidence {
            *classes
                .entry(vigil_proto::error_class_name(e.class))
                .or_default() += 1;
        }
        let class = classes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or("failures", |(c, _)| c);
        let targets: BTreeSet<&str> = self.evidence.iter().map(|e| e.target.as_str()).collect();
        let targets: Vec<&str> = targets.into_iter().take(3).collect();
        let mut line = format!(
            "{side} · {} ({},{certainty} confidence {:.2}): {}/{} agents in {} see {class} for {}",
            self.suspect.path(),
            self.kind.name(),
            self.confidence,
            agents.len(),
            probing.len().max(agents.len()),
            if self.networks.is_empty() {
                "-".to_string()
            } else {
                self.networks.join(", ")
            },
            if targets.is_empty() {
                "-".to_string()
            } else {
                targets.join(", ")
            },
        );
        if !self.silent_agents.is_empty() {
            line.push_str(&format!(" · {} agents silent", self.silent_agents.len()));
        }
        if !self.impact.is_empty() {
            line.push_str(&format!(" · impact: {}", self.impact.join(", ")));
        }
        line
    }
}

/// What changed about faults in one evaluation.
#[derive(Clone, Debug)]
pub enum FaultEvent {
    Opened(Fault),
    Updated(Fault),
    Resolved(Fault),
}

impl FaultEvent {
    pub fn name(&self) -> &'static str {
        self.kind().label()
    }

    pub fn kind(&self) -> FaultEventKind {
        match self {
            FaultEvent::Opened(_) => FaultEventKind::Opened,
            FaultEvent::Updated(_) => FaultEventKind::Updated,
            FaultEvent::Resolved(_) => FaultEventKind::Resolved,
        }
    }

    pub fn fault(&self) -> &Fault {
        match self {
            FaultEvent::Opened(f) | FaultEvent::Updated(f) | FaultEvent::Resolved(f) => f,
        }
    }

    pub fn fault_mut(&mut self) -> &mut Fault {
        match self {
            FaultEvent::Opened(f) | FaultEvent::Updated(f) | FaultEvent::Resolved(f) => f,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrackerParams {
    /// Consecutive evaluations a finding must persist before a fault opens.
    pub open_after: u32,
    /// Consecutive evaluations without the finding before the fault closes
    /// (and never before one round of its slowest probe has run again).
    pub close_after: u32,
    /// A fault that recurs within this long after closing reopens as itself.
    pub flap_window_ms: i64,
    /// Closed faults kept for queries.
    pub keep_closed: usize,
}

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            open_after: 2,
            close_after: 3,
            flap_window_ms: 5 * 60_000,
            keep_closed: 500,
        }
    }
}

/// A fault is its suspect: its kind is an attribute that changes as the
/// failure does. Keying on the kind would open a second fault, and page
/// again, whenever an outage turned intermittent or back, or when a spoke's
/// route that bypasses the firewall is seen first as a policy drift (its
/// deny probes get through) and then as an outage (what needs the hub fails).
type Key = Suspect;

#[derive(Default)]
struct Track {
    seen_in_row: u32,
    /// When the current run of sightings began.
    seen_since_ms: i64,
    missing_in_row: u32,
    /// When the current run of absences began.
    missing_since_ms: i64,
    /// The slowest probe interval behind the last finding seen.
    interval_ms: u32,
    fault: Option<Fault>,
}

/// Keeps faults across evaluations.
pub struct FaultTracker {
    params: TrackerParams,
    next_id: u64,
    tracks: BTreeMap<Key, Track>,
    closed: Vec<Fault>,
    gaps: Vec<Gap>,
}

impl FaultTracker {
    pub fn new(params: TrackerParams) -> Self {
        FaultTracker {
            params,
            next_id: 1,
            tracks: BTreeMap::new(),
            closed: Vec::new(),
            gaps: Vec::new(),
        }
    }

    /// Folds one verdict in and returns what changed.
    pub fn observe(&mut self, verdict: &Verdict, now_ms: i64) -> Vec<FaultEvent> {
        let mut events = Vec::new();
        self.gaps = verdict.gaps.clone();
        // One finding per suspect, in the verdict's order (new faults take
        // ids in the order attribution found them).
        let mut slot: BTreeMap<Key, usize> = BTreeMap::new();
        let mut chosen: Vec<(Key, Finding)> = Vec::new();
        for finding in &verdict.findings {
            match slot.get(&finding.suspect) {
                Some(&i) => chosen[i].1.fold(finding),
                None => {
                    slot.insert(finding.suspect.clone(), chosen.len());
                    chosen.push((finding.suspect.clone(), finding.clone()));
                }
            }
        }
        let mut present: BTreeSet<Key> = BTreeSet::new();
        for (key, finding) in chosen {
            let finding = &finding;
            // A firm finding opens after `open_after`; an unsure one (the
            // onset of a fault often looks ambiguous for an evaluation or two,
            // while vantage points disagree) must persist three times longer.
            let unsure = finding.certainty != Certainty::Attributed;
            let needed = if unsure {
                self.params.open_after.saturating_mul(3)
            } else {
                self.params.open_after
            };
            // Failures observed before the fault was seen to recover are
            // history an agent delivered late (a replay after a cut): they
            // do not bring back what already closed.
            let replayed = self.tracks.get(&key).is_some_and(|t| {
                t.fault.as_ref().is_some_and(|f| {
                    f.closed_at_ms
                        .zip(finding.newest_failure_ms)
                        .is_some_and(|(closed, newest)| newest <= closed)
                })
            });
            if replayed {
                continue;
            }
            present.insert(key.clone());
            let track = self.tracks.entry(key).or_default();
            if track.seen_in_row == 0 {
                track.seen_since_ms = now_ms;
            }
            track.seen_in_row += 1;
            track.missing_in_row = 0;
            track.interval_ms = finding.interval_ms;
            // Vantage points change their minds only when their probes run
            // again: an unsure finding must also outlast its slowest probe's
            // interval, or every onset and every recovery at long intervals
            // would open a fault that the next round of probes dissolves.
            let persisted = (track.seen_in_row >= needed || (!unsure && finding.corroborated))
                && (!unsure || now_ms - track.seen_since_ms >= unsure_hold_ms(finding.interval_ms));
            match &mut track.fault {
                Some(fault) if fault.is_open() => {
                    let changed = fault.kind != finding.kind
                        || fault.certainty != finding.certainty
                        || (fault.confidence - finding.confidence).abs() >= 0.15
                        || fault.impact != finding.impact
                        || fault.networks != finding.networks;
                    apply(fault, finding);
                    if changed {
                        // Only material changes move `updated_at`, so
                        // watchers and receivers are not told every tick.
                        fault.updated_at_ms = now_ms;
                        events.push(FaultEvent::Updated(fault.clone()));
                    }
                }
                Some(fault) => {
                    // Closed but kept: recurring within the flap window
                    // reopens the same fault instead of paging anew.
                    let recent = fault
                        .closed_at_ms
                        .is_some_and(|c| now_ms - c <= self.params.flap_window_ms);
                    if recent && persisted {
                        fault.closed_at_ms = None;
                        fault.reopened += 1;
                        apply(fault, finding);
                        fault.updated_at_ms = now_ms;
                        self.closed.retain(|c| c.id != fault.id);
                        events.push(FaultEvent::Opened(fault.clone()));
                    } else if !recent && persisted {
                        let f = new_fault(&mut self.next_id, finding, now_ms);
                        events.push(FaultEvent::Opened(f.clone()));
                        track.fault = Some(f);
                    }
                }
                None => {
                    if persisted {
                        let f = new_fault(&mut self.next_id, finding, now_ms);
                        events.push(FaultEvent::Opened(f.clone()));
                        track.fault = Some(f);
                    }
                }
            }
        }
        let mut forget = Vec::new();
        for (key, track) in &mut self.tracks {
            if present.contains(key) {
                continue;
            }
            track.seen_in_row = 0;
            if track.missing_in_row == 0 {
                track.missing_since_ms = now_ms;
            }
            track.missing_in_row += 1;
            // A finding can lapse between two rounds of slow probes (the
            // windows hold too few failures until the next round lands):
            // closing before that round has run would resolve a fault that
            // the next round reopens, and every such swap pages twice.
            let lapsed = track.missing_in_row >= self.params.close_after
                && now_ms - track.missing_since_ms >= i64::from(track.interval_ms);
            match &mut track.fault {
                Some(fault) if fault.is_open() && lapsed => {
                    fault.closed_at_ms = Some(now_ms);
                    fault.updated_at_ms = now_ms;
                    self.closed.push(fault.clone());
                    events.push(FaultEvent::Resolved(fault.clone()));
                }
                Some(fault)
                    if fault
                        .closed_at_ms
                        .is_some_and(|c| now_ms - c > self.params.flap_window_ms) =>
                {
                    forget.push(key.clone());
                }
                None => forget.push(key.clone()),
                _ => {}
            }
        }
        for key in forget {
            self.tracks.remove(&key);
        }
        if self.closed.len() > self.params.keep_closed {
            let excess = self.closed.len() - self.params.keep_closed;
            self.closed.drain(..excess);
        }
        events
    }

    /// Open faults, platform first, then by confidence.
    pub fn open(&self) -> Vec<Fault> {
        let mut out: Vec<Fault> = self
            .tracks
            .values()
            .filter_map(|t| t.fault.as_ref())
            .filter(|f| f.is_open())
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (a.side() as i32)
                .cmp(&(b.side() as i32))
                .then(b.confidence.total_cmp(&a.confidence))
                .then(a.id.cmp(&b.id))
        });
        out
    }

    /// Recently closed faults, newest first.
    pub fn closed(&self) -> Vec<Fault> {
        self.closed.iter().rev().cloned().collect()
    }

    pub fn get(&self, id: FaultId) -> Option<Fault> {
        self.open()
            .into_iter()
            .chain(self.closed())
            .find(|f| f.id == id)
    }

    /// Current observability gaps (silent agents blamed on no side).
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }
}

/// How long an unsure finding must stand, for evidence of this interval:
/// two rounds of every vantage point's probes.
fn unsure_hold_ms(interval_ms: u32) -> i64 {
    2 * i64::from(interval_ms)
}

fn new_fault(next_id: &mut u64, finding: &Finding, now_ms: i64) -> Fault {
    let id = FaultId(*next_id);
    *next_id += 1;
    let mut f = Fault {
        id,
        suspect: finding.suspect.clone(),
        kind: finding.kind,
        certainty: finding.certainty,
        confidence: finding.confidence,
        evidence: Vec::new(),
        counter_evidence: Vec::new(),
        networks: Vec::new(),
        impact: Vec::new(),
        silent_agents: Vec::new(),
        suspect_nodes: Vec::new(),
        impact_nodes: Vec::new(),
        opened_at_ms: now_ms,
        updated_at_ms: now_ms,
        closed_at_ms: None,
        reopened: 0,
    };
    apply(&mut f, finding);
    f
}

fn apply(fault: &mut Fault, finding: &Finding) {
    fault.kind = finding.kind;
    fault.certainty = finding.certainty;
    fault.confidence = finding.confidence;
    fault.evidence = finding.evidence.clone();
    fault.counter_evidence = finding.counter_evidence.clone();
    fault.networks = finding.networks.clone();
    fault.impact = finding.impact.clone();
    fault.silent_agents = finding.silent_agents.clone();
}
