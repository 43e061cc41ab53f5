//! The attribution pass: from one evaluation's observations to findings.
//!
//! Every failing (agent, probe) pair first gets a *pointer*: does the way its
//! target fails across vantage points point at the target's component, at one
//! network's connectivity, or is it unclear? Pointers are then grouped into
//! candidates and eliminated in order (hub, connectivity, workload). Pure: no
//! clocks, no state, so the benchmark and the tests drive it directly.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vigil_proto::v1::{ErrorClass, Layer};

use super::{
    Certainty, EvidenceItem, FaultKind, Finding, Gap, Observation, Params, Suspect, Topology,
    Verdict,
};

/// Which way a failing pair points.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pointer {
    /// At the target's own component (hub service or workload component).
    Component,
    /// At one network's path to the hub.
    Connectivity(String),
    /// The evidence cannot tell.
    Unclear,
}

/// The path class of a probe crossing the hub, so that a broken egress route
/// is not contradicted by healthy probes to hub services.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PathClass {
    HubServices,
    Egress,
    Into(String),
    Local,
}

/// The networks that see one target failing, and those that see it healthy.
#[derive(Default)]
struct GroupNets<'a> {
    failing: BTreeSet<&'a str>,
    healthy: BTreeSet<&'a str>,
}

struct Prepared<'a> {
    obs: &'a [Observation<'a>],
    topology: &'a Topology,
    failing: Vec<bool>,
    healthy: Vec<bool>,
    /// (kind, component, target) → pair indices: the same target seen from
    /// several vantage points.
    groups: HashMap<(i32, &'a str, &'a str), Vec<usize>>,
    /// Per group: the networks that see the target failing and those that
    /// see it healthy. Computed once, because every failing pair of a target
    /// asks the same question (a hub service failing from 10,000 agents
    /// would otherwise cost 10,000²).
    group_nets: HashMap<(i32, &'a str, &'a str), GroupNets<'a>>,
    /// Per network: decided (failing or healthy) pairs that cross the hub,
    /// and how many of them fail; the same per (network, component, target).
    crossing: HashMap<&'a str, (usize, usize)>,
    crossing_target: HashMap<(&'a str, &'a str, &'a str), (usize, usize)>,
    /// Networks whose every agent is silent.
    silent_networks: BTreeSet<&'a str>,
    /// Networks with at least one fresh pair.
    live_networks: BTreeSet<&'a str>,
    silent_agents: BTreeMap<&'a str, &'a str>,
    /// How many agents the observations come from.
    agent_count: usize,
}

