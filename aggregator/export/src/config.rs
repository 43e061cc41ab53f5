//! The `export:` section of the aggregator config (Prometheus page, OTLP
//! push) and how the standard `OTEL_*` environment variables fill it in.
//!
//! Owns parsing and validation of that section. It must not start exporters.
//! Precedence: a value written in the file wins; `OTEL_*` variables fill in
//! what the file leaves out; built-in defaults come last.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use vigil_model::FieldError;
use vigil_model::duration;

/// `export:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Export the per-agent `vigil_vantage_*` series: two per (leaf, agent)
    /// pair, 200,000 for 10,000 agents with 10 probes each. Large fleets may
    /// turn them off; node, layer and fault series stay, and `vigil why`
    /// still shows every vantage.
    #[serde(default = "yes")]
    pub vantage_series: bool,
    #[serde(default)]
    pub prometheus: PrometheusConfig,
    /// Absent: OTLP export is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            vantage_series: true,
            prometheus: PrometheusConfig::default(),
            otlp: None,
        }
    }
}

/// `export.prometheus`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Serve `/metrics` on the HTTP port.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "grpc" => Some(Self::Grpc),
            "http/protobuf" => Some(Self::HttpProtobuf),
            _ => None,
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Self::Grpc => "http://127.0.0.1:4317",
            Self::HttpProtobuf => "http://127.0.0.1:4318",
        }
    }
}

/// `export.otlp`: every field optional, `OTEL_*` fill the gaps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Turn OTLP off without deleting the section.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Base URL of the collector, with scheme (`http://collector:4317`).
    /// For `http/protobuf` the signal paths `/v1/metrics` and `/v1/traces`
    /// are appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub protocol: Option<OtlpProtocol>,
    /// Time between two metric exports.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub interval: Option<Duration>,
    /// Timeout of one export.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub timeout: Option<Duration>,
    /// Extra request headers (gRPC metadata), e.g. an API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Export ingest → evaluate traces too.
    #[serde(default)]
    pub traces: Option<bool>,
    /// Extra resource attributes.
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// OTLP settings after file, environment and defaults are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub interval: Duration,
    pub timeout: Duration,
    pub headers: BTreeMap<String, String>,
    pub traces: bool,
    /// `service.name` unless the resource names it.
    pub service_name: String,
    /// Resource attributes from `OTEL_RESOURCE_ATTRIBUTES` then the file.
    pub resource: BTreeMap<String, String>,
}

impl OtlpSettings {
    /// The URL metrics are sent to.
    pub fn metrics_endpoint(&self) -> String {
        self.signal_endpoint("metrics")
    }

    /// The URL traces are sent to.
    pub fn traces_endpoint(&self) -> String {
        self.signal_endpoint("traces")
    }

    fn signal_endpoint(&self, signal: &str) -> String {
        match self.protocol {
            OtlpProtocol::Grpc => self.endpoint.clone(),
            OtlpProtocol::HttpProtobuf => {
                format!("{}/v1/{signal}", self.endpoint.trim_end_matches('/'))
            }
        }
    }
}

type Invalid = (String, String, String);

