//! The `export:` section: the optional OTLP push of probe results, resolved
//! against the standard `OTEL_*` environment variables.
//!
//! Owns parsing and validation of that section; it must not start exporters.
//! Export is off unless the section is present (and not `enabled: false`) or
//! `VIGIL_AGENT_OTLP=1`: an agent never starts pushing just because its
//! environment happens to carry `OTEL_EXPORTER_OTLP_ENDPOINT` meant for the
//! workload. Once on, a value written in the file wins, `OTEL_*` variables
//! fill in what it leaves out, and defaults come last.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{Complaint, ConfigError};
use super::fields;
use super::raw::{RawExport, RawOtlp};

/// Turns OTLP export on (`1`) or off (`0`) regardless of the file.
pub const OTLP_SWITCH: &str = "VIGIL_AGENT_OTLP";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
const HTTP_METRICS_PATH: &str = "/v1/metrics";

/// `export:` after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportConfig {
    /// `None`: nothing is exported over OTLP.
    pub otlp: Option<OtlpSettings>,
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
}

impl OtlpProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "grpc" => Some(Self::Grpc),
            "http" | "http/protobuf" => Some(Self::HttpProtobuf),
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

/// Resolved OTLP settings: file, environment and defaults merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Where metrics are sent: the collector URL for gRPC, the full
    /// `/v1/metrics` URL for HTTP.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Time between two exports.
    pub interval: Duration,
    /// Limit of one export.
    pub timeout: Duration,
    /// Request headers (gRPC metadata), e.g. an API key.
    pub headers: BTreeMap<String, String>,
    /// `service.name` of the resource.
    pub service_name: String,
    /// Extra resource attributes from `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: BTreeMap<String, String>,
}

/// Where a value came from, for error messages.
struct Field<'a> {
    path: &'static str,
    var: Option<&'a str>,
}

impl Field<'_> {
    fn name(&self) -> String {
        match self.var {
            Some(var) => format!("{} (from {var})", self.path),
            None => self.path.to_owned(),
        }
    }
}

pub(super) fn build(
    c: &Complaint<'_>,
    raw: RawExport,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExportConfig, ConfigError> {
    let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
    let file = raw.otlp;
    // The file is checked even when export is off, so a mistake shows up
    // before someone turns it on.
    let file = file.map(|f| parse_file(c, f)).transpose()?;
    let switch = env(OTLP_SWITCH).map(|v| parse_switch(c, &v)).transpose()?;
    let sdk_disabled =
        env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let wanted = match switch {
        Some(on) => on,
        None => file.as_ref().is_some_and(|f| f.enabled),
    };
    if !wanted || sdk_disabled {
        return Ok(ExportConfig { otlp: None });
    }
    let file = file.unwrap_or_default();
    resolve(c, file, &env).map(|s| ExportConfig { otlp: Some(s) })
}

/// The file's values, checked without the environment.
#[derive(Debug)]
struct FileOtlp {
    enabled: bool,
    endpoint: Option<String>,
    protocol: Option<OtlpProtocol>,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    headers: BTreeMap<String, String>,
}

impl Default for FileOtlp {
    fn default() -> Self {
        Self {
            enabled: true,
            endpoint: None,
            protocol: None,
            interval: None,
            timeout: None,
            headers: BTreeMap::new(),
        }
    }
}

fn parse_file(c: &Complaint<'_>, raw: RawOtlp) -> Result<FileOtlp, ConfigError> {
    let protocol = raw
        .protocol
        .map(|p| {
            OtlpProtocol::parse(&p).ok_or_else(|| {
                c.at(
                    "export.otlp.protocol",
                    format!("\"{p}\" is not an OTLP protocol"),
                    "use grpc or http (OTLP/HTTP with protobuf bodies)",
                )
            })
        })
        .transpose()?;
    let path = Field {
        path: "export.otlp.endpoint",
        var: None,
    };
    let endpoint = raw
        .endpoint
        .map(|e| check_endpoint(c, &path, &e))
        .transpose()?;
    let interval = raw
        .interval
        .map(|t| fields::duration(c, "export.otlp.interval", &t))
        .transpose()?;
    let timeout = raw
        .timeout
        .map(|t| fields::duration(c, "export.otlp.timeout", &t))
        .transpose()?;
    for (key, value) in &raw.headers {
        check_header(c, "export.otlp.headers", key, value)?;
    }
    Ok(FileOtlp {
        enabled: raw.enabled.unwrap_or(true),
        endpoint,
        protocol,
        interval,
        timeout,
        headers: raw.headers,
    })
}

fn resolve(
    c: &Complaint<'_>,
    file: FileOtlp,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OtlpSettings, ConfigError> {
    let protocol = match file.protocol {
        Some(p) => p,
        None => match first_env(
            env,
            &[
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ],
        ) {
            Some((var, text)) => OtlpProtocol::parse(&text).ok_or_else(|| {
                c.at(
                    format!("export.otlp.protocol (from {var})"),
                    format!("\"{text}\" is not supported"),
                    "use grpc or http/protobuf",
                )
            })?,
            None => OtlpProtocol::Grpc,
        },
    };

    let endpoint = if let Some(base) = file.endpoint {
        signal_url(protocol, &base)
    } else if let Some(url) = env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        // The signal-specific variable is a complete URL, used as written.
        let var = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
        check_endpoint(
            c,
            &Field {
                path: "export.otlp.endpoint",
                var: Some(var),
            },
            &url,
        )?
    } else if let Some(base) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
        let var = "OTEL_EXPORTER_OTLP_ENDPOINT";
        let base = check_endpoint(
            c,
            &Field {
                path: "export.otlp.endpoint",
                var: Some(var),
            },
            &base,
        )?;
        signal_url(protocol, &base)
    } else {
        signal_url(protocol, protocol.default_endpoint())
    };

    let interval = match file.interval {
        Some(d) => d,
        None => env_millis(
            c,
            env,
            "export.otlp.interval",
            &["OTEL_METRIC_EXPORT_INTERVAL"],
        )?
        .unwrap_or(DEFAULT_INTERVAL),
    };
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(c.at(
            "export.otlp.interval",
            format!(
                "{} is outside 100ms..1h",
                humantime::format_duration(interval)
            ),
            "use a value such as \"30s\"",
        ));
    }
    let timeout = match file.timeout {
        Some(d) => d,
        None => env_millis(
            c,
            env,
            "export.otlp.timeout",
            &[
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
        )?
        .unwrap_or(DEFAULT_TIMEOUT),
    };
    if timeout > MAX_TIMEOUT {
        return Err(c.at(
            "export.otlp.timeout",
            format!("{} is longer than 5m", humantime::format_duration(timeout)),
            "use a value such as \"10s\"",
        ));
    }

    let mut headers = BTreeMap::new();
    if let Some((var, text)) = first_env(
        env,
        &[
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ],
    ) {
        let field = format!("export.otlp.headers (from {var})");
        for (k, v) in parse_pairs(c, &field, &text)? {
            check_header(c, &field, &k, &v)?;
            headers.insert(k, v);
        }
    }
    headers.extend(file.headers);

    let mut resource = BTreeMap::new();
    if let Some(text) = env("OTEL_RESOURCE_ATTRIBUTES") {
        resource.extend(parse_pairs(
            c,
            "export.otlp (from OTEL_RESOURCE_ATTRIBUTES)",
            &text,
        )?);
    }
    let service_name = env("OTEL_SERVICE_NAME")
        .map(|s| s.trim().to_owned())
        .or_else(|| resource.get("service.name").cloned())
        .unwrap_or_else(|| "vigil-agent".to_owned());
    resource.remove("service.name");

    Ok(OtlpSettings {
        endpoint,
        protocol,
        interval,
        timeout,
        headers,
        service_name,
        resource,
    })
}

