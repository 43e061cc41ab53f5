//! gRPC health probes against a tonic-health server the test flips between
//! SERVING and NOT_SERVING.

mod common;

use common::grpc::{self, SERVICE};
use common::{net, probe_config, run};
use tonic_health::ServingStatus;
use vigil_agent::config::ProbeConfig;
use vigil_proto::v1::{ErrorClass, Outcome, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn health(addr: std::net::SocketAddr, service: &str) -> ProbeConfig {
    probe_config(
        "1s",
        &format!("    kind: grpc\n    address: \"{addr}\"\n    service: \"{service}\"\n"),
    )
}

fn serving(detail: &Option<Detail>) -> String {
    match detail {
        Some(Detail::Grpc(g)) => g.serving_status.clone(),
        other => panic!("expected grpc detail, got {other:?}"),
    }
}

#[tokio::test]
async fn flips_between_serving_and_not_serving() {
    let lab = grpc::start().await;
    let config = health(lab.addr, SERVICE);
    let obs = run(&config).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(serving(&obs.detail), "SERVING");

    lab.set(ServingStatus::NotServing).await;
    let obs = run(&config).await;
    assert_eq!(obs.error_class, ErrorClass::GrpcNotServing, "{obs:?}");
    assert_eq!(serving(&obs.detail), "NOT_SERVING");

    lab.set(ServingStatus::Serving).await;
    let obs = run(&config).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
}

#[tokio::test]
async fn unknown_service_is_not_serving() {
    let lab = grpc::start().await;
    let obs = run(&health(lab.addr, "shop.v1.Nope")).await;
    assert_eq!(obs.error_class, ErrorClass::GrpcNotServing, "{obs:?}");
    assert_eq!(serving(&obs.detail), "SERVICE_UNKNOWN");
}

#[tokio::test]
async fn transport_failures_are_classified() {
    let obs = run(&health(closed_port().await, SERVICE)).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    let hole = net::blackhole().await;
    let obs = run(&health(hole.addr, SERVICE)).await;
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
}

#[tokio::test]
async fn a_server_without_the_health_service_is_a_grpc_error() {
    // An HTTP/1 server cannot speak gRPC: the call fails with a status.
    let addr = common::web::destination().await;
    let obs = run(&health(addr, SERVICE)).await;
    assert_eq!(obs.outcome, Outcome::Failure, "{obs:?}");
    assert_eq!(obs.error_class, ErrorClass::GrpcError, "{obs:?}");
}
