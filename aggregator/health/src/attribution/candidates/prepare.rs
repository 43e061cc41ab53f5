//! The first step of a pass: what is known of every (agent, probe) pair
//! before anything is pointed at. Which pairs fail (gray failures pooled
//! across vantage points included) and which are healthy, every target as
//! seen from each network, each network's paths across the hub, and which
//! agents and networks are silent.
//!
//! Owns those marks and tallies, computed once per pass so later steps ask
//! them in constant time. It must not point, score or decide anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vigil_proto::v1::ErrorClass;

use super::path::Paths;
use crate::attribution::{Params, Sighting, Topology};

/// The same target seen from several vantage points: (kind, component,
/// target).
pub(super) type TargetKey<'a> = (i32, &'a str, &'a str);

pub(super) fn target_key<'a>(o: &Sighting<'a>) -> TargetKey<'a> {
    (o.kind as i32, o.component, o.target)
}

/// The networks that see one target failing, and those that see it healthy.
#[derive(Default)]
pub(super) struct GroupNets<'a> {
    pub failing: BTreeSet<&'a str>,
    pub healthy: BTreeSet<&'a str>,
}

pub(super) struct Prepared<'a> {
    pub sightings: &'a [Sighting<'a>],
    pub topology: &'a Topology,
    pub failing: Vec<bool>,
    pub healthy: Vec<bool>,
    /// Target → pair indices: the same target seen from several vantage
    /// points.
    pub groups: HashMap<TargetKey<'a>, Vec<usize>>,
    /// Per group: the networks that see the target failing and those that
    /// see it healthy. Computed once, because every failing pair of a target
    /// asks the same question (a hub service failing from 10,000 agents
    /// would otherwise cost 10,000²).
    pub group_nets: HashMap<TargetKey<'a>, GroupNets<'a>>,
    /// Per network: decided (failing or healthy) pairs that cross the hub,
    /// and how many of them fail; the same per (network, component, target).
    pub crossing: HashMap<&'a str, (usize, usize)>,
    pub crossing_target: HashMap<(&'a str, &'a str, &'a str), (usize, usize)>,
    /// Networks whose every agent is silent.
    pub silent_networks: BTreeSet<&'a str>,
    /// Networks with at least one fresh pair.
    pub live_networks: BTreeSet<&'a str>,
    pub silent_agents: BTreeMap<&'a str, &'a str>,
    /// How many agents the sightings come from.
    pub agent_count: usize,
    /// Every pair's path and the shared hops whose paths fail together.
    pub paths: Paths<'a>,
    /// The hub component that stands for the forwarding path.
    pub firewall: Option<&'a str>,
    /// Networks with a failing pair that sees the wrong egress IP: their
    /// traffic leaves some other way than through the hub.
    pub egress_ip_wrong: BTreeSet<&'a str>,
}

impl<'a> Prepared<'a> {
    pub fn new(sightings: &'a [Sighting<'a>], topology: &'a Topology, params: &Params) -> Self {
        let mut failing: Vec<bool> = sightings
            .iter()
            .map(|o| {
                // Evidence that names its cause (a deny probe that got
                // through, a wrong egress IP) is never noise: two suffice.
                let needed = if DECISIVE.contains(&o.window.dominant_class) {
                    params.min_failures.min(2)
                } else {
                    params.min_failures
                };
                // A deny probe blocked twice in a row since it got through
                // says the policy holds again.
                let blocked_again = o.window.dominant_class == ErrorClass::PolicyDrift
                    && o.window.success_streak >= 2;
                o.window.fresh
                    && o.window.failures >= needed
                    && o.window.failure_ratio() >= params.failing_ratio
                    && !o.window.recovering()
                    && !blocked_again
                    // The probe's own trouble says nothing about its target.
                    && o.window.dominant_class != ErrorClass::ProbeInternal
            })
            .collect();
        let mut groups: HashMap<TargetKey<'a>, Vec<usize>> = HashMap::new();
        for (i, o) in sightings.iter().enumerate() {
            groups.entry(target_key(o)).or_default().push(i);
        }
        mark_corroborated_onsets(sightings, &groups, &mut failing);
        let firewall = topology
            .firewall
            .as_deref()
            .or_else(|| firewall_component(sightings));
        let paths = Paths::new(sightings, &topology.hub_network, firewall, &groups, params);
        // A shared hop failing now and then is pooled over its paths; a
        // target failing now and then from several networks otherwise.
        let by_hop = paths.pooled(&failing, sightings);
        mark_gray_failures(sightings, params, &mut failing, |i| {
            paths.explained_by_a_cause(i)
        });
        for i in by_hop {
            failing[i] = true;
        }
        let healthy: Vec<bool> = sightings
            .iter()
            .zip(&failing)
            .map(|(o, f)| {
                // Neither starting to fail nor draining old failures.
                o.window.fresh
                    && o.window.total > 0
                    && !f
                    && !o.window.last_failed
                    && (o.window.failures < params.min_failures || !o.window.recovering())
                    && o.window.dominant_class != ErrorClass::ProbeInternal
            })
            .collect();
        // An agent is silent when none of its pairs is fresh and its stream is
        // gone; a network is silent when all of its agents are.
        // Hashed: one lookup per pair, over as many agents as the fleet has.
        let mut agent_live: HashMap<&str, (bool, &str)> = HashMap::new();
        for o in sightings {
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
        let networks_where = |live: bool| -> BTreeSet<&'a str> {
            net_any_live
                .iter()
                .filter(|(_, l)| **l == live)
                .map(|(n, _)| *n)
                .collect()
        };
        let silent_networks = networks_where(false);
        let live_networks = networks_where(true);
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
                        .map(|&j| sightings[j].network)
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
            sightings,
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
            paths,
            firewall,
            egress_ip_wrong: BTreeSet::new(),
        };
        for (j, o) in sightings.iter().enumerate() {
            if p.failing[j] && o.window.dominant_class == ErrorClass::EgressIpMismatch {
                p.egress_ip_wrong.insert(o.network);
            }
            let decided = p.failing[j] || p.healthy[j];
            if !decided || !p.crosses_hub(j) {
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

    pub fn is_hub(&self, network: &str) -> bool {
        network == self.topology.hub_network
    }

    /// The networks `idx` are seen from, each once.
    pub fn networks_of(&self, idx: &[usize]) -> Vec<String> {
        let set: BTreeSet<&str> = idx.iter().map(|&i| self.sightings[i].network).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Whether every pair of `idx` fails with a class that names its cause.
    pub fn is_decisive(&self, idx: &[usize]) -> bool {
        !idx.is_empty()
            && idx
                .iter()
                .all(|&i| DECISIVE.contains(&self.sightings[i].window.dominant_class))
    }
}

/// The component of the hub's firewall probes (`firewall` and `egress`
/// probes of the hub layer), the most common if several: it stands for the
/// hub's forwarding path when no `attribution.firewall_component` names it.
fn firewall_component<'a>(sightings: &[Sighting<'a>]) -> Option<&'a str> {
    let mut counts: BTreeMap<&'a str, usize> = BTreeMap::new();
    for o in sightings {
        if o.layer == vigil_proto::v1::Layer::PlatformHub
            && matches!(
                o.kind,
                vigil_proto::v1::ProbeKind::Firewall | vigil_proto::v1::ProbeKind::Egress
            )
        {
            *counts.entry(o.component).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c)))
        .map(|(c, _)| c)
}

