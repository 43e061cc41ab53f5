//! The kind-specific fields of one probe entry, one function per kind, and
//! the parsers they share (host:port, IP/CIDR sets, server names). Owns
//! turning text into spec values with file/field/fix errors; it must not
//! check common fields (that is `probes.rs`) or touch the network.

mod dns;
mod net;
mod tls;
mod web;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use super::error::{Complaint, ConfigError};
use super::raw::RawProbe;
use super::spec::{HostPort, IpSet};

pub(super) use dns::dns;
pub(super) use net::{firewall, grpc, reachability, tcp};
pub(super) use tls::tls;
pub(super) use web::{egress, http};

/// One entry being validated: where complaints go and what it says.
pub(super) struct Fields<'a> {
    pub c: &'a Complaint<'a>,
    pub i: usize,
    pub p: &'a RawProbe,
    /// The entry's resolved timeout, for fields that must fit inside it.
    pub timeout: Duration,
}

impl Fields<'_> {
    pub fn at(&self, field: &str) -> String {
        format!("probes[{}].{field}", self.i)
    }

    pub fn err(
        &self,
        field: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        self.c.at(self.at(field), problem, fix)
    }

    /// The required `address` field as host:port.
    pub fn address(&self, example: &str) -> Result<HostPort, ConfigError> {
        let text = self.p.address.as_deref().ok_or_else(|| {
            self.err(
                "address",
                "missing",
                format!("set the host:port to connect to, e.g. address: {example}"),
            )
        })?;
        parse_host_port(text.trim()).ok_or_else(|| {
            self.err(
                "address",
                format!("\"{text}\" is not a host:port address"),
                format!("write e.g. \"{example}\" or \"db.internal:5432\""),
            )
        })
    }

    /// A list of IPs or CIDRs in `field`; `None` when the field is absent.
    pub fn ip_set(
        &self,
        field: &str,
        list: Option<&Vec<String>>,
    ) -> Result<Option<IpSet>, ConfigError> {
        let Some(list) = list else {
            return Ok(None);
        };
        let mut nets = Vec::with_capacity(list.len());
        for (j, text) in list.iter().enumerate() {
            let net = parse_net(text.trim()).ok_or_else(|| {
                self.err(
                    &format!("{field}[{j}]"),
                    format!("\"{text}\" is not an IP address or CIDR range"),
                    "write e.g. \"10.0.2.5\" or \"10.0.2.0/24\"",
                )
            })?;
            nets.push(net);
        }
        IpSet::new(nets).map(Some).ok_or_else(|| {
            self.err(
                field,
                "is empty",
                "list at least one address or range, or remove the field",
            )
        })
    }

    /// A DNS name for `field` (SNI, Host header), normalised to lower case.
    pub fn server_name(&self, field: &str, text: &str) -> Result<String, ConfigError> {
        let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if is_dns_name(&name) || name.parse::<IpAddr>().is_ok() {
            Ok(name)
        } else {
            Err(self.err(
                field,
                format!("\"{text}\" is not a DNS name"),
                "write a host name such as \"login.microsoftonline.com\"",
            ))
        }
    }
}

pub(super) fn parse_host_port(text: &str) -> Option<HostPort> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return (addr.port() != 0).then(|| HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    is_dns_name(host).then(|| HostPort {
        host: host.to_owned(),
        port,
    })
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' || ch == '_')
        && !host.split('.').any(str::is_empty)
}

/// An exact address becomes a single-host network.
fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("10.0.1.4:443"),
            Some(HostPort {
                host: "10.0.1.4".into(),
                port: 443
            })
        );
        assert_eq!(parse_host_port("[::1]:53").unwrap().host, "::1");
        assert_eq!(parse_host_port("kv.example:443").unwrap().port, 443);
        assert_eq!(parse_host_port("10.0.1.4"), None);
        assert_eq!(parse_host_port("a..b:80"), None);
        assert_eq!(parse_host_port("host:0"), None);
    }

    #[test]
    fn nets_accept_ips_and_cidrs() {
        let net = parse_net("10.0.0.0/8").unwrap();
        assert!(net.contains(&"10.9.9.9".parse::<IpAddr>().unwrap()));
        let one = parse_net("203.0.113.7").unwrap();
        assert_eq!(one.prefix_len(), 32);
        assert!(parse_net("10.0.0.0/33").is_none());
        assert!(parse_net("ten").is_none());
    }
}
