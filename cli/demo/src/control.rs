//! The running demo's control endpoint on loopback, and the client that
//! `vigil inject` / `vigil restore` use to reach it.
//!
//! Protocol (HTTPS with the demo's certificate, bearer tokens, JSON
//! answers):
//! - `POST /inject/{FAULT}` and `POST /restore/{FAULT}` need an admin token
//!   and answer 200
//!   `{"fault": KEY, "active": [KEY...]}`, 400 `{"error": ...}` for an unknown
//!   key, 500 `{"error": ...}` when the fault could not be applied;
//! - `GET /faults` needs a read token and answers
//!   `{"faults": [{"key", "description", "active"}]}`;
//! - no or an unknown token is 401, a read token on a switch 403, both
//!   `{"error": ...}`.
//!
//! Owns the wire format on both ends. It must not apply faults itself; it
//! calls the demo's [`FaultSwitch`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vigil_trust::{Credentials, Denial, Reloading, Scope};

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

/// Who may switch faults: the endpoint's TLS settings and the tokens it
/// accepts.
pub struct ControlTrust {
    pub tls: rustls::ServerConfig,
    pub credentials: Credentials,
}

struct Shared<S> {
    switch: Arc<S>,
    credentials: Credentials,
}

/// The serving control endpoint.
pub struct ControlServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl ControlServer {
    /// Serves HTTPS on an already bound listener.
    pub fn serve<S: FaultSwitch>(
        listener: TcpListener,
        switch: Arc<S>,
        trust: ControlTrust,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            switch,
            credentials: trust.credentials,
        });
        let router = Router::new()
            .route("/inject/{fault}", post(inject::<S>))
            .route("/restore/{fault}", post(restore::<S>))
            .route("/faults", get(list::<S>))
            .with_state(shared);
        let stop = CancellationToken::new();
        let tls = vigil_trust::TlsListener {
            incoming: vigil_trust::accept_tls(
                "demo control",
                listener,
                Reloading::fixed(trust.tls),
                Arc::default(),
                stop.clone(),
            ),
            local: addr,
        };
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(tls, router)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
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
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "demo control endpoint ended abnormally");
        }
    }
}

type Ctx<S> = State<Arc<Shared<S>>>;

async fn inject<S: FaultSwitch>(
    State(s): Ctx<S>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    match refusal(&s, &headers, Scope::Admin) {
        None => switch(&*s.switch, &key, true).await,
        Some(refused) => refused,
    }
}

async fn restore<S: FaultSwitch>(
    State(s): Ctx<S>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    match refusal(&s, &headers, Scope::Admin) {
        None => switch(&*s.switch, &key, false).await,
        Some(refused) => refused,
    }
}

/// The answer refusing this request, if it is refused: 401 without a
/// usable token, 403 with one whose scope is too small.
fn refusal<S>(s: &Shared<S>, headers: &HeaderMap, needs: Scope) -> Option<Response> {
    let presented = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    s.credentials
        .authorize(presented, needs)
        .map(|grant| tracing::debug!(who = %grant.who, "demo control request allowed"))
        .err()
        .map(|denial: Denial| {
            tracing::info!(reason = denial.reason(), "demo control request refused");
            let status = if denial.unauthenticated() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            let mut response = error(status, denial.to_string());
            if denial.unauthenticated() {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        })
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

async fn list<S: FaultSwitch>(State(s): Ctx<S>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&s, &headers, Scope::Read) {
        return refused;
    }
    let active = s.switch.active().await;
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
    .into_response()
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
    #[error("cannot talk to the demo at {addr}: {reason}")]
    Setup { addr: String, reason: String },
    #[error("the demo refused: {0}")]
    Refused(String),
    #[error("the demo at {addr} sent an answer that is not understood: {reason}")]
    BadReply { addr: String, reason: String },
}

/// How the control client verifies the demo and proves who it is.
#[derive(Clone)]
pub struct ControlAuth {
    /// The CA (PEM) that signs the demo's certificate.
    pub ca_pem: Vec<u8>,
    /// Sent as `Authorization: Bearer TOKEN`: admin to switch, read to list.
    pub token: Option<String>,
}

/// Talks to a running demo's control endpoint.
pub struct ControlClient {
    base: String,
    addr: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ControlClient {
    /// `addr` is `host:port` (as printed by `vigil demo`).
    pub fn new(addr: &str, auth: &ControlAuth) -> Result<Self, ControlError> {
        let trimmed = addr.trim_start_matches("https://").trim_end_matches('/');
        let setup = |reason: String| ControlError::Setup {
            addr: trimmed.to_owned(),
            reason,
        };
        let ca = reqwest::Certificate::from_pem(&auth.ca_pem)
            .map_err(|e| setup(format!("the CA is not a PEM certificate: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .https_only(true)
            .build()
            .map_err(|e| setup(vigil_client::error_chain(&e)))?;
        Ok(Self {
            base: format!("https://{trimmed}"),
            addr: trimmed.to_owned(),
            http,
            token: auth.token.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn inject(&self, fault: DemoFault) -> Result<SwitchReply, ControlError> {
        self.post(&format!("/inject/{fault}")).await
    }

    pub async fn restore(&self, fault: DemoFault) -> Result<SwitchReply, ControlError> {
        self.post(&format!("/restore/{fault}")).await
    }

    pub async fn list(&self) -> Result<Vec<FaultRow>, ControlError> {
        let response = self
            .request(reqwest::Method::GET, "/faults")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let list: FaultList = self.decode(response).await?;
        Ok(list.faults)
    }

    async fn post(&self, path: &str) -> Result<SwitchReply, ControlError> {
        let response = self
            .request(reqwest::Method::POST, path)
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
            ControlError::Setup { .. } => 2,
            ControlError::Refused(_) | ControlError::BadReply { .. } => 1,
        }
    }
}
