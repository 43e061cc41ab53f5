//! Starts the observability side of a running aggregator: the `/metrics`
//! route, OTLP metrics push and the alert service, all fed from the
//! snapshot subscription.
//!
//! Owns only their start-up; `server` owns their lifetimes. Nothing here may
//! sit on the evaluation path.

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::AggregatorConfig;
use crate::ingest::IngestCounters;
use vigil_alert::{AlertError, AlertService};
use vigil_export::{ExportError, MetricSource, MetricsExport};
use vigil_health::snapshot::Snapshot;
use vigil_health::store::ApiDenials;

/// Why exporters or alerts could not start.
#[derive(Debug, thiserror::Error)]
pub enum ObservabilityError {
    #[error(transparent)]
    Alerts(#[from] AlertError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// What `server` wires in.
pub(crate) struct Observability {
    /// `/metrics`, to merge into the HTTP router.
    pub router: Option<Router>,
    pub metrics: Option<MetricsExport>,
    pub tasks: Vec<JoinHandle<()>>,
}

pub(crate) fn start(
    config: &AggregatorConfig,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    counters: Arc<IngestCounters>,
    denials: Arc<ApiDenials>,
    stop: CancellationToken,
) -> Result<Observability, ObservabilityError> {
    let mut tasks = Vec::new();
    let alert_stats = if config.alerts.receivers.is_empty() {
        None
    } else {
        // Only `secret_env` is read here, and only because the config names it.
        let env = |k: &str| std::env::var(k).ok();
        let service =
            AlertService::spawn(config.alerts.clone(), snapshots.clone(), &env, stop.clone())?;
        tasks.extend(service.tasks);
        Some(service.stats)
    };
    let source = MetricSource::new(
        snapshots,
        counters,
        denials,
        alert_stats,
        config.export.vantage_series,
    );
    let router = config
        .export
        .prometheus
        .enabled
        .then(|| vigil_export::prometheus::router(source.clone()));
    // The environment was merged into the config by the caller, if at all.
    let settings = config.export.otlp_settings(&|_| None).ok().flatten();
    let metrics = match settings.map(|s| MetricsExport::start(&s, &config.id, source)) {
        Some(Err(e)) => {
            // The aggregator will not start: stop the alert tasks begun above.
            stop.cancel();
            return Err(e.into());
        }
        other => other.transpose()?,
    };
    Ok(Observability {
        router,
        metrics,
        tasks,
    })
}
