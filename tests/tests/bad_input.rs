//! Bad input on one ingest stream gets a precise gRPC status and never
//! disturbs a real agent streaming to the same aggregator.

use std::time::Duration;

use vigil_demo::targets::TcpService;
use vigil_proto::v1::HealthState;
use vigil_proto::v1::{
    ErrorClass, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal, StreamRequest,
};
use vigil_testkit::query::wait_state;
use vigil_testkit::{ingest, now_ms};
use vigil_tests::{
    agent_yaml, fast_aggregator_config, model, start_agent, start_aggregator, tcp_probe,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn hello(agent: &str) -> StreamRequest {
    ingest::hello(agent, "spoke-x", 1)
}

fn declare() -> StreamRequest {
    ingest::declare(vec![ProbeDeclaration {
        index: 0,
        probe_id: "p".into(),
        kind: ProbeKind::Tcp as i32,
        target: "127.0.0.1:1".into(),
        component: "hub-service".into(),
        layer: Layer::PlatformHub as i32,
        labels: Default::default(),
        interval_ms: 1000,
    }])
}

fn batch(sequence: u64, base: i64, signals: Vec<Signal>) -> StreamRequest {
    ingest::batch(sequence, base, signals, 0)
}

fn ok_signal() -> Signal {
    Signal {
        probe_index: 0,
        outcome: Outcome::Success as i32,
        latency_us: 100,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_gets_its_status_and_a_live_agent_is_untouched() {
    vigil_tests::init_tracing();
    let agg = start_aggregator(model::TWO_SPOKES, fast_aggregator_config()).await;
    let addr = agg.grpc_addr();
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let probe = tcp_probe(hub.addr());
    let agent = start_agent(&agent_yaml("good-agent", "spoke-a", addr, &probe)).await;
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;
    let reconnects_before = agent.stats().reconnects;

    use tonic::Code;
    let cases: Vec<(&str, Vec<StreamRequest>, Code)> = vec![
        (
            "batch before identification",
            vec![batch(1, now_ms(), vec![ok_signal()])],
            Code::FailedPrecondition,
        ),
        (
            "unknown probe index",
            vec![
                hello("bad-1"),
                declare(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        probe_index: 7,
                        ..ok_signal()
                    }],
                ),
            ],
            Code::InvalidArgument,
        ),
        (
            "unknown enum value",
            vec![
                hello("bad-2"),
                declare(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        outcome: 99,
                        ..ok_signal()
                    }],
                ),
            ],
            Code::InvalidArgument,
        ),
        (
            "failure without an error class",
            vec![
                hello("bad-3"),
                declare(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        outcome: Outcome::Failure as i32,
                        error_class: ErrorClass::Unspecified as i32,
                        ..ok_signal()
                    }],
                ),
            ],
            Code::InvalidArgument,
        ),
        (
            "timestamp far in the future",
            vec![
                hello("bad-4"),
                declare(),
                batch(1, now_ms() + 86_400_000, vec![ok_signal()]),
            ],
            Code::InvalidArgument,
        ),
        (
            "timestamp far in the past",
            vec![
                hello("bad-5"),
                declare(),
                batch(1, now_ms() - 30 * 86_400_000, vec![ok_signal()]),
            ],
            Code::InvalidArgument,
        ),
        (
            "oversized batch",
            vec![
                hello("bad-6"),
                declare(),
                batch(1, now_ms(), vec![ok_signal(); 200_000]),
            ],
            Code::ResourceExhausted,
        ),
        (
            "duplicate sequence",
            vec![
                hello("bad-7"),
                declare(),
                batch(1, now_ms(), vec![ok_signal()]),
                batch(1, now_ms(), vec![ok_signal()]),
            ],
            Code::AlreadyExists,
        ),
    ];
    for (what, messages, want) in cases {
        let status = ingest::rejection(addr, messages, DEADLINE).await;
        assert_eq!(status.code(), want, "{what}: got {status:?}");
        assert!(
            !status.message().is_empty(),
            "{what}: the status says what was wrong"
        );
    }

    let stats = agg.ingest_stats();
    assert!(
        stats.rejected_total() >= 8,
        "every rejection is counted: {stats:?}"
    );
    // The real agent never noticed.
    assert_eq!(agent.stats().reconnects, reconnects_before);
    assert!(agent.stats().connected);
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;

    agent.shutdown().await;
    agg.shutdown().await;
}
