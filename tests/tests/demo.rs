//! `vigil demo`, started in-process exactly as the command starts it (real
//! targets on loopback, a real aggregator, real agents) on free ports and at
//! the fast pace: it turns Healthy on its own, shows injected faults on the
//! right nodes and attributed to the right side, clears them on restore, and
//! releases its ports on shutdown.

use std::time::Duration;

use vigil_demo::{ControlClient, ControlError, Demo, DemoFault, DemoHandle, DemoOptions, Spoke};
use vigil_proto::v1::fault_service_client::FaultServiceClient;
use vigil_proto::v1::{HealthState, ListFaultsRequest, Side};
use vigil_testkit::eventually;
use vigil_testkit::query::{node_state, tree, wait_state};
use vigil_tests::init_tracing;

/// Every node of the embedded model (all but the automatic `unmodelled`).
const NODES: &[&str] = &[
    "demo",
    "platform",
    "hub",
    "hub-dns",
    "private-dns-zone",
    "hub-firewall",
    "hub-service",
    "connectivity",
    "spoke-a-connectivity",
    "spoke-a-peering",
    "spoke-a-egress",
    "spoke-b-connectivity",
    "spoke-b-peering",
    "spoke-b-egress",
    "workload",
    "application",
    "checkout",
    "checkout-spoke-a",
    "checkout-spoke-b",
    "orders-grpc",
    "data",
    "orders-db",
    "user-flows",
    "checkout-flow",
];

/// Long enough for a loaded 2-core machine; a pass ends the wait at once.
const DEADLINE: Duration = Duration::from_secs(30);

async fn start() -> DemoHandle {
    init_tracing();
    Demo::start(DemoOptions::for_tests())
        .await
        .expect("the demo starts on free ports")
}

async fn wait_all_healthy(demo: &DemoHandle) {
    let addr = demo.grpc_addr();
    eventually("every demo node to be Healthy", DEADLINE, || async move {
        let t = tree(addr).await?;
        let mut not_healthy = Vec::new();
        for id in NODES {
            match t.nodes.iter().find(|n| n.id == *id) {
                Some(n) if n.state() == HealthState::Healthy => {}
                Some(n) => not_healthy.push(format!("{id}={:?} ({})", n.state(), n.reason)),
                None => not_healthy.push(format!("{id} missing")),
            }
        }
        if not_healthy.is_empty() {
            Ok(())
        } else {
            Err(not_healthy.join(", "))
        }
    })
    .await;
}

/// Waits for an open fault on `side` whose suspect is `suspect`.
async fn wait_fault(demo: &DemoHandle, side: Side, suspect: &str) {
    let addr = demo.grpc_addr();
    eventually(
        &format!("an open {side:?} fault on {suspect}"),
        DEADLINE,
        || async move {
            let mut client = FaultServiceClient::connect(format!("http://{addr}"))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let faults = client
                .list_faults(ListFaultsRequest {
                    include_resolved: false,
                })
                .await
                .map_err(|s| format!("ListFaults: {s}"))?
                .into_inner()
                .faults;
            if faults
                .iter()
                .any(|f| f.side() == side && f.suspect == suspect && f.closed_at_unix_ms == 0)
            {
                Ok(())
            } else {
                Err(format!(
                    "open faults: {:?}",
                    faults
                        .iter()
                        .map(|f| format!("{:?} {}", f.side(), f.suspect))
                        .collect::<Vec<_>>()
                ))
            }
        },
    )
    .await;
}

