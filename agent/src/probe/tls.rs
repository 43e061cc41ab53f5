//! TLS probe: connects, completes a handshake whatever the certificate, and
//! reports the WebPKI verdict (expired, not yet valid, untrusted, wrong
//! name) and the days left before expiry against warning and critical
//! thresholds. It must not send application data.

use std::time::{Duration, Instant};

use vigil_proto::v1::{ErrorClass, TlsDetail, signal_detail::Detail};

use super::certificate::{Leaf, unix_now};
use super::connect::{self, Failed};
use super::handshake::handshake;
use super::verdict::{self, Trust};
use super::{Observation, Probe, ProbeFuture};
use crate::config::TlsSpec;

pub struct TlsProbe {
    spec: TlsSpec,
    trust: Trust,
    timeout: Duration,
}

impl TlsProbe {
    pub fn new(spec: TlsSpec, timeout: Duration) -> Result<Self, String> {
        let trust = Trust::new(&spec.roots)?;
        Ok(Self {
            spec,
            trust,
            timeout,
        })
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        match self.handshake().await {
            Ok((verdict, leaf)) => self.judge(verdict, leaf, start.elapsed()),
            Err(Failed { class, message }) => Observation::failure(class, start.elapsed(), message),
        }
    }

    async fn handshake(&self) -> Result<(Result<(), rustls::Error>, Leaf), Failed> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let addr = connect::resolve(&self.spec.target, deadline).await?;
        let stream = connect::connect(addr, deadline).await?;
        let (config, recorder) = self
            .trust
            .client_config()
            .map_err(|e| Failed::new(ErrorClass::ProbeInternal, e))?;
        let _tls = handshake(stream, &self.spec.server_name, config, deadline).await?;
        let verdict = recorder.take().ok_or_else(|| {
            Failed::new(
                ErrorClass::TlsHandshake,
                format!("{addr} completed a handshake without presenting a certificate"),
            )
        })?;
        let leaf = Leaf::parse(&verdict.leaf)
            .map_err(|e| Failed::new(ErrorClass::TlsHandshake, format!("{addr}: {e}")))?;
        Ok((verdict.result, leaf))
    }

    fn judge(
        &self,
        verdict: Result<(), rustls::Error>,
        leaf: Leaf,
        latency: Duration,
    ) -> Observation {
        let days = leaf.days_to_expiry(unix_now());
        let name = &self.spec.server_name;
        let detail = Detail::Tls(TlsDetail {
            days_to_expiry: days,
            subject: leaf.subject,
            issuer: leaf.issuer,
        });
        if let Err(e) = verdict {
            return Observation::failure(
                verdict::class_of(&e),
                latency,
                format!("certificate of {name} at {}: {e}", self.spec.target),
            )
            .with_detail(detail);
        }
        let left = u32::try_from(days).unwrap_or(0);
        if left <= self.spec.critical_days {
            Observation::failure(
                ErrorClass::TlsExpiring,
                latency,
                format!(
                    "certificate of {name} expires in {days} days (critical at {})",
                    self.spec.critical_days
                ),
            )
            .with_detail(detail)
        } else if left <= self.spec.warn_days {
            Observation::warning(
                ErrorClass::TlsExpiring,
                latency,
                format!(
                    "certificate of {name} expires in {days} days (warning at {})",
                    self.spec.warn_days
                ),
            )
            .with_detail(detail)
        } else {
            Observation::success(latency).with_detail(detail)
        }
    }
}

impl Probe for TlsProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}
