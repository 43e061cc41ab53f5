//! The fourth step: how well a candidate explains what still needs
//! explaining. Support is its failing pairs not yet explained plus the
//! silent agents it accounts for; confidence weighs that support against the
//! counter-evidence of healthy pairs through the same suspect, by breadth
//! and by blind spots (docs/attribution.md, method step 4).
//!
//! Owns the scoring. It must not choose between candidates nor change what
//! is explained.

use std::collections::BTreeSet;

use super::group::Candidate;
use super::pointer::PathClass;
use super::prepare::{Prepared, TargetKey, target_key};
use crate::attribution::{Params, Suspect};

/// How well a candidate explains what still needs explaining.
#[derive(Clone, Copy, Debug)]
pub(super) struct Score {
    pub conf: f64,
    /// Its pairs still unexplained plus the silent agents it accounts for.
    pub support: usize,
}

impl Score {
    /// Ranked by support, then confidence.
    pub fn beats(&self, other: &Score) -> bool {
        self.support > other.support || (self.support == other.support && self.conf > other.conf)
    }

    /// Whether a runner-up is close enough to make the winner unsure:
    /// within 10% of its support and 0.1 of its confidence.
    pub fn rivals(&self, winner: &Score) -> bool {
        self.support * 10 >= winner.support * 9 && (winner.conf - self.conf).abs() < 0.1
    }
}

/// The candidate's score, or `None` when it explains nothing still
/// unexplained or is not believable enough to be attributed.
pub(super) fn score(
    p: &Prepared<'_>,
    c: &Candidate,
    remaining: &BTreeSet<usize>,
    params: &Params,
) -> Option<Score> {
    let explains: Vec<usize> = c.explains.intersection(remaining).copied().collect();
    let live = explains.len();
    let silent = silent_support(p, c);
    if live == 0 && silent == 0 {
        return None;
    }
    if live == 0 && !into_failing(p, c) {
        return None;
    }
    let conf = confidence(p, c, &explains, silent);
    (conf >= params.min_confidence || c.drift || p.is_decisive(&explains)).then_some(Score {
        conf,
        support: live + silent,
    })
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
    p.sightings.iter().enumerate().any(|(i, o)| {
        p.failing[i] && o.target_network == Some(network.as_str()) && o.network != network
    })
}

/// The confidence in `c` from the failing pairs it still `explains` and the
/// `silent` agents it accounts for.
fn confidence(p: &Prepared<'_>, c: &Candidate, explains: &[usize], silent: usize) -> f64 {
    let counter = counter_evidence(p, c, explains).len();
    let support = explains.len() + silent;
    if support == 0 {
        return 0.0;
    }
    let base = support as f64 / (support + counter) as f64;
    // Breadth: distinct networks for a component, distinct targets for a path.
    let breadth = match &c.suspect {
        Suspect::Connectivity { .. } => {
            let targets: BTreeSet<&str> = explains.iter().map(|&i| p.sightings[i].target).collect();
            targets.len() + usize::from(silent > 0)
        }
        _ => p.networks_of(explains).len(),
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
    // A shared hop whose every path fails, and only those, is believed as
    // far as the paths around it are healthy, whatever single targets say.
    let by_targets = base * breadth_factor;
    let by_paths = p
        .hop_of(&c.suspect)
        .and_then(|h| p.paths.causes.get(&h))
        .map_or(0.0, |cause| cause.confidence);
    (by_targets.max(by_paths) * blind_factor).clamp(0.0, 1.0)
}

/// Healthy pairs through the same suspect that contradict it.
pub(super) fn counter_evidence(p: &Prepared<'_>, c: &Candidate, explains: &[usize]) -> Vec<usize> {
    let mut out = BTreeSet::new();
    match &c.suspect {
        Suspect::Connectivity { network } => {
            let classes: BTreeSet<PathClass> = explains.iter().map(|&i| p.path_class(i)).collect();
            for (j, o) in p.sightings.iter().enumerate() {
                if p.healthy[j] && o.network == network && classes.contains(&p.path_class(j)) {
                    out.insert(j);
                }
            }
        }
        _ => {
            // Other vantage points that see the same targets healthy; each
            // target once, however many of its pairs fail.
            let targets: BTreeSet<TargetKey<'_>> = explains
                .iter()
                .map(|&i| target_key(&p.sightings[i]))
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
