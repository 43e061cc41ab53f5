//! Fairness under a flooding agent, on a real aggregator with its default
//! ingest limits and a hundred and one real gRPC streams: one agent sends as
//! fast as its stream lets it while a hundred others stream normally. The
//! flooder is held to its rate limit; none of the others' signals is
//! refused; and the time from a failure observed by one of them to its node
//! turning Unhealthy stays within twice what it is without the flooder.

mod feed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use feed::DEADLINE;
use tokio::sync::Mutex;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_model::Model;
use vigil_proto::v1::{
    ErrorClass, GetTreeRequest, HealthState, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal,
    stream_response,
};
use vigil_testkit::config::{Evaluation, aggregator_yaml};
use vigil_testkit::ingest::{self, IngestStream};
use vigil_testkit::{eventually, now_ms};

const NORMAL: usize = 100;
/// Agents whose failure is timed, in each phase.
const SAMPLES: usize = 25;
/// A normal agent's pace: one success per probe run.
const NORMAL_EVERY: Duration = Duration::from_millis(200);
/// Enough failures in one batch to outweigh the window's successes.
const FAILURES: usize = 200;
/// The flooder's batches: a real agent's largest (`delivery.batch_max_signals`), as fast as acks come.
const FLOOD_BATCH: usize = 500;
const FLOOD_IN_FLIGHT: u64 = 4;
/// How often the tree is read while waiting: the measurement's resolution.
const POLL: Duration = Duration::from_millis(2);

fn model() -> Model {
    let mut yaml =
        String::from("nodes:\n  - id: root\n    layer: workload_application\n    children: [flood");
    for i in 0..NORMAL {
        yaml.push_str(&format!(", svc-{i}"));
    }
    yaml.push_str(
        "]\n  - id: flood\n    layer: workload_application\n    select: { component: flood }\n",
    );
    for i in 0..NORMAL {
        yaml.push_str(&format!(
            "  - id: svc-{i}\n    layer: workload_application\n    select: {{ component: svc-{i} }}\n"
        ));
    }
    Model::from_yaml(&yaml, "fairness.yaml").expect("generated model is valid")
}

fn declaration(component: &str) -> ProbeDeclaration {
    ProbeDeclaration {
        index: 0,
        probe_id: format!("{component}-http"),
        kind: ProbeKind::Http as i32,
        target: "http://10.1.0.10/health".into(),
        component: component.into(),
        layer: Layer::WorkloadApplication as i32,
        labels: Default::default(),
        interval_ms: NORMAL_EVERY.as_millis() as u32,
    }
}

fn signals(n: usize, failing: bool) -> Vec<Signal> {
    (0..n)
        .map(|_| Signal {
            probe_index: 0,
            outcome: if failing {
                Outcome::Failure
            } else {
                Outcome::Success
            } as i32,
            error_class: if failing {
                ErrorClass::HttpStatus as i32
            } else {
                0
            },
            latency_us: 900,
            ..Default::default()
        })
        .collect()
}

async fn identified(addr: SocketAddr, agent: &str, component: &str) -> IngestStream {
    let mut s = IngestStream::open(addr).await;
    s.send(ingest::hello(agent, "spoke-a", 1)).await;
    match s.reply(DEADLINE).await {
        Ok(stream_response::Message::Welcome(_)) => {}
        other => panic!("{agent}: expected Welcome, got {other:?}"),
    }
    s.send(ingest::declare(vec![declaration(component)])).await;
    s
}

/// A normal agent: a success every [`NORMAL_EVERY`], or, once told to fail,
/// a batch of failures, remembering when it first observed one.
struct Normal {
    fail: AtomicBool,
    first_failure: Mutex<Option<Instant>>,
    refused: AtomicU64,
}

