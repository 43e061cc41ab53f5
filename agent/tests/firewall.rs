//! Firewall policy probes against real loopback servers that behave like a
//! firewall or a destination: silent drop (full backlog), refuse, reset,
//! reset after the TLS ClientHello, an HTTP 470 deny page, and real TCP,
//! TLS and HTTP(S) destinations.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use common::tls::{Cert, NAME, TlsLab};
use common::{net, probe_config, run, web};
use vigil_agent::config::ProbeConfig;
use vigil_proto::v1::{ErrorClass, Outcome, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn fw(expect: &str, protocol: &str, addr: SocketAddr, extra: &str) -> ProbeConfig {
    probe_config(
        "600ms",
        &format!(
            "    kind: firewall\n    expect: {expect}\n    protocol: {protocol}\n    address: \"{addr}\"\n{extra}"
        ),
    )
}

fn http_status(detail: &Option<Detail>) -> Option<u32> {
    match detail {
        Some(Detail::Http(h)) => Some(h.status),
        _ => None,
    }
}

#[tokio::test]
async fn tcp_allow_open_path_succeeds() {
    let addr = net::accepting().await;
    let obs = run(&fw("allow", "tcp", addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert!(obs.message.is_empty(), "{obs:?}");
}

#[tokio::test]
async fn tcp_allow_silently_dropped_is_timeout() {
    let hole = net::blackhole().await;
    let obs = run(&fw("allow", "tcp", hole.addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Failure);
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
    assert!(obs.message.contains("must be allowed"), "{}", obs.message);
}

#[tokio::test]
async fn tcp_allow_refused_and_reset_are_told_apart() {
    let obs = run(&fw("allow", "tcp", closed_port().await, "")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    let obs = run(&fw("allow", "tcp", net::resetting().await, "")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionReset, "{obs:?}");
}

#[tokio::test]
async fn tcp_deny_that_gets_through_is_security_drift() {
    let addr = net::accepting().await;
    let obs = run(&fw("deny", "tcp", addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Failure);
    assert_eq!(obs.error_class, ErrorClass::PolicyDrift, "{obs:?}");
    assert!(obs.message.contains("security drift"), "{}", obs.message);
}

#[tokio::test]
async fn tcp_deny_blocked_succeeds_and_says_how() {
    let hole = net::blackhole().await;
    let obs = run(&fw("deny", "tcp", hole.addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(obs.error_class, ErrorClass::Unspecified);
    assert!(obs.message.contains("silent drop"), "{}", obs.message);
    let obs = run(&fw("deny", "tcp", net::resetting().await, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert!(obs.message.contains("reset"), "{}", obs.message);
}

#[tokio::test]
async fn a_silently_dropped_deny_reports_no_latency_and_is_never_slow() {
    let hole = net::blackhole().await;
    // The silent drop lasts the whole 600 ms timeout, far past the threshold.
    let obs = run(&fw(
        "deny",
        "tcp",
        hole.addr,
        "    latency_threshold: 100ms\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert!(
        obs.latency >= std::time::Duration::from_millis(600),
        "{obs:?}"
    );
    assert!(!obs.latency_reported, "{obs:?}");
    // An allow probe's latency is the path's, and is judged.
    let open = net::accepting().await;
    let obs = run(&fw("allow", "tcp", open, "    latency_threshold: 100ms\n")).await;
    assert!(obs.latency_reported, "{obs:?}");
}

#[tokio::test]
async fn tls_allow_reset_after_client_hello() {
    let (addr, hellos) = net::reset_after_hello().await;
    let obs = run(&fw("allow", "tls", addr, "    sni: blocked.example.com\n")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsResetAfterHello, "{obs:?}");
    assert!(
        obs.message.contains("blocked.example.com"),
        "{}",
        obs.message
    );
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        1,
        "the server saw a ClientHello"
    );
}

#[tokio::test]
async fn tls_allow_through_to_a_real_tls_server() {
    let lab = TlsLab::new("fw-tls-allow");
    let addr = lab.serve(Cert::Valid).await;
    let obs = run(&fw("allow", "tls", addr, &format!("    sni: {NAME}\n"))).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
}

#[tokio::test]
async fn tls_deny_policy() {
    let (addr, _) = net::reset_after_hello().await;
    let obs = run(&fw("deny", "tls", addr, "    sni: blocked.example.com\n")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert!(obs.message.contains("ClientHello"), "{}", obs.message);

    let lab = TlsLab::new("fw-tls-deny");
    let addr = lab.serve(Cert::Valid).await;
    let obs = run(&fw("deny", "tls", addr, &format!("    sni: {NAME}\n"))).await;
    assert_eq!(obs.error_class, ErrorClass::PolicyDrift, "{obs:?}");
    assert!(obs.message.contains("security drift"), "{}", obs.message);
}

#[tokio::test]
async fn http_allow_denied_by_the_firewall() {
    let addr = web::firewall_deny().await;
    let obs = run(&fw("allow", "http", addr, "    path: /anything\n")).await;
    assert_eq!(obs.error_class, ErrorClass::HttpDeniedByProxy, "{obs:?}");
    assert_eq!(http_status(&obs.detail), Some(470));
    assert!(obs.message.contains("Action: Deny"), "{}", obs.message);
}

#[tokio::test]
async fn http_allow_reaches_the_destination() {
    let addr = web::destination().await;
    let obs = run(&fw("allow", "http", addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(http_status(&obs.detail), Some(200));
}

#[tokio::test]
async fn http_deny_policy() {
    let obs = run(&fw("deny", "http", web::firewall_deny().await, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert!(obs.message.contains("HTTP deny"), "{}", obs.message);
    let obs = run(&fw("deny", "http", web::destination().await, "")).await;
    assert_eq!(obs.error_class, ErrorClass::PolicyDrift, "{obs:?}");
    assert!(obs.message.contains("HTTP 200"), "{}", obs.message);
}

#[tokio::test]
async fn http_host_names_the_fqdn_while_the_address_is_an_ip() {
    let (addr, hosts) = web::host_recorder().await;
    let obs = run(&fw(
        "allow",
        "http",
        addr,
        "    host: Allowed.Example.com\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let obs = run(&fw("deny", "http", addr, "    host: blocked.example.com\n")).await;
    assert_eq!(obs.error_class, ErrorClass::PolicyDrift, "{obs:?}");
    assert!(
        obs.message.contains("host blocked.example.com"),
        "the drift names the Host it sent: {}",
        obs.message
    );
    let obs = run(&fw("allow", "http", addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(
        *hosts.lock().unwrap(),
        ["allowed.example.com", "blocked.example.com", "127.0.0.1"],
        "the listener saw each probe's Host; without `host` it is the address's host"
    );
}

#[tokio::test]
async fn https_host_is_also_the_sni_unless_sni_is_given() {
    let lab = TlsLab::new("fw-https-host");
    let (addr, names) = lab.serve_recording(Cert::Valid).await;
    let obs = run(&fw("allow", "https", addr, &format!("    host: {NAME}\n"))).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let obs = run(&fw(
        "allow",
        "https",
        addr,
        &format!("    sni: {NAME}\n    host: api.lab.test\n"),
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(
        *names.lock().unwrap(),
        [
            (NAME.to_owned(), NAME.to_owned()),
            (NAME.to_owned(), "api.lab.test".to_owned())
        ]
    );
}

#[tokio::test]
async fn https_through_tls_and_blocked_at_the_hello() {
    let lab = TlsLab::new("fw-https");
    let addr = lab.serve(Cert::Valid).await;
    let obs = run(&fw("allow", "https", addr, &format!("    sni: {NAME}\n"))).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(http_status(&obs.detail), Some(200));

    let (addr, _) = net::reset_after_hello().await;
    let obs = run(&fw(
        "allow",
        "https",
        addr,
        "    sni: blocked.example.com\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::TlsResetAfterHello, "{obs:?}");
}

#[tokio::test]
async fn plain_http_probe_recognises_the_deny_page() {
    let addr = web::firewall_deny().await;
    let config = probe_config("1s", &format!("    kind: http\n    url: http://{addr}/\n"));
    let obs = run(&config).await;
    assert_eq!(obs.error_class, ErrorClass::HttpDeniedByProxy, "{obs:?}");
    assert_eq!(http_status(&obs.detail), Some(470));
}
