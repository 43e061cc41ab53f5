//! The second step: where one failing pair points. The way its target fails
//! across vantage points points at the target's own component, at one
//! network's connectivity, or is unclear; so do the error classes that name
//! the path itself.
//!
//! Owns the pointing rules (docs/attribution.md, method step 1) and the path
//! class of a probe. It reads the marks of `prepare` and must not group,
//! score or decide.

use vigil_proto::v1::{ErrorClass, Layer};

use super::path::Hop;
use super::prepare::{GroupNets, Prepared, target_key};
use crate::attribution::{Sighting, Suspect};

/// Which way a failing pair points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Pointer {
    /// At the target's own component (hub service or workload component).
    Component,
    /// At one network's path to the hub.
    Connectivity(String),
    /// At the hub's forwarding path (the firewall and its SNAT).
    Forward,
    /// The evidence cannot tell.
    Unclear,
}

/// The path class of a probe crossing the hub, so that a broken egress route
/// is not contradicted by healthy probes to hub services.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PathClass {
    HubServices,
    Egress,
    Into(String),
    Local,
}

impl Prepared<'_> {
    pub fn path_class(&self, i: usize) -> PathClass {
        let path = &self.paths.of[i];
        match (path.into, path.forward, path.out) {
            (Some(t), _, _) => PathClass::Into(t.to_string()),
            (None, true, _) => PathClass::Egress,
            (None, false, Some(_)) => PathClass::HubServices,
            (None, false, None) => PathClass::Local,
        }
    }

    pub fn crosses_hub(&self, i: usize) -> bool {
        !self.paths.of[i].is_local()
    }

    /// Where failing pair `i` points.
    pub fn pointer(&self, i: usize) -> Pointer {
        let o = &self.sightings[i];
        let empty = GroupNets::default();
        let nets = self.group_nets.get(&target_key(o)).unwrap_or(&empty);
        let (fail_nets, ok_nets) = (&nets.failing, &nets.healthy);
        let into_other = o
            .target_network
            .filter(|t| *t != o.network && !self.is_hub(t));
        match o.window.dominant_class {
            // A policy is the same for every spoke: a deny probe getting
            // through from one spoke, while it stays blocked from the others
            // and that spoke's egress IP proves its traffic leaves another
            // way, is that spoke's route around the firewall.
            ErrorClass::PolicyDrift
                if !self.is_hub(o.network)
                    && self.spokes_failing_alike(i) == 1
                    && ok_nets.iter().any(|n| *n != o.network && !self.is_hub(n))
                    && self.egress_ip_wrong.contains(o.network) =>
            {
                return Pointer::Connectivity(o.network.to_string());
            }
            ErrorClass::PolicyDrift => return Pointer::Component,
            // Every spoke sees the wrong egress address: the shared SNAT.
            ErrorClass::EgressIpMismatch if self.spokes_failing_alike(i) >= 2 => {
                return if self.firewall.is_some() {
                    Pointer::Forward
                } else {
                    Pointer::Component
                };
            }
            ErrorClass::EgressIpMismatch if !self.is_hub(o.network) => {
                // Others starting to see it too: a shared cause still forming.
                return if self.stirring_elsewhere(i) {
                    Pointer::Unclear
                } else {
                    Pointer::Connectivity(o.network.to_string())
                };
            }
            // No route out of the observer's own spoke. A "network
            // unreachable" about a target in another spoke is that spoke's
            // path (the hub has no route to it), judged below.
            ErrorClass::NetworkUnreachable if !self.is_hub(o.network) && into_other.is_none() => {
                return Pointer::Connectivity(o.network.to_string());
            }
            // The hub answering "no route" about a spoke to observers in two
            // networks or more is that spoke's path: a component that fails
            // is refused or times out, it is never unroutable. (From one
            // observer alone, its own routes may be what is broken.)
            ErrorClass::NetworkUnreachable
                if into_other
                    .is_some_and(|t| fail_nets.iter().filter(|n| **n != t).count() >= 2) =>
            {
                if let Some(t) = into_other {
                    return Pointer::Connectivity(t.to_string());
                }
            }
            _ => {}
        }
        // A shared hop whose every path fails, and only those: the hub's
        // forwarding, or one spoke's connection both ways.
        if let Some((hop, _)) = self.paths.cause_of(i) {
            return match hop {
                Hop::Forward => Pointer::Forward,
                Hop::Spoke(n) => Pointer::Connectivity(n.to_string()),
            };
        }

        // Into another network: healthy from inside (or the inside is silent)
        // while failing from every outside vantage → that network's path.
        if let Some(t) = o.target_network
            && t != o.network
        {
            let inside_ok = ok_nets.contains(t) && !fail_nets.contains(t);
            let inside_silent = self.silent_networks.contains(t);
            // A network with one agent failing and one fine is no healthy
            // outside view: at the onset of a cut, the second agent has
            // merely not probed since.
            let outside_ok = ok_nets.iter().any(|n| *n != t && !fail_nets.contains(n));
            if (inside_ok || inside_silent) && !outside_ok {
                return Pointer::Connectivity(t.to_string());
            }
        } else if o.layer == Layer::PlatformSpokeConnectivity && !self.is_hub(o.network) {
            // A probe of the observer's own path to the hub.
            return if self.stirring_elsewhere(i) {
                Pointer::Unclear
            } else {
                Pointer::Connectivity(o.network.to_string())
            };
        }
        if fail_nets.len() >= 2 {
            return if fail_nets.len() >= ok_nets.len() {
                Pointer::Component
            } else {
                Pointer::Unclear
            };
        }
        if !ok_nets.is_empty() {
            // Fails from this network only, fine from others: its path,
            // unless others are starting to fail too (a shared cause whose
            // first sign this network merely crossed the bar with).
            return if !self.crosses_hub(i) || self.stirring_elsewhere(i) {
                Pointer::Unclear
            } else {
                Pointer::Connectivity(o.network.to_string())
            };
        }
        // Only this network sees the target. Decide by its other paths across
        // the hub: if they fail too, the path is the common factor.
        if !self.crosses_hub(i) {
            return Pointer::Component;
        }
        if self.stirring_elsewhere(i) {
            return Pointer::Unclear;
        }
        // The network's other decided paths across the hub: all of its
        // crossing pairs minus those of this very target.
        let (all, all_failing) = self.crossing.get(o.network).copied().unwrap_or_default();
        let (same, same_failing) = self
            .crossing_target
            .get(&(o.network, o.component, o.target))
            .copied()
            .unwrap_or_default();
        let (others, failing_others) = (all - same, all_failing - same_failing);
        if others == 0 {
            return Pointer::Unclear;
        }
        if failing_others * 2 >= others {
            Pointer::Connectivity(o.network.to_string())
        } else {
            Pointer::Component
        }
    }

    /// Whether pairs of the same target from other networks fail the same
    /// way below the bar and have just failed: the pattern is still forming
    /// there. (A stray failure of another class is noise, not the pattern.)
    fn stirring_elsewhere(&self, i: usize) -> bool {
        let o = &self.sightings[i];
        self.groups
            .get(&target_key(o))
            .into_iter()
            .flatten()
            .any(|&j| {
                let w = &self.sightings[j].window;
                self.sightings[j].network != o.network
                    && !self.failing[j]
                    && w.fresh
                    && w.failures > 0
                    && w.last_failed
                    && w.dominant_class == o.window.dominant_class
            })
    }

    /// Spokes whose pairs of the same target fail with the same class as
    /// pair `i`.
    fn spokes_failing_alike(&self, i: usize) -> usize {
        let o = &self.sightings[i];
        let nets: std::collections::BTreeSet<&str> = self
            .groups
            .get(&target_key(o))
            .into_iter()
            .flatten()
            .filter(|&&j| {
                let x = &self.sightings[j];
                self.failing[j]
                    && !self.is_hub(x.network)
                    && x.window.dominant_class == o.window.dominant_class
            })
            .map(|&j| self.sightings[j].network)
            .collect();
        nets.len()
    }

    /// The suspect a pointer names for pair `i`, `None` when unclear.
    pub fn suspect_of(&self, i: usize, pointer: Pointer) -> Option<Suspect> {
        let o = &self.sightings[i];
        match pointer {
            Pointer::Component => Some(self.component_suspect(o)),
            // The hub is not a spoke: it has no connectivity of its own to blame.
            Pointer::Connectivity(network) if self.is_hub(&network) => None,
            Pointer::Connectivity(network) => Some(Suspect::Connectivity { network }),
            Pointer::Forward => self.firewall.map(|c| Suspect::Hub {
                component: c.to_string(),
            }),
            Pointer::Unclear => None,
        }
    }

    /// The suspect a pair pointing at its own component names.
    pub fn component_suspect(&self, o: &Sighting<'_>) -> Suspect {
        // A connectivity probe into another spoke stands for that spoke's
        // path; the hub has none of its own.
        let spoke = o
            .target_network
            .filter(|t| *t != o.network)
            .unwrap_or(o.network);
        match o.layer {
            Layer::PlatformSpokeConnectivity if self.is_hub(spoke) => Suspect::Hub {
                component: o.component.to_string(),
            },
            Layer::PlatformHub => Suspect::Hub {
                component: o.component.to_string(),
            },
            Layer::PlatformSpokeConnectivity => Suspect::Connectivity {
                network: spoke.to_string(),
            },
            _ => Suspect::Workload {
                component: o.component.to_string(),
            },
        }
    }
}
