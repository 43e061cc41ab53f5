//! TCP connect probe: can this vantage point open a connection to host:port?
//! It must not send application data.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use vigil_proto::v1::ErrorClass;

use super::{Observation, Probe, ProbeFuture, classify};
use crate::config::TcpSpec;

pub struct TcpProbe {
    spec: TcpSpec,
    timeout: Duration,
}

impl TcpProbe {
    pub fn new(spec: TcpSpec, timeout: Duration) -> Self {
        Self { spec, timeout }
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let target = (self.spec.host.as_str(), self.spec.port);
        // Resolve separately so a name failure is not mistaken for the path.
        let addr = match tokio::time::timeout_at(deadline, tokio::net::lookup_host(target)).await {
            Err(_) => {
                return Observation::failure(
                    ErrorClass::DnsTimeout,
                    start.elapsed(),
                    format!("resolving {} timed out", self.spec.host),
                );
            }
            Ok(Err(e)) => {
                return Observation::failure(
                    ErrorClass::DnsOther,
                    start.elapsed(),
                    format!("cannot resolve {}: {e}", self.spec.host),
                );
            }
            Ok(Ok(mut addrs)) => match addrs.next() {
                Some(addr) => addr,
                None => {
                    return Observation::failure(
                        ErrorClass::DnsNoAnswer,
                        start.elapsed(),
                        format!("{} resolved to no address", self.spec.host),
                    );
                }
            },
        };
        let connect_start = Instant::now();
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => Observation::success(connect_start.elapsed()),
            Ok(Err(e)) => Observation::failure(
                classify::io_kind(e.kind()).unwrap_or(ErrorClass::ProbeInternal),
                connect_start.elapsed(),
                format!("connect to {addr}: {e}"),
            ),
            Err(_) => Observation::failure(
                ErrorClass::Timeout,
                connect_start.elapsed(),
                format!(
                    "connect to {addr}: no answer within {}",
                    humantime::format_duration(self.timeout)
                ),
            ),
        }
    }
}

impl Probe for TcpProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}
