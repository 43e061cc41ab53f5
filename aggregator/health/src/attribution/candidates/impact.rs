//! The sixth step: what a taken candidate causes elsewhere. Workload
//! components that depend on a failing hub component, and whatever fails
//! inside a cut-off spoke, are the finding's impact, not faults of their
//! own; a cut-off spoke's silent agents are its own, not blind spots.
//!
//! Owns those rules. It takes the impact's pairs out of what still needs
//! explaining and must not score or word the finding.

use std::collections::BTreeSet;

use vigil_proto::v1::{ErrorClass, Layer, Side};

use super::group::Candidate;
use super::path::Hop;
use super::prepare::Prepared;
use crate::attribution::Suspect;

/// What a taken candidate causes.
pub(super) struct Impact {
    /// Workload components failing only because of the candidate.
    pub components: Vec<String>,
    /// Agents of a cut-off spoke that went silent.
    pub silent_agents: Vec<String>,
}

/// The impact of taking `c`, which `explains` those failing pairs: the
/// pairs it causes leave `remaining` and are noted in `removed`.
pub(super) fn take_impact(
    p: &Prepared<'_>,
    c: &Candidate,
    explains: &[usize],
    remaining: &mut BTreeSet<usize>,
    removed: &mut Vec<usize>,
) -> Impact {
    let mut components = BTreeSet::new();
    // Workloads probed across a failing hop are its impact, not suspects.
    for &i in explains {
        let o = &p.sightings[i];
        if !c.drift && is_workload(o.layer) && c.suspect.side() == Side::Platform {
            components.insert(o.component.to_string());
        }
    }
    if let Suspect::Hub { component } = &c.suspect
        && !c.drift
    {
        // The forwarding path only breaks what crosses it: a dependent
        // failing from where no packet crosses the hub's forwarding fails
        // for a reason of its own.
        let forwarding = p.firewall == Some(component.as_str());
        for dependent in dependents_of(p, component) {
            let hit = take(remaining, removed, |i| {
                let o = &p.sightings[i];
                o.component == dependent
                    && !(is_workload(o.layer) && names_the_target_down(o.window.dominant_class))
                    && (!forwarding || p.paths.of[i].crosses(Hop::Forward))
            });
            if !hit.is_empty() {
                components.insert(dependent.to_string());
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
        let hit = take(remaining, removed, |i| {
            p.sightings[i].target_network == Some(network.as_str())
        });
        for i in hit {
            components.insert(p.sightings[i].component.to_string());
        }
    }
    Impact {
        components: components.into_iter().collect(),
        silent_agents,
    }
}

/// Every component that depends on `component`, directly or through
/// others (a data store that depends on the private zone, which depends on
/// the resolver), each once.
pub(super) fn dependents_of<'a>(p: &'a Prepared<'_>, component: &str) -> Vec<&'a str> {
    let mut found: Vec<&'a str> = Vec::new();
    let mut frontier: Vec<&str> = vec![component];
    while let Some(c) = frontier.pop() {
        for (dependent, deps) in &p.topology.depends_on {
            if deps.iter().any(|d| d == c)
                && dependent != component
                && !found.contains(&dependent.as_str())
            {
                found.push(dependent);
                frontier.push(dependent);
            }
        }
    }
    found
}

fn is_workload(layer: Layer) -> bool {
    !matches!(
        layer,
        Layer::PlatformHub | Layer::PlatformSpokeConnectivity | Layer::Unspecified
    )
}

/// Classes that say the target itself is down or broken (nothing listens,
/// its certificate is bad): no dependency's failure causes them, so such a
/// failure is never a dependency's impact.
pub(super) fn names_the_target_down(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::ConnectionRefused
            | ErrorClass::TlsExpired
            | ErrorClass::TlsNotYetValid
            | ErrorClass::TlsUntrusted
            | ErrorClass::TlsNameMismatch
    )
}

/// Takes the pairs of `remaining` that `hit` holds for out of it, notes them
/// in `removed`, and returns them in order.
fn take(
    remaining: &mut BTreeSet<usize>,
    removed: &mut Vec<usize>,
    hit: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let taken: Vec<usize> = remaining.iter().copied().filter(|&i| hit(i)).collect();
    for i in &taken {
        remaining.remove(i);
    }
    removed.extend(&taken);
    taken
}
