//! The running demo's control endpoint on loopback, and the client that
//! `vigil inject` / `vigil restore` use to reach it.
//!
//! Protocol (plain HTTP, JSON answers):
//! - `POST /inject/{FAULT}` and `POST /restore/{FAULT}` answer 200
//!   `{"fault": KEY, "active": [KEY...]}`, 400 `{"error": ...}` for an unknown
//!   key, 500 `{"error": ...}` when the fault could not be applied;
//! - `GET /faults` answers `{"faults": [{"key", "description", "active"}]}`.
//!
//! Owns the wire format on both ends. It must not apply faults itself; it
//! calls the demo's [`FaultSwitch`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fault::DemoFault;

/// The default control address of `vigil demo`.
pub const DEFAULT_CONTROL: &str = "127.0.0.1:7409";

/// What the control endpoint drives: the running demo.
pub trait FaultSwitch: Send + Sync + 'static {
    /// Injects (`active = true`) or restores a fault; returns the active set.
    fn switch(
        &self,
        fault: DemoFault,
        active: bool,
    ) -> impl Future<Output = Result<BTreeSet<DemoFault>, String>> + Send;
    /// The faults active now.
    fn active(&self) -> impl Future<Output = BTreeSet<DemoFault>> + Send;
}

/// Answer to an inject or restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchReply {
    pub fault: String,
    pub active: Vec<String>,
}

/// One row of `GET /faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRow {
    pub key: String,
    pub description: String,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FaultList {
    faults: Vec<FaultRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ErrorReply {
    error: String,
}

/// The serving control endpoint.
pub struct ControlServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl ControlServer {
    /// Serves on an already bound listener.
    pub fn serve<S: FaultSwitch>(listener: TcpListener, switch: Arc<S>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let router = Router::new()
            .route("/inject/{fault}", post(inject::<S>))
            .route("/restore/{fault}", post(restore::<S>))
            .route("/faults", get(list::<S>))
            .with_state(switch);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // Also ends when the owner is dropped without stopping.
                    let _ = stopped.await;
                })
                .await
            {
                tracing::error!(error = %e, "demo control endpoint failed");
            }
        });
        Ok(Self { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and releases the port.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "demo control endpoint ended abnormally");
        }
    }
}

async fn inject<S: FaultSwitch>(State(s): State<Arc<S>>, Path(key): Path<String>) -> Response {
    switch(&*s, &key, true).await
}

async fn restore<S: FaultSwitch>(State(s): State<Arc<S>>, Path(key): Path<String>) -> Response {
    switch(&*s, &key, false).await
}

async fn switch<S: FaultSwitch>(s: &S, key: &str, active: bool) -> Response {
    let fault = match key.parse::<DemoFault>() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match s.switch(fault, active).await {
        Ok(set) => Json(SwitchReply {
            fault: fault.to_string(),
            active: set.iter().map(ToString::to_string).collect(),
        })
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn list<S: FaultSwitch>(State(s): State<Arc<S>>) -> Json<FaultList> {
    let active = s.active().await;
    Json(FaultList {
        faults: DemoFault::all()
            .into_iter()
            .map(|f| FaultRow {
                key: f.to_string(),
                description: f.description(),
                active: active.contains(&f),
            })
            .collect(),
    })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorReply { error: message })).into_response()
}

/// Why the control client failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "no running demo answers at {addr} ({reason}); start one with `vigil demo`, or point at it with --control ADDR"
    )]
    Unreachable { addr: String, reason: String },
    #[error("the demo refused: {0}")]
    Refused(String),
    #[error("the demo at {addr} sent an answer that is not understood: {reason}")]
    BadReply { addr: String, reason: String },
}

/// Talks to a running demo's control endpoint.
pub struct ControlClient {
    base: String,
    addr: String,
    http: reqwest::Client,
}

impl ControlClient {
    /// `addr` is `host:port` (as printed by `vigil demo`).
    pub fn new(addr: &str) -> Result<Self, ControlError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ControlError::Unreachable {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?;
        let trimmed = addr.trim_start_matches("http://").trim_end_matches('/');
        Ok(Self {
            base: format!("http://{trimmed}"),
            addr: trimmed.to_owned(),
            http,
        })
    }

    pub async fn inject(&self, fault: DemoFault) -> Result<SwitchReply, ControlError> {
        self.post(&format!("/inject/{fault}")).await
    }

    pub async fn restore(&self, fault: DemoFault) -> Result<SwitchReply, ControlError> {
        self.post(&format!("/restore/{fault}")).await
    }

    pub async fn list(&self) -> Result<Vec<FaultRow>, ControlError> {
        let response = self
            .http
            .get(format!("{}/faults", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let list: FaultList = self.decode(response).await?;
        Ok(list.faults)
    }

    async fn post(&self, path: &str) -> Result<SwitchReply, ControlError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.decode(response).await
    }

    async fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ControlError> {
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return serde_json::from_str(&body).map_err(|e| ControlError::BadReply {
                addr: self.addr.clone(),
                reason: e.to_string(),
            });
        }
        match serde_json::from_str::<ErrorReply>(&body) {
            Ok(reply) => Err(ControlError::Refused(reply.error)),
            Err(_) => Err(ControlError::BadReply {
                addr: self.addr.clone(),
                reason: format!(
                    "HTTP {status}: {}",
                    body.chars().take(200).collect::<String>()
                ),
            }),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> ControlError {
        ControlError::Unreachable {
            addr: self.addr.clone(),
            reason: vigil_client::error_chain(e),
        }
    }
}

impl ControlError {
    /// 2 when no demo answers (like an unreachable aggregator), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ControlError::Unreachable { .. } => 2,
            ControlError::Refused(_) | ControlError::BadReply { .. } => 1,
        }
    }
}