fn parse_switch(c: &Complaint<'_>, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(c.at(
            format!("export.otlp (from {OTLP_SWITCH})"),
            format!("\"{text}\" is not a switch"),
            format!("set {OTLP_SWITCH}=1 to export over OTLP or {OTLP_SWITCH}=0 to stop it"),
        )),
    }
}

fn first_env(
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[&'static str],
) -> Option<(&'static str, String)> {
    vars.iter().find_map(|var| env(var).map(|v| (*var, v)))
}

fn env_millis(
    c: &Complaint<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    path: &'static str,
    vars: &[&'static str],
) -> Result<Option<Duration>, ConfigError> {
    let Some((var, text)) = first_env(env, vars) else {
        return Ok(None);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or_else(|| {
            c.at(
                format!("{path} (from {var})"),
                format!("\"{text}\" is not a positive whole number of milliseconds"),
                format!("write e.g. {var}=30000 for thirty seconds"),
            )
        })
}

fn check_endpoint(c: &Complaint<'_>, field: &Field<'_>, text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    let ok = reqwest::Url::parse(text)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(c.at(
            field.name(),
            format!("\"{text}\" is not an http:// or https:// URL"),
            "write the scheme, e.g. \"http://otel-collector:4317\" for a plaintext collector",
        ))
    }
}

/// The metrics URL for a collector base URL: gRPC uses the base as is;
/// OTLP/HTTP posts to `/v1/metrics` under it (unless it is already there).
fn signal_url(protocol: OtlpProtocol, base: &str) -> String {
    match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf => {
            let base = base.trim_end_matches('/');
            if base.ends_with(HTTP_METRICS_PATH) {
                base.to_owned()
            } else {
                format!("{base}{HTTP_METRICS_PATH}")
            }
        }
    }
}

fn check_header(c: &Complaint<'_>, field: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    let name_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(c.at(
            field,
            format!("\"{key}\" is not a valid header name"),
            "use letters, digits, '-' and '_' only, e.g. x-api-key",
        ));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') || !value.is_ascii() {
        return Err(c.at(
            format!("{field}.{key}"),
            "contains control or non-ASCII characters",
            "write the value as printable ASCII (percent-encode it in OTEL_EXPORTER_OTLP_HEADERS)",
        ));
    }
    Ok(())
}

/// `k1=v1,k2=v2`, as the OpenTelemetry spec writes headers and resources;
/// values may be percent-encoded.
fn parse_pairs(
    c: &Complaint<'_>,
    field: &str,
    text: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                c.at(
                    field,
                    format!("\"{pair}\" is not key=value"),
                    "write comma-separated pairs such as key1=value1,key2=value2",
                )
            })?;
            Ok((k.trim().to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
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
