//! The second step: where one failing pair points. The way its target fails
//! across vantage points points at the target's own component, at one
//! network's connectivity, or is unclear; so do the error classes that name
//! the path itself.
//!
//! Owns the pointing rules (docs/attribution.md, method step 1) and the path
//! class of a probe. It reads the marks of `prepare` and must not group,
//! score or decide.

use vigil_proto::v1::{ErrorClass, Layer, ProbeKind};

use super::prepare::{GroupNets, Prepared, target_key};
use crate::attribution::{Sighting, Suspect};

/// Which way a failing pair points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Pointer {
    /// At the target's own component (hub service or workload component).
    Component,
    /// At one network's path to the hub.
    Connectivity(String),
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
    pub fn path_class(&self, o: &Sighting<'_>) -> PathClass {
        if let Some(t) = &o.target_network
            && t != &o.network
        {
            return PathClass::Into(t.to_string());
        }
        if self.is_hub(o.network) {
            return PathClass::Local;
        }
        match (o.kind, o.layer) {
            (ProbeKind::Egress | ProbeKind::Firewall, _) => PathClass::Egress,
            (_, Layer::PlatformHub | Layer::PlatformSpokeConnectivity) => PathClass::HubServices,
            _ => PathClass::Local,
        }
    }

    pub fn crosses_hub(&self, o: &Sighting<'_>) -> bool {
        self.path_class(o) != PathClass::Local
    }

    /// Where failing pair `i` points.
    pub fn pointer(&self, i: usize) -> Pointer {
        let o = &self.sightings[i];
        match o.window.dominant_class {
            ErrorClass::PolicyDrift => return Pointer::Component,
            ErrorClass::EgressIpMismatch | ErrorClass::NetworkUnreachable
                if !self.is_hub(o.network) =>
            {
                return Pointer::Connectivity(o.network.to_string());
            }
            _ => {}
        }
        let empty = GroupNets::default();
        let nets = self.group_nets.get(&target_key(o)).unwrap_or(&empty);
        let (fail_nets, ok_nets) = (&nets.failing, &nets.healthy);

        // Into another network: healthy from inside (or the inside is silent)
        // while failing from every outside vantage → that network's path.
        if let Some(t) = o.target_network
            && t != o.network
        {
            let inside_ok = ok_nets.contains(t) && !fail_nets.contains(t);
            let inside_silent = self.silent_networks.contains(t);
            let outside_ok = ok_nets.iter().any(|n| *n != t);
            if (inside_ok || inside_silent) && !outside_ok {
                return Pointer::Connectivity(t.to_string());
            }
        } else if o.layer == Layer::PlatformSpokeConnectivity && !self.is_hub(o.network) {
            // A probe of the observer's own path to the hub.
            return Pointer::Connectivity(o.network.to_string());
        }
        if fail_nets.len() >= 2 {
            return if fail_nets.len() >= ok_nets.len() {
                Pointer::Component
            } else {
                Pointer::Unclear
            };
        }
        if !ok_nets.is_empty() {
            // Fails from this network only, fine from others.
            return if self.crosses_hub(o) {
                Pointer::Connectivity(o.network.to_string())
            } else {
                Pointer::Unclear
            };
        }
        // Only this network sees the target. Decide by its other paths across
        // the hub: if they fail too, the path is the common factor.
        if !self.crosses_hub(o) {
            return Pointer::Component;
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

    /// The suspect a pair pointing at its own component names.
    pub fn component_suspect(&self, o: &Sighting<'_>) -> Suspect {
        match o.layer {
            Layer::PlatformHub => Suspect::Hub {
                component: o.component.to_string(),
            },
            Layer::PlatformSpokeConnectivity => Suspect::Connectivity {
                network: o.network.to_string(),
            },
            _ => Suspect::Workload {
                component: o.component.to_string(),
            },
        }
    }
}
