//! Starts and stops a running aggregator: binds both ports, wires ingest,
//! evaluation and query together, and shuts them down cleanly.
//!
//! Owns task lifetimes and the shutdown signal. It must not contain protocol
//! or scoring logic; those live in `ingest`, `evaluate` and `query`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use vigil_proto::v1::fault_service_server::FaultServiceServer;
use vigil_proto::v1::ingest_service_server::IngestServiceServer;
use vigil_proto::v1::query_service_server::QueryServiceServer;

use crate::access::{Access, GrpcGuardLayer};
use crate::config::{AggregatorConfig, ConfigError};
use crate::ingest::{IngestCounters, IngestEndpoint, IngestStats};
use crate::query::grpc::QueryEndpoint;
use crate::query::http::{self, HttpState};
use crate::query::tree_bytes::{QueryRoutes, TreeBytes};
use crate::query::view::TreeCache;
use crate::trust::{AgentPolicy, Transport, Trust};
use vigil_health::attribution::Attributor;
use vigil_health::clock::now_unix_ms;
use vigil_health::evaluate::Evaluator;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::Store;
use vigil_health::tick::{TickThreads, Ticking};
use vigil_model::Model;

/// How long shutdown waits for a server to drain before aborting it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the aggregator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "cannot listen for {what} on {addr}: {source}; fix: choose a free address in `listen.{what}` or stop the process using it"
    )]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build gRPC server reflection: {0}")]
    Reflection(String),
    #[error("cannot start the evaluation thread: {0}")]
    Evaluator(#[source] std::io::Error),
    #[error(transparent)]
    Observability(#[from] crate::observability::ObservabilityError),
    #[error("TLS: {0}")]
    Trust(#[from] vigil_trust::TrustError),
}

/// What `insecure.plaintext` says at start and in `/readyz`.
const PLAINTEXT_WARNING: &str = "insecure.plaintext is set: gRPC and HTTP are served without TLS and agents are taken at their word (any client can stream as any agent); not for production";

/// Entry point of the library.
pub struct Aggregator;

impl Aggregator {
    /// Binds the gRPC and HTTP ports and starts ingest, evaluation and query.
    /// Returns once both ports are listening.
    pub async fn start(
        config: AggregatorConfig,
        model: Model,
    ) -> Result<AggregatorHandle, StartError> {
        config.validate("aggregator config")?;
        let transport = config.transport("aggregator config")?;
        config.check_access("aggregator config")?;
        let model = Arc::new(model);
        let store = Arc::new(Store::new(
            Arc::clone(&model),
            config.evaluation.window,
            config.evaluation.recent_signals,
        ));
        let counters = Arc::new(IngestCounters::default());
        let shutdown = CancellationToken::new();
        // Any early return below stops what was already spawned.
        let start_guard = shutdown.clone().drop_guard();
        let ready = Arc::new(AtomicBool::new(false));
        let initial = Arc::new(Snapshot::initial(Arc::clone(&model), now_unix_ms()));
        let (snap_tx, snap_rx) = watch::channel(Arc::clone(&initial));
        let access = Access::start(&config.auth, config.insecure.open_api, &shutdown)?;
        let observability = crate::observability::start(
            &config,
            snap_rx.clone(),
            Arc::clone(&counters),
            Arc::clone(&access.denials),
            shutdown.clone(),
        )?;

        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let grpc_listener = bind("grpc", config.listen.grpc).await?;
        let http_listener = bind("http", config.listen.http).await?;
        let local = |what: &'static str, l: &TcpListener, addr: SocketAddr| {
            l.local_addr()
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let grpc_addr = local("grpc", &grpc_listener, config.listen.grpc)?;
        let http_addr = local("http", &http_listener, config.listen.http)?;
        let trust = match &transport {
            Transport::Tls(tls) => Some(Trust::start(tls, &shutdown)?),
            Transport::Plaintext => {
                tracing::warn!("{PLAINTEXT_WARNING}");
                None
            }
        };
        let warnings: Arc<[String]> = [
            (trust.is_none(), PLAINTEXT_WARNING),
            (config.insecure.open_api, crate::access::OPEN_API_WARNING),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| w.to_string())
        .collect();
        let handshakes = Arc::new(vigil_trust::HandshakeCounters::default());

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        for name in [
            "",
            "vigil.v1.IngestService",
            "vigil.v1.QueryService",
            "vigil.v1.FaultService",
        ] {
            health_reporter
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(vigil_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| StartError::Reflection(e.to_string()))?;
        let ingest = IngestServiceServer::new(IngestEndpoint {
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
            limits: config.ingest.clone(),
            aggregator_id: config.id.clone(),
            shutdown: shutdown.clone(),
            agents: trust
                .as_ref()
                .map_or(AgentPolicy::Trusting, |t| t.agents.clone()),
            fairness: IngestEndpoint::fairness(&config.ingest),
        })
        .max_decoding_message_size(config.ingest.max_message_bytes);
        let trees = Arc::new(TreeCache::default());
        let query_endpoint = QueryEndpoint {
            snapshots: snap_rx.clone(),
            store: Arc::clone(&store),
            shutdown: shutdown.clone(),
            trees: Arc::clone(&trees),
        };
        let faults = FaultServiceServer::new(query_endpoint.clone());
        let tree_bytes = Arc::new(TreeBytes::new(&model));
        let warm_trees =
            Arc::clone(&tree_bytes).keep_warm(query_endpoint.snapshots.clone(), shutdown.clone());
        let query = QueryRoutes::new(
            QueryServiceServer::new(query_endpoint.clone()),
            query_endpoint.snapshots.clone(),
            tree_bytes,
        );

        let grpc_task = {
            let stop = shutdown.clone();
            let router = tonic::transport::Server::builder()
                // A cut link leaves an agent's stream half-open with no RST:
                // keepalive pings find it, so the agent shows disconnected.
                .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
                .http2_keepalive_timeout(Some(std::time::Duration::from_secs(5)))
                // One span per RPC (an ingest stream lives as long as its span).
                .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
                .layer(GrpcGuardLayer(access.clone()))
                .add_service(health_service)
                .add_service(reflection)
                .add_service(ingest)
                .add_service(query)
                .add_service(faults);
            let serve: std::pin::Pin<
                Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>,
            > = match &trust {
                Some(t) => {
                    let incoming = vigil_trust::accept_tls(
                        "grpc",
                        grpc_listener,
                        t.grpc.clone(),
                        Arc::clone(&handshakes),
                        stop.clone(),
                    );
                    let incoming =
                        ReceiverStream::new(incoming).map(|(tls, _)| Ok::<_, std::io::Error>(tls));
                    Box::pin(router.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()))
                }
                None => Box::pin(router.serve_with_incoming_shutdown(
                    // Answers are small and awaited: Nagle's algorithm would
                    // hold a response's last segment for the client's delayed
                    // ACK (40 ms on Linux).
                    TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
                    stop.cancelled_owned(),
                )),
            };
            tokio::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "gRPC server failed");
                }
                // Keep health honest for anyone still polling in-process.
                drop(health_reporter);
            })
        };
        let http_task = {
            let mut router = http::router(HttpState {
                snapshots: snap_rx.clone(),
                store: Arc::clone(&store),
                ready: Arc::clone(&ready),
                shutdown: shutdown.clone(),
                trees,
                warnings,
            });
            if let Some(metrics) = observability.router {
                router = router.merge(metrics);
            }
            // After the merge, so `/metrics` is behind the guard too.
            let router = router.layer(axum::middleware::from_fn_with_state(
                access.clone(),
                crate::access::http_guard,
            ));
            let stop = shutdown.clone();
            let limits = config.http.clone();
            match &trust {
                Some(t) => {
                    let listener = vigil_trust::TlsListener {
                        incoming: vigil_trust::accept_tls(
                            "http",
                            http_listener,
                            t.http.clone(),
                            Arc::clone(&handshakes),
                            stop.clone(),
                        ),
                        local: http_addr,
                    };
                    tokio::spawn(crate::http_serve::serve(listener, router, limits, stop))
                }
                None => tokio::spawn(crate::http_serve::serve(
                    http_listener,
                    router,
                    limits,
                    stop,
                )),
            }
        };
        let ticks = TickThreads::start(Ticking {
            store: Arc::clone(&store),
            evaluator: Evaluator::new(Arc::clone(&model), config.evaluation.clone(), initial),
            attributor: Attributor::new(
                Arc::clone(&model),
                &config.attribution,
                config.evaluation.staleness,
            ),
            period: config.evaluation.interval,
            window: config.evaluation.window,
            snapshots: snap_tx,
            stop: shutdown.clone(),
        })
        .map_err(StartError::Evaluator)?;
        ready.store(true, Ordering::Release);
        start_guard.disarm();
        let mut tasks = vec![grpc_task, http_task, warm_trees];
        tasks.extend(observability.tasks);
        tracing::info!(%grpc_addr, %http_addr, nodes = model.nodes().len(), "aggregator listening");
        Ok(AggregatorHandle {
            grpc_addr,
            http_addr,
            counters,
            snapshots: snap_rx,
            shutdown,
            tasks,
            ticks: Some(ticks),
            metrics_export: observability.metrics,
        })
    }
}

