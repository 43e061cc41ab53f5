//! Egress-IP probes against a real echo endpoint that returns the caller's
//! address (127.0.0.1 on loopback).

mod common;

use common::{probe_config, run, web};
use vigil_agent::config::ProbeConfig;
use vigil_proto::v1::{ErrorClass, Outcome, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn egress(url: &str, expected: &str) -> ProbeConfig {
    probe_config(
        "1s",
        &format!("    kind: egress\n    url: {url}\n    expected_ips: {expected}\n"),
    )
}

fn observed(detail: &Option<Detail>) -> String {
    match detail {
        Some(Detail::Egress(e)) => e.observed_ip.clone(),
        other => panic!("expected egress detail, got {other:?}"),
    }
}

#[tokio::test]
async fn egress_through_an_expected_ip() {
    let addr = web::echo().await;
    let obs = run(&egress(&format!("http://{addr}/ip"), "[\"127.0.0.0/8\"]")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(observed(&obs.detail), "127.0.0.1");
    let obs = run(&egress(
        &format!("http://{addr}/ip"),
        "[\"203.0.113.7\", \"127.0.0.1\"]",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
}

#[tokio::test]
async fn egress_ip_mismatch() {
    let addr = web::echo().await;
    let obs = run(&egress(
        &format!("http://{addr}/ip"),
        "[\"203.0.113.7\", \"198.51.100.0/28\"]",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::EgressIpMismatch, "{obs:?}");
    assert_eq!(observed(&obs.detail), "127.0.0.1");
    assert!(obs.message.contains("forced tunnelling"), "{}", obs.message);
    assert!(obs.message.contains("203.0.113.7"), "{}", obs.message);
}

#[tokio::test]
async fn echo_that_is_not_an_ip_or_not_reachable() {
    let addr = web::echo().await;
    let obs = run(&egress(
        &format!("http://{addr}/garbage"),
        "[\"127.0.0.1\"]",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::HttpBodyMismatch, "{obs:?}");
    let obs = run(&egress(
        &format!("http://{addr}/missing"),
        "[\"127.0.0.1\"]",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::HttpStatus, "{obs:?}");
    let closed = closed_port().await;
    let obs = run(&egress(&format!("http://{closed}/ip"), "[\"127.0.0.1\"]")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    let deny = web::firewall_deny().await;
    let obs = run(&egress(&format!("http://{deny}/ip"), "[\"127.0.0.1\"]")).await;
    assert_eq!(obs.error_class, ErrorClass::HttpDeniedByProxy, "{obs:?}");
}
