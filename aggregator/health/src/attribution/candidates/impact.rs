//! The sixth step: what a taken candidate causes elsewhere. Workload
//! components that depend on a failing hub component, and whatever fails
//! inside a cut-off spoke, are the finding's impact, not faults of their
//! own; a cut-off spoke's silent agents are its own, not blind spots.
//!
//! Owns those rules. It takes the impact's pairs out of what still needs
//! explaining and must not score or word the finding.

use std::collections::BTreeSet;

use super::group::Candidate;
use super::prepare::Prepared;
use crate::attribution::Suspect;

/// What a taken candidate causes.
pub(super) struct Impact {
    /// Workload components failing only because of the candidate.
    pub components: Vec<String>,
    /// Agents of a cut-off spoke that went silent.
    pub silent_agents: Vec<String>,
}

/// The impact of taking `c`: its pairs leave `remaining` and are noted in
/// `removed`.
pub(super) fn take_impact(
    p: &Prepared<'_>,
    c: &Candidate,
    remaining: &mut BTreeSet<usize>,
    removed: &mut Vec<usize>,
) -> Impact {
    let mut components = BTreeSet::new();
    if let Suspect::Hub { component } = &c.suspect
        && !c.drift
    {
        for (dependent, deps) in &p.topology.depends_on {
            if deps.iter().any(|d| d == component) {
                let hit = take(remaining, removed, |i| {
                    p.sightings[i].component == dependent
                });
                if !hit.is_empty() {
                    components.insert(dependent.clone());
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
