//! The `export.otlp` section: off unless the file or `VIGIL_AGENT_OTLP`
//! turns it on, `OTEL_*` variables honoured only then, the file winning over
//! them, and every bad value named by file, field and fix.

mod refusal;

use std::collections::HashMap;
use std::time::Duration;

use vigil_agent::config::{OtlpProtocol, OtlpSettings};
use vigil_agent::{AgentConfig, ConfigError};

const BASE: &str = r#"
agent: { id: a, network: spoke-a }
probes:
  - id: fw
    kind: tcp
    address: 10.0.1.4:443
    component: hub-firewall
    layer: platform_hub
"#;

fn with_export(section: &str) -> String {
    format!("{BASE}export:\n{section}")
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AgentConfig::from_yaml_with_env(text, "agent.yaml", &|k| map.get(k).cloned())
}

fn otlp(text: &str, env: &[(&str, &str)]) -> Option<OtlpSettings> {
    load(text, env)
        .unwrap_or_else(|e| panic!("config refused: {e}"))
        .export
        .otlp
}

fn refused(text: &str, env: &[(&str, &str)], field: &str, needle: &str) {
    let e = load(text, env).expect_err("config should be refused");
    refusal::assert_refusal(&e, field, needle);
}

const COLLECTOR_ENV: &[(&str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%20ecret,x-team=hub"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
    ("OTEL_SERVICE_NAME", "vigil-agent-spoke"),
    ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
];

#[test]
fn off_without_the_section_even_when_otel_variables_are_set() {
    assert_eq!(otlp(BASE, COLLECTOR_ENV), None);
    assert_eq!(otlp(BASE, &[]), None);
}

#[test]
fn the_switch_turns_it_on_from_otel_variables() {
    let mut env = COLLECTOR_ENV.to_vec();
    env.push(("VIGIL_AGENT_OTLP", "1"));
    let s = otlp(BASE, &env).expect("on");
    assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(s.endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(s.headers["api-key"], "s ecret");
    assert_eq!(s.headers["x-team"], "hub");
    assert_eq!(s.interval, Duration::from_millis(2500));
    assert_eq!(s.timeout, Duration::from_secs(10));
    assert_eq!(s.service_name, "vigil-agent-spoke");
    assert_eq!(s.resource["deployment.environment"], "prod");
}

#[test]
fn an_empty_section_uses_the_defaults() {
    let s = otlp(&with_export("  otlp: {}\n"), &[]).expect("on");
    assert_eq!(s.protocol, OtlpProtocol::Grpc);
    assert_eq!(s.endpoint, "http://127.0.0.1:4317");
    assert_eq!(s.interval, Duration::from_secs(30));
    assert_eq!(s.service_name, "vigil-agent");
    assert!(s.headers.is_empty());
}

#[test]
fn the_file_wins_and_otel_variables_fill_in() {
    let text = with_export(
        r#"  otlp:
    endpoint: http://file-collector:4318/
    protocol: http
    interval: 15s
    timeout: 2s
    headers: { x-api-key: from-file }
"#,
    );
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env-collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=from-env,x-extra=1"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
    ];
    let s = otlp(&text, &env).expect("on");
    assert_eq!(s.endpoint, "http://file-collector:4318/v1/metrics");
    assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(s.interval, Duration::from_secs(15));
    assert_eq!(s.timeout, Duration::from_secs(2));
    assert_eq!(s.headers["x-api-key"], "from-file");
    assert_eq!(s.headers["x-extra"], "1");
    // A full metrics URL in the file is kept, not doubled.
    let full = with_export("  otlp: { endpoint: \"http://c:4318/v1/metrics\", protocol: http }\n");
    assert_eq!(
        otlp(&full, &[]).unwrap().endpoint,
        "http://c:4318/v1/metrics"
    );
    // The signal-specific variable is a complete URL.
    let s = otlp(
        &with_export("  otlp: { protocol: http }\n"),
        &[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://m:9999/custom",
        )],
    )
    .unwrap();
    assert_eq!(s.endpoint, "http://m:9999/custom");
}

