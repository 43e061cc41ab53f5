//! Fields of the kinds that open connections to a host:port: `tcp`,
//! `firewall`, `reachability` and `grpc`. It must not validate common fields.

use std::time::Duration;

use super::super::error::ConfigError;
use super::super::fields::duration;
use super::super::spec::{
    FirewallProtocol, FirewallSpec, GrpcSpec, PolicyExpectation, ReachabilityMethod,
    ReachabilitySpec, TcpSpec,
};
use super::Fields;

const DEFAULT_COUNT: u32 = 5;
const MAX_COUNT: u64 = 100;
const DEFAULT_SPACING: Duration = Duration::from_millis(100);
const DEFAULT_LOSS_THRESHOLD: f64 = 0.2;

pub(in crate::config) fn tcp(f: &Fields<'_>) -> Result<TcpSpec, ConfigError> {
    let target = f.address("10.0.1.4:443")?;
    Ok(TcpSpec {
        host: target.host,
        port: target.port,
    })
}

pub(in crate::config) fn firewall(f: &Fields<'_>) -> Result<FirewallSpec, ConfigError> {
    let p = f.p;
    let expect = match p.expect.as_deref().map(str::trim) {
        Some("allow") => PolicyExpectation::Allow,
        Some("deny") => PolicyExpectation::Deny,
        Some(other) => {
            return Err(f.err(
                "expect",
                format!("\"{other}\" is not a policy expectation"),
                "use allow (the firewall must let it through) or deny (it must be blocked)",
            ));
        }
        None => {
            return Err(f.err(
                "expect",
                "missing",
                "say what the firewall policy must do: expect: allow or expect: deny",
            ));
        }
    };
    let protocol = match p.protocol.as_deref().map(str::trim) {
        None | Some("tcp") => FirewallProtocol::Tcp,
        Some("tls") => FirewallProtocol::Tls,
        Some("http") => FirewallProtocol::Http,
        Some("https") => FirewallProtocol::Https,
        Some(other) => {
            return Err(f.err(
                "protocol",
                format!("\"{other}\" is not a firewall probe protocol"),
                "use tcp (network rules), tls (SNI application rules), http or https",
            ));
        }
    };
    let target = f.address("login.microsoftonline.com:443")?;
    let sni = match p.sni.as_deref() {
        None => None,
        Some(_) if !protocol.speaks_tls() => {
            return Err(f.err(
                "sni",
                format!("is not sent by protocol {}", protocol.as_str()),
                "remove it, or use protocol: tls or https",
            ));
        }
        Some(text) => Some(f.server_name("sni", text)?),
    };
    let host = match p.host.as_deref() {
        None => None,
        Some(_) if !protocol.speaks_http() => {
            return Err(f.err(
                "host",
                format!("is not sent by protocol {}", protocol.as_str()),
                "remove it, or use protocol: http or https (with tls, name the SNI in sni)",
            ));
        }
        Some(text) => Some(f.server_name("host", text)?),
    };
    let path = match p.path.as_deref().map(str::trim) {
        None => "/".to_owned(),
        Some(_) if !protocol.speaks_http() => {
            return Err(f.err(
                "path",
                format!("is not requested by protocol {}", protocol.as_str()),
                "remove it, or use protocol: http or https",
            ));
        }
        Some(text)
            if text.starts_with('/')
                && !text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) =>
        {
            text.to_owned()
        }
        Some(text) => {
            return Err(f.err(
                "path",
                format!("\"{text}\" is not a request path"),
                "write an absolute path without spaces, e.g. path: /",
            ));
        }
    };
    Ok(FirewallSpec {
        target,
        expect,
        protocol,
        sni,
        host,
        path,
    })
}

pub(in crate::config) fn reachability(f: &Fields<'_>) -> Result<ReachabilitySpec, ConfigError> {
    let p = f.p;
    let method = match p.method.as_deref().map(str::trim) {
        None | Some("tcp") => ReachabilityMethod::Tcp,
        Some("icmp") => ReachabilityMethod::Icmp,
        Some(other) => {
            return Err(f.err(
                "method",
                format!("\"{other}\" is not a reachability method"),
                "use tcp, or icmp (falls back to tcp where unprivileged ICMP is not allowed)",
            ));
        }
    };
    let target = f.address("10.0.1.4:443")?;
    let count = match p.count {
        None => DEFAULT_COUNT,
        Some(n) if (1..=MAX_COUNT).contains(&n) => u32::try_from(n).unwrap_or(DEFAULT_COUNT),
        Some(n) => {
            return Err(f.err(
                "count",
                format!("{n} is outside 1..={MAX_COUNT}"),
                "send a small burst per run, e.g. count: 5",
            ));
        }
    };
    let spacing = match p.spacing.as_deref() {
        None => DEFAULT_SPACING,
        Some(text) => duration(f.c, &f.at("spacing"), text)?,
    };
    let loss_threshold = match p.loss_threshold {
        None => DEFAULT_LOSS_THRESHOLD,
        Some(t) if t > 0.0 && t <= 1.0 => t,
        Some(t) => {
            return Err(f.err(
                "loss_threshold",
                format!("{t} is outside (0, 1]"),
                "give the lost fraction that fails a run, e.g. 0.2 for 20%",
            ));
        }
    };
    // The last attempt must still have time to connect before the timeout.
    let burst = spacing.saturating_mul(count - 1);
    if burst >= f.timeout {
        return Err(f.err(
            "spacing",
            format!(
                "{count} attempts {} apart take {}, not less than the timeout ({})",
                humantime::format_duration(spacing),
                humantime::format_duration(burst),
                humantime::format_duration(f.timeout)
            ),
            "lower count or spacing, or raise the probe's timeout",
        ));
    }
    Ok(ReachabilitySpec {
        target,
        method,
        count,
        spacing,
        loss_threshold,
    })
}

pub(in crate::config) fn grpc(f: &Fields<'_>) -> Result<GrpcSpec, ConfigError> {
    let target = f.address("checkout:50051")?;
    let service = f.p.service.as_deref().unwrap_or_default().trim().to_owned();
    if service
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(f.err(
            "service",
            format!("\"{service}\" is not a gRPC service name"),
            "write the fully qualified name, e.g. service: shop.v1.Checkout, or remove it for the server's overall health",
        ));
    }
    Ok(GrpcSpec { target, service })
}
