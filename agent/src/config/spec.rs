//! What each probe kind checks, as validated values: one spec type per kind
//! plus the small value types they share (host:port, address sets, policy
//! expectations). Owns the shape of a valid probe; it must not parse text
//! (that is `probes.rs` and `kinds/`) or run anything.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use rustls::pki_types::CertificateDer;
use vigil_proto::v1;

/// What a probe checks; one variant per kind.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    Firewall(FirewallSpec),
    Reachability(ReachabilitySpec),
    Egress(EgressSpec),
    Grpc(GrpcSpec),
}

impl ProbeSpec {
    pub fn kind(&self) -> v1::ProbeKind {
        match self {
            Self::Http(_) => v1::ProbeKind::Http,
            Self::Tcp(_) => v1::ProbeKind::Tcp,
            Self::Dns(_) => v1::ProbeKind::Dns,
            Self::Tls(_) => v1::ProbeKind::Tls,
            Self::Firewall(_) => v1::ProbeKind::Firewall,
            Self::Reachability(_) => v1::ProbeKind::Reachability,
            Self::Egress(_) => v1::ProbeKind::Egress,
            Self::Grpc(_) => v1::ProbeKind::Grpc,
        }
    }

    /// The human-readable target carried in the probe's declaration.
    pub fn target(&self) -> String {
        match self {
            Self::Http(http) => http.url.to_string(),
            Self::Tcp(tcp) => format!("{}:{}", tcp.host, tcp.port),
            Self::Dns(dns) => match dns.server {
                Some(server) => format!("{} {} @{server}", dns.name, dns.record_type.as_str()),
                None => format!("{} {}", dns.name, dns.record_type.as_str()),
            },
            Self::Tls(tls) => format!("{} (sni {})", tls.target, tls.server_name),
            Self::Firewall(fw) => {
                let mut names = String::new();
                if fw.protocol.speaks_tls() && (fw.sni.is_some() || fw.host.is_some()) {
                    names.push_str(&format!(" sni {}", fw.sni_name()));
                }
                if fw.protocol.speaks_http() && (fw.sni.is_some() || fw.host.is_some()) {
                    names.push_str(&format!(" host {}", fw.host_name()));
                }
                format!(
                    "{}://{}{names} expect {}",
                    fw.protocol.as_str(),
                    fw.target,
                    fw.expect.as_str()
                )
            }
            Self::Reachability(r) => format!("{} x{} {}", r.method.as_str(), r.count, r.target),
            Self::Egress(e) => e.url.to_string(),
            Self::Grpc(g) if g.service.is_empty() => format!("{} (server health)", g.target),
            Self::Grpc(g) => format!("{} service {}", g.target, g.service),
        }
    }
}

/// A host (DNS name or IP literal) and a port, as written in `address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// The IP literal, when the host is one (no resolution needed).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// A set of addresses given as exact IPs or CIDR ranges; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet(Vec<IpNet>);

impl IpSet {
    /// `None` for an empty list: an empty set would match nothing and can
    /// only be a mistake.
    pub fn new(nets: Vec<IpNet>) -> Option<Self> {
        (!nets.is_empty()).then_some(Self(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }
}

impl fmt::Display for IpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Single addresses read better without their /32 or /128.
            if net.prefix_len() == net.max_prefix_len() {
                write!(f, "{}", net.addr())?;
            } else {
                write!(f, "{net}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: reqwest::Url,
    pub expect_status: StatusExpectation,
    pub body_match: Option<regex::Regex>,
}

/// Which HTTP statuses count as success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusExpectation {
    AnySuccess,
    OneOf(Vec<u16>),
}

impl StatusExpectation {
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            Self::AnySuccess => (200..300).contains(&status),
            Self::OneOf(list) => list.contains(&status),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    pub name: String,
    pub record_type: DnsRecordType,
    /// `None` uses the system resolver configuration.
    pub server: Option<SocketAddr>,
    pub checks: DnsChecks,
}

/// What a successful answer must also satisfy. All empty means "any answer".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsChecks {
    /// Every returned address must fall in this set.
    pub expect_addresses: Option<IpSet>,
    /// Every returned address must be private (RFC 1918, RFC 6598, ULA).
    pub must_be_private: bool,
    /// Some name in the CNAME chain must contain this text (lower case).
    pub expect_cname_contains: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecordType {
    A,
    Aaaa,
    Cname,
}

impl DnsRecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
        }
    }

    /// Whether answers of this type carry addresses.
    pub fn has_addresses(self) -> bool {
        matches!(self, Self::A | Self::Aaaa)
    }
}

