//! HTTP(S) probe: one GET on a fresh connection, checking status, optional
//! body pattern and latency. It must not follow the workload's auth flows or
//! keep connections between runs (a reused connection hides connect faults).

use std::time::{Duration, Instant};

use vigil_proto::v1::{ErrorClass, HttpDetail, signal_detail::Detail};

use super::{Observation, Probe, ProbeFuture, classify, connect};
use crate::config::HttpSpec;

/// Only this much of a body is read for `body_match`; health pages are small.
const BODY_LIMIT: usize = 64 * 1024;

pub struct HttpProbe {
    spec: HttpSpec,
    client: reqwest::Client,
    /// The client's timeout, which also bounds a second look at the route.
    timeout: Duration,
}

impl HttpProbe {
    /// A probe with a client of its own.
    pub fn new(spec: HttpSpec, timeout: Duration) -> Result<Self, String> {
        Ok(Self::with_client(spec, client(timeout)?, timeout))
    }

    /// A probe on a client shared with other HTTP probes of its timeout.
    pub fn with_client(spec: HttpSpec, client: reqwest::Client, timeout: Duration) -> Self {
        Self {
            spec,
            client,
            timeout,
        }
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let response = match self.client.get(self.spec.url.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                let deadline = tokio::time::Instant::from_std(start) + self.timeout;
                let here = refused_here(&e, &self.spec.url, deadline).await;
                return Observation::failure(
                    classify::http(&e, here),
                    start.elapsed(),
                    classify::describe(&e),
                );
            }
        };
        let status = response.status().as_u16();
        let detail = Detail::Http(HttpDetail {
            status: u32::from(status),
        });
        if !self.spec.expect_status.accepts(status) {
            // A firewall answering for the destination is a different fault
            // from the destination failing; its deny page says which.
            let body = read_prefix(response).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            let (class, message) = if classify::proxy_denied(status, &text) {
                (
                    ErrorClass::HttpDeniedByProxy,
                    format!("status {status}: denied by a firewall or proxy on the path"),
                )
            } else {
                (ErrorClass::HttpStatus, format!("status {status}"))
            };
            return Observation::failure(class, start.elapsed(), message).with_detail(detail);
        }
        let Some(pattern) = &self.spec.body_match else {
            return Observation::success(start.elapsed());
        };
        let body = match read_prefix(response).await {
            Ok(body) => body,
            Err(e) => {
                return Observation::failure(
                    classify::http(&e, false),
                    start.elapsed(),
                    classify::describe(&e),
                )
                .with_detail(detail);
            }
        };
        let text = String::from_utf8_lossy(&body);
        if pattern.is_match(&text) {
            Observation::success(start.elapsed())
        } else {
            Observation::failure(
                ErrorClass::HttpBodyMismatch,
                start.elapsed(),
                format!("body does not match /{}/", pattern.as_str()),
            )
            .with_detail(detail)
        }
    }
}

impl Probe for HttpProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}

/// The client HTTP probes run on. Every probe with the same timeout can
/// share one: it keeps no connection between requests, so sharing changes
/// no measurement, and each client otherwise carries its own TLS
/// configuration and root store.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::limited(5))
        // Proxies from the environment would measure the proxy instead
        // of the path this vantage point really has.
        .no_proxy()
        .user_agent(concat!("vigil-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Whether a failed request to `url` was refused by this host's routing
/// table (see `connect::refused_here`).
pub(super) async fn refused_here(
    err: &reqwest::Error,
    url: &reqwest::Url,
    deadline: tokio::time::Instant,
) -> bool {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => connect::refused_here(err, host, port, deadline).await,
        _ => false,
    }
}

async fn read_prefix(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = BODY_LIMIT - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= BODY_LIMIT {
            break;
        }
    }
    Ok(body)
}