fn invalid(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> Invalid {
    (field.to_string(), problem.into(), fix.into())
}

impl ExportConfig {
    /// Merges the file with `env` (the process environment in production,
    /// a map in tests). `None`: OTLP export is off.
    pub fn otlp_settings(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpSettings>, Invalid> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let file = self.otlp.clone().unwrap_or_default();
        let env_endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT");
        let wanted = match file.enabled {
            Some(on) => on,
            None => self.otlp.is_some() || env_endpoint.is_some(),
        };
        if !wanted {
            return Ok(None);
        }
        let protocol = match (file.protocol, env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            (Some(p), _) => p,
            (None, Some(text)) => OtlpProtocol::parse(&text).ok_or_else(|| {
                invalid(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    format!("`{text}` is not supported"),
                    "use `grpc` or `http/protobuf`",
                )
            })?,
            (None, None) => OtlpProtocol::Grpc,
        };
        let endpoint = file
            .endpoint
            .clone()
            .or(env_endpoint)
            .unwrap_or_else(|| protocol.default_endpoint().to_string());
        let endpoint = endpoint.trim().to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(invalid(
                "export.otlp.endpoint",
                format!("`{endpoint}` has no http:// or https:// scheme"),
                "write the scheme, e.g. `http://otel-collector:4317` for plaintext",
            ));
        }
        let env_ms = |key: &str| -> Result<Option<Duration>, Invalid> {
            env(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map(Duration::from_millis)
                        .map_err(|_| {
                            invalid(
                                key,
                                format!("`{v}` is not a whole number of milliseconds"),
                                "write e.g. `10000` for ten seconds",
                            )
                        })
                })
                .transpose()
        };
        let interval = match file.interval {
            Some(d) => d,
            None => env_ms("OTEL_METRIC_EXPORT_INTERVAL")?.unwrap_or(Duration::from_secs(10)),
        };
        let timeout = match file.timeout {
            Some(d) => d,
            None => env_ms("OTEL_EXPORTER_OTLP_TIMEOUT")?.unwrap_or(Duration::from_secs(10)),
        };
        if interval < Duration::from_millis(100) || interval > Duration::from_secs(3600) {
            return Err(invalid(
                "export.otlp.interval",
                format!("{} is outside 100ms..1h", duration::format(interval)),
                "use a value such as `10s`",
            ));
        }
        if timeout.is_zero() || timeout > Duration::from_secs(300) {
            return Err(invalid(
                "export.otlp.timeout",
                format!("{} is outside 1ms..5m", duration::format(timeout)),
                "use a value such as `10s`",
            ));
        }
        let mut headers = BTreeMap::new();
        if let Some(text) = env("OTEL_EXPORTER_OTLP_HEADERS") {
            headers.extend(parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", &text)?);
        }
        headers.extend(file.headers.clone());
        for key in headers.keys() {
            let ok = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(invalid(
                    "export.otlp.headers",
                    format!("`{key}` is not a valid header name"),
                    "use letters, digits, `-` and `_` only",
                ));
            }
        }
        let mut resource = BTreeMap::new();
        if let Some(text) = env("OTEL_RESOURCE_ATTRIBUTES") {
            resource.extend(parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &text)?);
        }
        if env("KUBERNETES_SERVICE_HOST").is_some() {
            // Downward-API variables, under the names the k8s examples use.
            for (var, key) in [
                ("POD_NAME", "k8s.pod.name"),
                ("HOSTNAME", "k8s.pod.name"),
                ("POD_NAMESPACE", "k8s.namespace.name"),
                ("POD_UID", "k8s.pod.uid"),
                ("NODE_NAME", "k8s.node.name"),
            ] {
                if let Some(v) = env(var) {
                    resource.entry(key.to_string()).or_insert(v);
                }
            }
        }
        resource.extend(file.resource.clone());
        let service_name = file
            .resource
            .get("service.name")
            .cloned()
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .or_else(|| resource.get("service.name").cloned())
            .unwrap_or_else(|| "vigil-aggregator".to_string());
        // Kept in its own field: the resource map holds the other attributes.
        resource.remove("service.name");
        let traces = match file.traces {
            Some(t) => t,
            None => env("OTEL_TRACES_EXPORTER").is_none_or(|v| v.trim() != "none"),
        };
        Ok(Some(OtlpSettings {
            endpoint,
            protocol,
            interval,
            timeout,
            headers,
            traces,
            service_name,
            resource,
        }))
    }

    /// The same section with every value the environment supplies written
    /// in, so that it resolves identically without the environment.
    pub fn with_env(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Invalid> {
        let otlp = match self.otlp_settings(env)? {
            None => self.otlp.as_ref().map(|o| OtlpConfig {
                enabled: Some(false),
                ..o.clone()
            }),
            Some(s) => {
                let mut resource = s.resource;
                resource.insert("service.name".into(), s.service_name);
                Some(OtlpConfig {
                    enabled: Some(true),
                    endpoint: Some(s.endpoint),
                    protocol: Some(s.protocol),
                    interval: Some(s.interval),
                    timeout: Some(s.timeout),
                    headers: s.headers,
                    traces: Some(s.traces),
                    resource,
                })
            }
        };
        Ok(Self {
            vantage_series: self.vantage_series,
            prometheus: self.prometheus.clone(),
            otlp,
        })
    }

    /// Checks values that parse but cannot work, without the environment.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.otlp_settings(&|_| None)
            .map(|_| ())
            .map_err(|(field, problem, fix)| FieldError {
                field,
                problem,
                fix,
            })
    }
}