/// Whether the firewall must let the traffic through or stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyExpectation {
    Allow,
    Deny,
}

impl PolicyExpectation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// How far into the conversation a firewall probe goes: the deeper, the more
/// kinds of rule (network, SNI/FQDN application, HTTP) it exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewallProtocol {
    Tcp,
    Tls,
    Http,
    Https,
}

impl FirewallProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    pub fn speaks_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Https)
    }

    pub fn speaks_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    /// Where to connect (`address`).
    pub target: HostPort,
    /// What the policy must do with the traffic.
    pub expect: PolicyExpectation,
    /// How far into the conversation the probe goes.
    pub protocol: FirewallProtocol,
    /// Server name sent in the ClientHello (tls, https); `None` uses
    /// `host`, then the host of `target`.
    pub sni: Option<String>,
    /// Name sent as the HTTP `Host` (http, https), so an FQDN application
    /// rule can be tested against an IP `target` without the system
    /// resolver; `None` uses `sni`, then the host of `target`.
    pub host: Option<String>,
    /// Request path for http and https.
    pub path: String,
}

impl FirewallSpec {
    /// The name sent in the TLS ClientHello.
    pub fn sni_name(&self) -> &str {
        self.sni
            .as_deref()
            .or(self.host.as_deref())
            .unwrap_or(&self.target.host)
    }

    /// The name sent as the HTTP `Host`.
    pub fn host_name(&self) -> &str {
        self.host
            .as_deref()
            .or(self.sni.as_deref())
            .unwrap_or(&self.target.host)
    }

    /// The name the application rule sees: the SNI where TLS is spoken
    /// first, else the Host.
    pub fn server_name(&self) -> &str {
        if self.protocol.speaks_tls() {
            self.sni_name()
        } else {
            self.host_name()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachabilityMethod {
    Tcp,
    /// ICMP echo where unprivileged ICMP sockets are allowed; otherwise the
    /// probe falls back to TCP connects (see `probe::reachability`).
    Icmp,
}

impl ReachabilityMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Icmp => "icmp",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReachabilitySpec {
    pub target: HostPort,
    pub method: ReachabilityMethod,
    /// Attempts per run, at least 1.
    pub count: u32,
    /// Time between the starts of two attempts.
    pub spacing: Duration,
    /// Loss ratio (0 < t <= 1) at or above which a run fails with `packet_loss`.
    pub loss_threshold: f64,
}

#[derive(Debug, Clone)]
pub struct EgressSpec {
    /// Answers the caller's public IP as plain text.
    pub url: reqwest::Url,
    pub expected_ips: IpSet,
}

#[derive(Debug, Clone)]
pub struct TlsSpec {
    pub target: HostPort,
    /// The name to verify the certificate against and send as SNI.
    pub server_name: String,
    pub roots: TlsRoots,
    /// Fewer days to expiry than this is a warning...
    pub warn_days: u32,
    /// ...and fewer than this a failure. `critical_days <= warn_days`.
    pub critical_days: u32,
}

/// The trust anchors a TLS probe verifies against.
#[derive(Debug, Clone)]
pub enum TlsRoots {
    /// The Mozilla root programme as shipped in `webpki-roots`.
    WebPki,
    /// Certificates read from a PEM file (a private CA).
    CaFile {
        path: String,
        certs: Vec<CertificateDer<'static>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcSpec {
    /// Plain-text (h2c) gRPC endpoint.
    pub target: HostPort,
    /// Service name for grpc.health.v1 Check; empty asks for the server.
    pub service: String,
}
