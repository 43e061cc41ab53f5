//! DNS probe: resolves one name (A, AAAA or CNAME) through the system
//! resolver or one named server, over UDP with TCP fallback when an answer
//! is truncated, with no cache and no retries so every run asks the resolver
//! afresh. Then checks the answer: private addresses only, an expected
//! address set, a CNAME chain through an expected name. It must not decide
//! what a failure means for the model; the error class says what happened.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use ipnet::IpNet;
use vigil_proto::v1::{DnsDetail, ErrorClass, signal_detail::Detail};

use super::{Observation, Probe, ProbeFuture, classify, connect};
use crate::config::{DnsRecordType, DnsSpec};

/// Private ranges a private endpoint may resolve to: RFC 1918, RFC 6598
/// (carrier-grade NAT, used by some platforms for private links) and ULA.
const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

pub struct DnsProbe {
    spec: DnsSpec,
    /// Fully qualified, so search domains (ndots in Kubernetes) never apply.
    fqdn: String,
    resolver: TokioResolver,
    resolver_name: String,
    /// Where the resolver sends its queries, to tell a resolver that does
    /// not answer from one this host has no route to.
    servers: Vec<SocketAddr>,
    private: Vec<IpNet>,
}

impl DnsProbe {
    pub fn new(spec: DnsSpec, timeout: Duration) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let mut servers: Vec<SocketAddr> = spec.server.into_iter().collect();
        let mut builder = match spec.server {
            Some(server) => {
                // UDP first; the pool retries over TCP when an answer comes
                // back truncated (large record sets, long CNAME chains).
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => {
                let (config, opts) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
                servers = config
                    .name_servers()
                    .iter()
                    .flat_map(|ns| ns.connections.iter().map(|c| (ns.ip, c.port).into()))
                    .collect();
                let mut builder = TokioResolver::builder_with_config(config, provider);
                *builder.options_mut() = opts;
                builder
            }
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // A cache would make every run after the first measure the cache.
        opts.cache_size = 0;
        opts.attempts = 1;
        opts.timeout = timeout;
        opts.try_tcp_on_error = false;
        if spec.server.is_some() {
            opts.use_hosts_file = ResolveHosts::Never;
        }
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        let fqdn = if spec.name.ends_with('.') {
            spec.name.clone()
        } else {
            format!("{}.", spec.name)
        };
        let resolver_name = spec
            .server
            .map_or_else(|| "system".to_owned(), |s| s.to_string());
        let private = PRIVATE_RANGES
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        Ok(Self {
            spec,
            fqdn,
            resolver,
            resolver_name,
            servers,
            private,
        })
    }

    fn is_private(&self, ip: IpAddr) -> bool {
        self.private.iter().any(|net| net.contains(&ip))
    }

    async fn check(&self) -> Observation {
        let record_type = match self.spec.record_type {
            DnsRecordType::A => RecordType::A,
            DnsRecordType::Aaaa => RecordType::AAAA,
            DnsRecordType::Cname => RecordType::CNAME,
        };
        let start = Instant::now();
        let result = self.resolver.lookup(self.fqdn.as_str(), record_type).await;
        let latency = start.elapsed();
        match result {
            Ok(lookup) => {
                let mut addresses = Vec::new();
                let mut cname_chain = Vec::new();
                for record in lookup.answers() {
                    match &record.data {
                        RData::A(a) => addresses.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => addresses.push(IpAddr::V6(a.0)),
                        RData::CNAME(c) => cname_chain.push(c.0.to_string()),
                        _ => {}
                    }
                }
                let verdict = self.judge(&addresses, &cname_chain);
                let detail = Detail::Dns(DnsDetail {
                    rcode: rcode_name(ResponseCode::NoError),
                    addresses: addresses.iter().map(ToString::to_string).collect(),
                    cname_chain,
                    resolver: self.resolver_name.clone(),
                });
                match verdict {
                    Ok(()) => Observation::success(latency),
                    Err((class, message)) => Observation::failure(class, latency, message),
                }
                .with_detail(detail)
            }
            Err(e) => {
                let (mut class, code) = classify::dns(&e);
                // No answer at all may be no way to ask: every resolver
                // address refused by this host's routing table.
                if code.is_none()
                    && !self.servers.is_empty()
                    && self.servers.iter().all(|&s| connect::route_refused(s))
                {
                    class = ErrorClass::NetworkUnreachable;
                }
                let rcode = code.map(rcode_name).unwrap_or_default();
                let message = format!(
                    "{} {} via {}: {e}",
                    self.spec.name, record_type, self.resolver_name
                );
                let detail = Detail::Dns(DnsDetail {
                    rcode,
                    addresses: Vec::new(),
                    cname_chain: Vec::new(),
                    resolver: self.resolver_name.clone(),
                });
                Observation::failure(class, latency, message).with_detail(detail)
            }
        }
    }

    /// Checks a NOERROR answer. The order matters: a public answer is the
    /// most telling finding (private zone not linked), so it wins.
    fn judge(
        &self,
        addresses: &[IpAddr],
        cname_chain: &[String],
    ) -> Result<(), (ErrorClass, String)> {
        let name = &self.spec.name;
        let kind = self.spec.record_type;
        let empty = if kind.has_addresses() {
            addresses.is_empty()
        } else {
            cname_chain.is_empty()
        };
        if empty {
            return Err((
                ErrorClass::DnsNoAnswer,
                format!("{name} has no {} record", kind.as_str()),
            ));
        }
        let checks = &self.spec.checks;
        if checks.must_be_private {
            let public: Vec<String> = addresses
                .iter()
                .filter(|ip| !self.is_private(**ip))
                .map(ToString::to_string)
                .collect();
            if !public.is_empty() {
                return Err((
                    ErrorClass::DnsPublicAnswer,
                    format!(
                        "{name} must resolve privately but resolved to {} via {}: is the private DNS zone linked and the private endpoint's record present?",
                        public.join(", "),
                        self.resolver_name
                    ),
                ));
            }
        }
        if let Some(expected) = &checks.expect_addresses {
            let stray: Vec<String> = addresses
                .iter()
                .filter(|ip| !expected.contains(**ip))
                .map(ToString::to_string)
                .collect();
            if !stray.is_empty() {
                return Err((
                    ErrorClass::DnsUnexpectedAnswer,
                    format!(
                        "{name} resolved to {}, outside the expected {expected}",
                        stray.join(", ")
                    ),
                ));
            }
        }
        if let Some(needle) = &checks.expect_cname_contains {
            let passes = cname_chain
                .iter()
                .any(|c| c.to_ascii_lowercase().contains(needle.as_str()));
            if !passes {
                let chain = if cname_chain.is_empty() {
                    "no CNAME".to_owned()
                } else {
                    cname_chain.join(" -> ")
                };
                return Err((
                    ErrorClass::DnsCnameMismatch,
                    format!(
                        "{name}: the CNAME chain ({chain}) does not pass through a name containing \"{needle}\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Probe for DnsProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }

    fn timeout_class(&self) -> ErrorClass {
        ErrorClass::DnsTimeout
    }
}

/// The conventional upper-case mnemonic (`NOERROR`, `NXDOMAIN`, `SERVFAIL`).
fn rcode_name(code: ResponseCode) -> String {
    format!("{code:?}").to_ascii_uppercase()
}
