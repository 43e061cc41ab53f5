//! `/metrics` on a real aggregator fed by a real agent stream: the text is
//! read back with an independent parser (`prometheus-parse`), checked for
//! Prometheus naming conventions, and given to `promtool check metrics`
//! when the Debian `prometheus` package is installed (required under CI).

mod feed;

use std::collections::BTreeMap;

use feed::{DEADLINE, Feeder, fast_config, model};
use vigil_aggregator::Aggregator;
use vigil_export::catalog::family_names;
use vigil_testkit::exposition::{find, number, parse, scrape};
use vigil_testkit::{eventually, promtool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_carries_node_layer_ingest_and_fault_series() {
    let agg = Aggregator::start(fast_config(), model()).await.unwrap();
    let mut dns = Feeder::hub_dns(agg.grpc_addr()).await;
    dns.dropped = 7;
    dns.batch(10, 0).await;

    // Drops are published with the agents of a snapshot: the evaluation that
    // first sees the batch's signals may have read its agents just before.
    let text = eventually(
        "hub-dns healthy and the drops on /metrics",
        DEADLINE,
        || async {
            let (_, text) = scrape(agg.http_addr()).await;
            let s = parse(&text);
            let healthy = find(
                &s,
                "vigil_node_state",
                &[("node", "hub-dns"), ("state", "healthy")],
            )
            .map(number);
            let dropped = find(
                &s,
                "vigil_agent_dropped_signals_total",
                &[("agent", "agent-a")],
            )
            .map(number);
            if healthy == Some(1.0) && dropped == Some(7.0) {
                Ok(text)
            } else {
                Err(format!(
                    "hub-dns healthy = {healthy:?}, dropped = {dropped:?}"
                ))
            }
        },
    )
    .await;
    let (content_type, _) = scrape(agg.http_addr()).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let s = parse(&text);

    // Node gauges carry id, layer, side; leaves with a network carry it.
    let score = find(&s, "vigil_node_score", &[("node", "hub-dns")]).expect("hub-dns score");
    assert_eq!(score.labels.get("layer"), Some("platform_hub"));
    assert_eq!(score.labels.get("side"), Some("platform"));
    assert!(number(score) >= 90.0, "score {}", number(score));
    let api = find(&s, "vigil_node_score", &[("node", "api-a")]).expect("api-a score");
    assert_eq!(api.labels.get("network"), Some("spoke-a"));
    assert_eq!(api.labels.get("side"), Some("workload"));
    // Missing data is Unknown, never Healthy.
    assert_eq!(
        find(
            &s,
            "vigil_node_state",
            &[("node", "api-a"), ("state", "unknown")]
        )
        .map(number),
        Some(1.0)
    );
    assert_eq!(
        find(
            &s,
            "vigil_node_state",
            &[("node", "api-a"), ("state", "healthy")]
        )
        .map(number),
        Some(0.0)
    );
    // Exactly one state per node is 1.
    let mut ones: BTreeMap<String, f64> = BTreeMap::new();
    for smp in s.samples.iter().filter(|x| x.metric == "vigil_node_state") {
        *ones
            .entry(smp.labels.get("node").unwrap().to_string())
            .or_default() += number(smp);
    }
    assert!(ones.values().all(|v| *v == 1.0), "{ones:?}");

    // Per-vantage success ratio for the spoke's agent.
    let v = find(
        &s,
        "vigil_vantage_success_ratio",
        &[
            ("node", "hub-dns"),
            ("agent", "agent-a"),
            ("network", "spoke-a"),
        ],
    )
    .expect("vantage ratio");
    assert_eq!(number(v), 1.0);

    // Layers and overall.
    assert!(find(&s, "vigil_layer_score", &[("layer", "platform")]).is_some());
    assert!(find(&s, "vigil_overall_score", &[]).is_some());

    // Ingest counters (with _total) and the agent's self-reported drops.
    assert_eq!(
        find(&s, "vigil_ingest_signals_total", &[]).map(number),
        Some(10.0)
    );
    assert_eq!(
        find(&s, "vigil_ingest_batches_total", &[]).map(number),
        Some(1.0)
    );
    assert_eq!(
        find(
            &s,
            "vigil_ingest_rejected_total",
            &[("reason", "malformed")]
        )
        .map(number),
        Some(0.0)
    );
    assert_eq!(
        find(
            &s,
            "vigil_agent_dropped_signals_total",
            &[("agent", "agent-a")]
        )
        .map(number),
        Some(7.0)
    );
    assert_eq!(
        find(&s, "vigil_ingest_streams_open", &[]).map(number),
        Some(1.0)
    );
    // Open faults by side and kind: all six combinations, zero here.
    let faults: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "vigil_faults_open")
        .collect();
    assert_eq!(faults.len(), 6, "{faults:?}");
    assert!(faults.iter().all(|f| number(f) == 0.0));

    // Conventions: prefix, counters end in _total, every family announced.
    for smp in &s.samples {
        assert!(smp.metric.starts_with("vigil_"), "{}", smp.metric);
    }
    for name in family_names() {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
        let ty = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# TYPE {name} ")))
            .unwrap();
        assert_eq!(
            ty == "counter",
            name.ends_with("_total"),
            "{name} is a {ty}"
        );
    }
    promtool::check_metrics(&text);
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vantage_series_can_be_left_out_for_large_fleets() {
    let mut config = fast_config();
    config.export.vantage_series = false;
    let agg = Aggregator::start(config, model()).await.unwrap();
    let mut dns = Feeder::hub_dns(agg.grpc_addr()).await;
    dns.batch(10, 0).await;
    let text = eventually("hub-dns scored on /metrics", DEADLINE, || async {
        let (_, text) = scrape(agg.http_addr()).await;
        let score = find(&parse(&text), "vigil_node_score", &[("node", "hub-dns")]).map(number);
        match score {
            Some(v) if v > 0.0 => Ok(text),
            other => Err(format!("hub-dns score = {other:?}")),
        }
    })
    .await;
    let s = parse(&text);
    let vantage: Vec<_> = s
        .samples
        .iter()
        .filter(|smp| smp.metric.starts_with("vigil_vantage_"))
        .collect();
    assert!(vantage.is_empty(), "{vantage:?}");
    // The families are still announced, so dashboards see the catalog.
    assert!(text.contains("# TYPE vigil_vantage_success_ratio gauge"));
    // The health model still holds the vantage the page leaves out.
    let snapshot = agg.subscribe().borrow().clone();
    let ix = snapshot
        .model
        .find("hub-dns")
        .expect("hub-dns in the model");
    assert_eq!(snapshot.node(ix).vantages.len(), 1);
    promtool::check_metrics(&text);
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_can_be_turned_off() {
    let mut config = fast_config();
    config.export.prometheus.enabled = false;
    let agg = Aggregator::start(config, model()).await.unwrap();
    let r = reqwest::get(format!("http://{}/metrics", agg.http_addr()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    agg.shutdown().await;
}
