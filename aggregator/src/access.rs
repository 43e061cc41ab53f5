//! Who may ask the query API: the `auth:` section of the config, the
//! credentials it loads (reloaded as their files change), and the guards in
//! front of the HTTP routes and the gRPC query services.
//!
//! Owns which request needs which scope and how a refusal looks on each
//! wire: 401/403 with a JSON error on HTTP, `UNAUTHENTICATED` /
//! `PERMISSION_DENIED` on gRPC, counted by reason. It must not verify a
//! credential itself (`vigil_trust::Credentials` does) nor look at what a
//! request asks for beyond its path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use vigil_health::store::{Api, ApiDenials};
use vigil_trust::{Credentials, Denial, JwtConfig, Reloading, Scope, TokenSource, TrustError};

use crate::config::ConfigError;

/// `auth:`: the bearer credentials the query API accepts. Required unless
/// `insecure.open_api` is set. Agents do not use these: they authenticate
/// with their client certificates (`tls:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Static tokens: `{name, scope: read|admin, file | env}`.
    #[serde(default)]
    pub tokens: Vec<TokenSource>,
    /// JWTs of one issuer, verified against its JWKS file.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Whether `/metrics` needs a read token (`token`, the default) or is
    /// open to any scraper that can reach the port (`open`).
    #[serde(default)]
    pub metrics: MetricsAccess,
    /// How often token files and the JWKS are checked for changes.
    #[serde(
        default = "default_reload_interval",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub reload_interval: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    #[default]
    Token,
    Open,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}

/// What `insecure.open_api` says at start and in `/readyz`.
pub(crate) const OPEN_API_WARNING: &str = "insecure.open_api is set: the query API, its change stream and /metrics answer anyone who can reach them; not for production";

impl AuthConfig {
    pub(crate) fn anchor(&mut self, dir: &std::path::Path) {
        let files = self
            .tokens
            .iter_mut()
            .filter_map(|t| t.file.as_mut())
            .chain(self.jwt.as_mut().map(|j| &mut j.jwks));
        for p in files {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }

    fn configured(&self) -> bool {
        !self.tokens.is_empty() || self.jwt.is_some()
    }

    /// Loads every credential once, as a start would.
    pub fn check(&self) -> Result<(), TrustError> {
        Credentials::load("auth", &self.tokens, self.jwt.as_ref()).map(drop)
    }
}

/// Whether `auth` and `insecure.open_api` agree: credentials, or the
/// explicit opt-out, but not both and not neither.
pub(crate) fn check_settings(
    auth: &AuthConfig,
    open_api: bool,
    origin: &str,
) -> Result<(), ConfigError> {
    let invalid = |field: &'static str, problem: &str, fix: &str| ConfigError::Invalid {
        file: origin.to_string(),
        field,
        problem: problem.to_string(),
        fix: fix.to_string(),
    };
    match (auth.configured(), open_api) {
        (true, true) => Err(invalid(
            "insecure.open_api",
            "is true while `auth:` configures credentials",
            "remove `insecure.open_api` to require them, or remove `auth.tokens` and `auth.jwt`",
        )),
        (false, false) => Err(invalid(
            "auth",
            "configures no credentials: the query API requires a bearer token by default",
            "add `auth.tokens` (e.g. `- {name: oncall, scope: read, file: /etc/vigil/tokens/oncall}`) or `auth.jwt` (docs/security.md, \"Who may ask\"), \
             or, for a test on a trusted network only, `insecure: { open_api: true }`",
        )),
        _ => Ok(()),
    }
}

/// The running decision: open by configuration, or checked against
/// credentials that reload.
#[derive(Clone)]
pub(crate) struct Access {
    credentials: Option<Reloading<Credentials>>,
    open_metrics: bool,
    pub denials: Arc<ApiDenials>,
}

impl Access {
    pub(crate) fn start(
        auth: &AuthConfig,
        open_api: bool,
        stop: &CancellationToken,
    ) -> Result<Self, TrustError> {
        let denials = Arc::new(ApiDenials::default());
        if open_api {
            tracing::warn!("{OPEN_API_WARNING}");
            return Ok(Self {
                credentials: None,
                open_metrics: true,
                denials,
            });
        }
        let (tokens, jwt) = (auth.tokens.clone(), auth.jwt.clone());
        let credentials = Reloading::watch(
            "API credentials",
            Credentials::files(&tokens, jwt.as_ref()),
            auth.reload_interval,
            stop.clone(),
            move || Credentials::load("auth", &tokens, jwt.as_ref()),
        )?;
        Ok(Self {
            credentials: Some(credentials),
            open_metrics: auth.metrics == MetricsAccess::Open,
            denials,
        })
    }

    /// The scope a request to `path` needs, or `None` for an open route.
    fn needs_http(&self, path: &str, method: &axum::http::Method) -> Option<Scope> {
        match path {
            // The kubelet's probes carry no token.
            "/healthz" | "/readyz" => None,
            "/metrics" if self.open_metrics => None,
            _ if method == axum::http::Method::GET || method == axum::http::Method::HEAD => {
                Some(Scope::Read)
            }
            _ => Some(Scope::Admin),
        }
    }

    /// Checks (and counts a refusal of) a request that needs `needs`.
    fn check(&self, api: Api, path: &str, headers: &HeaderMap, needs: Scope) -> Result<(), Denial> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        let header = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        credentials
            .load()
            .authorize(header, needs)
            .map(drop)
            .inspect_err(|d| {
                self.denials.denied(api, d.reason(), path, &d.to_string());
            })
    }
}

/// The HTTP guard (`axum::middleware::from_fn_with_state`).
pub(crate) async fn http_guard(
    State(access): State<Access>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if let Some(needs) = access.needs_http(&path, request.method())
        && let Err(denial) = access.check(Api::Http, &path, request.headers(), needs)
    {
        let status = if denial.unauthenticated() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        let mut response =
            (status, axum::Json(json!({ "error": denial.to_string() }))).into_response();
        if denial.unauthenticated() {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"vigil\""),
            );
        }
        return response;
    }
    next.run(request).await
}

/// The gRPC services that answer queries. Ingest authenticates agents by
/// their certificates; health and reflection stay open like `/healthz`.
const GRPC_READ: &[&str] = &["/vigil.v1.QueryService/", "/vigil.v1.FaultService/"];

/// The gRPC guard: a tower layer in front of every service on the port.
#[derive(Clone)]
pub(crate) struct GrpcGuardLayer(pub Access);

impl<S> tower::Layer<S> for GrpcGuardLayer {
    type Service = GrpcGuard<S>;
    fn layer(&self, inner: S) -> GrpcGuard<S> {
        GrpcGuard {
            inner,
            access: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct GrpcGuard<S> {
    inner: S,
    access: Access,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for GrpcGuard<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if GRPC_READ.iter().any(|p| path.starts_with(p))
            && let Err(denial) = self
                .access
                .check(Api::Grpc, path, request.headers(), Scope::Read)
        {
            let status = if denial.unauthenticated() {
                tonic::Status::unauthenticated(denial.to_string())
            } else {
                tonic::Status::permission_denied(denial.to_string())
            };
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}
