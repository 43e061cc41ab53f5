//! Config parsing and validation: every example parses, every class of bad
//! input names the file and field path, env overrides apply.

mod refusal;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use refusal::{assert_invalid, err};
use vigil_agent::config::{AgentRole, DnsRecordType, ProbeSpec, StatusExpectation};
use vigil_agent::{AgentConfig, ConfigError};

const GOOD: &str = r#"
agent:
  id: spoke-a-node-1
  network: spoke-a
  role: daemonset
aggregator:
  endpoint: http://127.0.0.1:7400
defaults: { interval: 10s, timeout: 3s, jitter: 0.1 }
probes:
  - id: api
    kind: http
    component: checkout-api
    layer: workload_application
    url: http://127.0.0.1:8080/health
  - id: fw
    kind: tcp
    address: 10.0.1.4:443
    component: hub-firewall
    layer: platform_hub
  - id: kv
    kind: dns
    name: kv.privatelink.vaultcore.azure.net
    server: 10.0.0.4
    component: hub-dns
    layer: platform_hub
"#;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples")
}

/// Replaces `from` by `to` in GOOD, failing loudly if `from` is absent.
fn good_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "fixture lacks {from:?}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn every_example_parses() {
    let mut count = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("deploy/examples exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("agent-") && name.ends_with(".yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let config = AgentConfig::from_yaml(&text, &name)
                .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            assert!(!config.probes.is_empty(), "{name} has no probes");
            count += 1;
        }
    }
    assert!(count >= 2, "expected agent-spoke.yaml and agent-hub.yaml");
}

