//! How a config file's OTLP values and the standard `OTEL_*` environment
//! variables merge into [`OtlpSettings`]: a value written in the file wins,
//! the environment fills in what it leaves out, defaults come last.
//!
//! Owns that precedence, the checks of each value and errors that name the
//! field (and the variable it came from), the problem and the fix. It must
//! not decide whether export is on (each binary has its own rule; see
//! [`sdk_disabled`] for the standard switch), parse YAML, or read the process
//! environment: the caller passes a lookup.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::settings::{OtlpProtocol, OtlpSettings, metrics_url};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// An OTLP value that cannot be used. Display reads like
/// `export.otlp.endpoint (from OTEL_EXPORTER_OTLP_ENDPOINT): "c:4317" is not
/// an http:// or https:// URL; write the scheme, ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}; {fix}", self.location())]
pub struct SettingsError {
    /// The config path of the value (`export.otlp.endpoint`).
    pub field: String,
    /// The environment variable the value came from; `None`: the file.
    pub var: Option<&'static str>,
    pub problem: String,
    pub fix: String,
}

impl SettingsError {
    fn new(
        field: String,
        var: Option<&'static str>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            field,
            var,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// `field (from VAR)`, or the field alone when the file wrote it.
    pub fn location(&self) -> String {
        match self.var {
            Some(var) => format!("{} (from {var})", self.field),
            None => self.field.clone(),
        }
    }
}

/// What a config file says about OTLP, already typed. Every value is
/// optional: `None` (or empty) leaves it to the environment, then the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpFile {
    /// Base URL of the collector, with scheme (`http://collector:4317`).
    pub endpoint: Option<String>,
    pub protocol: Option<OtlpProtocol>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    /// Request headers; they win over `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: BTreeMap<String, String>,
    /// Export spans too (only read when [`Profile::traces`] is set).
    pub traces: Option<bool>,
    /// Resource attributes; they win over `OTEL_RESOURCE_ATTRIBUTES`, and a
    /// `service.name` here wins over `OTEL_SERVICE_NAME`.
    pub resource: BTreeMap<String, String>,
}

/// What differs between the binaries that resolve OTLP settings.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// The config path of the OTLP section, the prefix of every field named
    /// in errors (`export.otlp`).
    pub section: &'static str,
    /// `service.name` when neither the file nor the environment names one.
    pub service_name: &'static str,
    /// Time between two metric exports when neither file nor environment
    /// sets it.
    pub interval: Duration,
    /// Whether spans are exported besides metrics. A metrics-only binary
    /// also reads the `OTEL_EXPORTER_OTLP_METRICS_*` variables (before the
    /// generic ones); one exporting both signals from one set of settings
    /// reads the generic ones only.
    pub traces: bool,
    /// Whether the Kubernetes downward-API variables (`POD_NAME` or
    /// `HOSTNAME`, `POD_NAMESPACE`, `POD_UID`, `NODE_NAME`) become resource
    /// attributes when `KUBERNETES_SERVICE_HOST` is set.
    pub kubernetes_resource: bool,
}

impl Profile {
    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.section)
    }

    /// The variables for one setting, signal-specific first where read.
    fn vars(&self, metrics: &'static str, generic: &'static str) -> Vec<&'static str> {
        if self.traces {
            vec![generic]
        } else {
            vec![metrics, generic]
        }
    }
}

/// `OTEL_SDK_DISABLED=true`: the standard switch that turns every signal off.
pub fn sdk_disabled(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

impl OtlpFile {
    /// Checks the values that need no environment (the endpoint's scheme,
    /// header names and values), so a mistake shows up even while export
    /// is off. [`resolve`] runs it too.
    pub fn check(&self, profile: &Profile) -> Result<(), SettingsError> {
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(profile.field("endpoint"), None, endpoint)?;
        }
        for (key, value) in &self.headers {
            check_header(profile.field("headers"), None, key, value)?;
        }
        Ok(())
    }
}

