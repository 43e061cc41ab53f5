//! The resolved OTLP settings and the transport they name. Owns the types
//! and the per-signal URLs derived from them; it must not read files or the
//! environment (`resolve` does) or build exporters.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The path OTLP/HTTP posts metrics to under a collector's base URL.
pub(crate) const METRICS_PATH: &str = "/v1/metrics";
/// The path OTLP/HTTP posts spans to under a collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

/// OTLP transport. In YAML written `grpc` or `http/protobuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }

    /// `grpc`, `http/protobuf`, or `http` for short.
    pub fn from_name(text: &str) -> Option<Self> {
        match text.trim() {
            "grpc" => Some(Self::Grpc),
            "http" | "http/protobuf" => Some(Self::HttpProtobuf),
            _ => None,
        }
    }

    /// The collector a local OpenTelemetry Collector listens as by default.
    pub(crate) fn default_endpoint(self) -> &'static str {
        match self {
            Self::Grpc => "http://127.0.0.1:4317",
            Self::HttpProtobuf => "http://127.0.0.1:4318",
        }
    }
}

/// Resolved OTLP settings: file, environment and defaults merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Where metrics are sent: the collector URL for gRPC; for OTLP/HTTP the
    /// full metrics URL (`<base>/v1/metrics`, or a signal-specific URL as
    /// written). Other signals go to the same collector
    /// ([`OtlpSettings::traces_endpoint`]).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Time between two metric exports.
    pub interval: Duration,
    /// Limit of one export.
    pub timeout: Duration,
    /// Request headers (gRPC metadata), e.g. an API key.
    pub headers: BTreeMap<String, String>,
    /// Whether spans are exported as well as metrics.
    pub traces: bool,
    /// `service.name` of the resource.
    pub service_name: String,
    /// The other resource attributes (never `service.name`).
    pub resource: BTreeMap<String, String>,
}

impl OtlpSettings {
    /// The URL metrics are sent to.
    pub fn metrics_endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The URL spans are sent to: for OTLP/HTTP the metrics URL's
    /// `/v1/metrics` becomes `/v1/traces`.
    pub fn traces_endpoint(&self) -> String {
        match self.protocol {
            OtlpProtocol::Grpc => self.endpoint.clone(),
            OtlpProtocol::HttpProtobuf => {
                let base = self
                    .endpoint
                    .strip_suffix(METRICS_PATH)
                    .unwrap_or(&self.endpoint);
                format!("{}{TRACES_PATH}", base.trim_end_matches('/'))
            }
        }
    }
}

/// The metrics URL for a collector base URL: gRPC uses the base as is;
/// OTLP/HTTP posts to `/v1/metrics` under it (unless it is already there).
pub(crate) fn metrics_url(protocol: OtlpProtocol, base: &str) -> String {
    match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf => {
            let base = base.trim_end_matches('/');
            if base.ends_with(METRICS_PATH) {
                base.to_owned()
            } else {
                format!("{base}{METRICS_PATH}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(endpoint: &str) -> OtlpSettings {
        OtlpSettings {
            endpoint: endpoint.to_owned(),
            protocol: OtlpProtocol::HttpProtobuf,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            traces: true,
            service_name: "s".into(),
            resource: BTreeMap::new(),
        }
    }

    #[test]
    fn http_signal_urls_share_the_base() {
        let base = "http://c:4318/otlp/";
        let s = http(&metrics_url(OtlpProtocol::HttpProtobuf, base));
        assert_eq!(s.metrics_endpoint(), "http://c:4318/otlp/v1/metrics");
        assert_eq!(s.traces_endpoint(), "http://c:4318/otlp/v1/traces");
        // A base that already names the metrics path is not doubled.
        let again = metrics_url(OtlpProtocol::HttpProtobuf, &s.endpoint);
        assert_eq!(again, s.endpoint);
        assert_eq!(
            metrics_url(OtlpProtocol::Grpc, "http://c:4317/"),
            "http://c:4317/"
        );
    }

    #[test]
    fn protocol_names() {
        assert_eq!(
            OtlpProtocol::from_name("http"),
            Some(OtlpProtocol::HttpProtobuf)
        );
        assert_eq!(OtlpProtocol::from_name(" grpc "), Some(OtlpProtocol::Grpc));
        assert_eq!(OtlpProtocol::from_name("http/json"), None);
        assert_eq!(OtlpProtocol::HttpProtobuf.as_str(), "http/protobuf");
    }
}
