//! The YAML file exactly as written: serde structs with every scalar kept as
//! text so that validation (in `validate.rs`) can say which field is wrong and
//! how to fix it. Owns the file's shape only; it must not interpret values.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub agent: RawAgent,
    #[serde(default)]
    pub aggregator: RawAggregator,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub export: RawExport,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub probes: Vec<RawProbe>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub id: Option<String>,
    pub network: Option<String>,
    pub role: Option<String>,
    pub cluster: Option<String>,
    pub zone: Option<String>,
    pub region: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAggregator {
    pub endpoint: Option<String>,
    pub connect_timeout: Option<String>,
    pub tls: Option<RawAggregatorTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAggregatorTls {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub batch_max_signals: Option<u64>,
    pub batch_max_delay: Option<String>,
    pub buffer_max_signals: Option<u64>,
    pub backoff_initial: Option<String>,
    pub backoff_max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExport {
    pub otlp: Option<RawOtlp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOtlp {
    pub enabled: Option<bool>,
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub jitter: Option<f64>,
}

/// One probe entry. Fields of every kind live side by side so a field used
/// with the wrong kind is reported by name instead of as a generic
/// "unknown variant" error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub component: Option<String>,
    pub layer: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub jitter: Option<f64>,
    pub latency_threshold: Option<String>,
    // http
    pub url: Option<String>,
    pub expect_status: Option<Vec<u16>>,
    pub body_match: Option<String>,
    // tcp
    pub address: Option<String>,
    // dns
    pub name: Option<String>,
    pub record_type: Option<String>,
    pub server: Option<String>,
    pub expect_addresses: Option<Vec<String>>,
    pub must_be_private: Option<bool>,
    pub expect_cname_contains: Option<String>,
    // firewall
    pub expect: Option<String>,
    pub protocol: Option<String>,
    pub path: Option<String>,
    /// The HTTP `Host` name of an http/https firewall probe (and, for
    /// https, the SNI unless `sni` is given).
    pub host: Option<String>,
    // firewall, tls
    pub sni: Option<String>,
    // reachability
    pub method: Option<String>,
    pub count: Option<u64>,
    pub spacing: Option<String>,
    pub loss_threshold: Option<f64>,
    // egress
    pub expected_ips: Option<Vec<String>>,
    // tls
    pub ca_file: Option<String>,
    pub warn_days: Option<u64>,
    pub critical_days: Option<u64>,
    // grpc
    pub service: Option<String>,
}
