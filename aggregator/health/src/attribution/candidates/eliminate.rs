//! The fifth step: elimination. Within the earliest stage (hub, then spoke
//! connectivity, then workload) that has a candidate believable enough, the
//! one with the most support is taken, what it explains and causes is
//! removed, and the search repeats, so two independent faults come out as
//! two.
//!
//! Owns the order of the search and when a candidate is re-scored. It must
//! not decide how a candidate scores or what a finding says.

use std::collections::BTreeSet;

use super::finding::build_finding;
use super::group::{Candidate, Candidates, Stage};
use super::prepare::Prepared;
use super::score::{Score, score};
use crate::attribution::{Finding, Params, Suspect};

/// What elimination took.
pub(super) struct Chosen<'a> {
    pub findings: Vec<Finding>,
    /// Failing pairs that no finding explains or causes.
    pub remaining: BTreeSet<usize>,
    /// Silent agents a finding accounts for (a cut-off spoke's).
    pub explained_silent: BTreeSet<&'a str>,
}

/// Takes the best candidate of the earliest stage until none is left that
/// explains anything believably.
pub(super) fn eliminate<'a>(
    p: &Prepared<'a>,
    candidates: Candidates,
    params: &Params,
) -> Chosen<'a> {
    let Candidates { mut pool, owner } = candidates;
    let mut remaining: BTreeSet<usize> = (0..p.sightings.len()).filter(|&i| p.failing[i]).collect();
    // A candidate's score depends on `remaining` only through its own pairs,
    // so it is computed once and again only when a finding takes some of
    // them: with many simultaneous faults, re-scoring every candidate after
    // each finding would grow with the square of their number.
    let mut scores: Vec<Option<Score>> = pool
        .iter()
        .map(|c| c.as_ref().and_then(|c| score(p, c, &remaining, params)))
        .collect();
    let mut findings = Vec::new();
    let mut explained_silent: BTreeSet<&'a str> = BTreeSet::new();
    let mut removed = Vec::new();
    while let Some(chosen) = choose(&pool, &scores) {
        let (best, winner, ambiguous) = dependency_first(p, &pool, &scores, chosen);
        // `choose` only names candidates still in the pool.
        let Some(cand) = pool[best].take() else {
            break;
        };
        scores[best] = None;
        removed.clear();
        let finding = build_finding(
            p,
            &cand,
            winner.conf,
            ambiguous,
            &mut remaining,
            &mut removed,
            params,
        );
        let touched: BTreeSet<usize> = removed.iter().filter_map(|&i| owner[i]).collect();
        for ci in touched {
            if let Some(c) = &pool[ci] {
                scores[ci] = score(p, c, &remaining, params);
            }
        }
        for a in &finding.silent_agents {
            if let Some((k, _)) = p.silent_agents.get_key_value(a.as_str()) {
                explained_silent.insert(*k);
            }
        }
        findings.push(finding);
    }
    Chosen {
        findings,
        remaining,
        explained_silent,
    }
}

/// Of a hub component and a hub component it depends on (a private zone
/// served by the hub's resolver), both failing, the dependency is taken
/// first, so the dependent is its impact and not a second fault: the zone
/// may be probed more often than the resolver, and so explain more pairs,
/// but it fails because the resolver does.
fn dependency_first(
    p: &Prepared<'_>,
    pool: &[Option<Candidate>],
    scores: &[Option<Score>],
    chosen: (usize, Score, bool),
) -> (usize, Score, bool) {
    let hub_component = |ci: usize| match pool[ci].as_ref() {
        Some(Candidate {
            suspect: Suspect::Hub { component },
            drift: false,
            ..
        }) => Some(component.as_str()),
        _ => None,
    };
    let Some(dependent) = hub_component(chosen.0) else {
        return chosen;
    };
    let dependency = scores.iter().enumerate().find_map(|(cj, s)| {
        let s = (*s)?;
        let c = hub_component(cj)?;
        (cj != chosen.0 && super::impact::dependents_of(p, c).contains(&dependent))
            .then_some((cj, s))
    });
    let Some((cj, s)) = dependency else {
        return chosen;
    };
    // Unsure only if a third candidate of the stage rivals the dependency.
    let ambiguous = scores.iter().enumerate().any(|(ck, r)| {
        ck != cj
            && ck != chosen.0
            && pool[ck].as_ref().is_some_and(|c| c.stage() == Stage::Hub)
            && r.is_some_and(|r| r.rivals(&s))
    });
    (cj, s, ambiguous)
}

/// The best candidate of the earliest stage that has a score, with that
/// score and whether a runner-up of the same stage rivals it.
fn choose(pool: &[Option<Candidate>], scores: &[Option<Score>]) -> Option<(usize, Score, bool)> {
    for stage in Stage::ORDER {
        // The best two by support, then confidence; ties to the earlier.
        let mut best: Option<(usize, Score)> = None;
        let mut second: Option<Score> = None;
        for (ci, s) in scores.iter().enumerate() {
            let Some(s) = *s else { continue };
            if pool[ci].as_ref().is_none_or(|c| c.stage() != stage) {
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
        if let Some((ci, winner)) = best {
            let ambiguous = second.is_some_and(|s| s.rivals(&winner));
            return Some((ci, winner, ambiguous));
        }
    }
    None
}
