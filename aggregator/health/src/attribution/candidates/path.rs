//! The paths probes take through the estate, and how each shared hop fares.
//!
//! A probe's packets cross a few hops that other probes share: the
//! observer's way out of its spoke (its peering and routes), the hub's
//! forwarding between spokes and to the internet (the firewall and its
//! SNAT), and the way into the target's spoke. The model and the networks
//! already imply them: which network observes, which network the target
//! lives in (`target_network`), and whether the probe is egress through the
//! firewall. A failure pattern is explained by the hop whose paths it covers
//! and only those, as in network tomography (Pingmesh, 007, NetBouncer).
//!
//! Owns the path of a probe and the per-hop tallies computed once per pass.
//! It must not point, score or decide.

use std::collections::{BTreeSet, HashMap};

use vigil_proto::v1::{ErrorClass, Layer, ProbeKind};

use super::prepare::{Prepared, TargetKey};
use crate::attribution::{Params, Sighting, Suspect};

/// A hop several probes share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Hop<'a> {
    /// One spoke's connection to the hub, both ways: its peering and its
    /// routes. Leaving it and entering it are one hop, because a broken
    /// peering or a blackholed route breaks both (replies are lost).
    Spoke(&'a str),
    /// The hub's forwarding path: spoke to spoke and spoke to internet,
    /// through the firewall and its SNAT. Traffic delivered to a hub
    /// service and the hub's own traffic do not cross it.
    Forward,
}

/// The shared hops of one probe, in the order its packets meet them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Path<'a> {
    /// Leaves the observer's spoke.
    pub out: Option<&'a str>,
    /// Crosses the hub's forwarding.
    pub forward: bool,
    /// Enters the target's spoke.
    pub into: Option<&'a str>,
}

impl<'a> Path<'a> {
    /// The path of `o` as the model and networks imply it. `firewall` is the
    /// hub component that stands for the forwarding path.
    pub fn of(o: &Sighting<'a>, hub: &str, firewall: Option<&str>) -> Self {
        let target = o.target_network.filter(|t| *t != o.network);
        if o.network == hub {
            // The hub's own traffic leaves it straight over a peering.
            return Path {
                into: target,
                ..Path::default()
            };
        }
        let out = Some(o.network);
        match target {
            Some(t) if t == hub => Path {
                out,
                ..Path::default()
            },
            Some(t) => Path {
                out,
                forward: true,
                into: Some(t),
            },
            None => {
                let egress = matches!(o.kind, ProbeKind::Egress | ProbeKind::Firewall)
                    || (firewall == Some(o.component) && o.layer == Layer::PlatformHub);
                match o.layer {
                    _ if egress => Path {
                        out,
                        forward: true,
                        into: None,
                    },
                    Layer::PlatformHub | Layer::PlatformSpokeConnectivity => Path {
                        out,
                        ..Path::default()
                    },
                    _ => Path::default(),
                }
            }
        }
    }

    pub fn crosses(&self, hop: Hop<'_>) -> bool {
        match hop {
            Hop::Forward => self.forward,
            Hop::Spoke(n) => self.out == Some(n) || self.into == Some(n),
        }
    }

    /// The shared hops, each once.
    pub fn hops(&self) -> impl Iterator<Item = Hop<'a>> + '_ {
        let forward = self.forward.then_some(Hop::Forward);
        let into = self.into.filter(|t| Some(*t) != self.out).map(Hop::Spoke);
        self.out
            .map(Hop::Spoke)
            .into_iter()
            .chain(forward)
            .chain(into)
    }

    /// Whether the probe leaves its observer's spoke at all.
    pub fn is_local(&self) -> bool {
        self.out.is_none() && self.into.is_none()
    }
}

/// Signals and failures of the pairs crossing one hop.
#[derive(Clone, Debug, Default)]
pub(super) struct HopTally<'a> {
    pub signals: u64,
    /// Failures of the targets the hop covers.
    pub failures: u64,
    /// Failures of every pair crossing the hop.
    pub crossing_failures: u64,
    /// Failing pairs through the hop whose target fails on no path that
    /// avoids it: what the hop can explain.
    pub explainable: Vec<usize>,
    /// Observer networks and targets among `explainable`.
    pub networks: BTreeSet<&'a str>,
    pub targets: BTreeSet<TargetKey<'a>>,
}

impl HopTally<'_> {
    fn ratio(&self) -> f64 {
        self.failures as f64 / self.signals.max(1) as f64
    }
}

/// A hop whose paths fail together: how much it explains and how sure the
/// pattern is.
#[derive(Clone, Copy, Debug)]
pub(super) struct HopCause {
    /// Failing pairs the hop explains.
    pub explains: usize,
    /// 1 − (failure ratio around the hop ÷ through it), times breadth.
    pub confidence: f64,
}

