//! The `export:` section of the aggregator config (Prometheus page, OTLP
//! push) and when its OTLP part is on.
//!
//! Owns the section's YAML shape and its on/off rule. It must not start
//! exporters; how the file and the standard `OTEL_*` environment variables
//! merge into settings is `vigil-telemetry`'s: a value written in the file
//! wins, `OTEL_*` variables fill in what the file leaves out, built-in
//! defaults come last.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use vigil_model::FieldError;
use vigil_model::duration;
use vigil_telemetry::{OtlpFile, Profile, SettingsError};
pub use vigil_telemetry::{OtlpProtocol, OtlpSettings};

/// The aggregator exports metrics and spans from one set of settings, so
/// only the generic `OTEL_EXPORTER_OTLP_*` variables count.
const PROFILE: Profile = Profile {
    section: "export.otlp",
    service_name: "vigil-aggregator",
    interval: Duration::from_secs(10),
    traces: true,
    kubernetes_resource: true,
};

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

/// `export.otlp`: every field optional, `OTEL_*` fill the gaps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Turn OTLP off without deleting the section.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Base URL of the collector, with scheme (`http://collector:4317`).
    /// For `http/protobuf` the signal paths `/v1/metrics` and `/v1/traces`
    /// are appended (a URL already ending in `/v1/metrics` stands for its
    /// base).
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

/// A bad value as (field, problem, fix); the field is the `OTEL_*`
/// variable when the value came from one.
type Invalid = (String, String, String);

fn invalid(e: SettingsError) -> Invalid {
    let field = e.var.map_or(e.field, str::to_owned);
    (field, e.problem, e.fix)
}

impl OtlpConfig {
    /// The file's values as the shared resolver takes them.
    fn to_file(&self) -> OtlpFile {
        OtlpFile {
            endpoint: self.endpoint.clone(),
            protocol: self.protocol,
            interval: self.interval,
            timeout: self.timeout,
            headers: self.headers.clone(),
            traces: self.traces,
            resource: self.resource.clone(),
        }
    }
}

impl ExportConfig {
    /// Merges the file with `env` (the process environment in production,
    /// a map in tests). `None`: OTLP export is off.
    pub fn otlp_settings(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpSettings>, Invalid> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if vigil_telemetry::sdk_disabled(&env) {
            return Ok(None);
        }
        let section = self.otlp.as_ref();
        let wanted = match section.and_then(|o| o.enabled) {
            Some(on) => on,
            None => section.is_some() || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
        };
        if !wanted {
            return Ok(None);
        }
        let file = section.map(OtlpConfig::to_file).unwrap_or_default();
        vigil_telemetry::resolve(&file, &PROFILE, &env)
            .map(Some)
            .map_err(invalid)
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
                    // The metrics URL: it resolves to itself and its base.
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
