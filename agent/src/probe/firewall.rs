//! Firewall egress policy probe: tries to get through to a destination over
//! tcp, tls (SNI) or http(s) and compares what happened with the policy's
//! `expect`. An `allow` that is blocked fails with *how* it was blocked; a
//! `deny` that gets through fails as `policy_drift` (a security fault); a
//! `deny` that is blocked succeeds, saying how. It must not judge the
//! destination's health or certificate: only whether the path is open.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use vigil_proto::v1::{ErrorClass, HttpDetail, signal_detail::Detail};

use super::connect::{self, Failed};
use super::handshake::handshake;
use super::verdict::Trust;
use super::{Observation, Probe, ProbeFuture, classify, exchange};
use crate::config::{FirewallProtocol, FirewallSpec, PolicyExpectation, TlsRoots};

/// How long an established TCP connection is watched for an immediate reset
/// (a proxy that accepts, then rejects) before it counts as open.
const SETTLE: Duration = Duration::from_millis(100);

/// What happened to one attempt at the path.
enum Passage {
    /// The traffic reached something past the firewall.
    Through { how: String, detail: Option<Detail> },
    /// The traffic was stopped, in a way a firewall stops traffic.
    Blocked {
        failed: Failed,
        detail: Option<Detail>,
    },
    /// The attempt proves nothing about the policy (no name, local error).
    Inconclusive(Failed),
}

pub struct FirewallProbe {
    spec: FirewallSpec,
    /// Only to let the handshake finish; the verdict is not this probe's business.
    trust: Trust,
    timeout: Duration,
}

impl FirewallProbe {
    pub fn new(spec: FirewallSpec, timeout: Duration) -> Result<Self, String> {
        let trust = Trust::new(&TlsRoots::WebPki)?;
        Ok(Self {
            spec,
            trust,
            timeout,
        })
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let passage = self.attempt().await;
        let latency = start.elapsed();
        let names = match self.spec.protocol {
            FirewallProtocol::Tcp => String::new(),
            FirewallProtocol::Tls => format!(" (sni {})", self.spec.sni_name()),
            FirewallProtocol::Http => format!(" (host {})", self.spec.host_name()),
            FirewallProtocol::Https if self.spec.sni_name() == self.spec.host_name() => {
                format!(" (sni/host {})", self.spec.sni_name())
            }
            FirewallProtocol::Https => format!(
                " (sni {}, host {})",
                self.spec.sni_name(),
                self.spec.host_name()
            ),
        };
        let what = format!(
            "{}://{}{names}",
            self.spec.protocol.as_str(),
            self.spec.target,
        );
        match (self.spec.expect, passage) {
            (_, Passage::Inconclusive(Failed { class, message })) => Observation::failure(
                class,
                latency,
                format!("cannot test the policy for {what}: {message}"),
            ),
            (PolicyExpectation::Allow, Passage::Through { detail, .. }) => {
                with_detail(Observation::success(latency), detail)
            }
            (PolicyExpectation::Allow, Passage::Blocked { failed, detail }) => with_detail(
                Observation::failure(
                    failed.class,
                    latency,
                    format!("{what} must be allowed but was blocked: {}", failed.message),
                ),
                detail,
            ),
            (PolicyExpectation::Deny, Passage::Through { how, detail }) => with_detail(
                Observation::failure(
                    ErrorClass::PolicyDrift,
                    latency,
                    format!(
                        "security drift: {what} must be denied by the firewall policy but got through ({how})"
                    ),
                ),
                detail,
            ),
            // How long the firewall took to stop it is no service's latency:
            // a silent drop lasts the whole timeout.
            (PolicyExpectation::Deny, Passage::Blocked { failed, detail }) => {
                let mut ok = with_detail(Observation::success(latency).without_latency(), detail);
                ok.message = format!(
                    "blocked as required ({}): {}",
                    blocked_by(failed.class),
                    failed.message
                );
                ok
            }
        }
    }