/// The hops that cover a target's failures: its failures fall on the pairs
/// crossing the hop, and the pairs avoiding it fail at most a third as
/// often (a stray failure of noise elsewhere does not clear a hop).
fn covering_hops<'a>(
    members: &[usize],
    of: &[Path<'a>],
    sightings: &[Sighting<'_>],
    path_failures: &impl Fn(usize) -> u32,
) -> Vec<Hop<'a>> {
    let mut hops: Vec<Hop<'a>> = Vec::new();
    for &i in members.iter().filter(|&&i| path_failures(i) > 0) {
        for h in of[i].hops() {
            if !hops.contains(&h) {
                hops.push(h);
            }
        }
    }
    hops.retain(|&h| {
        let (mut tf, mut ts, mut af, mut avs) = (0u64, 0u64, 0u64, 0u64);
        for &i in members {
            let w = &sightings[i].window;
            if !w.fresh || w.total == 0 {
                continue;
            }
            let (f, n) = (u64::from(path_failures(i)), u64::from(w.total));
            if of[i].crosses(h) {
                (tf, ts) = (tf + f, ts + n);
            } else {
                (af, avs) = (af + f, avs + n);
            }
        }
        let through = tf as f64 / ts.max(1) as f64;
        let around = af as f64 / avs.max(1) as f64;
        // Failing pairs avoiding the hop are few beside those crossing it;
        // one stray failure of noise among them does not clear the hop.
        let avoiding_failures_few = af <= (tf / 4).max(1);
        tf > 0 && around * 3.0 <= through && avoiding_failures_few
    });
    hops
}

/// Per pass: every pair's path and the hops whose paths fail together.
pub(super) struct Paths<'a> {
    pub of: Vec<Path<'a>>,
    /// Hops that explain a failure pattern, with their strength.
    pub causes: HashMap<Hop<'a>, HopCause>,
    /// For each hop cause, its explainable failing pairs.
    pub explainable: HashMap<Hop<'a>, BTreeSet<usize>>,
    /// For each target, the hops that cover its failures.
    covered: HashMap<TargetKey<'a>, Vec<Hop<'a>>>,
}

impl<'a> Paths<'a> {
    /// Tallies every hop over the pass; a target's pairs are its group.
    pub fn new(
        sightings: &[Sighting<'a>],
        hub: &str,
        firewall: Option<&str>,
        groups: &HashMap<TargetKey<'a>, Vec<usize>>,
        params: &Params,
    ) -> Self {
        let of: Vec<Path<'a>> = sightings
            .iter()
            .map(|o| Path::of(o, hub, firewall))
            .collect();
        // Failures that say something about a path: not a recovering pair's
        // old ones, not a policy verdict, not a probe's own trouble.
        let path_failures = |i: usize| -> u32 {
            let w = &sightings[i].window;
            let says_nothing = matches!(
                w.dominant_class,
                ErrorClass::PolicyDrift | ErrorClass::ProbeInternal
            );
            if !w.fresh || w.recovering() || says_nothing {
                0
            } else {
                w.failures
            }
        };
        let mut tallies: HashMap<Hop<'a>, HopTally<'a>> = HashMap::new();
        let (mut all_signals, mut all_failures) = (0u64, 0u64);
        let mut covered: HashMap<TargetKey<'a>, Vec<Hop<'a>>> = HashMap::new();
        for (key, members) in groups {
            let shared = covering_hops(members, &of, sightings, &path_failures);
            if !shared.is_empty() {
                covered.insert(*key, shared.clone());
            }
            // A target failing on paths that no one hop covers (from inside
            // its own spoke as from everywhere else) fails for its own
            // reasons: it says nothing about any hop, for or against.
            let failing_pairs = members.iter().filter(|&&i| path_failures(i) > 0).count();
            if shared.is_empty() && failing_pairs >= 2 {
                continue;
            }
            for &i in members {
                let o = &sightings[i];
                if !o.window.fresh || o.window.total == 0 {
                    continue;
                }
                let (signals, failures) = (u64::from(o.window.total), path_failures(i));
                all_signals += signals;
                all_failures += u64::from(failures);
                for hop in of[i].hops() {
                    let t = tallies.entry(hop).or_default();
                    t.signals += signals;
                    t.crossing_failures += u64::from(failures);
                    // Failures of a target the hop does not cover are some
                    // other cause's: they do not count for it. A wrong
                    // egress IP proves the traffic did not leave through
                    // the hub's forwarding (a wrong SNAT, which every spoke
                    // sees, is judged by the pointing rules).
                    let counts = shared.contains(&hop)
                        && !(hop == Hop::Forward
                            && o.window.dominant_class == ErrorClass::EgressIpMismatch);
                    if counts {
                        t.failures += u64::from(failures);
                    }
                    if failures > 0 && counts {
                        t.explainable.push(i);
                        t.networks.insert(o.network);
                        t.targets.insert(*key);
                    }
                }
            }
        }
        let mut causes = HashMap::new();
        let mut explainable = HashMap::new();
        for (hop, t) in tallies {
            // Around the hop: the pairs that do not cross it at all.
            let around = HopTally {
                signals: all_signals - t.signals,
                failures: all_failures - t.crossing_failures,
                ..HopTally::default()
            };
            let (through, outside) = (t.ratio(), around.ratio());
            // Several targets, and for the forwarding path several spokes:
            // one target failing is that target's business.
            let breadth = match hop {
                Hop::Forward => t.networks.len().min(t.targets.len()),
                Hop::Spoke(_) => t.targets.len(),
            };
            // At the onset of a gray loss the window still holds the
            // healthy signals from before it, so the ratio through the hop
            // lags; failures that the estate's background rate (the paths
            // around it, and no less than a tenth of the failing ratio)
            // would almost never produce count as soon as they are there.
            let background = outside.max(params.failing_ratio / 10.0);
            let holds = t.failures >= u64::from(params.min_failures) * 2
                && (through >= params.failing_ratio
                    || unlikely_as_noise(t.failures, t.signals, background))
                && through >= 3.0 * outside
                && breadth >= 2;
            if !holds {
                continue;
            }
            let confidence =
                (1.0 - outside / through) * (1.0 - 0.25f64.powi(breadth.min(8) as i32));
            causes.insert(
                hop,
                HopCause {
                    explains: t.explainable.len(),
                    confidence: confidence.clamp(0.0, 1.0),
                },
            );
            explainable.insert(hop, t.explainable.into_iter().collect());
        }
        if causes.len() >= 2 {
            let fails_on = |i: usize, hop: Hop<'a>| -> u32 {
                let covers = covered
                    .get(&super::prepare::target_key(&sightings[i]))
                    .is_some_and(|c| c.contains(&hop));
                if covers { path_failures(i) } else { 0 }
            };
            drop_dominated(
                &mut causes,
                &mut explainable,
                &of,
                sightings,
                &fails_on,
                params,
            );
        }
        Paths {
            of,
            causes,
            explainable,
            covered,
        }
    }

