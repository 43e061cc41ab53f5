//! The agent's `/metrics` page after real probe runs: a TCP probe against a
//! listener that accepts and one against a port where nothing listens. The
//! page is scraped over HTTP, parsed with a real parser, checked for the
//! per-probe series, labels and values, and given to `promtool check
//! metrics` (required under CI).

mod common;

use std::time::Duration;

use common::Targets;
use prometheus_parse::Value;
use vigil_agent::metrics::DURATION_BUCKETS;
use vigil_agent::{Agent, AgentConfig};
use vigil_testkit::exposition::{find_all, number, one, parse, scrape};
use vigil_testkit::{eventually, promtool};

const WAIT: Duration = Duration::from_secs(10);
/// Runs each probe must have made before the page is checked.
const RUNS: f64 = 3.0;

/// `id` plus one more label.
fn with<'a>(id: &[(&'a str, &'a str)], extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut v = id.to_vec();
    v.push(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_counts_probe_runs_failures_durations_and_up() {
    let t = Targets::start().await;
    let text = t.agent_yaml("{ id: m, network: spoke-a }", "");
    let config = AgentConfig::from_yaml(&text, "metrics.yaml").unwrap();
    let agent = Agent::start(config).await.unwrap();
    let admin = agent.admin_addr().unwrap();

    let (ctype, page) = eventually("both probes ran three times", WAIT, || async {
        let (ctype, page) = scrape(admin).await;
        let s = parse(&page);
        let ran = |probe: &str| {
            find_all(&s, "vigil_agent_probe_runs_total", &[("probe", probe)])
                .iter()
                .map(|x| number(x))
                .sum::<f64>()
        };
        (ran("api-open") >= RUNS && ran("api-closed") >= RUNS).then_some((ctype, page))
    })
    .await;
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let s = parse(&page);
    let open_target = t.open.to_string();
    let closed_target = t.closed.to_string();
    let open_id = [
        ("probe", "api-open"),
        ("kind", "tcp"),
        ("target", open_target.as_str()),
        ("component", "checkout-api"),
    ];
    let closed_id = [
        ("probe", "api-closed"),
        ("kind", "tcp"),
        ("target", closed_target.as_str()),
        ("component", "orders-api"),
    ];
    // Runs by outcome: every outcome present for every probe.
    let runs = "vigil_agent_probe_runs_total";
    let open_ok = number(one(&s, runs, &with(&open_id, ("outcome", "success"))));
    assert!(open_ok >= RUNS, "{open_ok}");
    assert_eq!(
        number(one(&s, runs, &with(&open_id, ("outcome", "failure")))),
        0.0
    );
    assert_eq!(
        number(one(&s, runs, &with(&open_id, ("outcome", "warning")))),
        0.0
    );
    assert_eq!(
        number(one(&s, runs, &with(&closed_id, ("outcome", "success")))),
        0.0
    );
    let closed_failed = number(one(&s, runs, &with(&closed_id, ("outcome", "failure"))));
    assert!(closed_failed >= RUNS, "{closed_failed}");
    assert!(
        find_all(&s, runs, &[("probe", "api-open")])
            .iter()
            .all(|x| matches!(x.value, Value::Counter(_))),
        "runs are counters"
    );

    // Failures by short error-class name; the open probe has none.
    let failures = "vigil_agent_probe_failures_total";
    let refused = one(&s, failures, &with(&closed_id, ("error_class", "refused")));
    assert_eq!(
        number(refused),
        closed_failed,
        "every failure was a refusal"
    );
    assert!(find_all(&s, failures, &[("probe", "api-open")]).is_empty());
    assert!(
        s.docs.contains_key(failures),
        "failures family is announced"
    );

    // Up: the last run of each.
    let up = "vigil_agent_probe_up";
    assert_eq!(number(one(&s, up, &open_id)), 1.0);
    assert_eq!(number(one(&s, up, &closed_id)), 0.0);

    // Duration histogram: fixed buckets, cumulative, +Inf equal to _count.
    for id in [&open_id, &closed_id] {
        let h = one(&s, "vigil_agent_probe_duration_seconds", id);
        let Value::Histogram(buckets) = &h.value else {
            panic!("not a histogram: {h:?}");
        };
        let bounds: Vec<f64> = buckets.iter().map(|b| b.less_than).collect();
        let mut want = DURATION_BUCKETS.to_vec();
        want.push(f64::INFINITY);
        assert_eq!(bounds, want);
        assert!(
            buckets.windows(2).all(|w| w[0].count <= w[1].count),
            "cumulative"
        );
        let count = number(one(&s, "vigil_agent_probe_duration_seconds_count", id));
        let sum = number(one(&s, "vigil_agent_probe_duration_seconds_sum", id));
        assert_eq!(buckets.last().unwrap().count, count);
        let total_runs: f64 = find_all(&s, runs, id).iter().map(|x| number(x)).sum();
        assert_eq!(count, total_runs, "one observation per run");
        // Loopback connects and refusals finish well inside the timeout.
        assert!(
            sum > 0.0 && sum < 0.04 * count,
            "sum {sum} for {count} runs"
        );
        let within_timeout = buckets.iter().find(|b| b.less_than == 0.05).unwrap().count;
        assert_eq!(within_timeout, count);
    }

    // The delivery series are still there, next to the probe series.
    assert_eq!(number(one(&s, "vigil_agent_connected", &[])), 0.0);
    assert!(number(one(&s, "vigil_agent_signals_produced_total", &[])) >= 2.0 * RUNS);

    promtool::check_metrics(&page);
    agent.shutdown_within(Duration::from_millis(100)).await;
}
