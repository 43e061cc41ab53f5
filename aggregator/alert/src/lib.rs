//! vigil-alert: alerts on faults and node states, routed by side, component, layer,
//! network and severity to Alertmanager, a signed JSON webhook, or a
//! Slack-compatible webhook.
//!
//! Owns the alert service: it follows the published snapshots, asks the
//! engine what to say, and hands each receiver its notifications through a
//! bounded queue. It must never block evaluation and never reach into
//! ingest, the store or attribution's internals: what it knows of a fault is
//! what the snapshot says.
#![forbid(unsafe_code)]

pub mod compose;
pub mod config;
pub mod engine;
pub mod payload;
mod receiver;
mod route;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use compose::{Alert, AlertStatus};
pub use config::{AlertsConfig, MinState, ReceiverConfig, ReceiverKind, RouteConfig, RouteMatch};
pub use engine::{AlertEngine, Delivery};
pub use receiver::ReceiverCounters;

use vigil_health::clock::now_unix_ms;
use vigil_health::snapshot::Snapshot;

/// Why alerting could not start.
#[derive(Debug, thiserror::Error)]
#[error("alert receiver `{receiver}`: {problem}; fix: {fix}")]
pub struct AlertError {
    pub receiver: String,
    pub problem: String,
    pub fix: String,
}

/// Delivery counters of every receiver, for `/metrics` and OTLP.
#[derive(Debug, Default)]
pub struct AlertStats {
    receivers: Vec<Arc<ReceiverCounters>>,
}

impl AlertStats {
    pub fn totals(&self) -> Vec<ReceiverTotals> {
        self.receivers
            .iter()
            .map(|c| ReceiverTotals {
                receiver: c.name.clone(),
                sent: c.sent.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                queued: c.queued.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// A running alert service.
pub struct AlertService {
    pub stats: Arc<AlertStats>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl AlertService {
    /// Starts one task per receiver and one that follows `snapshots`. `env`
    /// resolves `secret_env` (the process environment in production).
    pub fn spawn(
        config: AlertsConfig,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        env: &dyn Fn(&str) -> Option<String>,
        stop: CancellationToken,
    ) -> Result<Self, AlertError> {
        let mut queues = Vec::new();
        let mut stats = AlertStats::default();
        let mut tasks = Vec::new();
        for r in &config.receivers {
            let fail = |problem: String| AlertError {
                receiver: r.name.clone(),
                problem,
                fix: "see `alerts.receivers` in docs/observability.md".into(),
            };
            let kind = r.kind(env).map_err(fail)?;
            let (queue, counters, task) = receiver::spawn(
                r.clone(),
                kind,
                config.group_by.clone(),
                config.group_wait,
                stop.clone(),
            )
            .map_err(|e| AlertError {
                receiver: r.name.clone(),
                problem: e,
                fix: "check the receiver's URL".into(),
            })?;
            queues.push(queue);
            stats.receivers.push(counters);
            tasks.push(task);
        }
        let mut engine = AlertEngine::new(config);
        tasks.push(tokio::spawn(async move {
            loop {
                let snap = Arc::clone(&snapshots.borrow_and_update());
                for d in engine.step(&snap, now_unix_ms()) {
                    if let Some(q) = queues.get(d.receiver) {
                        q.offer(d.alert);
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = snapshots.changed() => if changed.is_err() { return },
                }
            }
        }));
        Ok(Self {
            stats: Arc::new(stats),
            tasks,
        })
    }
}

/// One alert receiver's delivery counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverTotals {
    pub receiver: String,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: u64,
}
