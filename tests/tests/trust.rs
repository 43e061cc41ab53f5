//! A real agent streams to a real aggregator over mutual TLS, as the
//! documented secure setup has it: certificates from a development CA in the
//! layout `vigil certs` writes, the agent's identity in its certificate. An
//! agent whose certificate is for another network cannot feed the hub's view.

use std::time::Duration;

use vigil_aggregator::ingest::RejectReason;
use vigil_aggregator::{AggregatorConfig, AggregatorHandle};
use vigil_demo::targets::TcpService;
use vigil_proto::v1::HealthState;
use vigil_testkit::config::{Evaluation, aggregator_yaml_with, tls_section};
use vigil_testkit::wait::eventually;
use vigil_tests::{model, start_agent, start_aggregator, tcp_probe};
use vigil_trust::DevCerts;

const DEADLINE: Duration = Duration::from_secs(20);

async fn tls_aggregator(dir: &std::path::Path, ca: &DevCerts) -> AggregatorHandle {
    let server = dir.join("aggregator");
    ca.server(&["localhost"])
        .unwrap()
        .write(&server, ca.ca_pem())
        .unwrap();
    let tls = tls_section(&server, ca.trust_domain(), "");
    let yaml = aggregator_yaml_with(
        &Evaluation::END_TO_END,
        &format!("{tls}insecure:\n  open_api: true\n"),
    );
    let config = AggregatorConfig::from_yaml(&yaml, "trust-e2e.yaml").unwrap();
    start_aggregator(model::TWO_SPOKES, config).await
}

/// An agent config streaming to `port` over TLS with the files in `certs`.
fn agent_yaml(id: &str, network: &str, port: u16, certs: &std::path::Path, probes: &str) -> String {
    format!(
        "agent:\n  id: {id}\n  network: {network}\n  role: daemonset\naggregator:\n  endpoint: https://localhost:{port}\n  connect_timeout: 1s\n  tls:\n    ca: {0}/ca.crt\n    cert: {0}/tls.crt\n    key: {0}/tls.key\ndelivery:\n  batch_max_delay: 100ms\n  backoff_initial: 50ms\n  backoff_max: 300ms\nadmin:\n  listen: off\ndefaults:\n  interval: 200ms\n  timeout: 150ms\nprobes:\n{probes}",
        certs.display()
    )
}

fn state(agg: &AggregatorHandle, node: &str) -> Option<HealthState> {
    let snap = agg.subscribe().borrow().clone();
    snap.find(node).map(|(_, n)| n.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_streams_over_mutual_tls_and_a_borrowed_identity_is_refused() {
    vigil_tests::init_tracing();
    let dir = vigil_testkit::scratch::dir("e2e-trust", "mtls");
    let ca = DevCerts::new("vigil.test").unwrap();
    let agg = tls_aggregator(&dir, &ca).await;
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = agg.grpc_addr().port();

    let a_certs = dir.join("agent-a");
    ca.agent("spoke-a", "agent-a")
        .unwrap()
        .write(&a_certs, ca.ca_pem())
        .unwrap();
    let agent = start_agent(&agent_yaml(
        "agent-a",
        "spoke-a",
        port,
        &a_certs,
        &tcp_probe(hub.addr()),
    ))
    .await;
    eventually(
        "hub-service healthy from a TLS agent",
        DEADLINE,
        async || match state(&agg, "hub-service") {
            Some(HealthState::Healthy) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;

    // spoke-b's certificate, configured as the hub's agent: refused at every
    // attempt, counted, and never an agent the aggregator knows.
    let b_certs = dir.join("agent-b");
    ca.agent("spoke-b", "agent-b")
        .unwrap()
        .write(&b_certs, ca.ca_pem())
        .unwrap();
    let rogue = start_agent(&agent_yaml(
        "hub-agent",
        "hub",
        port,
        &b_certs,
        &tcp_probe(hub.addr()),
    ))
    .await;
    eventually("the borrowed identity refused", DEADLINE, async || {
        let n = agg
            .ingest_stats()
            .rejected
            .get(RejectReason::IdentityMismatch);
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} refusals"))
        }
    })
    .await;
    assert!(
        !agg.subscribe()
            .borrow()
            .known_agents()
            .any(|a| &*a.id == "hub-agent"),
        "the rogue agent reached the store"
    );
    rogue.shutdown().await;
    agent.shutdown().await;
    agg.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_call_queries_the_aggregator_over_tls_with_its_ca() {
    let dir = vigil_testkit::scratch::dir("e2e-trust", "query");
    let ca = DevCerts::new("vigil.test").unwrap();
    let agg = tls_aggregator(&dir, &ca).await;
    let url = format!("https://localhost:{}", agg.grpc_addr().port());
    let ca_file = dir.join("aggregator/ca.crt");
    let timeout = Duration::from_secs(5);
    let mut client = vigil_client::QueryClient::connect_with(&url, timeout, &ca_only(&ca_file))
        .await
        .unwrap();
    let tree = client.tree().await.unwrap();
    assert!(!tree.nodes.is_empty());
    let err = vigil_client::QueryClient::connect_with(
        &url,
        timeout,
        &vigil_client::ClientAuth::default(),
    )
    .await
    .expect_err("https without a CA is refused");
    assert!(err.to_string().contains("--ca"), "{err}");
    // Another CA's certificate: the aggregator is not who it says.
    let other = DevCerts::new("vigil.test").unwrap();
    let other_dir = dir.join("other");
    other
        .server(&["localhost"])
        .unwrap()
        .write(&other_dir, other.ca_pem())
        .unwrap();
    let wrong =
        vigil_client::QueryClient::connect_with(&url, timeout, &ca_only(&other_dir.join("ca.crt")))
            .await;
    assert!(
        wrong.is_err(),
        "an aggregator signed by an unknown CA was trusted"
    );
    agg.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn ca_only(file: &std::path::Path) -> vigil_client::ClientAuth {
    vigil_client::ClientAuth {
        ca: Some(file.to_path_buf()),
        token: None,
    }
}
