//! Resolving a host:port and opening a TCP connection to it within a
//! deadline, with failures already classified. Shared by every probe that
//! connects, so a name failure is never mistaken for a path failure and the
//! same socket error always gets the same class. It must not send data.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use vigil_proto::v1::ErrorClass;

use super::classify;
use crate::config::HostPort;

/// A step that failed, with its class and a message naming the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub class: ErrorClass,
    pub message: String,
}

impl Failed {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// The first address of `target`; IP literals skip the resolver.
pub async fn resolve(target: &HostPort, deadline: Instant) -> Result<SocketAddr, Failed> {
    if let Some(ip) = target.ip() {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    match tokio::time::timeout_at(deadline, lookup).await {
        Err(_) => Err(Failed::new(
            ErrorClass::DnsTimeout,
            format!("resolving {} timed out", target.host),
        )),
        Ok(Err(e)) => Err(Failed::new(
            ErrorClass::DnsOther,
            format!("cannot resolve {}: {e}", target.host),
        )),
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| {
            Failed::new(
                ErrorClass::DnsNoAnswer,
                format!("{} resolved to no address", target.host),
            )
        }),
    }
}

/// Opens a connection; a connect still pending at `deadline` is a timeout
/// (the signature of a silent drop).
pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, Failed> {
    let started = Instant::now();
    match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Failed::new(
            classify::io_kind(e.kind()).unwrap_or(ErrorClass::ProbeInternal),
            format!("connect to {addr}: {e}"),
        )),
        Err(_) => Err(Failed::new(
            ErrorClass::Timeout,
            format!(
                "connect to {addr}: no answer within {}",
                humantime::format_duration(round_ms(started.elapsed()))
            ),
        )),
    }
}

pub fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}
