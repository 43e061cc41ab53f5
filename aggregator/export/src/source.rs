//! Where exporters read live values from: the latest published snapshot
//! (the agents' self-reported drops included), the ingest counters and the
//! alert receivers' delivery counters.
//!
//! Owns copying those values out (cheap, lock-free reads). It must not change
//! any of them, and must not reach into the store: what exporters know of an
//! agent is what the snapshot says.

use std::sync::Arc;

use tokio::sync::watch;

use super::catalog::Inputs;
use vigil_alert::AlertStats;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::{ApiDenials, IngestCounters};

/// A cheap, cloneable handle on everything the catalog needs.
#[derive(Clone)]
pub struct MetricSource {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    counters: Arc<IngestCounters>,
    denials: Arc<ApiDenials>,
    alerts: Option<Arc<AlertStats>>,
    vantage_series: bool,
}

impl MetricSource {
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        counters: Arc<IngestCounters>,
        denials: Arc<ApiDenials>,
        alerts: Option<Arc<AlertStats>>,
        vantage_series: bool,
    ) -> Self {
        Self {
            snapshots,
            counters,
            denials,
            alerts,
            vantage_series,
        }
    }

    /// The values now.
    pub fn inputs(&self) -> Inputs {
        Inputs {
            snapshot: Arc::clone(&self.snapshots.borrow()),
            ingest: self.counters.snapshot(),
            denials: self.denials.counts(),
            receivers: self.alerts.as_ref().map(|a| a.totals()).unwrap_or_default(),
            vantage_series: self.vantage_series,
        }
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }
}
