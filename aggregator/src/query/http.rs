//! The HTTP surface: `/healthz`, `/readyz` and the JSON query API under
//! `/api/v1/` (tree, node, server-sent change events).
//!
//! Owns routes and HTTP status codes. Content comes from `view` (the same
//! messages the gRPC API answers with) rendered as `vigil-render`'s JSON
//! views, the shape `vigil --output json` prints and docs/api/openapi.yaml
//! describes; it must not touch ingest.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use vigil_render::view::{
    ChangesJson, FaultDetailJson, FaultsJson, NodeDetailJson, TreeJson, WhyJson,
};

use super::{fault_view, view, watch as changes};
use vigil_health::snapshot::Snapshot;
use vigil_health::store::Store;

#[derive(Clone)]
pub(crate) struct HttpState {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub store: Arc<Store>,
    /// Set once the model is loaded and ingest is listening.
    pub ready: Arc<AtomicBool>,
    pub shutdown: CancellationToken,
    pub trees: Arc<view::TreeCache>,
    /// Lines `/readyz` adds about settings that weaken security
    /// (`insecure.*`), so a probe's body shows them.
    pub warnings: Arc<[String]>,
}

impl HttpState {
    fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }
}

pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/tree", get(tree))
        .route("/api/v1/nodes/{id}", get(node))
        .route("/api/v1/changes", get(sse))
        .route("/api/v1/faults", get(faults_list))
        .route("/api/v1/faults/{id}", get(fault_one))
        .route("/api/v1/nodes/{id}/why", get(why))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; try /api/v1/tree, /api/v1/nodes/{id}, /api/v1/nodes/{id}/why, /api/v1/faults, /api/v1/changes",
            )
        })
        .with_state(state)
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

async fn readyz(State(s): State<HttpState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        let mut body = String::from("ready\n");
        for w in s.warnings.iter() {
            body.push_str("warning: ");
            body.push_str(w);
            body.push('\n');
        }
        (StatusCode::OK, body).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: ingest not listening yet\n",
        )
            .into_response()
    }
}

async fn tree(State(s): State<HttpState>) -> Json<TreeJson> {
    Json(TreeJson::from(s.trees.tree(&s.latest()).as_ref()))
}

#[derive(Debug, Deserialize)]
struct NodeQuery {
    recent_signals: Option<usize>,
}

async fn node(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Query<NodeQuery>,
) -> Response {
    let snap = s.latest();
    match view::node(&snap, &s.store, &id, q.recent_signals.unwrap_or(0)) {
        Some(detail) => Json(NodeDetailJson::from(&detail)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no node `{id}` in the model; GET /api/v1/tree lists the node ids"),
        ),
    }
}

async fn sse(State(s): State<HttpState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = changes::spawn(s.snapshots.clone(), s.shutdown.clone());
    let events = ReceiverStream::new(rx).map(|msg| {
        let kind = if msg.snapshot { "snapshot" } else { "changes" };
        let data = serde_json::to_string(&ChangesJson::from(&msg)).unwrap_or_default();
        Ok(Event::default().event(kind).data(data))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[derive(Debug, Deserialize)]
struct FaultsQuery {
    #[serde(default)]
    include_resolved: bool,
}

async fn faults_list(State(s): State<HttpState>, Query(q): Query<FaultsQuery>) -> Json<FaultsJson> {
    Json(FaultsJson::new(&fault_view::list(
        &s.latest(),
        q.include_resolved,
    )))
}

async fn fault_one(State(s): State<HttpState>, Path(id): Path<String>) -> Response {
    match fault_view::get(&s.latest(), &id) {
        Ok(r) => Json(FaultDetailJson::from(&r)).into_response(),
        Err(fault_view::FaultLookup::BadId(m)) => error(StatusCode::BAD_REQUEST, &m),
        Err(fault_view::FaultLookup::NotFound(m)) => error(StatusCode::NOT_FOUND, &m),
    }
}

async fn why(State(s): State<HttpState>, Path(id): Path<String>) -> Response {
    match fault_view::why(&s.latest(), &id) {
        Some(w) => Json::<WhyJson>(vigil_render::why::why_view(&w)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no node `{id}` in the model; GET /api/v1/tree lists the node ids"),
        ),
    }
}
