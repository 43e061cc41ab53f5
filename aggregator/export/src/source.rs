//! Where exporters read live values from: the latest published snapshot,
//! the ingest counters, the agents' self-reported drops and the alert
//! receivers' delivery counters.
//!
//! Owns copying those values out (cheap, lock-free reads). It must not change
//! any of them, and never holds a store guard beyond one read.

use std::sync::Arc;

use tokio::sync::watch;

use super::catalog::{AgentDrops, Inputs};
use vigil_alert::AlertStats;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::IngestCounters;
use vigil_health::store::Store;

/// A cheap, cloneable handle on everything the catalog needs.
#[derive(Clone)]
pub struct MetricSource {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    counters: Arc<IngestCounters>,
    store: Arc<Store>,
    alerts: Option<Arc<AlertStats>>,
    vantage_series: bool,
}

impl MetricSource {
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        counters: Arc<IngestCounters>,
        store: Arc<Store>,
        alerts: Option<Arc<AlertStats>>,
        vantage_series: bool,
    ) -> Self {
        Self {
            snapshots,
            counters,
            store,
            alerts,
            vantage_series,
        }
    }

    /// The values now.
    pub fn inputs(&self) -> Inputs {
        let snapshot = Arc::clone(&self.snapshots.borrow());
        let agents = self
            .store
            .agents()
            .into_iter()
            .map(|a| AgentDrops {
                network: a.vantage().network.clone(),
                dropped: a.dropped_signals_total(),
                agent: Arc::clone(&a.id),
            })
            .collect();
        Inputs {
            snapshot,
            ingest: self.counters.snapshot(),
            agents,
            receivers: self.alerts.as_ref().map(|a| a.totals()).unwrap_or_default(),
            vantage_series: self.vantage_series,
        }
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }
}
