//! Config validation of the foundational-dependency kinds (dns checks,
//! firewall, reachability, egress, tls, grpc): typed values and a
//! file/field/fix error for every bad field.

mod refusal;

use std::time::Duration;

use refusal::assert_invalid;
use vigil_agent::AgentConfig;
use vigil_agent::config::{
    FirewallProtocol, PolicyExpectation, ProbeSpec, ReachabilityMethod, TlsRoots,
};

/// One probe of every foundational kind, written as an operator would.
const FOUNDATION: &str = r#"
agent: { id: a, network: spoke-a }
probes:
  - id: kv-dns
    kind: dns
    name: kv.vault.azure.net
    server: 10.0.0.4
    must_be_private: true
    expect_cname_contains: PrivateLink
    expect_addresses: ["10.1.2.4", "10.1.3.0/24"]
    component: hub-dns
    layer: platform_hub
  - id: fw-allow
    kind: firewall
    expect: allow
    protocol: https
    address: login.microsoftonline.com:443
    sni: login.microsoftonline.com
    path: /common/discovery
    component: hub-firewall
    layer: platform_hub
  - id: fw-deny
    kind: firewall
    expect: deny
    address: 203.0.113.9:22
    component: hub-firewall
    layer: platform_hub
  - id: peering
    kind: reachability
    address: 10.0.1.4:443
    method: icmp
    count: 10
    spacing: 50ms
    loss_threshold: 0.3
    component: spoke-a-connectivity
    layer: platform_spoke_connectivity
  - id: egress-ip
    kind: egress
    url: https://ifconfig.me/ip
    expected_ips: ["20.50.1.10", "20.50.2.0/28"]
    component: spoke-a-connectivity
    layer: platform_spoke_connectivity
  - id: api-tls
    kind: tls
    address: checkout.example.com:443
    warn_days: 21
    critical_days: 5
    component: checkout-api
    layer: workload_application
  - id: api-grpc
    kind: grpc
    address: 127.0.0.1:50051
    service: shop.v1.Checkout
    component: checkout-api
    layer: workload_application
"#;

fn foundation_with(from: &str, to: &str) -> String {
    assert!(FOUNDATION.contains(from), "fixture lacks {from:?}");
    FOUNDATION.replacen(from, to, 1)
}

#[test]
fn foundational_kinds_parse_into_typed_specs() {
    let c = AgentConfig::from_yaml(FOUNDATION, "agent.yaml").unwrap();
    match &c.probes[0].spec {
        ProbeSpec::Dns(d) => {
            assert!(d.checks.must_be_private);
            assert_eq!(
                d.checks.expect_cname_contains.as_deref(),
                Some("privatelink")
            );
            let set = d.checks.expect_addresses.as_ref().unwrap();
            assert!(set.contains("10.1.3.77".parse().unwrap()));
            assert!(!set.contains("10.1.2.5".parse().unwrap()));
        }
        other => panic!("expected dns, got {other:?}"),
    }
    match &c.probes[1].spec {
        ProbeSpec::Firewall(f) => {
            assert_eq!(f.expect, PolicyExpectation::Allow);
            assert_eq!(f.protocol, FirewallProtocol::Https);
            assert_eq!(f.server_name(), "login.microsoftonline.com");
            assert_eq!(f.path, "/common/discovery");
        }
        other => panic!("expected firewall, got {other:?}"),
    }
    match &c.probes[2].spec {
        ProbeSpec::Firewall(f) => {
            assert_eq!(f.expect, PolicyExpectation::Deny);
            assert_eq!(f.protocol, FirewallProtocol::Tcp);
            assert_eq!(f.path, "/");
        }
        other => panic!("expected firewall, got {other:?}"),
    }
    match &c.probes[3].spec {
        ProbeSpec::Reachability(r) => {
            assert_eq!(r.method, ReachabilityMethod::Icmp);
            assert_eq!(r.count, 10);
            assert_eq!(r.spacing, Duration::from_millis(50));
            assert!((r.loss_threshold - 0.3).abs() < f64::EPSILON);
        }
        other => panic!("expected reachability, got {other:?}"),
    }
    match &c.probes[4].spec {
        ProbeSpec::Egress(e) => assert_eq!(e.expected_ips.entries().len(), 2),
        other => panic!("expected egress, got {other:?}"),
    }
    match &c.probes[5].spec {
        ProbeSpec::Tls(t) => {
            assert_eq!(t.server_name, "checkout.example.com");
            assert!(matches!(t.roots, TlsRoots::WebPki));
            assert_eq!((t.warn_days, t.critical_days), (21, 5));
        }
        other => panic!("expected tls, got {other:?}"),
    }
    match &c.probes[6].spec {
        ProbeSpec::Grpc(g) => assert_eq!(g.service, "shop.v1.Checkout"),
        other => panic!("expected grpc, got {other:?}"),
    }
    assert_eq!(c.probes[2].target(), "tcp://203.0.113.9:22 expect deny");
}

#[test]
fn reachability_defaults() {
    let text = foundation_with(
        "    method: icmp\n    count: 10\n    spacing: 50ms\n    loss_threshold: 0.3\n",
        "",
    );
    let c = AgentConfig::from_yaml(&text, "agent.yaml").unwrap();
    match &c.probes[3].spec {
        ProbeSpec::Reachability(r) => {
            assert_eq!(r.method, ReachabilityMethod::Tcp);
            assert_eq!(r.count, 5);
            assert_eq!(r.spacing, Duration::from_millis(100));
        }
        other => panic!("expected reachability, got {other:?}"),
    }
}

