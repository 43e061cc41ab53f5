//! DNS probe: resolves one name (A or AAAA) through the system resolver or one
//! named server over UDP, with no cache and no retries so every run asks the
//! resolver afresh. It must not judge whether the answer is the right one;
//! answer checks (private/public, expected sets) build on this later.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use vigil_proto::v1::{DnsDetail, ErrorClass, signal_detail::Detail};

use super::{Observation, Probe, ProbeFuture, classify};
use crate::config::{DnsRecordType, DnsSpec};

pub struct DnsProbe {
    spec: DnsSpec,
    /// Fully qualified, so search domains (ndots in Kubernetes) never apply.
    fqdn: String,
    resolver: TokioResolver,
    resolver_name: String,
}

impl DnsProbe {
    pub fn new(spec: DnsSpec, timeout: Duration) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match spec.server {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let ns = NameServerConfig::new(server.ip(), true, vec![udp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => TokioResolver::builder(provider)
                .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?,
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
        Ok(Self {
            spec,
            fqdn,
            resolver,
            resolver_name,
        })
    }

    async fn check(&self) -> Observation {
        let record_type = match self.spec.record_type {
            DnsRecordType::A => RecordType::A,
            DnsRecordType::Aaaa => RecordType::AAAA,
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
                        RData::A(a) => addresses.push(IpAddr::V4(a.0).to_string()),
                        RData::AAAA(a) => addresses.push(IpAddr::V6(a.0).to_string()),
                        RData::CNAME(c) => cname_chain.push(c.0.to_string()),
                        _ => {}
                    }
                }
                let detail = self.detail(ResponseCode::NoError, addresses, cname_chain);
                let empty = matches!(&detail, Detail::Dns(d) if d.addresses.is_empty());
                if empty {
                    Observation::failure(
                        ErrorClass::DnsNoAnswer,
                        latency,
                        format!("{} has no {} record", self.spec.name, record_type),
                    )
                    .with_detail(detail)
                } else {
                    Observation::success(latency).with_detail(detail)
                }
            }
            Err(e) => {
                let (class, code) = classify::dns(&e);
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

    fn detail(
        &self,
        code: ResponseCode,
        addresses: Vec<String>,
        cname_chain: Vec<String>,
    ) -> Detail {
        Detail::Dns(DnsDetail {
            rcode: rcode_name(code),
            addresses,
            cname_chain,
            resolver: self.resolver_name.clone(),
        })
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