#[test]
fn enabled_false_and_the_switch_turn_it_off_or_on() {
    let disabled = with_export("  otlp: { enabled: false, endpoint: \"http://c:4317\" }\n");
    assert_eq!(otlp(&disabled, &[]), None);
    let on = otlp(&disabled, &[("VIGIL_AGENT_OTLP", "true")]).expect("switch wins");
    assert_eq!(on.endpoint, "http://c:4317");
    let enabled = with_export("  otlp: { endpoint: \"http://c:4317\" }\n");
    assert!(otlp(&enabled, &[]).is_some());
    assert_eq!(otlp(&enabled, &[("VIGIL_AGENT_OTLP", "0")]), None);
    assert_eq!(otlp(&enabled, &[("OTEL_SDK_DISABLED", "true")]), None);
}

#[test]
fn bad_values_name_file_field_and_fix() {
    refused(
        &with_export("  otlp: { endpoint: \"collector:4317\" }\n"),
        &[],
        "export.otlp.endpoint",
        "http://",
    );
    refused(
        &with_export("  otlp: { protocol: http/json }\n"),
        &[],
        "export.otlp.protocol",
        "use grpc or http",
    );
    refused(
        &with_export("  otlp: { interval: 10ms }\n"),
        &[],
        "export.otlp.interval",
        "100ms..1h",
    );
    refused(
        &with_export("  otlp: { interval: soon }\n"),
        &[],
        "export.otlp.interval",
        "is not a duration",
    );
    refused(
        &with_export("  otlp: { headers: { \"bad key\": v } }\n"),
        &[],
        "export.otlp.headers",
        "header name",
    );
    // Checked even while export is off, so the mistake shows before use.
    refused(
        &with_export("  otlp: { enabled: false, endpoint: \"c:4317\" }\n"),
        &[],
        "export.otlp.endpoint",
        "http://",
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    let on = [("VIGIL_AGENT_OTLP", "1")];
    refused(
        BASE,
        &[("VIGIL_AGENT_OTLP", "maybe")],
        "export.otlp (from VIGIL_AGENT_OTLP)",
        "VIGIL_AGENT_OTLP=1",
    );
    refused(
        BASE,
        &[on[0], ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
        "export.otlp.endpoint (from OTEL_EXPORTER_OTLP_ENDPOINT)",
        "http://",
    );
    refused(
        BASE,
        &[on[0], ("OTEL_METRIC_EXPORT_INTERVAL", "10s")],
        "export.otlp.interval (from OTEL_METRIC_EXPORT_INTERVAL)",
        "milliseconds",
    );
    refused(
        BASE,
        &[on[0], ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
        "export.otlp.protocol (from OTEL_EXPORTER_OTLP_PROTOCOL)",
        "grpc or http/protobuf",
    );
    refused(
        BASE,
        &[on[0], ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
        "export.otlp.headers (from OTEL_EXPORTER_OTLP_HEADERS)",
        "key=value",
    );
    // The same variables are ignored while export is off.
    assert!(load(BASE, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]).is_ok());
}

#[test]
fn a_misspelt_field_is_refused_with_its_location() {
    let e = load(
        &with_export("  otlp: { endpiont: \"http://c:4317\" }\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                location: Some(_),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("endpiont"), "{e}");
}

#[test]
fn the_spoke_example_documents_export_and_keeps_it_off() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/examples/agent-spoke.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(otlp(&text, COLLECTOR_ENV), None, "off as shipped");
    let s = otlp(&text, &[("VIGIL_AGENT_OTLP", "1")]).expect("switch turns it on");
    assert_eq!(s.endpoint, "http://otel-collector.observability:4317");
    assert_eq!(s.protocol, OtlpProtocol::Grpc);
    assert_eq!(s.interval, Duration::from_secs(30));
    assert_eq!(s.timeout, Duration::from_secs(10));
    assert!(s.headers.is_empty());
}
