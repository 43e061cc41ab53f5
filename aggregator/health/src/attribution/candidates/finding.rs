//! The last step: findings. A taken candidate becomes a finding with its
//! kind, certainty, confidence, evidence and impact; failing pairs that no
//! candidate explained are said to be unexplained, and become unsure
//! findings of their own only when more than one pair agrees
//! (docs/attribution.md, method step 5).
//!
//! Owns what a finding says. It must not choose candidates; it only words
//! what elimination took and what it left.

use std::collections::{BTreeMap, BTreeSet};

use vigil_proto::v1::ErrorClass;

use super::group::Candidate;
use super::impact::take_impact;
use super::path::Hop;
use super::pointer::Pointer;
use super::prepare::{Prepared, target_key};
use super::score::counter_evidence;
use crate::attribution::{Certainty, EvidenceItem, FaultKind, Finding, Params, Suspect, Verdict};

/// The finding for candidate `c`, taken with `confidence`: what it explains
/// and what it causes leave `remaining` and are noted in `removed`.
pub(super) fn build_finding(
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
    let impact = take_impact(p, c, &explains, remaining, removed);
    let counter = counter_evidence(p, c, &explains);
    let certainty = if ambiguous
        || (!c.drift && dependency_stirring(p, &c.suspect, &explains, remaining))
        || lone_spoke_drift(p, c, &explains)
    {
        Certainty::Ambiguous
    } else {
        Certainty::Attributed
    };
    let kind = if c.drift {
        FaultKind::SecurityDrift
    } else {
        kind_of(p, &c.suspect, &explains, params)
    };
    // Evidence that names its own cause needs no spread to be believed: a
    // deny probe that got through, or an egress IP that proves the route.
    let confidence = if c.drift || p.is_decisive(&explains) {
        confidence.max((0.7 + 0.1 * explains.len() as f64).min(0.99))
    } else {
        confidence
    };
    Finding {
        suspect: c.suspect.clone(),
        kind,
        certainty,
        confidence,
        evidence: evidence_of(p, &explains),
        counter_evidence: evidence_of(p, &counter),
        networks: p.networks_of(&explains),
        impact: impact.components,
        silent_agents: impact.silent_agents,
        newest_failure_ms: newest_failure(p, &explains),
        interval_ms: longest_interval(p, &explains),
        corroborated: corroborated(p, &explains),
    }
}

/// The observation time of the newest failure among `idx`.
fn newest_failure(p: &Prepared<'_>, idx: &[usize]) -> Option<i64> {
    idx.iter()
        .filter_map(|&i| p.sightings[i].window.last_failure_ms)
        .max()
}

/// Whether two networks or more see pairs of `idx` down now.
fn corroborated(p: &Prepared<'_>, idx: &[usize]) -> bool {
    let mut nets: Vec<&str> = idx
        .iter()
        .filter(|&&i| {
            let w = &p.sightings[i].window;
            w.last_failed && w.failure_streak >= 2
        })
        .map(|&i| p.sightings[i].network)
        .collect();
    nets.sort_unstable();
    nets.dedup();
    nets.len() >= 2
}

/// The longest probe interval among `idx`.
fn longest_interval(p: &Prepared<'_>, idx: &[usize]) -> u32 {
    idx.iter()
        .map(|&i| p.sightings[i].window.interval_ms)
        .max()
        .unwrap_or(0)
}

/// Whether a workload (or a hub component: a private zone served by the
/// hub's resolver) fails while a platform component it depends on is
/// starting to fail too: it is unsure until that dependency is judged, as
/// it may be the impact of a platform fault that has not crossed the bar
/// yet.
fn dependency_stirring(
    p: &Prepared<'_>,
    suspect: &Suspect,
    explains: &[usize],
    remaining: &BTreeSet<usize>,
) -> bool {
    let (Suspect::Workload { component } | Suspect::Hub { component }) = suspect else {
        return false;
    };
    // Failures that say the workload itself is down (refused, a bad
    // certificate) are no dependency's impact, whatever else is failing.
    if explains
        .iter()
        .all(|&i| super::impact::names_the_target_down(p.sightings[i].window.dominant_class))
    {
        return false;
    }
    // Two pairs at once: one alone is what noise looks like.
    // A dependency's failing pairs that an earlier finding already explains
    // are judged: they say nothing still forming.
    p.topology.depends_on.get(component).is_some_and(|deps| {
        p.sightings
            .iter()
            .enumerate()
            .filter(|(j, o)| {
                deps.iter().any(|d| d == o.component)
                    && o.window.fresh
                    && o.window.last_failed
                    && o.window.failures > 0
                    && (!p.failing[*j] || remaining.contains(j))
            })
            .count()
            >= 2
    })
}

/// A hub policy found too open from one spoke only, while other spokes see
/// it hold: the firewall's rule for that spoke, or that spoke's route around
/// the firewall, which its egress-IP probe proves only once it has run. Held
/// unsure, so it opens only if it outlasts two rounds of probes without the
/// route being proven.
fn lone_spoke_drift(p: &Prepared<'_>, c: &Candidate, explains: &[usize]) -> bool {
    if !c.drift || !matches!(c.suspect, Suspect::Hub { .. }) {
        return false;
    }
    let spokes: BTreeSet<&str> = explains
        .iter()
        .map(|&i| p.sightings[i].network)
        .filter(|n| !p.is_hub(n))
        .collect();
    let [spoke] = spokes.into_iter().collect::<Vec<_>>()[..] else {
        return false;
    };
    explains.iter().any(|&i| {
        p.group_nets
            .get(&target_key(&p.sightings[i]))
            .is_some_and(|g| g.healthy.iter().any(|n| *n != spoke && !p.is_hub(n)))
    })
}

