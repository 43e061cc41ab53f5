//! `vigil demo`, started in-process exactly as the command starts it (real
//! targets on loopback, a real aggregator, real agents) on free ports and at
//! the fast pace: it turns Healthy on its own, shows injected faults on the
//! right nodes and attributed to the right side, clears them on restore, and
//! releases its ports on shutdown. It runs the production trust path, and
//! every query here goes through it: TLS verified against the demo's CA, a
//! bearer token, agents known by their certificates.

use std::time::Duration;

use vigil_client::{ClientAuth, ClientError, QueryClient};
use vigil_demo::{ControlClient, ControlError, Demo, DemoFault, DemoHandle, DemoOptions, Spoke};
use vigil_proto::v1::{GetTreeResponse, HealthState, Side};
use vigil_testkit::eventually;
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

/// A query client as `vigil` is one: the demo's CA and read token.
async fn client(demo: &DemoHandle) -> Result<QueryClient, String> {
    QueryClient::connect_with(
        &demo.grpc_url(),
        Duration::from_secs(5),
        &demo.client_auth(),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn tree(demo: &DemoHandle) -> Result<GetTreeResponse, String> {
    client(demo)
        .await?
        .tree()
        .await
        .map_err(|e| format!("GetTree: {e}"))
}

async fn node_state(demo: &DemoHandle, id: &str) -> Result<HealthState, String> {
    tree(demo)
        .await?
        .nodes
        .iter()
        .find(|n| n.id == id)
        .map(|n| n.state())
        .ok_or_else(|| format!("no node {id} in tree"))
}

async fn wait_state(demo: &DemoHandle, id: &str, want: HealthState, within: Duration) {
    wait_one_of_within(demo, id, &[want], within).await;
}

async fn wait_all_healthy(demo: &DemoHandle) {
    eventually("every demo node to be Healthy", DEADLINE, || async move {
        let t = tree(demo).await?;
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
    eventually(
        &format!("an open {side:?} fault on {suspect}"),
        DEADLINE,
        || async move {
            let faults = client(demo)
                .await?
                .faults(false)
                .await
                .map_err(|e| format!("ListFaults: {e}"))?
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
    let got = node_state(demo, id).await.expect("tree answers");
    assert_eq!(got, want, "{id} should be {want:?} while the fault lasts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_turns_healthy_and_shows_each_fault_on_the_right_side() {
    let demo = start().await;
    wait_all_healthy(&demo).await;

    // Platform: the hub resolver stops answering.
    demo.inject(DemoFault::DnsDown)
        .await
        .expect("inject dns-down");
    wait_state(&demo, "hub-dns", HealthState::Unhealthy, DEADLINE).await;
    wait_fault(&demo, Side::Platform, "platform/hub/hub-dns").await;
    // The workload's own endpoints are reached by address: not hit.
    assert_state(&demo, "checkout-spoke-a", HealthState::Healthy).await;
    assert_state(&demo, "orders-db", HealthState::Healthy).await;
    demo.restore(DemoFault::DnsDown)
        .await
        .expect("restore dns-down");
    wait_state(&demo, "hub-dns", HealthState::Healthy, DEADLINE).await;
    wait_all_healthy(&demo).await;

    // Workload: one checkout stamp answers 503.
    demo.inject(DemoFault::Workload5xx(Spoke::A))
        .await
        .expect("inject workload-5xx:spoke-a");
    wait_state(&demo, "checkout-spoke-a", HealthState::Unhealthy, DEADLINE).await;
    wait_fault(&demo, Side::Workload, "workload/checkout-spoke-a").await;
    assert_state(&demo, "checkout-spoke-b", HealthState::Healthy).await;
    assert_state(&demo, "platform", HealthState::Healthy).await;
    demo.restore(DemoFault::Workload5xx(Spoke::A))
        .await
        .expect("restore workload-5xx:spoke-a");
    wait_state(&demo, "checkout-spoke-a", HealthState::Healthy, DEADLINE).await;
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
async fn the_demo_asks_for_tls_and_a_token_and_its_agents_stream_over_mutual_tls() {
    let demo = start().await;
    wait_all_healthy(&demo).await;
    // Every node turned Healthy from the agents' signals, and the
    // aggregator takes signals only from agents whose certificate grants
    // their identity: they stream over mutual TLS.

    // Without a token: UNAUTHENTICATED, with the fix.
    let auth = ClientAuth {
        token: None,
        ..demo.client_auth()
    };
    let err = QueryClient::connect_with(&demo.grpc_url(), Duration::from_secs(5), &auth)
        .await
        .expect("TLS connects")
        .tree()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unauthenticated { .. }), "{err}");
    // Plaintext to the TLS port does not get an answer.
    let plain = QueryClient::connect(
        &format!("http://{}", demo.grpc_addr()),
        Duration::from_secs(5),
    )
    .await;
    let refused = match plain {
        Err(e) => e.to_string(),
        Ok(mut c) => c.tree().await.map(|_| ()).unwrap_err().to_string(),
    };
    assert!(!refused.is_empty());
    // The HTTP API, as curl: HTTPS, and 401 without the token.
    let https = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&demo.credentials().ca_pem()).expect("CA"),
        )
        .build()
        .expect("https client");
    let url = format!("{}/api/v1/tree", demo.http_url());
    let anonymous = https.get(&url).send().await.expect("HTTP API answers");
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let with_token = https
        .get(&url)
        .bearer_auth(demo.credentials().read_token())
        .send()
        .await
        .expect("HTTP API answers");
    assert_eq!(with_token.status(), reqwest::StatusCode::OK);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_switches_faults_and_silences_an_agent() {
    let demo = start().await;
    let control = ControlClient::new(&demo.control_addr().to_string(), &demo.control_auth(true))
        .expect("client");
    wait_all_healthy(&demo).await;

    // Over the wire, as curl would: HTTPS against the demo's CA.
    let raw = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&demo.credentials().ca_pem()).expect("CA"),
        )
        .build()
        .expect("https client");
    let inject_bogus = |token: Option<&str>| {
        let request = raw.post(format!("https://{}/inject/bogus", demo.control_addr()));
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
        .send()
    };
    // No token: 401; the read token may look but not switch: 403.
    let none = inject_bogus(None).await.expect("control answers");
    assert_eq!(none.status(), reqwest::StatusCode::UNAUTHORIZED);
    let read = inject_bogus(Some(demo.credentials().read_token()))
        .await
        .expect("control answers");
    assert_eq!(read.status(), reqwest::StatusCode::FORBIDDEN);
    let reader = ControlClient::new(&demo.control_addr().to_string(), &demo.control_auth(false))
        .expect("client");
    assert!(reader.list().await.is_ok(), "a read token lists the faults");
    let err = reader.inject(DemoFault::DnsDown).await.unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    assert!(
        demo.active().await.is_empty(),
        "a read token switched nothing"
    );
    // A bad key, with the admin token, is refused with the fix.
    let bad = inject_bogus(Some(demo.credentials().admin_token()))
        .await
        .expect("control answers");
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let body = bad.text().await.expect("body");
    assert!(body.contains("vigil inject --list"), "{body}");
    // Plain HTTP gets no answer at all.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/faults", demo.control_addr()))
        .send()
        .await;
    assert!(plain.is_err(), "plaintext must not be served: {plain:?}");

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
    wait_state(&demo, "spoke-b-egress", HealthState::Unknown, DEADLINE).await;
    assert_state(&demo, "checkout-spoke-b", HealthState::Healthy).await;
    let reply = control.restore(fault).await.expect("restore over HTTP");
    assert!(reply.active.is_empty());
    wait_state(&demo, "spoke-b-egress", HealthState::Healthy, DEADLINE).await;

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

    let dir = demo.credentials().dir().to_path_buf();
    demo.shutdown().await;
    assert!(!dir.exists(), "the credentials are removed at shutdown");
    // With the demo gone, the client says so and how to fix it.
    let err = control.list().await.unwrap_err();
    assert!(matches!(err, ControlError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("vigil demo"), "{err}");
}

/// Waits until `id` is in one of `want`.
async fn wait_one_of(demo: &DemoHandle, id: &str, want: &[HealthState]) {
    wait_one_of_within(demo, id, want, DEADLINE).await;
}

async fn wait_one_of_within(demo: &DemoHandle, id: &str, want: &[HealthState], within: Duration) {
    eventually(
        &format!("{id} to be one of {want:?}"),
        within,
        || async move {
            let got = node_state(demo, id).await?;
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
        wait_state(&demo, node, HealthState::Healthy, DEADLINE).await;
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