impl<'a> Prepared<'a> {
    fn new(obs: &'a [Observation<'a>], topology: &'a Topology, params: &Params) -> Self {
        let mut failing: Vec<bool> = obs
            .iter()
            .map(|o| {
                // Evidence that names its cause (a deny probe that got
                // through, a wrong egress IP) is never noise: two suffice.
                let needed = if DECISIVE.contains(&o.window.dominant_class) {
                    params.min_failures.min(2)
                } else {
                    params.min_failures
                };
                o.window.fresh
                    && o.window.failures >= needed
                    && o.window.failure_ratio() >= params.failing_ratio
                    && !o.window.recovering()
            })
            .collect();
        mark_gray_failures(obs, params, &mut failing);
        let healthy: Vec<bool> = obs
            .iter()
            .zip(&failing)
            .map(|(o, f)| {
                // Neither starting to fail nor draining old failures.
                o.window.fresh
                    && o.window.total > 0
                    && !f
                    && !o.window.last_failed
                    && (o.window.failures < params.min_failures || !o.window.recovering())
            })
            .collect();
        let mut groups: HashMap<(i32, &str, &str), Vec<usize>> = HashMap::new();
        for (i, o) in obs.iter().enumerate() {
            groups
                .entry((o.kind as i32, o.component, o.target))
                .or_default()
                .push(i);
        }
        // An agent is silent when none of its pairs is fresh and its stream is
        // gone; a network is silent when all of its agents are.
        // Hashed: one lookup per pair, over as many agents as the fleet has.
        let mut agent_live: HashMap<&str, (bool, &str)> = HashMap::new();
        for o in obs {
            let e = agent_live.entry(o.agent).or_insert((false, o.network));
            // Live: its stream is open and it has spoken lately.
            e.0 |= o.agent_live
                && o.window
                    .age_ms
                    .is_some_and(|a| a <= params.silence_after_ms);
        }
        let mut net_any_live: BTreeMap<&str, bool> = BTreeMap::new();
        for (live, net) in agent_live.values() {
            *net_any_live.entry(net).or_insert(false) |= *live;
        }
        let silent_networks = net_any_live
            .iter()
            .filter(|(_, l)| !**l)
            .map(|(n, _)| *n)
            .collect();
        let live_networks = net_any_live
            .iter()
            .filter(|(_, l)| **l)
            .map(|(n, _)| *n)
            .collect();
        let silent_agents = agent_live
            .iter()
            .filter(|(_, (live, _))| !live)
            .map(|(a, (_, n))| (*a, *n))
            .collect();
        let agent_count = agent_live.len();
        let group_nets = groups
            .iter()
            .map(|(key, members)| {
                let nets = |mark: &[bool]| -> BTreeSet<&'a str> {
                    members
                        .iter()
                        .filter(|&&j| mark[j])
                        .map(|&j| obs[j].network)
                        .collect()
                };
                let value = GroupNets {
                    failing: nets(&failing),
                    healthy: nets(&healthy),
                };
                (*key, value)
            })
            .collect();
        let mut p = Prepared {
            obs,
            topology,
            failing,
            healthy,
            groups,
            group_nets,
            crossing: HashMap::new(),
            crossing_target: HashMap::new(),
            silent_networks,
            live_networks,
            silent_agents,
            agent_count,
        };
        for (j, o) in obs.iter().enumerate() {
            let decided = p.failing[j] || p.healthy[j];
            if !decided || !p.crosses_hub(o) {
                continue;
            }
            let failing = usize::from(p.failing[j]);
            let net = p.crossing.entry(o.network).or_default();
            net.0 += 1;
            net.1 += failing;
            let key = (o.network, o.component, o.target);
            let target = p.crossing_target.entry(key).or_default();
            target.0 += 1;
            target.1 += failing;
        }
        p
    }

    fn is_hub(&self, network: &str) -> bool {
        network == self.topology.hub_network
    }

    fn path_class(&self, o: &Observation<'_>) -> PathClass {
        if let Some(t) = &o.target_network
            && t != &o.network
        {
            return PathClass::Into(t.to_string());
        }
        if self.is_hub(o.network) {
            return PathClass::Local;
        }
        use vigil_proto::v1::ProbeKind;
        match (o.kind, o.layer) {
            (ProbeKind::Egress | ProbeKind::Firewall, _) => PathClass::Egress,
            (_, Layer::PlatformHub | Layer::PlatformSpokeConnectivity) => PathClass::HubServices,
            _ => PathClass::Local,
        }
    }

    fn crosses_hub(&self, o: &Observation<'_>) -> bool {
        self.path_class(o) != PathClass::Local
    }

    fn pointer(&self, i: usize) -> Pointer {
        let o = &self.obs[i];
        match o.window.dominant_class {
            ErrorClass::PolicyDrift => return Pointer::Component,
            ErrorClass::EgressIpMismatch | ErrorClass::NetworkUnreachable
                if !self.is_hub(o.network) =>
            {
                return Pointer::Connectivity(o.network.to_string());
            }
            _ => {}
        }
        let empty = GroupNets::default();
        let nets = self
            .group_nets
            .get(&(o.kind as i32, o.component, o.target))
            .unwrap_or(&empty);
        let (fail_nets, ok_nets) = (&nets.failing, &nets.healthy);

        // Into another network: healthy from inside (or the inside is silent)
        // while failing from every outside vantage → that network's path.
        if let Some(t) = o.target_network
            && t != o.network
        {
            let inside_ok = ok_nets.contains(t) && !fail_nets.contains(t);
            let inside_silent = self.silent_networks.contains(t);
            let outside_ok = ok_nets.iter().any(|n| *n != t);
            if (inside_ok || inside_silent) && !outside_ok {
                return Pointer::Connectivity(t.to_string());
            }
        } else if o.layer == Layer::PlatformSpokeConnectivity && !self.is_hub(o.network) {
            // A probe of the observer's own path to the hub.
            return Pointer::Connectivity(o.network.to_string());
        }
        if fail_nets.len() >= 2 {
            return if fail_nets.len() >= ok_nets.len() {
                Pointer::Component
            } else {
                Pointer::Unclear
            };
        }
        if !ok_nets.is_empty() {
            // Fails from this network only, fine from others.
            return if self.crosses_hub(o) {
                Pointer::Connectivity(o.network.to_string())
            } else {
                Pointer::Unclear
            };
        }
        // Only this network sees the target. Decide by its other paths across
        // the hub: if they fail too, the path is the common factor.
        if !self.crosses_hub(o) {
            return Pointer::Component;
        }
        // The network's other decided paths across the hub: all of its
        // crossing pairs minus those of this very target.
        let (all, all_failing) = self.crossing.get(o.network).copied().unwrap_or_default();
        let (same, same_failing) = self
            .crossing_target
            .get(&(o.network, o.component, o.target))
            .copied()
            .unwrap_or_default();
        let (others, failing_others) = (all - same, all_failing - same_failing);
        if others == 0 {
            return Pointer::Unclear;
        }
        if failing_others * 2 >= others {
            Pointer::Connectivity(o.network.to_string())
        } else {
            Pointer::Component
        }
    }

    fn component_suspect(&self, o: &Observation<'_>) -> Suspect {
        match o.layer {
            Layer::PlatformHub => Suspect::Hub {
                component: o.component.to_string(),
            },
            Layer::PlatformSpokeConnectivity => Suspect::Connectivity {
                network: o.network.to_string(),
            },
            _ => Suspect::Workload {
                component: o.component.to_string(),
            },
        }
    }
}

