//! Faults are attributed to the side that owns them, end to end: real agents
//! in three spokes probe a real DNS server, a real hub service and a real
//! workload; the aggregator's FaultService names the suspect.

use std::net::SocketAddr;
use std::time::Duration;

use vigil_demo::targets::{DnsZoneServer, HttpWorkload, TcpService, WorkloadMode};
use vigil_proto::v1::fault_service_client::FaultServiceClient;
use vigil_proto::v1::{Certainty, Fault, ListFaultsRequest, Side, WhyNodeRequest};
use vigil_testkit::eventually;
use vigil_tests::{
    agent_yaml, dns_probe, fast_aggregator_config, model, start_agent, start_aggregator, tcp_probe,
};

const DEADLINE: Duration = Duration::from_secs(25);

async fn faults(addr: SocketAddr, include_resolved: bool) -> Result<Vec<Fault>, String> {
    let mut c = FaultServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| e.to_string())?;
    c.list_faults(ListFaultsRequest { include_resolved })
        .await
        .map(|r| r.into_inner().faults)
        .map_err(|s| s.to_string())
}

/// Waits for an open, firmly attributed fault on `suspect`, failing with
/// what was open instead.
async fn wait_fault(addr: SocketAddr, suspect: &str, networks: &[&str]) -> Fault {
    let what = format!("an attributed fault on {suspect} seen from {networks:?}");
    eventually(&what, DEADLINE, || async {
        let open = faults(addr, false).await?;
        open.iter()
            .find(|f| {
                f.suspect == suspect
                    && f.certainty() == Certainty::Attributed
                    && f.networks == networks
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "open: {:?}",
                    open.iter().map(|f| &f.summary).collect::<Vec<_>>()
                )
            })
    })
    .await
}

async fn wait_resolved(addr: SocketAddr, id: &str) {
    eventually(&format!("fault {id} to resolve"), DEADLINE, || async {
        let all = faults(addr, true).await?;
        match all.iter().find(|f| f.id == id) {
            Some(f) if f.closed_at_unix_ms != 0 => Ok(()),
            Some(_) => Err("still open".into()),
            None => Err("gone".into()),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_dns_down_is_a_platform_fault_and_a_workload_crash_a_workload_fault() {
    vigil_tests::init_tracing();
    let agg = start_aggregator(model::HUB_THREE_SPOKES, fast_aggregator_config()).await;
    let addr = agg.grpc_addr();
    let dns = DnsZoneServer::start(
        "127.0.0.1:0".parse().unwrap(),
        "privatelink.test.",
        &[("kv", "10.1.2.3".parse().unwrap())],
    )
    .await
    .unwrap();
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let checkout = HttpWorkload::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let probes = format!(
        "{}{}  - id: checkout\n    kind: http\n    component: checkout-api\n    layer: workload_application\n    url: http://{}/health\n    labels: {{ target_network: spoke-a }}\n",
        dns_probe(dns.addr()),
        tcp_probe(hub.addr()),
        checkout.addr()
    );
    let mut agents = Vec::new();
    for net in ["spoke-a", "spoke-b", "spoke-c"] {
        agents.push(start_agent(&agent_yaml(&format!("agent-{net}"), net, addr, &probes)).await);
    }
    vigil_testkit::query::wait_state(
        addr,
        "estate",
        vigil_proto::v1::HealthState::Healthy,
        DEADLINE,
    )
    .await;
    assert!(
        faults(addr, true).await.unwrap().is_empty(),
        "a healthy estate has no faults"
    );

    // Hub DNS stops answering: a platform fault on hub DNS, seen from all spokes.
    dns.set_up(false);
    let spokes = ["spoke-a", "spoke-b", "spoke-c"];
    let f = wait_fault(addr, "platform/hub/hub-dns", &spokes).await;
    assert_eq!(f.side(), Side::Platform);
    assert!(
        f.confidence >= 0.8,
        "confidence {}: {}",
        f.confidence,
        f.summary
    );
    assert!(
        f.evidence
            .iter()
            .all(|e| vigil_proto::error_class_name(e.error_class()) == "dns_timeout"),
        "{:?}",
        f.evidence
    );
    assert!(f.nodes.contains(&"hub-dns".to_string()));
    // The suspect's nodes apart from the impact's; `nodes` is their union.
    assert!(f.suspect_nodes.contains(&"hub-dns".to_string()));
    assert!(
        f.impact_nodes.iter().all(|n| !f.suspect_nodes.contains(n)),
        "suspect {:?}, impact {:?}",
        f.suspect_nodes,
        f.impact_nodes
    );
    let mut union: Vec<String> = f
        .suspect_nodes
        .iter()
        .chain(&f.impact_nodes)
        .cloned()
        .collect();
    union.sort();
    union.dedup();
    assert_eq!(f.nodes, union);
    assert!(
        faults(addr, false)
            .await
            .unwrap()
            .iter()
            .all(|o| o.side() == Side::Platform),
        "nothing blamed on the workload"
    );
    // `why` on the root explains its state with that fault.
    let why = FaultServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .why_node(WhyNodeRequest {
            id: "estate".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        why.faults.iter().any(|w| w.id == f.id),
        "why estate names {}",
        f.id
    );
    dns.set_up(true);
    wait_resolved(addr, &f.id).await;

    // The workload answers 5xx from every vantage: a workload fault.
    checkout.set_mode(WorkloadMode::Failing5xx).await.unwrap();
    let w = wait_fault(addr, "workload/checkout-api", &spokes).await;
    assert_eq!(w.side(), Side::Workload);
    let open = faults(addr, false).await.unwrap();
    assert!(
        open.iter().all(|o| o.side() == Side::Workload),
        "nothing blamed on the platform: {:?}",
        open.iter().map(|f| &f.summary).collect::<Vec<_>>()
    );
    checkout.set_mode(WorkloadMode::Healthy).await.unwrap();
    wait_resolved(addr, &w.id).await;

    for a in agents {
        a.shutdown().await;
    }
    agg.shutdown().await;
}