async fn assert_state(demo: &DemoHandle, id: &str, want: HealthState) {
    let got = node_state(demo.grpc_addr(), id)
        .await
        .expect("tree answers");
    assert_eq!(got, want, "{id} should be {want:?} while the fault lasts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_turns_healthy_and_shows_each_fault_on_the_right_side() {
    let demo = start().await;
    wait_all_healthy(&demo).await;
    let addr = demo.grpc_addr();

    // Platform: the hub resolver stops answering.
    demo.inject(DemoFault::DnsDown)
        .await
        .expect("inject dns-down");
    wait_state(addr, "hub-dns", HealthState::Unhealthy, DEADLINE).await;
    wait_fault(&demo, Side::Platform, "platform/hub/hub-dns").await;
    // The workload's own endpoints are reached by address: not hit.
    assert_state(&demo, "checkout-spoke-a", HealthState::Healthy).await;
    assert_state(&demo, "orders-db", HealthState::Healthy).await;
    demo.restore(DemoFault::DnsDown)
        .await
        .expect("restore dns-down");
    wait_state(addr, "hub-dns", HealthState::Healthy, DEADLINE).await;
    wait_all_healthy(&demo).await;

    // Workload: one checkout stamp answers 503.
    demo.inject(DemoFault::Workload5xx(Spoke::A))
        .await
        .expect("inject workload-5xx:spoke-a");
    wait_state(addr, "checkout-spoke-a", HealthState::Unhealthy, DEADLINE).await;
    wait_fault(&demo, Side::Workload, "workload/checkout-spoke-a").await;
    assert_state(&demo, "checkout-spoke-b", HealthState::Healthy).await;
    assert_state(&demo, "platform", HealthState::Healthy).await;
    demo.restore(DemoFault::Workload5xx(Spoke::A))
        .await
        .expect("restore workload-5xx:spoke-a");
    wait_state(addr, "checkout-spoke-a", HealthState::Healthy, DEADLINE).await;
    assert!(demo.active().await.is_empty());

    let (grpc, http, control) = (demo.grpc_addr(), demo.http_addr(), demo.control_addr());
    demo.shutdown().await;
    for (what, port) in [("gRPC", grpc), ("HTTP", http), ("control", control)] {
        tokio::net::TcpListener::bind(port)
            .await
            .unwrap_or_else(|e| panic!("the {what} port {port} is released on shutdown: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_switches_faults_and_silences_an_agent() {
    let demo = start().await;
    let control = ControlClient::new(&demo.control_addr().to_string()).expect("client");
    wait_all_healthy(&demo).await;

    // A bad key is refused with the fix, over the wire.
    let raw = reqwest::Client::new()
        .post(format!("http://{}/inject/bogus", demo.control_addr()))
        .send()
        .await
        .expect("control answers");
    assert_eq!(raw.status(), reqwest::StatusCode::BAD_REQUEST);
    let body = raw.text().await.expect("body");
    assert!(body.contains("vigil inject --list"), "{body}");

    // The spoke-b agent stops: its own view goes Unknown, never Healthy,
    // while probes from elsewhere keep the shared nodes Healthy.
    let fault = DemoFault::AgentSilent(Spoke::B);
    let reply = control.inject(fault).await.expect("inject over HTTP");
    assert_eq!(reply.active, vec!["agent-silent:spoke-b".to_owned()]);
    control
        .inject(fault)
        .await
        .expect("injecting twice is harmless");
    let rows = control.list().await.expect("list");
    assert!(
        rows.iter()
            .any(|r| r.key == "agent-silent:spoke-b" && r.active),
        "{rows:?}"
    );
    wait_state(
        demo.grpc_addr(),
        "spoke-b-egress",
        HealthState::Unknown,
        DEADLINE,
    )
    .await;
    assert_state(&demo, "checkout-spoke-b", HealthState::Healthy).await;
    let reply = control.restore(fault).await.expect("restore over HTTP");
    assert!(reply.active.is_empty());
    wait_state(
        demo.grpc_addr(),
        "spoke-b-egress",
        HealthState::Healthy,
        DEADLINE,
    )
    .await;

    // A second demo on the same control port says the port is taken.
    let mut options = DemoOptions::for_tests();
    options.control = demo.control_addr();
    let err = match Demo::start(options).await {
        Ok(second) => {
            second.shutdown().await;
            panic!("a second demo on a taken control port must fail");
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("taken") && err.contains("--control"), "{err}");

    demo.shutdown().await;
    // With the demo gone, the client says so and how to fix it.
    let err = control.list().await.unwrap_err();
    assert!(matches!(err, ControlError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("vigil demo"), "{err}");
}

/// Waits until `id` is in one of `want`.
async fn wait_one_of(demo: &DemoHandle, id: &str, want: &[HealthState]) {
    let addr = demo.grpc_addr();
    eventually(
        &format!("{id} to be one of {want:?}"),
        DEADLINE,
        || async move {
            let got = node_state(addr, id).await?;
            if want.contains(&got) {
                Ok(())
            } else {
                Err(format!("{id} is {got:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_fault_shows_on_its_node_and_clears() {
    use HealthState::{Degraded, Unhealthy};
    let demo = start().await;
    wait_all_healthy(&demo).await;
    let cases: &[(DemoFault, &str, &[HealthState])] = &[
        (DemoFault::DnsPublic, "private-dns-zone", &[Unhealthy]),
        (DemoFault::DnsDeleted, "private-dns-zone", &[Unhealthy]),
        (DemoFault::HubServiceDown, "hub-service", &[Unhealthy]),
        (DemoFault::EgressDown, "hub-firewall", &[Unhealthy]),
        (
            DemoFault::WorkloadSlow(Spoke::B),
            "checkout-spoke-b",
            &[Degraded, Unhealthy],
        ),
        (
            DemoFault::WorkloadDown(Spoke::B),
            "checkout-spoke-b",
            &[Unhealthy],
        ),
        (DemoFault::GrpcNotServing, "orders-grpc", &[Unhealthy]),
    ];
    for (fault, node, states) in cases {
        demo.inject(*fault).await.expect("inject");
        wait_one_of(&demo, node, states).await;
        demo.restore(*fault).await.expect("restore");
        wait_state(demo.grpc_addr(), node, HealthState::Healthy, DEADLINE).await;
    }
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_127_0_0_1_alone() {
    init_tracing();
    let mut options = DemoOptions::for_tests();
    options.addressing = vigil_demo::Addressing::Single;
    let demo = Demo::start(options).await.expect("the demo starts");
    wait_all_healthy(&demo).await;
    assert!(
        demo.banner().contains("127.0.0.1:") && !demo.banner().contains("127.0.2."),
        "{}",
        demo.banner()
    );
    demo.shutdown().await;
}