/// A running aggregator.
pub struct AggregatorHandle {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    counters: Arc<IngestCounters>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The evaluation and attribution threads; joined on shutdown.
    ticks: Option<TickThreads>,
    metrics_export: Option<vigil_export::MetricsExport>,
}

impl AggregatorHandle {
    /// Ingest, query, gRPC health and reflection.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// `/healthz`, `/readyz` and `/api/v1/...`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn ingest_stats(&self) -> IngestStats {
        self.counters.snapshot()
    }

    /// The latest snapshot now, and every later one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// Ends every stream, stops both servers and releases the ports.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for mut task in self.tasks {
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut task)
                .await
                .is_err()
            {
                tracing::warn!("a server did not drain in time; aborting it");
                task.abort();
                let _ = task.await;
            }
        }
        if let Some(ticks) = self.ticks {
            // The threads see the cancelled token within one tick; joining
            // off the runtime keeps a long tick from stalling a worker.
            match tokio::task::spawn_blocking(move || ticks.join()).await {
                Ok(true) => {}
                Ok(false) => tracing::error!("the evaluation or attribution thread panicked"),
                Err(e) => tracing::error!(error = %e, "cannot join the evaluation threads"),
            }
        }
        if let Some(export) = self.metrics_export {
            export.shutdown().await;
        }
        tracing::info!("aggregator stopped");
    }
}
