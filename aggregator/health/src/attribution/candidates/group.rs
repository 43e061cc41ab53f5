//! The third step: failing pairs grouped into candidates by the suspect
//! their pointer names, each candidate in its stage of elimination (hub,
//! spoke connectivity, workload).
//!
//! Owns what a candidate is and the order of the stages. It must not score
//! candidates or choose between them.

use std::collections::{BTreeMap, BTreeSet};

use vigil_proto::v1::ErrorClass;

use super::prepare::Prepared;
use crate::attribution::Suspect;

/// The stages of elimination, in the order they are tried: a hub service
/// explains more than one spoke's path, which explains more than one
/// workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Hub,
    Connectivity,
    Workload,
}

impl Stage {
    pub const ORDER: [Stage; 3] = [Stage::Hub, Stage::Connectivity, Stage::Workload];
}

/// A candidate being scored: a suspect and the failing pairs that point at it.
pub(super) struct Candidate {
    pub suspect: Suspect,
    /// A security drift is its own candidate, so a firewall that is both
    /// down and too open yields two faults.
    pub drift: bool,
    pub explains: BTreeSet<usize>,
}

impl Candidate {
    pub fn stage(&self) -> Stage {
        match self.suspect {
            Suspect::Hub { .. } => Stage::Hub,
            Suspect::Connectivity { .. } => Stage::Connectivity,
            Suspect::Workload { .. } => Stage::Workload,
        }
    }
}

/// Every candidate of a pass, and which one each failing pair points at.
pub(super) struct Candidates {
    /// In suspect order; a candidate is taken out once it becomes a finding.
    pub pool: Vec<Option<Candidate>>,
    /// Pair index → its candidate in `pool`; `None` for pairs that are not
    /// failing or point nowhere clear.
    pub owner: Vec<Option<usize>>,
}

/// Groups the failing pairs of `p` by the suspect they point at.
pub(super) fn candidates(p: &Prepared<'_>) -> Candidates {
    let sightings = p.sightings;
    let mut by_suspect: BTreeMap<(Suspect, bool), BTreeSet<usize>> = BTreeMap::new();
    for i in (0..sightings.len()).filter(|&i| p.failing[i]) {
        let o = &sightings[i];
        let drift = o.window.dominant_class == ErrorClass::PolicyDrift;
        // Unclear: left to the end of the pass, as what nothing explained.
        let Some(suspect) = p.suspect_of(i, p.pointer(i)) else {
            continue;
        };
        by_suspect.entry((suspect, drift)).or_default().insert(i);
    }
    // A silent network with failing probes into it is a cut-off spoke: make
    // sure it is a candidate even when nothing else points there.
    for net in &p.silent_networks {
        if !p.is_hub(net) {
            by_suspect
                .entry((
                    Suspect::Connectivity {
                        network: (*net).to_string(),
                    },
                    false,
                ))
                .or_default();
        }
    }
    let pool: Vec<Option<Candidate>> = by_suspect
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
    let mut owner: Vec<Option<usize>> = vec![None; sightings.len()];
    for (ci, c) in pool.iter().enumerate() {
        for &i in c.iter().flat_map(|c| &c.explains) {
            owner[i] = Some(ci);
        }
    }
    Candidates { pool, owner }
}
