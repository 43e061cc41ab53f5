//! A series that turns is evaluated ahead of schedule: with a one-minute
//! interval, the first signals and then a failure still show in the tree
//! within seconds, through the real ingest stream and evaluation thread.

mod feed;

use std::time::Duration;

use feed::{DEADLINE, Feeder};
use vigil_aggregator::Aggregator;
use vigil_proto::v1::HealthState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_that_turns_is_evaluated_before_the_next_interval() {
    let mut config = feed::fast_config();
    config.evaluation.interval = Duration::from_secs(60);
    config.evaluation.window = Duration::from_secs(120);
    config.evaluation.staleness = Duration::from_secs(60);
    // Only an early evaluation can show a change before the next interval.
    assert!(DEADLINE < config.evaluation.interval);
    let agg = Aggregator::start(config, feed::model())
        .await
        .expect("aggregator starts");
    let snapshots = agg.subscribe();
    let state = |want: HealthState| {
        let mut snapshots = snapshots.clone();
        async move {
            let seen = tokio::time::timeout(
                DEADLINE,
                snapshots.wait_for(|s| s.find("hub-dns").is_some_and(|(_, n)| n.state == want)),
            )
            .await;
            assert!(seen.is_ok(), "hub-dns never became {want:?}");
        }
    };
    // The immediate first tick found nothing yet.
    assert_eq!(
        snapshots.borrow().find("hub-dns").unwrap().1.state,
        HealthState::Unknown
    );

    let mut feeder = Feeder::hub_dns(agg.grpc_addr()).await;
    // A new series' first signals are news.
    feeder.batch(5, 0).await;
    state(HealthState::Healthy).await;
    // So is its first failure after successes.
    feeder.batch(0, 20).await;
    state(HealthState::Unhealthy).await;
    let snapshot = agg.subscribe().borrow().clone();
    let reason = &snapshot.find("hub-dns").unwrap().1.reason;
    assert!(reason.contains("failed (20/25)"), "{reason}");
    agg.shutdown().await;
}