    async fn attempt(&self) -> Passage {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let addr = match connect::resolve(&self.spec.target, deadline).await {
            Ok(addr) => addr,
            Err(failed) => return Passage::Inconclusive(failed),
        };
        let stream = match connect::connect(addr, deadline).await {
            Ok(stream) => stream,
            Err(failed) => return judge_failure(failed, None),
        };
        let host = self.spec.host_name();
        match self.spec.protocol {
            FirewallProtocol::Tcp => settle(stream, deadline).await,
            FirewallProtocol::Http => {
                let mut stream = stream;
                self.request(&mut stream, host, deadline).await
            }
            FirewallProtocol::Tls | FirewallProtocol::Https => {
                let (config, _verdict) = match self.trust.client_config() {
                    Ok(pair) => pair,
                    Err(e) => {
                        return Passage::Inconclusive(Failed::new(ErrorClass::ProbeInternal, e));
                    }
                };
                let mut tls = match handshake(stream, self.spec.sni_name(), config, deadline).await
                {
                    Ok(tls) => tls,
                    Err(failed) => return judge_failure(failed, None),
                };
                if self.spec.protocol == FirewallProtocol::Tls {
                    Passage::Through {
                        how: "TLS handshake completed".to_owned(),
                        detail: None,
                    }
                } else {
                    self.request(&mut tls, host, deadline).await
                }
            }
        }
    }

    async fn request<S>(
        &self,
        stream: &mut S,
        host: &str,
        deadline: tokio::time::Instant,
    ) -> Passage
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        match exchange::get(stream, host, &self.spec.path, deadline).await {
            Err(failed) => judge_failure(failed, None),
            Ok(response) => {
                let detail = Some(Detail::Http(HttpDetail {
                    status: u32::from(response.status),
                }));
                if classify::proxy_denied(response.status, &response.body) {
                    let reason = first_line(&response.body);
                    Passage::Blocked {
                        failed: Failed::new(
                            ErrorClass::HttpDeniedByProxy,
                            format!("the firewall answered status {}: {reason}", response.status),
                        ),
                        detail,
                    }
                } else {
                    Passage::Through {
                        how: format!("the destination answered HTTP {}", response.status),
                        detail,
                    }
                }
            }
        }
    }
}

impl Probe for FirewallProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}

/// Watches a fresh connection briefly: a reset right away is a reject by a
/// proxy; silence, data or an orderly close mean the connection was open.
async fn settle(mut stream: TcpStream, deadline: tokio::time::Instant) -> Passage {
    let until = deadline.min(tokio::time::Instant::now() + SETTLE);
    let mut byte = [0u8; 1];
    match tokio::time::timeout_at(until, stream.read(&mut byte)).await {
        Ok(Err(e)) => match classify::io_kind(e.kind()) {
            Some(class) => judge_failure(
                Failed::new(
                    class,
                    format!("connection reset right after it opened: {e}"),
                ),
                None,
            ),
            None => Passage::Through {
                how: "TCP connection established".to_owned(),
                detail: None,
            },
        },
        _ => Passage::Through {
            how: "TCP connection established".to_owned(),
            detail: None,
        },
    }
}

/// Failures a firewall causes block; the rest say nothing about the policy.
fn judge_failure(failed: Failed, detail: Option<Detail>) -> Passage {
    match failed.class {
        ErrorClass::Timeout
        | ErrorClass::ConnectionRefused
        | ErrorClass::ConnectionReset
        | ErrorClass::NetworkUnreachable
        | ErrorClass::HostUnreachable
        | ErrorClass::TlsResetAfterHello
        | ErrorClass::HttpDeniedByProxy => Passage::Blocked { failed, detail },
        _ => Passage::Inconclusive(failed),
    }
}

fn blocked_by(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Timeout => "silent drop",
        ErrorClass::ConnectionRefused => "refused",
        ErrorClass::ConnectionReset => "reset",
        ErrorClass::TlsResetAfterHello => "reset after the TLS ClientHello",
        ErrorClass::HttpDeniedByProxy => "HTTP deny answer",
        ErrorClass::NetworkUnreachable | ErrorClass::HostUnreachable => "unreachable",
        _ => "blocked",
    }
}

fn with_detail(observation: Observation, detail: Option<Detail>) -> Observation {
    match detail {
        Some(detail) => observation.with_detail(detail),
        None => observation,
    }
}

fn first_line(body: &str) -> &str {
    body.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}