#[test]
fn configs_in_the_probe_docs_parse() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/probes.md");
    let text = std::fs::read_to_string(path).expect("docs/probes.md exists");
    let blocks: Vec<&str> = text
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "expected a spoke and a hub example");
    for (i, block) in blocks.iter().enumerate() {
        let config = AgentConfig::from_yaml(block, &format!("docs/probes.md example {i}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.probes.len() >= 5, "example {i} is too small");
        assert_eq!(config.warnings(), [], "example {i} draws a warning");
    }
}

#[test]
fn spoke_example_has_the_documented_values() {
    let path = examples_dir().join("agent-spoke.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let c = AgentConfig::from_yaml(&text, "agent-spoke.yaml").unwrap();
    assert_eq!(c.agent.network, "spoke-a");
    assert_eq!(c.agent.role, AgentRole::Daemonset);
    assert_eq!(c.agent.zone, "1");
    assert_eq!(c.delivery.buffer_max_signals, 100_000);
    assert_eq!(c.delivery.backoff_initial, Duration::from_millis(200));
    let api = &c.probes[0];
    assert_eq!(api.schedule.interval, Duration::from_secs(5));
    assert_eq!(api.schedule.timeout, Duration::from_secs(3));
    assert_eq!(api.latency_threshold, Some(Duration::from_millis(500)));
    match &api.spec {
        ProbeSpec::Http(h) => {
            assert_eq!(h.expect_status, StatusExpectation::OneOf(vec![200]));
            assert!(h.body_match.as_ref().unwrap().is_match("all ok"));
        }
        other => panic!("expected http, got {other:?}"),
    }
    match &c.probes[2].spec {
        ProbeSpec::Dns(d) => {
            assert_eq!(d.record_type, DnsRecordType::A);
            assert_eq!(d.server, Some("10.0.0.4:53".parse().unwrap()));
        }
        other => panic!("expected dns, got {other:?}"),
    }
}

#[test]
fn defaults_fill_missing_fields() {
    let c = AgentConfig::from_yaml(GOOD, "agent.yaml").unwrap();
    assert_eq!(c.delivery.batch_max_signals, 500);
    assert_eq!(c.delivery.batch_max_delay, Duration::from_secs(1));
    match &c.probes[0].spec {
        ProbeSpec::Http(h) => {
            assert!(h.expect_status.accepts(204));
            assert!(!h.expect_status.accepts(301));
        }
        other => panic!("expected http, got {other:?}"),
    }
    match &c.probes[2].spec {
        ProbeSpec::Dns(d) => assert_eq!(d.server, Some("10.0.0.4:53".parse().unwrap())),
        other => panic!("expected dns, got {other:?}"),
    }
}

#[test]
fn bad_duration_names_file_field_and_fix() {
    let text = good_with(
        "    address: 10.0.1.4:443\n",
        "    address: 10.0.1.4:443\n    timeout: 3x\n",
    );
    let shown = err(&text).to_string();
    assert_eq!(
        shown,
        r#"agent.yaml: probes[1].timeout: "3x" is not a duration; write e.g. "500ms" or "3s""#
    );
}

#[test]
fn duplicate_probe_ids_are_refused() {
    let text = good_with("id: fw", "id: api");
    assert_invalid(&text, "probes[1].id", "\"api\" is used by an earlier probe");
}

#[test]
fn timeout_not_shorter_than_interval_is_refused() {
    let text = good_with(
        "{ interval: 10s, timeout: 3s",
        "{ interval: 2s, timeout: 3s",
    );
    assert_invalid(&text, "probes[0].timeout", "not shorter than the interval");
}

#[test]
fn unknown_kind_is_refused() {
    assert_invalid(
        &good_with("kind: tcp", "kind: icmp"),
        "probes[1].kind",
        "\"icmp\" is not a probe kind",
    );
    assert_invalid(
        &good_with("kind: tcp", "kind: ping"),
        "probes[1].kind",
        "use http, tcp, dns, tls, firewall, reachability, egress or grpc",
    );
}

#[test]
fn bad_url_is_refused() {
    assert_invalid(
        &good_with("url: http://127.0.0.1:8080/health", "url: \"ftp//nope\""),
        "probes[0].url",
        "is not an http(s) URL",
    );
    assert_invalid(
        &good_with(
            "endpoint: http://127.0.0.1:7400",
            "endpoint: \"127.0.0.1 7400\"",
        ),
        "aggregator.endpoint",
        "not an http(s) URL",
    );
}

#[test]
fn empty_or_missing_network_is_refused() {
    assert_invalid(
        &good_with("network: spoke-a", "network: \"\""),
        "agent.network",
        "is empty",
    );
    assert_invalid(
        &good_with("  network: spoke-a\n", ""),
        "agent.network",
        "missing",
    );
}

#[test]
fn unparseable_addresses_are_refused() {
    assert_invalid(
        &good_with("address: 10.0.1.4:443", "address: 10.0.1.4"),
        "probes[1].address",
        "not a host:port",
    );
    assert_invalid(
        &good_with("server: 10.0.0.4", "server: dns.example"),
        "probes[2].server",
        "not an IP address",
    );
    let text = format!("{GOOD}admin:\n  listen: localhost-7402\n");
    assert_invalid(&text, "admin.listen", "not an IP:port");
}

#[test]
fn jitter_outside_range_is_refused() {
    assert_invalid(
        &good_with("jitter: 0.1", "jitter: 0.7"),
        "defaults.jitter",
        "outside 0..=0.5",
    );
    assert_invalid(
        &good_with("jitter: 0.1", "jitter: -0.1"),
        "defaults.jitter",
        "outside",
    );
}

#[test]
fn zero_buffer_and_oversized_batch_are_refused() {
    let text = format!("{GOOD}delivery:\n  buffer_max_signals: 0\n");
    assert_invalid(&text, "delivery.buffer_max_signals", "is 0");
    let text = format!("{GOOD}delivery:\n  buffer_max_signals: 10\n  batch_max_signals: 20\n");
    assert_invalid(&text, "delivery.batch_max_signals", "larger than");
}

#[test]
fn other_field_errors() {
    assert_invalid(
        &good_with("layer: platform_hub", "layer: hub"),
        "probes[1].layer",
        "\"hub\" is not a layer",
    );
    assert_invalid(
        &good_with("role: daemonset", "role: pod"),
        "agent.role",
        "not a role",
    );
    assert_invalid(
        &good_with("kind: tcp", "kind: tcp\n    url: http://x/"),
        "probes[1].url",
        "not used by a tcp probe",
    );
    assert_invalid(
        &good_with(
            "url: http://127.0.0.1:8080/health",
            "url: http://127.0.0.1:8080/health\n    body_match: \"(\"",
        ),
        "probes[0].body_match",
        "not a valid regex",
    );
    assert_invalid(
        &good_with(
            "url: http://127.0.0.1:8080/health",
            "url: http://127.0.0.1:8080/health\n    expect_status: [200, 999]",
        ),
        "probes[0].expect_status",
        "999",
    );
    assert_invalid(
        &good_with("    component: hub-dns\n", ""),
        "probes[2].component",
        "missing",
    );
    assert_invalid(
        &good_with(
            "name: kv.privatelink",
            "record_type: MX\n    name: kv.privatelink",
        ),
        "probes[2].record_type",
        "MX",
    );
}

#[test]
fn yaml_syntax_errors_carry_file_line_and_column() {
    let text = "agent:\n  id: a\n  network: [unclosed\n";
    let e = err(text);
    let shown = e.to_string();
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                location: Some(_),
                ..
            }
        ),
        "{shown}"
    );
    assert!(
        shown.starts_with("agent.yaml:3:") || shown.starts_with("agent.yaml:4:"),
        "{shown}"
    );
}

