//! One attribution step per evaluation: sightings in, an immutable
//! [`FaultBoard`] out. Owns the tracker between evaluations.

use std::sync::Arc;
use std::time::Duration;

use crate::store::SeriesReading;
use vigil_model::Model;

use super::config::AttributionConfig;
use super::observe::{LeafIndex, sightings, topology};
use super::{FaultBoard, FaultTracker, Params, Topology, attribute};

pub struct Attributor {
    leaves: LeafIndex,
    params: Params,
    topology: Topology,
    staleness: Duration,
    tracker: FaultTracker,
}

impl Attributor {
    pub fn new(model: Arc<Model>, config: &AttributionConfig, staleness: Duration) -> Self {
        Attributor {
            topology: topology(
                &model,
                &config.hub_network,
                config.firewall_component.clone(),
            ),
            params: Params {
                // Half the staleness bound: quiet for that long while every
                // probe is due several times over means the agent is gone.
                silence_after_ms: i64::try_from(staleness.as_millis() / 2).unwrap_or(i64::MAX),
                ..config.params()
            },
            tracker: FaultTracker::new(config.tracker()),
            staleness,
            leaves: LeafIndex::new(&model),
        }
    }

    /// Attributes the current window and folds the result into the faults.
    pub fn step(&mut self, now_ms: i64, reading: &SeriesReading) -> Arc<FaultBoard> {
        let seen = sightings(reading, now_ms, self.staleness);
        let verdict = attribute(&seen, &self.topology, &self.params);
        let mut events = self.tracker.observe(&verdict, now_ms);
        for e in &mut events {
            self.leaves.name_nodes(e.fault_mut());
        }
        let with_nodes = |mut f: super::Fault| {
            self.leaves.name_nodes(&mut f);
            f
        };
        Arc::new(FaultBoard {
            open: self.tracker.open().into_iter().map(with_nodes).collect(),
            resolved: self.tracker.closed().into_iter().map(with_nodes).collect(),
            gaps: self.tracker.gaps().to_vec(),
            events,
        })
    }
}