fn spawn_normal(addr: SocketAddr, i: usize) -> Arc<Normal> {
    let me = Arc::new(Normal {
        fail: AtomicBool::new(false),
        first_failure: Mutex::new(None),
        refused: AtomicU64::new(0),
    });
    let state = Arc::clone(&me);
    tokio::spawn(async move {
        let mut s = identified(addr, &format!("agent-{i}"), &format!("svc-{i}")).await;
        let mut tick = tokio::time::interval(NORMAL_EVERY);
        for sequence in 1.. {
            tick.tick().await;
            let failing = state.fail.load(Ordering::Relaxed);
            let batch = if failing {
                let mut first = state.first_failure.lock().await;
                first.get_or_insert_with(Instant::now);
                signals(FAILURES, true)
            } else {
                signals(1, false)
            };
            if !s
                .try_send(ingest::batch(sequence, now_ms(), batch, 0))
                .await
            {
                // The aggregator shut down at the end of the test.
                return;
            }
            match s.reply(DEADLINE).await {
                Ok(stream_response::Message::Ack(a)) if a.sequence == sequence => {}
                _ => {
                    state.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    });
    me
}

/// The flooder: batches of [`FLOOD_BATCH`] as fast as its acks come back.
fn spawn_flooder(addr: SocketAddr) -> Arc<AtomicU64> {
    let acked = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&acked);
    tokio::spawn(async move {
        let mut s = identified(addr, "flooder", "flood").await;
        let mut sent = 0u64;
        loop {
            while sent < count.load(Ordering::Relaxed) + FLOOD_IN_FLIGHT {
                sent += 1;
                if !s
                    .try_send(ingest::batch(
                        sent,
                        now_ms(),
                        signals(FLOOD_BATCH, false),
                        0,
                    ))
                    .await
                {
                    return;
                }
            }
            match s.reply(DEADLINE).await {
                Ok(stream_response::Message::Ack(_)) => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                _ => return,
            }
        }
    });
    acked
}

/// Observation → Unhealthy for each of `agents`, one after another.
async fn time_failures(
    agg: &AggregatorHandle,
    normals: &[Arc<Normal>],
    agents: std::ops::Range<usize>,
) -> Vec<Duration> {
    let mut client = vigil_testkit::query::query_client(agg.grpc_addr()).await;
    let mut out = Vec::new();
    for i in agents {
        let id = format!("svc-{i}");
        normals[i].fail.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + DEADLINE;
        let seen = loop {
            let tree = client
                .get_tree(GetTreeRequest {})
                .await
                .expect("tree answers")
                .into_inner();
            let unhealthy = tree
                .nodes
                .iter()
                .any(|n| n.id == id && n.state() == HealthState::Unhealthy);
            if unhealthy {
                break Instant::now();
            }
            assert!(Instant::now() < deadline, "{id} never turned Unhealthy");
            tokio::time::sleep(POLL).await;
        };
        let first = normals[i]
            .first_failure
            .lock()
            .await
            .expect("the agent observed a failure");
        out.push(seen.saturating_duration_since(first));
    }
    out.sort();
    out
}

fn median(d: &[Duration]) -> Duration {
    d[d.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_agent_is_held_to_its_limit_and_the_others_do_not_notice() {
    // The default ingest limits: what production runs with.
    let config = AggregatorConfig::from_yaml(&aggregator_yaml(&Evaluation::FAST), "fairness.yaml")
        .expect("valid config");
    let limit = config.ingest.rate_limit.clone();
    let agg = Aggregator::start(config, model())
        .await
        .expect("aggregator starts");
    let addr = agg.grpc_addr();
    let normals: Vec<Arc<Normal>> = (0..NORMAL).map(|i| spawn_normal(addr, i)).collect();
    let mut client = vigil_testkit::query::query_client(addr).await;
    eventually("every normal agent's node to be Healthy", DEADLINE, || {
        let mut client = client.clone();
        async move {
            let tree = client
                .get_tree(GetTreeRequest {})
                .await
                .map_err(|s| s.to_string())?
                .into_inner();
            let healthy = tree
                .nodes
                .iter()
                .filter(|n| n.id.starts_with("svc-") && n.state() == HealthState::Healthy)
                .count();
            if healthy == NORMAL {
                Ok(())
            } else {
                Err(format!("{healthy} of {NORMAL} Healthy"))
            }
        }
    })
    .await;
    let _ = client.get_tree(GetTreeRequest {}).await;

    let unloaded = time_failures(&agg, &normals, 0..SAMPLES).await;

    // The flooder spends its burst, then is paced at its rate.
    let flood_acked = spawn_flooder(addr);
    eventually("the flooder to be paced at its limit", DEADLINE, || async {
        match agg.ingest_stats().throttled_batches {
            0 => Err("not throttled yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    let paced_from = Instant::now();
    let acked_from = flood_acked.load(Ordering::Relaxed);
    let loaded = time_failures(&agg, &normals, SAMPLES..2 * SAMPLES).await;
    let paced_for = paced_from.elapsed().as_secs_f64();
    let flood_rate =
        (flood_acked.load(Ordering::Relaxed) - acked_from) as f64 * FLOOD_BATCH as f64 / paced_for;

    eprintln!(
        "fairness: observation→Unhealthy p50 {:?} (max {:?}) alone, p50 {:?} (max {:?}) beside a flooder at {flood_rate:.0} signals/s (limit {})",
        median(&unloaded),
        unloaded.last().unwrap(),
        median(&loaded),
        loaded.last().unwrap(),
        limit.signals_per_second,
    );
    for (i, n) in normals.iter().enumerate() {
        assert_eq!(
            n.refused.load(Ordering::Relaxed),
            0,
            "agent-{i} had a batch refused"
        );
    }
    assert_eq!(
        agg.ingest_stats().rejected_total(),
        0,
        "nothing was refused, the flooder included"
    );
    // Held to its limit (allowing for the batch in debt and timer slack).
    assert!(
        flood_rate <= limit.signals_per_second * 1.25 + FLOOD_BATCH as f64 / paced_for,
        "the flooder got {flood_rate:.0} signals/s through a limit of {}",
        limit.signals_per_second
    );
    // Both figures are read by polling: allow one poll on top of twice.
    assert!(
        median(&loaded) <= median(&unloaded) * 2 + POLL,
        "observation→Unhealthy p50 went from {:?} to {:?} beside the flooder",
        median(&unloaded),
        median(&loaded)
    );
    agg.shutdown().await;
}
