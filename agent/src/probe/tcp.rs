//! TCP connect probe: can this vantage point open a connection to host:port?
//! It must not send application data.

use std::time::{Duration, Instant};

use super::connect::{self, Failed};
use super::{Observation, Probe, ProbeFuture};
use crate::config::{HostPort, TcpSpec};

pub struct TcpProbe {
    target: HostPort,
    timeout: Duration,
}

impl TcpProbe {
    pub fn new(spec: TcpSpec, timeout: Duration) -> Self {
        let target = HostPort {
            host: spec.host,
            port: spec.port,
        };
        Self { target, timeout }
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Resolve separately so a name failure is not mistaken for the path.
        let addr = match connect::resolve(&self.target, deadline).await {
            Ok(addr) => addr,
            Err(Failed { class, message }) => {
                return Observation::failure(class, start.elapsed(), message);
            }
        };
        let connect_start = Instant::now();
        match connect::connect(addr, deadline).await {
            Ok(_stream) => Observation::success(connect_start.elapsed()),
            Err(Failed { class, message }) => {
                Observation::failure(class, connect_start.elapsed(), message)
            }
        }
    }
}

impl Probe for TcpProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}
