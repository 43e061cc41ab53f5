//! Reachability bursts against real listeners: all through, some lost (a
//! listener that goes away mid-burst), all lost by silent drop or refusal,
//! and the ICMP fallback on a host without unprivileged ICMP.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use common::{net, probe_config, run};
use vigil_agent::config::{ProbeConfig, ProbeSpec, ReachabilityMethod};
use vigil_agent::probe::reachability::{ReachabilityProbe, unprivileged_icmp};
use vigil_agent::probe::{self, Observation};
use vigil_proto::v1::{ErrorClass, Outcome, ReachabilityDetail, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn burst(addr: SocketAddr, extra: &str) -> ProbeConfig {
    probe_config(
        "1s",
        &format!(
            "    kind: reachability\n    address: \"{addr}\"\n    count: 5\n    spacing: 60ms\n{extra}"
        ),
    )
}

/// Wider spacing, so the listener is surely gone before the next connect
/// even on a loaded machine.
fn slow_burst(addr: SocketAddr, extra: &str) -> ProbeConfig {
    probe_config(
        "2s",
        &format!(
            "    kind: reachability\n    address: \"{addr}\"\n    count: 5\n    spacing: 200ms\n{extra}"
        ),
    )
}

fn detail(obs: &Observation) -> &ReachabilityDetail {
    match &obs.detail {
        Some(Detail::Reachability(d)) => d,
        other => panic!("expected reachability detail, got {other:?}"),
    }
}

#[tokio::test]
async fn all_connects_succeed() {
    let addr = net::accepting().await;
    let obs = run(&burst(addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let d = detail(&obs);
    assert_eq!((d.sent, d.received), (5, 5));
    assert!(d.rtt_p50_us > 0 && d.rtt_p99_us >= d.rtt_p50_us, "{d:?}");
}

#[tokio::test]
async fn partial_loss_over_threshold_is_packet_loss() {
    let (addr, accepted) = net::going_away(2).await;
    let obs = run(&slow_burst(addr, "    loss_threshold: 0.2\n")).await;
    assert_eq!(obs.error_class, ErrorClass::PacketLoss, "{obs:?}");
    let d = detail(&obs);
    assert_eq!((d.sent, d.received), (5, 2), "{obs:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert!(obs.message.contains("lost 3 of 5"), "{}", obs.message);
}

#[tokio::test]
async fn partial_loss_under_threshold_is_still_healthy() {
    let (addr, _) = net::going_away(4).await;
    let obs = run(&slow_burst(addr, "    loss_threshold: 0.5\n")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(detail(&obs).received, 4);
}

#[tokio::test]
async fn all_lost_names_how() {
    let hole = net::blackhole().await;
    let obs = run(&burst(hole.addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
    assert_eq!(detail(&obs).received, 0);
    let obs = run(&burst(closed_port().await, "")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    assert!(obs.message.contains("5 refused"), "{}", obs.message);
}

#[tokio::test]
async fn icmp_falls_back_to_tcp_with_a_reason() {
    let addr = net::accepting().await;
    let config = burst(addr, "    method: icmp\n");
    let ProbeSpec::Reachability(spec) = &config.spec else {
        panic!("expected a reachability spec");
    };
    assert_eq!(spec.method, ReachabilityMethod::Icmp);
    let probe = ReachabilityProbe::new(spec.clone(), config.schedule.timeout);
    let (method, why) = probe.method_in_use();
    assert_eq!(method, ReachabilityMethod::Tcp);
    let why = why.expect("a fallback reason");
    match unprivileged_icmp() {
        Err(reason) => {
            assert!(why.contains("ping_group_range"), "{why}");
            assert!(why.contains(&reason), "{why}");
        }
        Ok(()) => assert!(why.contains("not implemented"), "{why}"),
    }
    assert!(why.contains(&format!("port {}", addr.port())), "{why}");
    let obs = probe::run_once(&probe, config.schedule.timeout, None).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(detail(&obs).received, 5);
}
