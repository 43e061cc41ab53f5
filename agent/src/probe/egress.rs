//! Egress-path probe: asks an echo endpoint which public IP the internet sees
//! and checks it is one of the hub firewall's egress IPs, i.e. that forced
//! tunnelling is really in effect for this vantage point. It must not send
//! anything but a plain GET.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vigil_proto::v1::{EgressDetail, ErrorClass, HttpDetail, signal_detail::Detail};

use super::{Observation, Probe, ProbeFuture, classify};
use crate::config::EgressSpec;

/// An echo answer is an address, a few dozen bytes at most.
const BODY_LIMIT: usize = 1024;

pub struct EgressProbe {
    spec: EgressSpec,
    client: reqwest::Client,
    timeout: Duration,
}

impl EgressProbe {
    pub fn new(spec: EgressSpec, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            // Through an environment proxy the echo would see the proxy's IP.
            .no_proxy()
            .user_agent(concat!("vigil-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            spec,
            client,
            timeout,
        })
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let url = &self.spec.url;
        let response = match self.client.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                let deadline = tokio::time::Instant::from_std(start) + self.timeout;
                let here = super::http::refused_here(&e, url, deadline).await;
                return Observation::failure(
                    classify::http(&e, here),
                    start.elapsed(),
                    format!("echo endpoint {url}: {e}"),
                );
            }
        };
        let status = response.status().as_u16();
        let body = match read_prefix(response).await {
            Ok(body) => body,
            Err(e) => {
                return Observation::failure(
                    classify::http(&e, false),
                    start.elapsed(),
                    format!("echo endpoint {url}: {e}"),
                );
            }
        };
        let latency = start.elapsed();
        let text = String::from_utf8_lossy(&body);
        let http_detail = Detail::Http(HttpDetail {
            status: u32::from(status),
        });
        if classify::proxy_denied(status, &text) {
            return Observation::failure(
                ErrorClass::HttpDeniedByProxy,
                latency,
                format!("the firewall denied the echo endpoint {url} (status {status})"),
            )
            .with_detail(http_detail);
        }
        if !(200..300).contains(&status) {
            return Observation::failure(
                ErrorClass::HttpStatus,
                latency,
                format!("echo endpoint {url} answered status {status}"),
            )
            .with_detail(http_detail);
        }
        let Ok(observed) = text.trim().parse::<IpAddr>() else {
            let shown: String = text.trim().chars().take(60).collect();
            return Observation::failure(
                ErrorClass::HttpBodyMismatch,
                latency,
                format!("echo endpoint {url} answered \"{shown}\", not an IP address"),
            )
            .with_detail(http_detail);
        };
        let detail = Detail::Egress(EgressDetail {
            observed_ip: observed.to_string(),
        });
        if self.spec.expected_ips.contains(observed) {
            Observation::success(latency).with_detail(detail)
        } else {
            Observation::failure(
                ErrorClass::EgressIpMismatch,
                latency,
                format!(
                    "traffic leaves with public IP {observed}, not one of the hub egress IPs ({}): forced tunnelling through the hub firewall is not in effect",
                    self.spec.expected_ips
                ),
            )
            .with_detail(detail)
        }
    }
}

impl Probe for EgressProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
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
