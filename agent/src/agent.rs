//! Assembles a running agent from a validated config: builds the probes,
//! starts the batcher, the ingest stream, one task per probe, the admin
//! server and (when configured) the OTLP export, and stops them in order. Owns lifecycle only; it must not parse
//! config or implement probes or delivery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vigil_proto::v1::{Hello, ProbeDeclarations};

use crate::admin::{self, AdminState};
use crate::config::AgentConfig;
use crate::export::{ExportError, OtlpExport};
use crate::metrics::ProbeTable;
use crate::probe::{self, ProbeBuildError};
use crate::schedule::{self, Tally};
use crate::shipper::{Backoff, Batcher, Counters, Outbox, Shipper};

/// How long `shutdown` keeps trying to deliver buffered batches.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Finished probe runs waiting for the batcher; probes wait (never drop)
/// when it lags.
const PENDING_RUNS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Probe(#[from] ProbeBuildError),
    /// `aggregator.tls` names files that cannot be used.
    #[error("aggregator.tls: {0}")]
    Tls(#[from] vigil_trust::TrustError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("cannot listen on {addr} for /healthz, /readyz and /metrics: {source}")]
    AdminBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A cheap snapshot of the agent's delivery state.
#[derive(Clone, Debug, Default)]
pub struct AgentStats {
    pub signals_produced: u64,
    pub signals_acked: u64,
    pub signals_dropped: u64,
    /// Signals held for (re)delivery, not yet acknowledged.
    pub buffered: u64,
    pub connected: bool,
    /// Connection attempts made after a failed or lost stream.
    pub reconnects: u64,
    pub batches_rejected: u64,
}

pub struct Agent;

impl Agent {
    /// Starts everything and returns once probes are scheduled.
    pub async fn start(config: AgentConfig) -> Result<AgentHandle, AgentError> {
        // Read once now so a wrong path fails the start, not every reconnect.
        if let Some(tls) = &config.aggregator.tls {
            tls.files.read_pem()?;
        }
        let mut builder = probe::Builder::default();
        let probes = config
            .probes
            .iter()
            .map(|p| builder.build(p))
            .collect::<Result<Vec<_>, _>>()?;
        let admin_listener = match config.admin.listen {
            Some(addr) => Some(
                admin::bind(addr)
                    .await
                    .map_err(|source| AgentError::AdminBind { addr, source })?,
            ),
            None => None,
        };

        let probe_table = Arc::new(ProbeTable::new(&config.probes));
        // Started before any task so a bad exporter setting fails the start
        // cleanly; inside the runtime because the SDK spawns its reader there.
        let otlp = match &config.export.otlp {
            Some(settings) => Some(OtlpExport::start(
                settings,
                &config.agent,
                probe_table.clone(),
            )?),
            None => None,
        };

        let counters = Arc::new(Counters::default());
        let outbox = Arc::new(Outbox::new(config.delivery.buffer_max_signals));
        let ready = Arc::new(AtomicBool::new(false));
        let stop_probes = CancellationToken::new();
        let stop_shipper = CancellationToken::new();
        let stop_admin = CancellationToken::new();

        let (admin_addr, admin_task) = match admin_listener {
            Some(listener) => {
                let addr = listener.local_addr().ok();
                let state = AdminState {
                    ready: ready.clone(),
                    counters: counters.clone(),
                    outbox: outbox.clone(),
                    probes: probe_table.clone(),
                };
                (
                    addr,
                    Some(admin::serve(listener, state, stop_admin.clone())),
                )
            }
            None => (None, None),
        };

        let declarations = ProbeDeclarations {
            probes: config
                .probes
                .iter()
                .zip(0u32..)
                .map(|(p, i)| probe::declaration(i, p))
                .collect(),
        };
        let hello = Hello {
            agent_id: config.agent.id.clone(),
            incarnation: incarnation(),
            vantage: Some(config.agent.vantage()),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        if config.aggregator.tls.is_none() {
            tracing::warn!(
                endpoint = %config.aggregator.endpoint,
                "streaming to the aggregator in plaintext (an http:// endpoint): anyone on the path can read or forge these signals; use https:// with aggregator.tls in production"
            );
        }
        let shipper = Shipper {
            endpoint: config.aggregator.endpoint.clone(),
            connect_timeout: config.aggregator.connect_timeout,
            tls: config.aggregator.tls.clone(),
            hello,
            declarations,
            outbox: outbox.clone(),
            counters: counters.clone(),
            backoff: Backoff::new(config.delivery.backoff_initial, config.delivery.backoff_max),
        };
        let shipper_task = tokio::spawn(shipper.run(stop_shipper.clone()));

        let (tx, rx) = mpsc::channel(PENDING_RUNS);
        let batcher = Batcher {
            max_signals: config.delivery.batch_max_signals,
            max_delay: config.delivery.batch_max_delay,
            outbox: outbox.clone(),
            counters: counters.clone(),
        };
        let batcher_task = tokio::spawn(batcher.run(rx));

        let probe_tasks = probes
            .into_iter()
            .zip(config.probes.iter())
            .zip(probe_table.cells())
            .zip(0u32..)
            .map(|(((p, c), cell), i)| {
                let tally = Tally {
                    cell: cell.clone(),
                    otlp: otlp.as_ref().map(|o| o.duration_recorder(cell.labels())),
                };
                schedule::spawn(i, p, c, tx.clone(), tally, stop_probes.clone())
            })
            .collect();
        // Only the probe tasks hold senders, so the batcher ends when they do.
        drop(tx);
        ready.store(true, Ordering::Relaxed);
        tracing::info!(
            agent = %config.agent.id,
            network = %config.agent.network,
            probes = config.probes.len(),
            aggregator = %config.aggregator.endpoint,
            admin = ?admin_addr,
            otlp = otlp.is_some(),
            "agent started"
        );

        Ok(AgentHandle {
            admin_addr,
            counters,
            outbox,
            stop_probes,
            stop_shipper,
            stop_admin,
            probe_tasks,
            batcher_task: Some(batcher_task),
            shipper_task: Some(shipper_task),
            admin_task,
            otlp,
        })
    }
}

/// A running agent. Dropping it stops every task without flushing; call
/// `shutdown` to deliver what is buffered first.
pub struct AgentHandle {
    admin_addr: Option<SocketAddr>,
    counters: Arc<Counters>,
    outbox: Arc<Outbox>,
    stop_probes: CancellationToken,
    stop_shipper: CancellationToken,
    stop_admin: CancellationToken,
    probe_tasks: Vec<JoinHandle<()>>,
    batcher_task: Option<JoinHandle<()>>,
    shipper_task: Option<JoinHandle<()>>,
    admin_task: Option<JoinHandle<()>>,
    otlp: Option<OtlpExport>,
}

impl AgentHandle {
    /// The bound address of `/healthz`, `/readyz` and `/metrics`, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn stats(&self) -> AgentStats {
        let c = &self.counters;
        AgentStats {
            signals_produced: c.signals_produced.load(Ordering::Relaxed),
            signals_acked: c.signals_acked.load(Ordering::Relaxed),
            signals_dropped: c.signals_dropped.load(Ordering::Relaxed),
            buffered: self.outbox.buffered_signals(),
            connected: c.connected.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            batches_rejected: c.batches_rejected.load(Ordering::Relaxed),
        }
    }

    /// Stops probes, flushes buffered batches for up to `FLUSH_TIMEOUT`, then
    /// stops the stream, exports the final probe results over OTLP (when
    /// on) and stops the admin server.
    pub async fn shutdown(self) {
        self.shutdown_within(FLUSH_TIMEOUT).await;
    }

    /// `shutdown` with an explicit flush limit.
    pub async fn shutdown_within(mut self, flush: Duration) {
        self.stop_probes.cancel();
        for task in self.probe_tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(task) = self.batcher_task.take() {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + flush;
        let mut changes = self.outbox.subscribe();
        loop {
            changes.borrow_and_update();
            if self.outbox.is_empty() {
                break;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        buffered = self.outbox.buffered_signals(),
                        "stopping with undelivered signals"
                    );
                    break;
                }
            }
        }
        self.stop_shipper.cancel();
        if let Some(task) = self.shipper_task.take() {
            let _ = task.await;
        }
        if let Some(otlp) = self.otlp.take() {
            otlp.shutdown().await;
        }
        self.stop_admin.cancel();
        if let Some(task) = self.admin_task.take() {
            let _ = task.await;
        }
        tracing::info!("agent stopped");
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.stop_probes.cancel();
        self.stop_shipper.cancel();
        self.stop_admin.cancel();
    }
}

/// Chosen once per start: batch sequences restart with each incarnation.
fn incarnation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}