    /// Every pair on `hop`'s paths whose target the hop covers, healthy
    /// ones included: those that can show the hop still passes traffic.
    pub fn through<'h>(
        &'h self,
        hop: Hop<'h>,
        sightings: &'h [Sighting<'_>],
    ) -> impl Iterator<Item = usize> + 'h {
        self.of.iter().enumerate().filter_map(move |(i, path)| {
            let covers = self
                .covered
                .get(&super::prepare::target_key(&sightings[i]))
                .is_some_and(|c| c.contains(&hop));
            (covers && path.crosses(hop)).then_some(i)
        })
    }

    /// Pairs a hop cause explains that are below the failing bar on their
    /// own, where their target has at least two such pairs through the hop:
    /// a gray failure of a shared hop, pooled over every path through it.
    pub fn pooled(&self, failing: &[bool], sightings: &[Sighting<'_>]) -> Vec<usize> {
        let mut out = Vec::new();
        for pairs in self.explainable.values() {
            let mut per_target: HashMap<TargetKey<'_>, Vec<usize>> = HashMap::new();
            for &i in pairs.iter() {
                per_target
                    .entry(super::prepare::target_key(&sightings[i]))
                    .or_default()
                    .push(i);
            }
            for members in per_target.values() {
                if members.len() >= 2 || members.iter().any(|&i| failing[i]) {
                    out.extend(members.iter().copied().filter(|&i| !failing[i]));
                }
            }
        }
        out
    }

    /// Whether a hop cause explains pair `i`'s failures.
    pub fn explained_by_a_cause(&self, i: usize) -> bool {
        self.explainable.values().any(|e| e.contains(&i))
    }

    /// The hop cause that explains failing pair `i`, if any: the one that
    /// explains the most, ties to the surest.
    pub fn cause_of(&self, i: usize) -> Option<(Hop<'a>, HopCause)> {
        if self.causes.is_empty() {
            return None;
        }
        self.of[i]
            .hops()
            .filter(|h| self.explainable.get(h).is_some_and(|e| e.contains(&i)))
            .filter_map(|h| self.causes.get(&h).map(|c| (h, *c)))
            .max_by(|(_, a), (_, b)| {
                a.explains
                    .cmp(&b.explains)
                    .then(a.confidence.total_cmp(&b.confidence))
            })
    }
}

