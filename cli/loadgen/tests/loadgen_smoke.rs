//! A CI-sized run of the load generator against a real in-process
//! aggregator on loopback: it connects, is welcomed, gets batches applied
//! and acknowledged, sees its markers through the query API, and nothing is
//! rejected. No timing is asserted: this machine's speed is not a test.

use std::time::Duration;

use vigil_aggregator::{Aggregator, AggregatorConfig};
use vigil_loadgen::fleet::Target;
use vigil_loadgen::tls::LoadTls;
use vigil_loadgen::{FleetModel, FleetSpec, FloorPlan, LoadPlan, LoadReport, Pace};
use vigil_model::Model;
use vigil_testkit::config::{Evaluation, OPEN, aggregator_yaml_with};

fn small_model() -> FleetModel {
    FleetModel::with_nodes(200, 4)
}

/// A run of 20 agents against an in-process aggregator with `security`
/// (its `tls:` and `insecure:` sections), over `tls` when given.
async fn small_run(security: &str, tls: Option<LoadTls>) -> (LoadReport, FleetModel) {
    let model = small_model();
    let timing = Evaluation {
        interval: Some(Duration::from_millis(50)),
        hysteresis: Some(1),
        ..Evaluation::DEFAULT
    };
    let config =
        AggregatorConfig::from_yaml(&aggregator_yaml_with(&timing, security), "smoke.yaml")
            .expect("the test config is valid");
    let aggregator = Aggregator::start(
        config,
        Model::from_yaml(&model.yaml(), "generated.yaml").expect("generated model is valid"),
    )
    .await
    .expect("aggregator starts");

    let scheme = if tls.is_some() { "https" } else { "http" };
    let plan = LoadPlan {
        target: Target {
            url: format!("{scheme}://{}", aggregator.grpc_addr()),
            tls: tls.map(std::sync::Arc::new),
        },
        aggregator_pid: Some(std::process::id()),
        fleet: FleetSpec {
            model,
            agents: 20,
            probes: 5,
            signals_per_batch: 10,
            pace: Pace::Every(Duration::from_millis(100)),
            max_unacked: 8,
            networks: 2,
            streams_per_connection: 2,
        },
        streams_per_connection: 2,
        connect_deadline: Duration::from_secs(30),
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(2),
        markers: 3,
        marker_every: Duration::from_millis(100),
        query_every: Some(Duration::from_millis(100)),
        scrape: Some((
            format!("{scheme}://{}/metrics", aggregator.http_addr()),
            Duration::from_millis(250),
        )),
        rss_every: Duration::from_millis(500),
    };
    let report = vigil_loadgen::run(&plan).await.expect("load run completes");
    let stats = aggregator.ingest_stats();
    assert!(stats.signals_applied > 0);
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    aggregator.shutdown().await;
    (report, plan.fleet.model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_is_applied_without_rejections() {
    let (report, model) = small_run(OPEN, None).await;
    assert_small_run_is_whole(&report, &model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_streams_over_mutual_tls_with_network_certificates() {
    let dir = vigil_testkit::scratch::dir("loadgen", "tls");
    let networks = ["spoke-0", "spoke-1", vigil_loadgen::marker::NETWORK].map(String::from);
    let tls = LoadTls::make(&dir, &networks).expect("certificates");
    let (report, model) = small_run(&tls.config_section(), Some(tls)).await;
    assert_small_run_is_whole(&report, &model);
}

fn assert_small_run_is_whole(report: &LoadReport, model: &FleetModel) {
    assert_eq!(report.streams_welcomed, 20, "{}", report.render());
    assert!(report.applied_per_sec > 0.0, "{}", report.render());
    assert_eq!(report.rejected_streams, 0, "{}", report.render());
    assert_eq!(report.failed_streams, 0, "{}", report.render());
    assert_eq!(report.markers_lost, 0, "{}", report.render());
    assert_eq!(
        report.evidence_latency.map(|p| p.samples),
        Some(3),
        "{}",
        report.render()
    );
    assert!(report.get_tree.is_some() && report.get_node.is_some());
    assert_eq!(report.tree_nodes, model.nodes() + 1, "plus `unmodelled`");
    assert!(report.aggregator.is_some_and(|a| a.rss_end_bytes > 0));
    assert_eq!(report.scrape_errors, 0, "{}", report.render());
    assert!(
        report.scrape.is_some_and(|s| s.samples >= 2),
        "{}",
        report.render()
    );
    assert!(report.scrape_page_bytes > 0);
}

#[test]
fn the_floor_applies_every_batch_it_decodes() {
    let report = vigil_loadgen::floor::run(&FloorPlan {
        model: small_model(),
        agents: 10,
        probes: 4,
        signals_per_batch: 8,
        duration: Duration::from_millis(200),
        threads: 2,
        window: Duration::from_secs(60),
        recent_signals: 20,
    })
    .expect("floor runs");
    assert!(report.signals > 0);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.signals, report.batches * 8);
}