/// `k1=v1,k2=v2` as the OpenTelemetry spec writes headers and resources.
fn parse_pairs(var: &str, text: &str) -> Result<Vec<(String, String)>, Invalid> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                invalid(
                    var,
                    format!("`{pair}` is not `key=value`"),
                    "write comma-separated pairs such as `key1=value1,key2=value2`",
                )
            })?;
            Ok((k.trim().to_string(), percent_decode(v.trim())))
        })
        .collect()
}

/// The spec allows percent-encoded values (`%20`); other text is kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn off_without_section_or_environment() {
        let c = ExportConfig::default();
        assert_eq!(c.otlp_settings(&env(&[])).unwrap(), None);
    }

    #[test]
    fn environment_enables_and_fills_in() {
        let c = ExportConfig::default();
        let s = c
            .otlp_settings(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%20ecret,x-team=hub"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
                ("OTEL_SERVICE_NAME", "vigil-hub"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
            ]))
            .unwrap()
            .unwrap();
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(s.metrics_endpoint(), "http://collector:4318/v1/metrics");
        assert_eq!(s.traces_endpoint(), "http://collector:4318/v1/traces");
        assert_eq!(s.headers["api-key"], "s ecret");
        assert_eq!(s.interval, Duration::from_millis(2500));
        assert_eq!(s.service_name, "vigil-hub");
        assert_eq!(s.resource["deployment.environment"], "prod");
        assert!(
            !s.resource.contains_key("k8s.pod.name"),
            "not in kubernetes"
        );
    }

    #[test]
    fn kubernetes_attributes_when_present() {
        let c = ExportConfig::default();
        let s = c
            .otlp_settings(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                ("HOSTNAME", "vigil-0"),
                ("POD_NAMESPACE", "observability"),
            ]))
            .unwrap()
            .unwrap();
        assert_eq!(s.resource["k8s.pod.name"], "vigil-0");
        assert_eq!(s.resource["k8s.namespace.name"], "observability");
        assert_eq!(s.protocol, OtlpProtocol::Grpc);
    }

    #[test]
    fn file_wins_over_environment() {
        let c = ExportConfig {
            otlp: Some(OtlpConfig {
                endpoint: Some("http://file:4317".into()),
                protocol: Some(OtlpProtocol::Grpc),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = c
            .otlp_settings(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ]))
            .unwrap()
            .unwrap();
        assert_eq!(s.endpoint, "http://file:4317");
        assert_eq!(s.metrics_endpoint(), "http://file:4317");
        assert_eq!(s.protocol, OtlpProtocol::Grpc);
    }

    #[test]
    fn endpoint_without_scheme_is_refused_with_a_fix() {
        let c = ExportConfig {
            otlp: Some(OtlpConfig {
                endpoint: Some("collector:4317".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("export.otlp.endpoint"), "{e}");
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn bad_protocol_and_disabled_sdk() {
        let c = ExportConfig::default();
        let e = c
            .otlp_settings(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ]))
            .unwrap_err();
        assert_eq!(e.0, "OTEL_EXPORTER_OTLP_PROTOCOL");
        let off = c
            .otlp_settings(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_SDK_DISABLED", "true"),
            ]))
            .unwrap();
        assert_eq!(off, None);
    }

    #[test]
    fn environment_written_in_resolves_the_same_without_it() {
        let c = ExportConfig::default();
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "vigil-hub"),
        ]);
        let with = c.otlp_settings(&e).unwrap();
        let merged = c.with_env(&e).unwrap();
        assert_eq!(merged.otlp_settings(&env(&[])).unwrap(), with);
        assert_eq!(with.unwrap().service_name, "vigil-hub");
    }
}