/// A target that has just gone down fails its newest two probes from every
/// network that sees it: one pair's two failures in a row could be noise,
/// but two networks' at once are not (at 1% noise, one chance in 10^8), so
/// such pairs count as failing without waiting for a third failure each.
fn mark_corroborated_onsets(
    sightings: &[Sighting<'_>],
    groups: &HashMap<TargetKey<'_>, Vec<usize>>,
    failing: &mut [bool],
) {
    let down_now = |o: &Sighting<'_>| {
        let w = &o.window;
        w.fresh
            && w.last_failed
            && w.failure_streak >= 2
            && !matches!(
                w.dominant_class,
                ErrorClass::PolicyDrift | ErrorClass::ProbeInternal
            )
    };
    for members in groups.values() {
        let mut networks: Vec<&str> = members
            .iter()
            .filter(|&&i| down_now(&sightings[i]))
            .map(|&i| sightings[i].network)
            .collect();
        networks.sort_unstable();
        networks.dedup();
        if networks.len() >= 2 {
            for &i in members {
                if down_now(&sightings[i]) {
                    failing[i] = true;
                }
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

/// A target's pooled window across vantage points: signals, failures, the
/// failures per network that saw it fail, and its pairs that failed at all.
type Pooled<'a> = (u32, u32, BTreeMap<&'a str, u32>, Vec<usize>);

/// A gray failure (a firewall dropping a share of packets) rarely pushes one
/// pair over the failing bar within its window, but the same target failing
/// now and then from several networks adds up. When a target's pooled
/// failures across vantage points clear twice the per-pair minimum and the
/// failing ratio, from at least two networks, its pairs that failed at all
/// count as failing.
fn mark_gray_failures(
    sightings: &[Sighting<'_>],
    params: &Params,
    failing: &mut [bool],
    by_a_hop: impl Fn(usize) -> bool,
) {
    let mut pooled: HashMap<TargetKey<'_>, Pooled<'_>> = HashMap::new();
    for (i, o) in sightings.iter().enumerate() {
        if by_a_hop(i)
            || !o.window.fresh
            || o.window.total == 0
            || matches!(
                o.window.dominant_class,
                ErrorClass::PolicyDrift | ErrorClass::ProbeInternal
            )
        {
            continue;
        }
        let e = pooled.entry(target_key(o)).or_default();
        e.0 += o.window.total;
        e.1 += o.window.failures;
        if o.window.failures > 0 && !o.window.recovering() {
            *e.2.entry(o.network).or_default() += o.window.failures;
            // A single old failure is what noise looks like: pooled, it
            // counts, but it does not make its pair a witness.
            if o.window.failures >= 2 || o.window.last_failed {
                e.3.push(i);
            }
        }
    }
    for (total, failures, networks, members) in pooled.values() {
        let ratio = f64::from(*failures) / f64::from((*total).max(1));
        // Two networks must each see it more than once: a stray failure of
        // noise beside one network's real failures is no second witness.
        let witnesses = networks.values().filter(|&&n| n >= 2).count();
        if *failures >= params.min_failures * 2 && ratio >= params.failing_ratio && witnesses >= 2 {
            for &i in members {
                failing[i] = true;
            }
        }
    }
}