/// Whether `failures` among `signals` would arise from a background
/// failure rate `rate` less than once in 100,000 windows (a Poisson tail).
fn unlikely_as_noise(failures: u64, signals: u64, rate: f64) -> bool {
    let lambda = signals as f64 * rate;
    let f = failures as f64;
    if f > 10.0 * lambda + 30.0 {
        return true;
    }
    // P(X ≥ f) = 1 − Σ_{k<f} e^−λ λ^k / k!
    let (mut term, mut below) = ((-lambda).exp(), 0.0);
    for k in 0..failures {
        below += term;
        term *= lambda / (k + 1) as f64;
    }
    1.0 - below < 1e-5
}

/// How the paths that cross one hop cause but not another fare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Apart {
    /// No decided pair crosses the one without the other.
    Empty,
    Healthy,
    Failing,
}

/// Two hop causes whose paths overlap (a spoke's connection and the hub's
/// forwarding, for that spoke's traffic through the firewall) both look
/// failing when either fails. What tells them apart is the paths that cross
/// one and not the other: the hop whose own paths are healthy there is
/// explained away by the other, which keeps what it explained on the paths
/// they share. When neither has failing paths of its own, the stronger one
/// stands for both; when both do, both are causes.
fn drop_dominated<'a>(
    causes: &mut HashMap<Hop<'a>, HopCause>,
    explainable: &mut HashMap<Hop<'a>, BTreeSet<usize>>,
    of: &[Path<'a>],
    sightings: &[Sighting<'_>],
    fails_on: &impl Fn(usize, Hop<'a>) -> u32,
    params: &Params,
) {
    // Strongest first, so of two causes with no paths of their own the
    // stronger is kept.
    let mut order: Vec<(Hop<'a>, HopCause)> = causes.iter().map(|(h, c)| (*h, *c)).collect();
    order.sort_by(|(ha, a), (hb, b)| {
        b.explains
            .cmp(&a.explains)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(ha.cmp(hb))
    });
    let apart = |a: Hop<'a>, b: Hop<'a>| -> Apart {
        let (mut signals, mut failures, mut through_s, mut through_f) = (0u64, 0u64, 0u64, 0u64);
        for (i, path) in of.iter().enumerate() {
            let w = &sightings[i].window;
            if !w.fresh || w.total == 0 || !path.crosses(a) {
                continue;
            }
            let f = u64::from(fails_on(i, a));
            (through_s, through_f) = (through_s + u64::from(w.total), through_f + f);
            if !path.crosses(b) {
                (signals, failures) = (signals + u64::from(w.total), failures + f);
            }
        }
        if signals == 0 {
            return Apart::Empty;
        }
        let ratio = failures as f64 / signals as f64;
        let through = through_f as f64 / through_s.max(1) as f64;
        if ratio >= params.failing_ratio && ratio * 3.0 >= through {
            Apart::Failing
        } else {
            Apart::Healthy
        }
    };
    // Moves what `from` explained on the paths it shares with `to` over to
    // `to`, and drops `from`.
    let mut merge = |from: Hop<'a>, to: Hop<'a>| {
        causes.remove(&from);
        let moved: Vec<usize> = explainable
            .remove(&from)
            .unwrap_or_default()
            .into_iter()
            .filter(|&i| of[i].crosses(to))
            .collect();
        let into = explainable.entry(to).or_default();
        into.extend(moved);
        let n = into.len();
        if let Some(c) = causes.get_mut(&to) {
            c.explains = n;
        }
    };
    let mut kept: Vec<Hop<'a>> = Vec::new();
    'next: for (hop, _) in order {
        let mut j = 0;
        while j < kept.len() {
            let k = kept[j];
            match (apart(hop, k), apart(k, hop)) {
                // Failing on paths of its own: a cause by itself.
                (Apart::Failing, Apart::Failing) => j += 1,
                // Its paths are within the stronger one's, which is healthy
                // apart from them: it is the narrower explanation.
                (Apart::Failing | Apart::Empty, Apart::Healthy) => {
                    merge(k, hop);
                    kept.remove(j);
                }
                (Apart::Failing, Apart::Empty) => {
                    merge(k, hop);
                    kept.remove(j);
                }
                // Healthy on its own paths, or no paths of its own while
                // the stronger one has failing or no paths apart: explained
                // away.
                _ => {
                    merge(hop, k);
                    continue 'next;
                }
            }
        }
        kept.push(hop);
    }
}

/// The shared hop a suspect stands for: a spoke's connection, or the hub's
/// forwarding for its firewall component.
impl<'a> Prepared<'a> {
    pub fn hop_of<'s>(&self, suspect: &'s Suspect) -> Option<Hop<'s>>
    where
        'a: 's,
    {
        match suspect {
            Suspect::Connectivity { network } => Some(Hop::Spoke(network.as_str())),
            Suspect::Hub { component } if self.firewall == Some(component.as_str()) => {
                Some(Hop::Forward)
            }
            _ => None,
        }
    }
}
