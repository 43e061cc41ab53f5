//! The attribution pass: from one evaluation's sightings to findings.
//!
//! Every failing (agent, probe) pair first gets a *pointer*: does the way its
//! target fails across vantage points point at the target's component, at one
//! network's connectivity, or is it unclear? Pointers are then grouped into
//! candidates and eliminated in order (hub, connectivity, workload). Pure: no
//! clocks, no state, so the benchmark and the tests drive it directly.
//!
//! One module per step, in the order a pass runs them: `prepare` (which
//! pairs fail, which are healthy, who is silent), `pointer` (where each
//! failing pair points), `group` (candidates by stage), `score`, `eliminate`
//! (the earliest stage's best, again and again), `impact` (what a taken
//! candidate causes) and `finding` (what a finding says, and what nothing
//! explained). This module only runs them in that order and must hold no
//! rule of its own beyond the gaps and the vantage bar.

mod eliminate;
mod finding;
mod group;
mod impact;
mod path;
mod pointer;
mod prepare;
mod score;

use super::{Certainty, FaultKind, Gap, Params, Sighting, Topology, Verdict};
use prepare::Prepared;

/// Runs one attribution pass over the current sightings.
pub fn attribute(sightings: &[Sighting<'_>], topology: &Topology, params: &Params) -> Verdict {
    let p = Prepared::new(sightings, topology, params);
    let chosen = eliminate::eliminate(&p, group::candidates(&p), params);
    let mut verdict = Verdict {
        findings: chosen.findings,
        ..Verdict::default()
    };
    finding::unexplained(&p, &chosen.remaining, &mut verdict, params);
    // A silent agent no finding accounts for is a blind spot, blamed on no
    // side.
    for (agent, network) in &p.silent_agents {
        if !chosen.explained_silent.contains(agent) {
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