/// What nothing explained: said so rather than guessed. Every pair left in
/// `remaining` is unexplained evidence; grouped by the suspect it would
/// point at, it is more evidence of a finding on the same suspect, or an
/// ambiguous finding of its own when at least two pairs agree.
pub(super) fn unexplained(
    p: &Prepared<'_>,
    remaining: &BTreeSet<usize>,
    verdict: &mut Verdict,
    params: &Params,
) {
    let mut by_suspect: BTreeMap<Suspect, Vec<usize>> = BTreeMap::new();
    for &i in remaining {
        // A leftover on a path through a failing hop already attributed is
        // more of that hop's evidence, not a fault of its own.
        if let Some(f) = verdict.findings.iter_mut().find(|f| {
            p.hop_of(&f.suspect)
                .is_some_and(|h| p.paths.causes.contains_key(&h) && p.paths.of[i].crosses(h))
        }) {
            f.evidence.extend(evidence_of(p, &[i]));
            continue;
        }
        let suspect = match p.pointer(i) {
            Pointer::Unclear | Pointer::Component => p.component_suspect(&p.sightings[i]),
            pointer => p
                .suspect_of(i, pointer)
                .unwrap_or_else(|| p.component_suspect(&p.sightings[i])),
        };
        by_suspect.entry(suspect).or_default().push(i);
    }
    for (suspect, idx) in by_suspect {
        verdict.unexplained.extend(evidence_of(p, &idx));
        // What an attributed finding on the same suspect left over is
        // more of its evidence, not a second, unsure fault: a fault is its
        // suspect, and its kind the worse of what it shows.
        let kind = kind_of(p, &suspect, &idx, params);
        if let Some(f) = verdict.findings.iter_mut().find(|f| f.suspect == suspect) {
            f.evidence.extend(evidence_of(p, &idx));
            if kind.weight() > f.kind.weight() {
                f.kind = kind;
            }
            continue;
        }
        // One pair failing alone is what noise looks like: it shows in
        // the tree, but is no fault until a second vantage or probe agrees.
        if idx.len() < 2 {
            continue;
        }
        verdict.findings.push(Finding {
            suspect,
            kind,
            certainty: Certainty::Ambiguous,
            confidence: 0.3,
            evidence: evidence_of(p, &idx),
            counter_evidence: Vec::new(),
            networks: p.networks_of(&idx),
            impact: Vec::new(),
            silent_agents: Vec::new(),
            newest_failure_ms: newest_failure(p, &idx),
            interval_ms: longest_interval(p, &idx),
            corroborated: false,
        });
    }
}

/// Security drift when every pair is a deny probe that got through; else an
/// outage when every pair's newest signals fail or the median failure ratio
/// reaches `outage_ratio`, and intermittent below it. A shared hop (a
/// spoke's connection, the hub's forwarding) that has passed traffic since
/// its failures began is not down, however often the pairs it drops fail:
/// a gray failure (30% packet loss fails most HTTP probes that cross it,
/// and the failing pairs are a sample chosen for failing).
fn kind_of(p: &Prepared<'_>, suspect: &Suspect, idx: &[usize], params: &Params) -> FaultKind {
    if !idx.is_empty()
        && idx
            .iter()
            .all(|&i| p.sightings[i].window.dominant_class == ErrorClass::PolicyDrift)
    {
        return FaultKind::SecurityDrift;
    }
    if let Some(hop) = p.hop_of(suspect)
        && passed_since_onset(p, hop, idx)
    {
        return FaultKind::Intermittent;
    }
    // When the newest signals of every pair fail, it is down now, whatever
    // the window's average still says: each pair's last two failed, or every
    // failure it has is at its newest end (it has just gone down).
    let down_now = |w: &crate::attribution::WindowView<'_>| {
        w.last_failed && (w.failure_streak >= 2 || w.failure_streak >= w.failures)
    };
    if !idx.is_empty() && idx.iter().all(|&i| down_now(&p.sightings[i].window)) {
        return FaultKind::Outage;
    }
    let mut ratios: Vec<f64> = idx
        .iter()
        .map(|&i| p.sightings[i].window.failure_ratio())
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

/// Whether a pair on `hop`'s paths succeeded after the hop's current
/// failures began: after the oldest newest-failure of the pairs failing
/// now. In an outage nothing crosses the hop after its onset.
fn passed_since_onset(p: &Prepared<'_>, hop: Hop<'_>, idx: &[usize]) -> bool {
    let onset = idx
        .iter()
        .map(|&i| &p.sightings[i].window)
        .filter(|w| w.last_failed)
        .filter_map(|w| w.last_failure_ms)
        .min();
    let Some(onset) = onset else {
        return false;
    };
    p.paths.through(hop, p.sightings).any(|i| {
        let w = &p.sightings[i].window;
        w.fresh && !w.last_failed && w.last_signal_ms.is_some_and(|t| t > onset)
    })
}

fn evidence_of(p: &Prepared<'_>, idx: &[usize]) -> Vec<EvidenceItem> {
    idx.iter()
        .map(|&i| EvidenceItem::from_sighting(&p.sightings[i]))
        .collect()
}
