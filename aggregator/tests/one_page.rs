//! One page per fault, end to end: agents in two spokes and the hub stream a
//! workload's outage over real gRPC into a running aggregator, which pages a
//! real webhook receiver on loopback. The outage ramps up, lasts and
//! recovers the way a real one does (vantage points cross the bar at
//! different moments, the failure ratio rises and falls), and the receiver
//! must hear exactly one firing and one resolved notification for it.

mod alerting;
mod feed;

use std::time::Duration;

use serde_json::Value;
use vigil_aggregator::{Aggregator, AggregatorConfig};
use vigil_model::Model;
use vigil_proto::v1::{ErrorClass, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal};
use vigil_testkit::config::{Evaluation, aggregator_yaml};
use vigil_testkit::ingest::{self, IngestStream};
use vigil_testkit::{eventually, now_ms};

use alerting::hooks;
use feed::DEADLINE;

const MODEL: &str = r#"
nodes:
  - id: root
    children: [platform, workload]
  - id: platform
    layer: platform_hub
    children: [hub-dns]
  - id: hub-dns
    layer: platform_hub
    select: { component: hub-dns }
  - id: workload
    layer: workload_application
    children: [api]
  - id: api
    layer: workload_application
    select: { component: api }
"#;

/// Probes every 200 ms; a tick every 100 ms over a 3 s window.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// One agent with a hub DNS probe and a probe of the workload in spoke-a.
struct Agent {
    stream: IngestStream,
    sequence: u64,
}

impl Agent {
    async fn connect(addr: std::net::SocketAddr, id: &str, network: &str) -> Self {
        let mut stream = IngestStream::open(addr).await;
        stream.send(ingest::hello(id, network, 1)).await;
        stream.reply(DEADLINE).await.expect("welcome");
        let probe = |index: u32, id: &str, kind: ProbeKind, component: &str, layer: Layer| {
            ProbeDeclaration {
                index,
                probe_id: id.into(),
                kind: kind as i32,
                target: format!("{component}.test"),
                component: component.into(),
                layer: layer as i32,
                labels: [("target_network".to_string(), "spoke-a".to_string())]
                    .into_iter()
                    .filter(|_| component == "api")
                    .collect(),
                interval_ms: PROBE_EVERY.as_millis() as u32,
            }
        };
        stream
            .send(ingest::declare(vec![
                probe(0, "dns", ProbeKind::Dns, "hub-dns", Layer::PlatformHub),
                probe(1, "api", ProbeKind::Http, "api", Layer::WorkloadApplication),
            ]))
            .await;
        Agent {
            stream,
            sequence: 0,
        }
    }

    /// One probe round: DNS succeeds; the workload fails when `api_fails`.
    async fn round(&mut self, api_fails: bool) {
        let signal = |index: u32, fails: bool| Signal {
            probe_index: index,
            outcome: if fails {
                Outcome::Failure
            } else {
                Outcome::Success
            } as i32,
            error_class: if fails {
                ErrorClass::ConnectionRefused as i32
            } else {
                ErrorClass::Unspecified as i32
            },
            latency_us: 900,
            message: if fails {
                "connection refused".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        self.sequence += 1;
        let batch = ingest::batch(
            self.sequence,
            now_ms(),
            vec![signal(0, false), signal(1, api_fails)],
            0,
        );
        self.stream.send(batch).await;
    }
}

fn config(pager: std::net::SocketAddr) -> AggregatorConfig {
    let yaml = format!(
        "{}alerts:\n  group_wait: 100ms\n  nodes: {{ min_state: off }}\n  receivers:\n    - name: pager\n      webhook: {{ url: \"http://{pager}/pager\" }}\n  routes:\n    - match: {{ side: workload }}\n      receivers: [pager]\n    - match: {{ side: platform }}\n      receivers: [pager]\n",
        aggregator_yaml(&Evaluation::END_TO_END)
    );
    AggregatorConfig::from_yaml(&yaml, "one-page.yaml").expect("the test config is valid")
}

/// Every fault alert the pager heard: (fault id, status).
fn fault_notes(bodies: &[Value]) -> Vec<(String, String)> {
    bodies
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == "VigilFault")
        .map(|a| {
            (
                a["labels"]["fault_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_outage_seen_from_two_spokes_pages_once_and_resolves_once() {
    let (pager, hooks) = hooks().await;
    let model = Model::from_yaml(MODEL, "one-page-model.yaml").unwrap();
    let agg = Aggregator::start(config(pager), model)
        .await
        .expect("aggregator starts");
    let mut agents = Vec::new();
    for (id, net) in [("a", "spoke-a"), ("b", "spoke-b"), ("h", "hub")] {
        agents.push(Agent::connect(agg.grpc_addr(), id, net).await);
    }
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    // Healthy, then the workload goes down: each vantage point sees it
    // from a different round on, then every round fails for 20 rounds, then
    // it comes back, first now and then, then for good.
    let round = |n: usize| -> [bool; 3] {
        let fails = |first: usize, last: usize| n >= first && n < last;
        match n {
            0..20 => [false; 3],
            _ => [fails(20, 44), fails(21, 45), fails(22, 43) || n == 46],
        }
    };
    for n in 0..60 {
        ticker.tick().await;
        let pattern = round(n);
        for (agent, fails) in agents.iter_mut().zip(pattern) {
            agent.round(fails).await;
        }
    }
    let resolved = eventually("the fault resolved at the pager", DEADLINE, || async {
        let notes = fault_notes(&hooks.json("pager"));
        if notes.iter().any(|(_, s)| s == "resolved") {
            Ok(notes)
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    // Keep the agents healthy for two more windows' worth of evaluations:
    // a late second fault or notification would show by then.
    let mut snapshots = agg.subscribe();
    let generation = snapshots.borrow().generation;
    for _ in 0..30 {
        ticker.tick().await;
        for agent in &mut agents {
            agent.round(false).await;
        }
    }
    tokio::time::timeout(
        DEADLINE,
        snapshots.wait_for(|s| s.generation >= generation + 40 && s.faults.open.is_empty()),
    )
    .await
    .expect("evaluations went on")
    .expect("the aggregator is running");
    let notes = fault_notes(&hooks.json("pager"));
    let ids: std::collections::BTreeSet<&String> = notes.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 1, "one cause, one fault: {notes:?}");
    let id = ids.into_iter().next().unwrap().clone();
    assert_eq!(
        notes,
        [(id.clone(), "firing".into()), (id, "resolved".into())],
        "one firing and one resolved notification (first seen: {resolved:?})"
    );
    let snap = agg.subscribe().borrow().clone();
    let closed: Vec<_> = snap
        .faults
        .resolved
        .iter()
        .map(|f| f.suspect.path())
        .collect();
    assert_eq!(closed, ["workload/api"], "{closed:?}");
    agg.shutdown().await;
}