#[test]
fn unknown_fields_are_refused_with_location() {
    let text = good_with(
        "    address: 10.0.1.4:443\n",
        "    address: 10.0.1.4:443\n    intervall: 5s\n",
    );
    let e = err(&text);
    let shown = e.to_string();
    assert!(shown.starts_with("agent.yaml:"), "{shown}");
    assert!(shown.contains("intervall"), "{shown}");
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                location: Some(_),
                ..
            }
        ),
        "{shown}"
    );
}

#[test]
fn load_names_the_missing_file() {
    let e = AgentConfig::load(std::path::Path::new("/nonexistent/agent.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/agent.yaml: cannot read"),
        "{e}"
    );
}

#[test]
fn env_overrides_apply_and_are_validated() {
    let mut c = AgentConfig::from_yaml(GOOD, "agent.yaml").unwrap();
    let env: HashMap<&str, &str> = [
        ("VIGIL_AGENT_ID", "pod-7"),
        ("VIGIL_NETWORK", "spoke-b"),
        ("VIGIL_CLUSTER", "aks-b"),
        ("VIGIL_ZONE", "3"),
        ("VIGIL_REGION", "northeurope"),
        ("VIGIL_ROLE", "sidecar"),
        ("VIGIL_AGGREGATOR", "http://10.0.5.5:7400"),
    ]
    .into_iter()
    .collect();
    c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.agent.id, "pod-7");
    assert_eq!(c.agent.network, "spoke-b");
    assert_eq!(c.agent.cluster, "aks-b");
    assert_eq!(c.agent.zone, "3");
    assert_eq!(c.agent.region, "northeurope");
    assert_eq!(c.agent.role, AgentRole::Sidecar);
    assert_eq!(c.aggregator.endpoint, "http://10.0.5.5:7400");

    let before = c.agent.clone();
    let e = c
        .apply_env(|k| (k == "VIGIL_ROLE").then(|| "pod".to_owned()))
        .unwrap_err();
    assert!(
        e.to_string().contains("agent.role (from VIGIL_ROLE)"),
        "{e}"
    );
    assert_eq!(c.agent, before, "a refused override must not half-apply");
    let e = c
        .apply_env(|k| (k == "VIGIL_NETWORK").then(String::new))
        .unwrap_err();
    assert!(e.to_string().contains("VIGIL_NETWORK"), "{e}");
}

