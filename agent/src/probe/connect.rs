//! Resolving a host:port and opening a TCP connection to it within a
//! deadline, with failures already classified. Shared by every probe that
//! connects, so a name failure is never mistaken for a path failure and the
//! same socket error always gets the same class; it also owns asking this
//! host's routing table whether it refuses a destination, which tells a
//! missing or blackholed route here (`network_unreachable`) from a router
//! further on. It must not send data.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
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
        Ok(Err(e)) => {
            let class = failure_class(&e, addr);
            let message = if class == ErrorClass::NetworkUnreachable {
                format!("connect to {addr}: no route to it in this network ({e})")
            } else {
                format!("connect to {addr}: {e}")
            };
            Err(Failed::new(class, message))
        }
        Err(_) => Err(Failed::new(
            ErrorClass::Timeout,
            format!(
                "connect to {addr}: no answer within {}",
                humantime::format_duration(round_ms(started.elapsed()))
            ),
        )),
    }
}

/// The class of a connect to `addr` that failed with `err`; a route error
/// is looked up again to tell this host's routes from a router further on.
pub fn failure_class(err: &io::Error, addr: SocketAddr) -> ErrorClass {
    let here = classify::is_route_error(err) && route_refused(addr);
    classify::connect_error(err, here).unwrap_or(ErrorClass::ProbeInternal)
}

/// Whether this host's own routing table refuses traffic to `addr`. A UDP
/// connect makes the same route lookup as a TCP connect and fails the same
/// way (no route, `unreachable`, `blackhole`, `prohibit`), but sends
/// nothing, so it can be asked after the fact.
pub fn route_refused(addr: SocketAddr) -> bool {
    let local: SocketAddr = match addr.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let Ok(socket) = UdpSocket::bind(local) else {
        return false;
    };
    socket
        .connect(addr)
        .is_err_and(|e| classify::is_route_error(&e))
}

/// [`route_refused`] for a host that may be a name, resolved again (until
/// `deadline`); a name that does not resolve now is not refused here.
pub async fn route_refused_to(host: &str, port: u16, deadline: Instant) -> bool {
    let target = HostPort {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    };
    match resolve(&target, deadline).await {
        Ok(addr) => route_refused(addr),
        Err(_) => false,
    }
}

/// Whether a failure reported by a library that connects by itself
/// (reqwest, tonic) was this host's routing table refusing `host`: its
/// source chain holds a route error and the route is refused now.
pub async fn refused_here(
    err: &(dyn std::error::Error + Send + Sync + 'static),
    host: &str,
    port: u16,
    deadline: Instant,
) -> bool {
    classify::route_error_in_chain(err) && route_refused_to(host, port, deadline).await
}

pub fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_routed_here() {
        assert!(!route_refused("127.0.0.1:9".parse().unwrap()));
    }
}
