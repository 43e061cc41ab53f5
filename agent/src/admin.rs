//! The small HTTP server Kubernetes probes: `/healthz` answers while the
//! process runs, `/readyz` once the config is loaded and probes are
//! scheduled (connected or not: the agent buffers while the aggregator is
//! away), `/metrics` the shipper's counters and per-probe run statistics
//! (see `metrics`). It must not expose individual probe results or change
//! agent state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::ProbeTable;
use crate::shipper::{Counters, Outbox};

#[derive(Clone)]
pub struct AdminState {
    pub ready: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    pub outbox: Arc<Outbox>,
    pub probes: Arc<ProbeTable>,
}

#[derive(serde::Serialize)]
struct Readiness {
    ready: bool,
    connected: bool,
    buffered: u64,
    dropped: u64,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<AdminState>) -> (StatusCode, Json<Readiness>) {
    let ready = s.ready.load(Ordering::Relaxed);
    let body = Readiness {
        ready,
        connected: s.counters.connected.load(Ordering::Relaxed),
        buffered: s.outbox.buffered_signals(),
        dropped: s.outbox.dropped_total(),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn metrics(State(s): State<AdminState>) -> ([(header::HeaderName, &'static str); 1], String) {
    let body = crate::metrics::render(&s.counters, &s.outbox, &s.probes);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body)
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub fn serve(listener: TcpListener, state: AdminState, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let result = axum::serve(listener, router(state))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "admin server failed");
        }
    })
}
