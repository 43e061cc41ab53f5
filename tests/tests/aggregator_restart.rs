//! An aggregator restart loses no signal the agent still holds: the agent
//! buffers while the aggregator is away, replays on reconnect, and the tree is
//! rebuilt from the replay.

use std::time::Duration;

use vigil_demo::targets::TcpService;
use vigil_proto::v1::HealthState;
use vigil_testkit::query::wait_state;
use vigil_testkit::{eventually, now_ms};
use vigil_tests::{
    agent_yaml, fast_aggregator_config, model, start_agent, start_aggregator, tcp_probe,
};

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_signals_replay_after_an_aggregator_restart() {
    vigil_tests::init_tracing();
    let mut config = fast_aggregator_config();
    // Long enough that replayed signals from the outage still count.
    config.evaluation.window = Duration::from_secs(30);
    config.evaluation.staleness = Duration::from_secs(10);
    let agg = start_aggregator(model::TWO_SPOKES, config.clone()).await;
    let addr = agg.grpc_addr();
    let hub = TcpService::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let probe = tcp_probe(hub.addr());
    let agent = start_agent(&agent_yaml("agent-a", "spoke-a", addr, &probe)).await;
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;

    agg.shutdown().await;
    let outage_start = now_ms();
    // While the aggregator is away the agent keeps probing into its buffer.
    let buffered = eventually(
        "the agent to buffer signals during the outage",
        DEADLINE,
        || async {
            let s = agent.stats();
            if !s.connected && s.buffered >= 10 {
                Ok(s.buffered)
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await;

    let restart_at = now_ms();
    config.listen.grpc = addr;
    let agg = start_aggregator(model::TWO_SPOKES, config).await;
    assert_eq!(agg.grpc_addr(), addr);

    // Everything the agent produced is acknowledged, nothing dropped.
    eventually(
        "every produced signal to be acknowledged",
        DEADLINE,
        || async {
            let s = agent.stats();
            if s.connected
                && s.buffered == 0
                && s.signals_acked >= s.signals_produced.saturating_sub(5)
            {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await;
    assert_eq!(agent.stats().signals_dropped, 0);
    let applied = agg.ingest_stats().signals_applied;
    assert!(
        applied >= buffered,
        "the restarted aggregator applied {applied} signals, fewer than the {buffered} buffered"
    );
    // The replayed signals observed during the outage are in the evidence.
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;
    let detail = vigil_testkit::query::node(addr, "hub-service")
        .await
        .unwrap();
    let during_outage = detail
        .recent_signals
        .iter()
        .filter(|s| s.observed_at_unix_ms >= outage_start && s.observed_at_unix_ms < restart_at)
        .count();
    assert!(
        during_outage > 0,
        "signals observed while the aggregator was down were replayed into the new one"
    );

    agent.shutdown().await;
    agg.shutdown().await;
}
