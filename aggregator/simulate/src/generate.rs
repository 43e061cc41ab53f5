//! Seeded scenario generation, so attribution is measured on estates it was
//! not tuned on: 2–6 spokes with one or two agents each, 2–6 workloads,
//! probe intervals of 2–10 s, 1% noise, and either one fault drawn from the
//! catalogue or two at once on different sides.
//!
//! Owns the draw only: the same seed gives the same scenarios. Running and
//! scoring them is `report`; what a fault does to a probe is `faults`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::world::Shape;
use super::{SimConfig, SimFault};
use vigil_health::evaluate::EvaluationConfig;

/// One generated scenario: the estate, its probe interval and the faults.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The fault's class for the report (`pair` for two at once).
    pub class: String,
    pub config: SimConfig,
    pub faults: Vec<SimFault>,
}

/// Share of generated scenarios that inject two faults at once.
const PAIR_SHARE: f64 = 0.25;

/// `count` scenarios from `seed`, each with `noise` random failures.
pub fn generate(seed: u64, count: usize, noise: f64) -> Vec<Scenario> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|n| {
            let spokes = rng.random_range(2..=6);
            let shape = Shape {
                spokes,
                workloads: rng.random_range(2..=spokes.max(2)),
                agents_per_spoke: rng.random_range(1..=2),
            };
            let interval = Duration::from_secs(rng.random_range(2..=10));
            let config = SimConfig {
                seed: seed.wrapping_mul(1_000_003).wrapping_add(n as u64),
                probe_interval: interval,
                noise,
                evaluation: evaluation_for(interval),
                shape: shape.clone(),
                ..SimConfig::default()
            };
            let (class, faults) = if rng.random_bool(PAIR_SHARE) {
                (
                    "pair (platform + workload)".to_string(),
                    pair(&mut rng, &shape),
                )
            } else {
                let f = single(&mut rng, &shape);
                (f.name().to_string(), vec![f])
            };
            Scenario {
                class,
                config,
                faults,
            }
        })
        .collect()
}

/// The evaluation settings a deployment with this probe interval would
/// choose (docs/model.md): a window of six intervals, staleness of three,
/// and the shipped defaults otherwise (evaluated every second, hysteresis 2,
/// eight signals of evidence per pair).
pub fn evaluation_for(interval: Duration) -> EvaluationConfig {
    EvaluationConfig {
        interval: Duration::from_secs(1),
        window: interval * 6,
        staleness: interval * 3,
        ..EvaluationConfig::default()
    }
}

/// One fault from the whole catalogue.
fn single(rng: &mut StdRng, shape: &Shape) -> SimFault {
    let s = rng.random_range(0..shape.spokes);
    let w = rng.random_range(0..shape.workloads);
    let agents = shape.spokes * shape.agents_per_spoke;
    match rng.random_range(0..19) {
        0 => SimFault::HubDnsDown,
        1 => SimFault::ZoneUnlinked,
        2 => SimFault::RecordMissing,
        3 => SimFault::FirewallRuleMissing,
        4 => SimFault::FirewallDrift,
        5 => SimFault::FirewallDown,
        6 => SimFault::FirewallLoss(0.3),
        7 => SimFault::SnatWrong,
        8 => SimFault::PeeringDown { spoke: s },
        9 => SimFault::RouteWrong { spoke: s },
        10 => SimFault::RouteBlackhole { spoke: s },
        11 => SimFault::HubUnreachable { spoke: s },
        12 => SimFault::WorkloadCrash { w },
        13 => SimFault::WorkloadSlow { w },
        14 => SimFault::Workload5xx { w },
        15 => SimFault::WorkloadDbDown { w },
        16 => SimFault::ExpiredCert { w },
        17 => SimFault::AgentSilent {
            agent: rng.random_range(0..agents),
        },
        _ => SimFault::SpokeAgentsSilent { spoke: s },
    }
}

/// A platform fault and, at the same moment, a workload fault in a workload
/// that lives in another spoke than the platform fault's. Hub DNS and the
/// private zone are left out: every workload resolves through them, so a
/// workload failing while they fail is their impact, not a second cause.
fn pair(rng: &mut StdRng, shape: &Shape) -> Vec<SimFault> {
    let s = rng.random_range(0..shape.spokes);
    let platform = match rng.random_range(0..6) {
        0 => SimFault::FirewallRuleMissing,
        1 => SimFault::FirewallLoss(0.3),
        2 => SimFault::SnatWrong,
        3 => SimFault::PeeringDown { spoke: s },
        4 => SimFault::RouteBlackhole { spoke: s },
        _ => SimFault::RouteWrong { spoke: s },
    };
    let cut_spoke = match platform {
        SimFault::PeeringDown { spoke }
        | SimFault::RouteBlackhole { spoke }
        | SimFault::RouteWrong { spoke } => Some(spoke),
        _ => None,
    };
    let elsewhere: Vec<usize> = (0..shape.workloads)
        .filter(|w| Some(w % shape.spokes) != cut_spoke)
        .collect();
    let w = elsewhere[rng.random_range(0..elsewhere.len())];
    let workload = match rng.random_range(0..4) {
        0 => SimFault::WorkloadCrash { w },
        1 => SimFault::Workload5xx { w },
        2 => SimFault::WorkloadSlow { w },
        _ => SimFault::ExpiredCert { w },
    };
    vec![platform, workload]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_scenarios_and_covers_the_ranges() {
        let a = generate(7, 200, 0.01);
        let b = generate(7, 200, 0.01);
        let key = |s: &Scenario| {
            (
                s.class.clone(),
                s.config.shape.spokes,
                s.config.probe_interval,
                format!("{:?}", s.faults),
            )
        };
        assert_eq!(
            a.iter().map(key).collect::<Vec<_>>(),
            b.iter().map(key).collect::<Vec<_>>()
        );
        let spokes: std::collections::BTreeSet<usize> =
            a.iter().map(|s| s.config.shape.spokes).collect();
        assert_eq!(spokes, (2..=6).collect());
        let secs: std::collections::BTreeSet<u64> = a
            .iter()
            .map(|s| s.config.probe_interval.as_secs())
            .collect();
        assert_eq!(secs, (2..=10).collect());
        assert!(a.iter().any(|s| s.faults.len() == 2));
        // A pair's workload never lives in the spoke the platform fault cuts.
        for s in a.iter().filter(|s| s.faults.len() == 2) {
            if let (
                SimFault::PeeringDown { spoke }
                | SimFault::RouteBlackhole { spoke }
                | SimFault::RouteWrong { spoke },
                SimFault::WorkloadCrash { w }
                | SimFault::Workload5xx { w }
                | SimFault::WorkloadSlow { w }
                | SimFault::ExpiredCert { w },
            ) = (&s.faults[0], &s.faults[1])
            {
                assert_ne!(w % s.config.shape.spokes, *spoke, "{s:?}");
            }
        }
    }
}
