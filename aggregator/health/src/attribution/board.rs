//! What one evaluation publishes about faults: the open ones, the recently
//! resolved ones, the observability gaps, and this evaluation's events.
//!
//! Immutable once built and shared through the snapshot; readers (query,
//! exporters, alerts) never reach back into the tracker.

use super::{Fault, FaultEvent, Gap};

#[derive(Debug, Clone, Default)]
pub struct FaultBoard {
    /// Open faults, platform first, then by confidence.
    pub open: Vec<Fault>,
    /// Recently resolved faults, newest first.
    pub resolved: Vec<Fault>,
    pub gaps: Vec<Gap>,
    /// Faults opened, updated or resolved by this evaluation.
    pub events: Vec<FaultEvent>,
}

impl FaultBoard {
    /// The fault with `id`, open or recently resolved.
    pub fn get(&self, id: super::FaultId) -> Option<&Fault> {
        self.open.iter().chain(&self.resolved).find(|f| f.id == id)
    }
}