/// Merges `file` with the `OTEL_*` variables `env` returns (empty values
/// count as unset) and the defaults of `profile`.
pub fn resolve(
    file: &OtlpFile,
    profile: &Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OtlpSettings, SettingsError> {
    let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
    file.check(profile)?;

    let protocol = match file.protocol {
        Some(p) => p,
        None => match first_env(
            &env,
            &profile.vars(
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
        ) {
            Some((var, text)) => OtlpProtocol::from_name(&text).ok_or_else(|| {
                SettingsError::new(
                    profile.field("protocol"),
                    Some(var),
                    format!("\"{text}\" is not supported"),
                    "use grpc or http/protobuf",
                )
            })?,
            None => OtlpProtocol::Grpc,
        },
    };

    // The signal-specific variable is a complete URL, used as written.
    let signal_url = if profile.traces {
        None
    } else {
        first_env(&env, &["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"])
    };
    let endpoint = if let Some(base) = &file.endpoint {
        metrics_url(protocol, base.trim())
    } else if let Some((var, url)) = signal_url {
        check_endpoint(profile.field("endpoint"), Some(var), &url)?
    } else if let Some((var, base)) = first_env(&env, &["OTEL_EXPORTER_OTLP_ENDPOINT"]) {
        let base = check_endpoint(profile.field("endpoint"), Some(var), &base)?;
        metrics_url(protocol, &base)
    } else {
        metrics_url(protocol, protocol.default_endpoint())
    };

    let (interval, var) = match file.interval {
        Some(d) => (d, None),
        None => match env_millis(
            &env,
            profile.field("interval"),
            &["OTEL_METRIC_EXPORT_INTERVAL"],
        )? {
            Some((var, d)) => (d, Some(var)),
            None => (profile.interval, None),
        },
    };
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(SettingsError::new(
            profile.field("interval"),
            var,
            format!(
                "{} is outside 100ms..1h",
                humantime::format_duration(interval)
            ),
            format!(
                "use a value such as \"{}\"",
                humantime::format_duration(profile.interval)
            ),
        ));
    }

    let (timeout, var) = match file.timeout {
        Some(d) => (d, None),
        None => match env_millis(
            &env,
            profile.field("timeout"),
            &profile.vars(
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
        )? {
            Some((var, d)) => (d, Some(var)),
            None => (DEFAULT_TIMEOUT, None),
        },
    };
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(SettingsError::new(
            profile.field("timeout"),
            var,
            format!("{} is outside 1ms..5m", humantime::format_duration(timeout)),
            "use a value such as \"10s\"",
        ));
    }

    let mut headers = BTreeMap::new();
    if let Some((var, text)) = first_env(
        &env,
        &profile.vars(
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
    ) {
        let field = profile.field("headers");
        for (k, v) in parse_pairs(&field, var, &text)? {
            check_header(field.clone(), Some(var), &k, &v)?;
            headers.insert(k, v);
        }
    }
    headers.extend(file.headers.clone());

    let mut resource = BTreeMap::new();
    if let Some((var, text)) = first_env(&env, &["OTEL_RESOURCE_ATTRIBUTES"]) {
        resource.extend(parse_pairs(profile.section, var, &text)?);
    }
    if profile.kubernetes_resource && env("KUBERNETES_SERVICE_HOST").is_some() {
        // Downward-API variables, under the names the k8s examples use.
        for (var, key) in [
            ("POD_NAME", "k8s.pod.name"),
            ("HOSTNAME", "k8s.pod.name"),
            ("POD_NAMESPACE", "k8s.namespace.name"),
            ("POD_UID", "k8s.pod.uid"),
            ("NODE_NAME", "k8s.node.name"),
        ] {
            if let Some(v) = env(var) {
                resource.entry(key.to_owned()).or_insert(v);
            }
        }
    }
    let env_service = resource.get("service.name").cloned();
    resource.extend(file.resource.clone());
    let service_name = file
        .resource
        .get("service.name")
        .cloned()
        .or_else(|| env("OTEL_SERVICE_NAME").map(|s| s.trim().to_owned()))
        .or(env_service)
        .unwrap_or_else(|| profile.service_name.to_owned());
    // Kept in its own field: the resource map holds the other attributes.
    resource.remove("service.name");

    let traces = profile.traces
        && match file.traces {
            Some(t) => t,
            None => env("OTEL_TRACES_EXPORTER").is_none_or(|v| v.trim() != "none"),
        };

    Ok(OtlpSettings {
        endpoint,
        protocol,
        interval,
        timeout,
        headers,
        traces,
        service_name,
        resource,
    })
}

fn first_env(
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[&'static str],
) -> Option<(&'static str, String)> {
    vars.iter().find_map(|var| env(var).map(|v| (*var, v)))
}

/// A duration the spec writes as whole milliseconds
/// (`OTEL_METRIC_EXPORT_INTERVAL=30000`), from the first of `vars` set.
fn env_millis(
    env: &dyn Fn(&str) -> Option<String>,
    field: String,
    vars: &[&'static str],
) -> Result<Option<(&'static str, Duration)>, SettingsError> {
    let Some((var, text)) = first_env(env, vars) else {
        return Ok(None);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| Some((var, Duration::from_millis(ms))))
        .ok_or_else(|| {
            SettingsError::new(
                field,
                Some(var),
                format!("\"{text}\" is not a positive whole number of milliseconds"),
                format!("write e.g. {var}=30000 for thirty seconds"),
            )
        })
}

/// An `http://` or `https://` URL with a host: a collector without a
/// scheme would be taken for `https://` by the exporter.
fn check_endpoint(
    field: String,
    var: Option<&'static str>,
    text: &str,
) -> Result<String, SettingsError> {
    let text = text.trim();
    let ok = reqwest::Url::parse(text)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(SettingsError::new(
            field,
            var,
            format!("\"{text}\" is not an http:// or https:// URL"),
            "write the scheme, e.g. \"http://otel-collector:4317\" for a plaintext collector",
        ))
    }
}

/// A name gRPC metadata and HTTP both accept, and a printable ASCII value.
fn check_header(
    field: String,
    var: Option<&'static str>,
    key: &str,
    value: &str,
) -> Result<(), SettingsError> {
    let name_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(SettingsError::new(
            field,
            var,
            format!("\"{key}\" is not a valid header name"),
            "use letters, digits, '-' and '_' only, e.g. x-api-key",
        ));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') || !value.is_ascii() {
        return Err(SettingsError::new(
            format!("{field}.{key}"),
            var,
            "contains control or non-ASCII characters",
            "write the value as printable ASCII (percent-encode it in OTEL_EXPORTER_OTLP_HEADERS)",
        ));
    }
    Ok(())
}

/// `k1=v1,k2=v2`, as the OpenTelemetry spec writes headers and resources;
/// values may be percent-encoded.
fn parse_pairs(
    field: &str,
    var: &'static str,
    text: &str,
) -> Result<Vec<(String, String)>, SettingsError> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                SettingsError::new(
                    field.to_owned(),
                    Some(var),
                    format!("\"{pair}\" is not key=value"),
                    "write comma-separated pairs such as key1=value1,key2=value2",
                )
            })?;
            Ok((k.trim().to_owned(), percent_decode(v.trim())))
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const METRICS_ONLY: Profile = Profile {
        section: "export.otlp",
        service_name: "metrics-only",
        interval: Duration::from_secs(30),
        traces: false,
        kubernetes_resource: false,
    };
    const BOTH: Profile = Profile {
        service_name: "both",
        interval: Duration::from_secs(10),
        traces: true,
        kubernetes_resource: true,
        ..METRICS_ONLY
    };

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_come_from_the_profile() {
        let s = resolve(&OtlpFile::default(), &METRICS_ONLY, &env(&[])).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:4317");
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.service_name, "metrics-only");
        assert!(!s.traces, "a metrics-only profile never exports spans");
        let s = resolve(&OtlpFile::default(), &BOTH, &env(&[])).unwrap();
        assert_eq!(s.interval, Duration::from_secs(10));
        assert!(s.traces);
    }

    #[test]
    fn signal_specific_variables_only_for_a_metrics_only_profile() {
        let e = env(&[
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2000"),
        ]);
        let s = resolve(&OtlpFile::default(), &METRICS_ONLY, &e).unwrap();
        assert_eq!(s.endpoint, "http://m:9999/custom");
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(s.timeout, Duration::from_secs(2));
        let s = resolve(&OtlpFile::default(), &BOTH, &e).unwrap();
        assert_eq!(s.endpoint, "http://base:4317");
        assert_eq!(s.protocol, OtlpProtocol::Grpc);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn errors_name_the_variable_the_value_came_from() {
        let e = resolve(
            &OtlpFile::default(),
            &BOTH,
            &env(&[("OTEL_METRIC_EXPORT_INTERVAL", "50")]),
        )
        .unwrap_err();
        assert_eq!(e.field, "export.otlp.interval");
        assert_eq!(e.var, Some("OTEL_METRIC_EXPORT_INTERVAL"));
        assert_eq!(
            e.to_string(),
            "export.otlp.interval (from OTEL_METRIC_EXPORT_INTERVAL): 50ms is outside 100ms..1h; use a value such as \"10s\""
        );
        let file = OtlpFile {
            headers: [("x-key".to_owned(), "caf\u{e9}".to_owned())].into(),
            ..OtlpFile::default()
        };
        let e = file.check(&BOTH).unwrap_err();
        assert_eq!(e.location(), "export.otlp.headers.x-key");
        let file = OtlpFile {
            timeout: Some(Duration::ZERO),
            ..OtlpFile::default()
        };
        let e = resolve(&file, &BOTH, &env(&[])).unwrap_err();
        assert_eq!(e.location(), "export.otlp.timeout");
    }

    #[test]
    fn file_resource_and_service_name_win() {
        let file = OtlpFile {
            resource: [
                ("service.name".to_owned(), "from-file".to_owned()),
                ("team".to_owned(), "hub".to_owned()),
            ]
            .into(),
            ..OtlpFile::default()
        };
        let s = resolve(
            &file,
            &BOTH,
            &env(&[
                ("OTEL_SERVICE_NAME", "from-env"),
                ("OTEL_RESOURCE_ATTRIBUTES", "team=env,zone=z%201"),
            ]),
        )
        .unwrap();
        assert_eq!(s.service_name, "from-file");
        assert_eq!(s.resource["team"], "hub");
        assert_eq!(s.resource["zone"], "z 1");
        assert!(!s.resource.contains_key("service.name"));
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%2"), "%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn sdk_disabled_reads_true_in_any_case() {
        assert!(sdk_disabled(&env(&[("OTEL_SDK_DISABLED", " TRUE ")])));
        assert!(!sdk_disabled(&env(&[("OTEL_SDK_DISABLED", "1")])));
        assert!(!sdk_disabled(&env(&[])));
    }
}