/// A gray failure (a firewall dropping a share of packets) rarely pushes one
/// pair over the failing bar within its window, but the same target failing
/// now and then from several networks adds up. When a target's pooled
/// failures across vantage points clear twice the per-pair minimum and the
/// failing ratio, from at least two networks, its pairs that failed at all
/// count as failing.
/// A target's pooled window across vantage points: signals, failures, the
/// networks that saw it fail, and its pairs that failed at all.
type Pooled<'a> = (u32, u32, BTreeSet<&'a str>, Vec<usize>);

fn mark_gray_failures(obs: &[Observation<'_>], params: &Params, failing: &mut [bool]) {
    let mut pooled: HashMap<(i32, &str, &str), Pooled<'_>> = HashMap::new();
    for (i, o) in obs.iter().enumerate() {
        if !o.window.fresh
            || o.window.total == 0
            || o.window.dominant_class == ErrorClass::PolicyDrift
        {
            continue;
        }
        let e = pooled
            .entry((o.kind as i32, o.component, o.target))
            .or_default();
        e.0 += o.window.total;
        e.1 += o.window.failures;
        if o.window.failures > 0 && !o.window.recovering() {
            e.2.insert(o.network);
            e.3.push(i);
        }
    }
    for (total, failures, networks, members) in pooled.values() {
        let ratio = f64::from(*failures) / f64::from((*total).max(1));
        if *failures >= params.min_failures * 2
            && ratio >= params.failing_ratio
            && networks.len() >= 2
        {
            for &i in members {
                failing[i] = true;
            }
        }
    }
}

/// Error classes that say where the fault is by themselves.
const DECISIVE: [ErrorClass; 3] = [
    ErrorClass::PolicyDrift,
    ErrorClass::EgressIpMismatch,
    ErrorClass::NetworkUnreachable,
];

fn is_decisive(p: &Prepared<'_>, idx: &[usize]) -> bool {
    !idx.is_empty()
        && idx
            .iter()
            .all(|&i| DECISIVE.contains(&p.obs[i].window.dominant_class))
}

/// How well a candidate explains what still needs explaining.
#[derive(Clone, Copy, Debug)]
struct Score {
    conf: f64,
    /// Its pairs still unexplained plus the silent agents it accounts for.
    support: usize,
}

impl Score {
    /// Ranked by support, then confidence.
    fn beats(&self, other: &Score) -> bool {
        self.support > other.support || (self.support == other.support && self.conf > other.conf)
    }
}

/// The candidate's score, or `None` when it explains nothing still
/// unexplained or is not believable enough to be attributed.
fn score(
    p: &Prepared<'_>,
    c: &Candidate,
    remaining: &BTreeSet<usize>,
    params: &Params,
) -> Option<Score> {
    let live_idx: Vec<usize> = c.explains.intersection(remaining).copied().collect();
    let live = live_idx.len();
    let silent = silent_support(p, c);
    if live == 0 && silent == 0 {
        return None;
    }
    if live == 0 && !into_failing(p, c) {
        return None;
    }
    let conf = confidence(p, c, remaining, params);
    (conf >= params.min_confidence || c.drift || is_decisive(p, &live_idx)).then_some(Score {
        conf,
        support: live + silent,
    })
}

/// A candidate being scored: a suspect and the failing pairs that point at it.
struct Candidate {
    suspect: Suspect,
    drift: bool,
    explains: BTreeSet<usize>,
}

fn stage(s: &Suspect) -> u8 {
    match s {
        Suspect::Hub { .. } => 0,
        Suspect::Connectivity { .. } => 1,
        Suspect::Workload { .. } => 2,
    }
}

/// Runs one attribution pass over the current observations.
pub fn attribute(obs: &[Observation<'_>], topology: &Topology, params: &Params) -> Verdict {
    let p = Prepared::new(obs, topology, params);
    let mut candidates: BTreeMap<(Suspect, bool), BTreeSet<usize>> = BTreeMap::new();
    let mut unclear = BTreeSet::new();
    for i in (0..obs.len()).filter(|&i| p.failing[i]) {
        let o = &obs[i];
        let drift = o.window.dominant_class == ErrorClass::PolicyDrift;
        let suspect = match p.pointer(i) {
            Pointer::Component => p.component_suspect(o),
            Pointer::Connectivity(network) => Suspect::Connectivity { network },
            Pointer::Unclear => {
                unclear.insert(i);
                continue;
            }
        };
        candidates.entry((suspect, drift)).or_default().insert(i);
    }
    // A silent network with failing probes into it is a cut-off spoke: make
    // sure it is a candidate even when nothing else points there.
    for net in &p.silent_networks {
        if !p.is_hub(net) {
            candidates
                .entry((
                    Suspect::Connectivity {
                        network: (*net).to_string(),
                    },
                    false,
                ))
                .or_default();
        }
    }
    let mut pool: Vec<Option<Candidate>> = candidates
        .into_iter()
        .map(|((suspect, drift), explains)| {
            Some(Candidate {
                suspect,
                drift,
                explains,
            })
        })
        .collect();
    // Every failing pair points at exactly one candidate.
    let mut owner: Vec<Option<usize>> = vec![None; obs.len()];
    for (ci, c) in pool.iter().enumerate() {
        for &i in c.iter().flat_map(|c| &c.explains) {
            owner[i] = Some(ci);
        }
    }

    let mut remaining: BTreeSet<usize> = (0..obs.len()).filter(|&i| p.failing[i]).collect();
    // A candidate's score depends on `remaining` only through its own pairs,
    // so it is computed once and again only when a finding takes some of
    // them: with many simultaneous faults, re-scoring every candidate after
    // each finding would grow with the square of their number.
    let mut scores: Vec<Option<Score>> = pool
        .iter()
        .map(|c| c.as_ref().and_then(|c| score(&p, c, &remaining, params)))
        .collect();
    let mut verdict = Verdict::default();
    let mut explained_silent: BTreeSet<&str> = BTreeSet::new();
    let mut removed = Vec::new();
    'search: loop {
        for st in 0..=2 {
            // The best two by support, then confidence; ties to the earlier.
            let mut best: Option<(usize, Score)> = None;
            let mut second: Option<Score> = None;
            for (ci, s) in scores.iter().enumerate() {
                let Some(s) = *s else { continue };
                if pool[ci].as_ref().is_none_or(|c| stage(&c.suspect) != st) {
                    continue;
                }
                match best {
                    Some((_, b)) if !s.beats(&b) => {
                        if second.is_none_or(|x| s.beats(&x)) {
                            second = Some(s);
                        }
                    }
                    _ => {
                        second = best.map(|(_, b)| b);
                        best = Some((ci, s));
                    }
                }
            }
            let Some((best, Score { conf, support })) = best else {
                continue;
            };
            let ambiguous = second.is_some_and(
                |Score {
                     conf: c2,
                     support: s2,
                 }| { s2 * 10 >= support * 9 && (conf - c2).abs() < 0.1 },
            );
            let Some(cand) = pool[best].take() else {
                continue;
            };
            scores[best] = None;
            removed.clear();
            let finding = build_finding(
                &p,
                &cand,
                conf,
                ambiguous,
                &mut remaining,
                &mut removed,
                params,
            );
            let touched: BTreeSet<usize> = removed.iter().filter_map(|&i| owner[i]).collect();
            for ci in touched {
                if let Some(c) = &pool[ci] {
                    scores[ci] = score(&p, c, &remaining, params);
                }
            }
            for a in &finding.silent_agents {
                if let Some((k, _)) = p.silent_agents.get_key_value(a.as_str()) {
                    explained_silent.insert(k);
                }
            }
            verdict.findings.push(finding);
            continue 'search;
        }
        break;
    }

    // What nothing explained: say so rather than guess.
    let leftover: Vec<usize> = remaining.iter().copied().collect();
    if !leftover.is_empty() {
        let mut by_suspect: BTreeMap<Suspect, Vec<usize>> = BTreeMap::new();
        for i in leftover {
            let suspect = match p.pointer(i) {
                Pointer::Connectivity(network) => Suspect::Connectivity { network },
                _ => p.component_suspect(&obs[i]),
            };
            by_suspect.entry(suspect).or_default().push(i);
        }
        for (suspect, idx) in by_suspect {
            verdict
                .unexplained
                .extend(idx.iter().map(|&i| EvidenceItem::from_observation(&obs[i])));
            // What an attributed finding on the same suspect left over is
            // more of its evidence, not a second, unsure fault.
            let kind = kind_of(&p, &idx, params);
            if let Some(f) = verdict
                .findings
                .iter_mut()
                .find(|f| f.suspect == suspect && f.kind == kind)
            {
                f.evidence
                    .extend(idx.iter().map(|&i| EvidenceItem::from_observation(&obs[i])));
                continue;
            }
            // One pair failing alone is what noise looks like: it shows in
            // the tree, but is no fault until a second vantage or probe agrees.
            if idx.len() < 2 {
                continue;
            }
            let evidence: Vec<EvidenceItem> = idx
                .iter()
                .map(|&i| EvidenceItem::from_observation(&obs[i]))
                .collect();
            let networks = networks_of(&p, &idx);
            verdict.findings.push(Finding {
                suspect,
                kind: kind_of(&p, &idx, params),
                certainty: Certainty::Ambiguous,
                confidence: 0.3,
                evidence,
                counter_evidence: Vec::new(),
                networks,
                impact: Vec::new(),
                silent_agents: Vec::new(),
            });
        }
    }
    for (agent, network) in &p.silent_agents {
        if !explained_silent.contains(agent) {
            verdict.gaps.push(Gap {
                agent: (*agent).to_string(),
                network: (*network).to_string(),
            });
        }
    }
    // Not enough independent vantage points: keep the findings, but say so.
    if p.live_networks.len() < params.min_vantage_networks {
        for f in &mut verdict.findings {
            if f.kind != FaultKind::SecurityDrift {
                f.certainty = Certainty::InsufficientData;
            }
        }
    }
    verdict
}

/// Silent agents a connectivity candidate would account for.
fn silent_support(p: &Prepared<'_>, c: &Candidate) -> usize {
    match &c.suspect {
        Suspect::Connectivity { network } if p.silent_networks.contains(network.as_str()) => p
            .silent_agents
            .values()
            .filter(|n| **n == network.as_str())
            .count(),
        _ => 0,
    }
}

/// Whether probes from elsewhere into the candidate's network fail: what turns
/// a silent network from an observability gap into a cut-off spoke.
fn into_failing(p: &Prepared<'_>, c: &Candidate) -> bool {
    let Suspect::Connectivity { network } = &c.suspect else {
        return false;
    };
    p.obs.iter().enumerate().any(|(i, o)| {
        p.failing[i] && o.target_network == Some(network.as_str()) && o.network != network
    })
}

fn confidence(
    p: &Prepared<'_>,
    c: &Candidate,
    remaining: &BTreeSet<usize>,
    params: &Params,
) -> f64 {
    let explains: Vec<usize> = c.explains.intersection(remaining).copied().collect();
    let counter = counter_evidence(p, c, &explains).len();
    let silent = silent_support(p, c);
    let support = explains.len() + silent;
    if support == 0 {
        return 0.0;
    }
    let base = support as f64 / (support + counter) as f64;
    // Breadth: distinct networks for a component, distinct targets for a path.
    let breadth = match &c.suspect {
        Suspect::Connectivity { .. } => {
            let targets: BTreeSet<&str> = explains.iter().map(|&i| p.obs[i].target).collect();
            targets.len() + usize::from(silent > 0)
        }
        _ => networks_of(p, &explains).len(),
    };
    // One failing target is weak evidence against a whole network path;
    // a broken path shows on several.
    let base_of_breadth: f64 = match &c.suspect {
        Suspect::Connectivity { .. } => 0.5,
        _ => 0.25,
    };
    let breadth_factor = 1.0 - base_of_breadth.powi(breadth.max(1) as i32);
    // Silent agents elsewhere are blind spots: they lower confidence.
    let own_net = match &c.suspect {
        Suspect::Connectivity { network } => Some(network.as_str()),
        _ => None,
    };
    let blind = p
        .silent_agents
        .values()
        .filter(|n| Some(**n) != own_net)
        .count();
    let blind_factor = 1.0 - 0.5 * blind as f64 / p.agent_count.max(1) as f64;
    let _ = params;
    (base * breadth_factor * blind_factor).clamp(0.0, 1.0)
}

/// Healthy pairs through the same suspect that contradict it.
fn counter_evidence(p: &Prepared<'_>, c: &Candidate, explains: &[usize]) -> Vec<usize> {
    let mut out = BTreeSet::new();
    match &c.suspect {
        Suspect::Connectivity { network } => {
            let classes: BTreeSet<PathClass> =
                explains.iter().map(|&i| p.path_class(&p.obs[i])).collect();
            for (j, o) in p.obs.iter().enumerate() {
                if p.healthy[j] && o.network == network && classes.contains(&p.path_class(o)) {
                    out.insert(j);
                }
            }
        }
        _ => {
            // Other vantage points that see the same targets healthy; each
            // target once, however many of its pairs fail.
            let targets: BTreeSet<(i32, &str, &str)> = explains
                .iter()
                .map(|&i| {
                    let o = &p.obs[i];
                    (o.kind as i32, o.component, o.target)
                })
                .collect();
            for key in targets {
                for &j in p.groups.get(&key).map_or(&[][..], Vec::as_slice) {
                    if p.healthy[j] {
                        out.insert(j);
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

fn networks_of(p: &Prepared<'_>, idx: &[usize]) -> Vec<String> {
    let set: BTreeSet<&str> = idx.iter().map(|&i| p.obs[i].network).collect();
    set.into_iter().map(str::to_string).collect()
}

fn kind_of(p: &Prepared<'_>, idx: &[usize], params: &Params) -> FaultKind {
    if !idx.is_empty()
        && idx
            .iter()
            .all(|&i| p.obs[i].window.dominant_class == ErrorClass::PolicyDrift)
    {
        return FaultKind::SecurityDrift;
    }
    let mut ratios: Vec<f64> = idx
        .iter()
        .map(|&i| p.obs[i].window.failure_ratio())
        .collect();
    if ratios.is_empty() {
        return FaultKind::Outage;
    }
    ratios.sort_by(f64::total_cmp);
    if ratios[ratios.len() / 2] >= params.outage_ratio {
        FaultKind::Outage
    } else {
        FaultKind::Intermittent
    }
}

fn build_finding(
    p: &Prepared<'_>,
    c: &Candidate,
    confidence: f64,
    ambiguous: bool,
    remaining: &mut BTreeSet<usize>,
    removed: &mut Vec<usize>,
    params: &Params,
) -> Finding {
    let explains: Vec<usize> = c.explains.intersection(remaining).copied().collect();
    for i in &explains {
        remaining.remove(i);
    }
    removed.extend(&explains);
    // Workload components that depend on a failing platform component are its
    // impact, not faults of their own.
    let mut impact = BTreeSet::new();
    if let Suspect::Hub { component } = &c.suspect
        && !c.drift
    {
        for (dependent, deps) in &p.topology.depends_on {
            if deps.iter().any(|d| d == component) {
                let hit: Vec<usize> = remaining
                    .iter()
                    .copied()
                    .filter(|&i| p.obs[i].component == dependent)
                    .collect();
                if !hit.is_empty() {
                    impact.insert(dependent.clone());
                }
                for i in hit {
                    remaining.remove(&i);
                    removed.push(i);
                }
            }
        }
    }
    // A cut-off spoke: what fails inside it is impact of its connectivity.
    let mut silent_agents = Vec::new();
    if let Suspect::Connectivity { network } = &c.suspect {
        silent_agents = p
            .silent_agents
            .iter()
            .filter(|(_, n)| **n == network.as_str())
            .map(|(a, _)| (*a).to_string())
            .collect();
        let hit: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| p.obs[i].target_network == Some(network.as_str()))
            .collect();
        for i in hit {
            impact.insert(p.obs[i].component.to_string());
            remaining.remove(&i);
            removed.push(i);
        }
    }
    let counter = counter_evidence(p, c, &explains);
    // A workload failing while a platform component it depends on is
    // starting to fail too is unsure until that dependency is judged: it may
    // be the impact of a platform fault that has not crossed the bar yet.
    let dependency_stirring = match &c.suspect {
        Suspect::Workload { component } => {
            // Two pairs at once: one alone is what noise looks like.
            p.topology.depends_on.get(component).is_some_and(|deps| {
                p.obs
                    .iter()
                    .filter(|o| {
                        deps.iter().any(|d| d == o.component)
                            && o.window.fresh
                            && o.window.last_failed
                            && o.window.failures > 0
                    })
                    .count()
                    >= 2
            })
        }
        _ => false,
    };
    let certainty = if ambiguous || dependency_stirring {
        Certainty::Ambiguous
    } else {
        Certainty::Attributed
    };
    let kind = if c.drift {
        FaultKind::SecurityDrift
    } else {
        kind_of(p, &explains, params)
    };
    // Evidence that names its own cause needs no spread to be believed: a
    // deny probe that got through, or an egress IP that proves the route.
    let confidence = if c.drift || is_decisive(p, &explains) {
        confidence.max((0.7 + 0.1 * explains.len() as f64).min(0.99))
    } else {
        confidence
    };
    Finding {
        suspect: c.suspect.clone(),
        kind,
        certainty,
        confidence,
        evidence: explains
            .iter()
            .map(|&i| EvidenceItem::from_observation(&p.obs[i]))
            .collect(),
        counter_evidence: counter
            .iter()
            .map(|&i| EvidenceItem::from_observation(&p.obs[i]))
            .collect(),
        networks: networks_of(p, &explains),
        impact: impact.into_iter().collect(),
        silent_agents,
    }
}