#[test]
fn load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("vigil-agent-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let c = AgentConfig::load(&path).unwrap();
    assert_eq!(c.probes.len(), 3);
    assert_eq!(c.origin, path.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An agent in `network` with an allow and a deny firewall probe.
fn firewall_pair(network: &str) -> String {
    format!(
        r#"
agent: {{ id: a, network: {network} }}
probes:
  - id: fw-allow-login
    kind: firewall
    expect: allow
    protocol: tls
    address: login.microsoftonline.com:443
    component: hub-firewall
    layer: platform_hub
  - id: fw-deny-ssh
    kind: firewall
    expect: deny
    address: 203.0.113.50:22
    component: hub-firewall
    layer: platform_hub
"#
    )
}

#[test]
fn a_deny_firewall_probe_in_the_hub_is_warned_about_by_name() {
    let c = AgentConfig::from_yaml(&firewall_pair("hub"), "hub.yaml").unwrap();
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].probe, "fw-deny-ssh");
    assert!(
        warnings[0].message.contains("policy_drift"),
        "{}",
        warnings[0]
    );
    let c = AgentConfig::from_yaml(&firewall_pair("spoke-a"), "spoke.yaml").unwrap();
    assert_eq!(c.warnings(), []);
}

#[test]
fn the_binary_logs_the_hub_deny_warning_when_it_loads_the_config() {
    let dir = std::env::temp_dir().join(format!("vigil-agent-advice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hub.yaml");
    std::fs::write(&path, firewall_pair("hub")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil-agent"))
        .arg("--check-config")
        .arg(&path)
        .env_remove("VIGIL_NETWORK")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning does not refuse: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning logged: {stderr}"));
    assert!(line.contains("fw-deny-ssh"), "{line}");
    assert!(!stderr.contains("fw-allow-login"), "{stderr}");
}

#[test]
fn the_hub_example_has_no_deny_probe() {
    let text = std::fs::read_to_string(examples_dir().join("agent-hub.yaml")).unwrap();
    let c = AgentConfig::from_yaml(&text, "agent-hub.yaml").unwrap();
    assert_eq!(c.agent.network, vigil_agent::config::HUB_NETWORK);
    assert_eq!(c.warnings(), []);
}

#[test]
fn tls_to_the_aggregator_follows_the_endpoint_scheme() {
    let https = good_with(
        "endpoint: http://127.0.0.1:7400",
        "endpoint: https://vigil.hub:7400",
    );
    assert_invalid(&https, "aggregator.tls", "is missing while the endpoint");
    let tls = "  tls:\n    ca: /etc/vigil/tls/ca.crt\n    cert: /etc/vigil/tls/tls.crt\n    key: /etc/vigil/tls/tls.key\n";
    let plain_with_tls = good_with(
        "endpoint: http://127.0.0.1:7400\n",
        &format!("endpoint: http://127.0.0.1:7400\n{tls}"),
    );
    assert_invalid(
        &plain_with_tls,
        "aggregator.endpoint",
        "plaintext while aggregator.tls",
    );
    let half = good_with(
        "endpoint: http://127.0.0.1:7400\n",
        "endpoint: https://vigil.hub:7400\n  tls:\n    ca: /ca.crt\n    cert: /tls.crt\n",
    );
    assert_invalid(&half, "aggregator.tls.cert", "without aggregator.tls.key");
    let good = good_with(
        "endpoint: http://127.0.0.1:7400\n",
        &format!(
            "endpoint: https://vigil.hub:7400\n{tls}    server_name: vigil-aggregator.vigil.svc\n"
        ),
    );
    let c = AgentConfig::from_yaml(&good, "agent.yaml").unwrap();
    let t = c.aggregator.tls.expect("tls settings");
    assert_eq!(t.files.ca, PathBuf::from("/etc/vigil/tls/ca.crt"));
    assert_eq!(t.server_name.as_deref(), Some("vigil-aggregator.vigil.svc"));
}