#[test]
fn dns_check_errors() {
    assert_invalid(
        &foundation_with("\"10.1.3.0/24\"", "\"10.1.3.0/33\""),
        "probes[0].expect_addresses[1]",
        "not an IP address or CIDR",
    );
    assert_invalid(
        &foundation_with(
            "expect_addresses: [\"10.1.2.4\", \"10.1.3.0/24\"]",
            "expect_addresses: []",
        ),
        "probes[0].expect_addresses",
        "is empty",
    );
    assert_invalid(
        &foundation_with(
            "expect_cname_contains: PrivateLink",
            "expect_cname_contains: \" \"",
        ),
        "probes[0].expect_cname_contains",
        "is empty",
    );
    assert_invalid(
        &foundation_with(
            "    server: 10.0.0.4\n",
            "    server: 10.0.0.4\n    record_type: CNAME\n",
        ),
        "probes[0].expect_addresses",
        "CNAME",
    );
}

#[test]
fn firewall_errors() {
    assert_invalid(
        &foundation_with("    expect: deny\n", ""),
        "probes[2].expect",
        "missing",
    );
    assert_invalid(
        &foundation_with("expect: deny", "expect: block"),
        "probes[2].expect",
        "\"block\" is not a policy expectation",
    );
    assert_invalid(
        &foundation_with("protocol: https", "protocol: ftp"),
        "probes[1].protocol",
        "not a firewall probe protocol",
    );
    assert_invalid(
        &foundation_with("protocol: https", "protocol: tcp"),
        "probes[1].sni",
        "not sent by protocol tcp",
    );
    assert_invalid(
        &foundation_with("protocol: https", "protocol: tls"),
        "probes[1].path",
        "not requested by protocol tls",
    );
    assert_invalid(
        &foundation_with(
            "address: 203.0.113.9:22",
            "address: 203.0.113.9:22\n    host: ssh.example.com",
        ),
        "probes[2].host",
        "not sent by protocol tcp",
    );
    assert_invalid(
        &foundation_with(
            "path: /common/discovery",
            "path: /common/discovery\n    host: \"bad name\"",
        ),
        "probes[1].host",
        "not a DNS name",
    );
    assert_invalid(
        &foundation_with("path: /common/discovery", "path: common"),
        "probes[1].path",
        "not a request path",
    );
    assert_invalid(
        &foundation_with("address: 203.0.113.9:22", "address: 203.0.113.9"),
        "probes[2].address",
        "not a host:port",
    );
}

#[test]
fn reachability_errors() {
    assert_invalid(
        &foundation_with("count: 10", "count: 0"),
        "probes[3].count",
        "outside 1..=100",
    );
    assert_invalid(
        &foundation_with("spacing: 50ms", "spacing: 1s"),
        "probes[3].spacing",
        "not less than the timeout",
    );
    assert_invalid(
        &foundation_with("loss_threshold: 0.3", "loss_threshold: 1.5"),
        "probes[3].loss_threshold",
        "outside (0, 1]",
    );
    assert_invalid(
        &foundation_with("method: icmp", "method: udp"),
        "probes[3].method",
        "not a reachability method",
    );
}

#[test]
fn egress_errors() {
    assert_invalid(
        &foundation_with("    expected_ips: [\"20.50.1.10\", \"20.50.2.0/28\"]\n", ""),
        "probes[4].expected_ips",
        "missing",
    );
    assert_invalid(
        &foundation_with("\"20.50.1.10\", ", "\"hub-fw\", "),
        "probes[4].expected_ips[0]",
        "\"hub-fw\"",
    );
    assert_invalid(
        &foundation_with("url: https://ifconfig.me/ip", "url: ifconfig.me"),
        "probes[4].url",
        "not an http(s) URL",
    );
}

#[test]
fn tls_errors() {
    assert_invalid(
        &foundation_with("critical_days: 5", "critical_days: 40"),
        "probes[5].critical_days",
        "more than warn_days",
    );
    assert_invalid(
        &foundation_with(
            "warn_days: 21",
            "warn_days: 21\n    ca_file: /nonexistent/ca.pem",
        ),
        "probes[5].ca_file",
        "cannot read \"/nonexistent/ca.pem\"",
    );
    let dir = std::env::temp_dir().join(format!("vigil-agent-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-ca.pem");
    std::fs::write(&path, "just text\n").unwrap();
    assert_invalid(
        &foundation_with(
            "warn_days: 21",
            &format!("warn_days: 21\n    ca_file: {}", path.display()),
        ),
        "probes[5].ca_file",
        "holds no CERTIFICATE block",
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_invalid(
        &foundation_with(
            "address: checkout.example.com:443",
            "address: checkout.example.com:443\n    sni: \"bad name\"",
        ),
        "probes[5].sni",
        "not a DNS name",
    );
}

#[test]
fn fields_of_another_kind_are_refused_by_name() {
    assert_invalid(
        &foundation_with("warn_days: 21", "warn_days: 21\n    service: x"),
        "probes[5].service",
        "not used by a tls probe",
    );
    assert_invalid(
        &foundation_with(
            "service: shop.v1.Checkout",
            "service: shop.v1.Checkout\n    expect: allow",
        ),
        "probes[6].expect",
        "not used by a grpc probe",
    );
    assert_invalid(
        &foundation_with(
            "    must_be_private: true\n",
            "    must_be_private: true\n    sni: x.example\n",
        ),
        "probes[0].sni",
        "belongs to firewall, tls",
    );
    assert_invalid(
        &foundation_with(
            "warn_days: 21",
            "warn_days: 21\n    host: checkout.example.com",
        ),
        "probes[5].host",
        "not used by a tls probe",
    );
}
