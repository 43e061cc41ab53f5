//! Signals from real agents in two networks reach a real aggregator and drive
//! the health tree: states per vantage, a target going down and recovering,
//! and a silent agent turning its nodes Unknown.

use std::time::Duration;

use vigil_demo::targets::{DnsZoneServer, HttpWorkload, TcpService, WorkloadMode};
use vigil_proto::v1::HealthState;
use vigil_testkit::query::{tree, wait_state};
use vigil_tests::{
    agent_yaml, dns_probe, fast_aggregator_config, model, start_agent, start_aggregator, tcp_probe,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn http_probe(url: &str) -> String {
    format!(
        "  - id: checkout-api\n    kind: http\n    component: checkout-api\n    layer: workload_application\n    url: {url}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_networks_fill_the_tree_and_a_failing_target_turns_only_its_vantage_red() {
    vigil_tests::init_tracing();
    let agg = start_aggregator(model::TWO_SPOKES, fast_aggregator_config()).await;
    let addr = agg.grpc_addr();

    let workload_a = HttpWorkload::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let workload_b = HttpWorkload::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dns = DnsZoneServer::start(
        "127.0.0.1:0".parse().unwrap(),
        "privatelink.test.",
        &[("kv", "10.1.2.3".parse().unwrap())],
    )
    .await
    .unwrap();

    let a_probes = format!(
        "{}{}{}",
        http_probe(&format!("http://{}/health", workload_a.addr())),
        tcp_probe(hub.addr()),
        dns_probe(dns.addr())
    );
    let b_probes = format!(
        "{}{}",
        http_probe(&format!("http://{}/health", workload_b.addr())),
        tcp_probe(hub.addr())
    );
    let agent_a = start_agent(&agent_yaml("agent-a", "spoke-a", addr, &a_probes)).await;
    let agent_b = start_agent(&agent_yaml("agent-b", "spoke-b", addr, &b_probes)).await;

    for id in [
        "checkout-spoke-a",
        "checkout-spoke-b",
        "hub-service",
        "hub-dns",
        "estate",
    ] {
        wait_state(addr, id, HealthState::Healthy, DEADLINE).await;
    }
    // Both vantage points feed the shared hub service.
    let hub_node = vigil_testkit::query::node(addr, "hub-service")
        .await
        .unwrap();
    let mut networks: Vec<_> = hub_node
        .vantages
        .iter()
        .filter_map(|v| v.vantage.as_ref().map(|v| v.network.clone()))
        .collect();
    networks.sort();
    assert_eq!(networks, ["spoke-a", "spoke-b"]);

    // spoke-b's view of the workload fails with 5xx; spoke-a's stays healthy.
    workload_b.set_mode(WorkloadMode::Failing5xx).await.unwrap();
    wait_state(addr, "checkout-spoke-b", HealthState::Unhealthy, DEADLINE).await;
    assert_eq!(
        vigil_testkit::query::node_state(addr, "checkout-spoke-a")
            .await
            .unwrap(),
        HealthState::Healthy
    );
    wait_state(addr, "workload", HealthState::Unhealthy, DEADLINE).await;
    let evidence = vigil_testkit::query::node(addr, "checkout-spoke-b")
        .await
        .unwrap();
    assert!(
        evidence
            .recent_signals
            .iter()
            .any(|s| vigil_proto::error_class_name(s.error_class()) == "http_status"),
        "the evidence names the HTTP status failure: {:?}",
        evidence.recent_signals
    );

    // Recovery: the node turns Healthy again once failures leave the window.
    workload_b.set_mode(WorkloadMode::Healthy).await.unwrap();
    wait_state(addr, "checkout-spoke-b", HealthState::Healthy, DEADLINE).await;
    wait_state(addr, "estate", HealthState::Healthy, DEADLINE).await;

    agent_a.shutdown().await;
    agent_b.shutdown().await;
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_going_down_needs_consecutive_evaluations_and_recovers() {
    let agg = start_aggregator(model::TWO_SPOKES, fast_aggregator_config()).await;
    let addr = agg.grpc_addr();
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let agent = start_agent(&agent_yaml(
        "agent-a",
        "spoke-a",
        addr,
        &tcp_probe(hub.addr()),
    ))
    .await;
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;

    // Watch the change stream so we can check the transition order.
    let mut watch = vigil_testkit::query::query_client(addr)
        .await
        .watch_changes(vigil_proto::v1::WatchChangesRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert!(
        first.snapshot,
        "the first change message is a full snapshot"
    );

    hub.set_up(false).await.unwrap();
    wait_state(addr, "hub-service", HealthState::Unhealthy, DEADLINE).await;
    let refused = vigil_testkit::query::node(addr, "hub-service")
        .await
        .unwrap();
    assert!(
        refused
            .recent_signals
            .iter()
            .any(|s| vigil_proto::error_class_name(s.error_class()) == "refused"),
        "a closed port is classified as refused"
    );
    // The change stream reported the transition away from Healthy.
    let saw_change = tokio::time::timeout(DEADLINE, async {
        loop {
            let m = watch
                .message()
                .await
                .expect("stream ok")
                .expect("stream open");
            if let Some(c) = m.changes.iter().find(|c| {
                c.id == "hub-service"
                    && c.previous_state() == HealthState::Healthy
                    && c.state() != HealthState::Healthy
            }) {
                return c.clone();
            }
        }
    })
    .await
    .expect("a change event for hub-service leaving Healthy");
    assert_ne!(saw_change.state(), HealthState::Healthy);

    hub.set_up(true).await.unwrap();
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;
    agent.shutdown().await;
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_turns_its_nodes_unknown_never_healthy() {
    let agg = start_aggregator(model::TWO_SPOKES, fast_aggregator_config()).await;
    let addr = agg.grpc_addr();
    let workload = HttpWorkload::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let probes = http_probe(&format!("http://{}/health", workload.addr()));
    let agent_a = start_agent(&agent_yaml("agent-a", "spoke-a", addr, &probes)).await;
    let agent_b = start_agent(&agent_yaml("agent-b", "spoke-b", addr, &probes)).await;
    wait_state(addr, "checkout-spoke-a", HealthState::Healthy, DEADLINE).await;
    wait_state(addr, "checkout-spoke-b", HealthState::Healthy, DEADLINE).await;

    agent_b.shutdown().await;
    wait_state(addr, "checkout-spoke-b", HealthState::Unknown, DEADLINE).await;
    let t = tree(addr).await.unwrap();
    let b = t.nodes.iter().find(|n| n.id == "checkout-spoke-b").unwrap();
    assert_eq!(b.score, 0, "no data scores 0");
    // The other agent's view is unaffected.
    assert_eq!(
        vigil_testkit::query::node_state(addr, "checkout-spoke-a")
            .await
            .unwrap(),
        HealthState::Healthy
    );
    let detail = vigil_testkit::query::node(addr, "checkout-spoke-b")
        .await
        .unwrap();
    assert!(
        detail.vantages.iter().all(|v| !v.agent_connected),
        "the silent agent is shown disconnected: {:?}",
        detail.vantages
    );
    // A parent with an Unknown child is never reported Healthy.
    assert_ne!(
        vigil_testkit::query::node_state(addr, "workload")
            .await
            .unwrap(),
        HealthState::Healthy
    );

    agent_a.shutdown().await;
    agg.shutdown().await;
}
