//! The attribution benchmark, reduced: every labelled scenario through the
//! real ingest, evaluation and attribution on a simulated clock, against the
//! targets of docs/attribution.md. The full run is `vigil simulate`.

use std::time::Duration;

use vigil_simulate::{SimConfig, run_benchmark};

#[test]
fn attribution_meets_its_targets_on_the_labelled_scenarios() {
    let config = SimConfig {
        noise: 0.01,
        ..SimConfig::default()
    };
    let report = run_benchmark(&config, 2, Duration::from_secs(3600));
    let table = report.markdown();
    eprintln!("{table}");
    for o in &report.outcomes {
        if !o.component_correct || o.wrong_faults > 0 {
            eprintln!("miss: {o:?}");
        }
    }
    assert!(
        report.single_side_accuracy >= 0.98,
        "side accuracy below 98%:\n{table}"
    );
    assert!(
        report.single_component_top1 >= 0.95,
        "component top-1 below 95%:\n{table}"
    );
    assert!(
        report.pairs_all_found >= 1.0,
        "a pair of faults was not found as two:\n{table}"
    );
    assert_eq!(
        report.steady_false_faults, 0,
        "false faults at 1% noise:\n{table}"
    );
    for (name, s) in &report.by_type {
        // A gray failure needs pooled evidence from several vantage points
        // before it is more than noise: docs/attribution.md records that it
        // misses the 2-interval target, and by how much.
        let limit = if name.contains("gray") { 3.0 } else { 2.0 };
        if let Some(d) = s.detection_after_state_p95 {
            assert!(
                d <= limit,
                "{name}: detection p95 {d:.1} intervals after the state threshold:\n{table}"
            );
        }
    }
}

/// Generated estates (2–6 spokes, probe intervals 2–10 s, single faults and
/// pairs on different sides, 1% noise), reduced from `vigil simulate
/// --generate 500`. Every target of docs/attribution.md holds here,
/// detection within two probe intervals included.
#[test]
fn attribution_holds_on_generated_estates() {
    let scenarios = vigil_simulate::generate(11, 30, 0.01);
    let report = vigil_simulate::run_generated(&scenarios, Duration::from_secs(1800), 1);
    let table = report.markdown();
    eprintln!("{table}");
    for o in &report.outcomes {
        if !o.all_found || o.wrong_faults > 0 {
            eprintln!("miss: {o:?}");
        }
    }
    assert!(
        report.single_side_accuracy >= 0.98,
        "side accuracy:\n{table}"
    );
    assert!(
        report.single_component_top1 >= 0.95,
        "component top-1:\n{table}"
    );
    assert!(
        report.pairs_all_found >= 0.95,
        "pairs not both found:\n{table}"
    );
    assert_eq!(
        report.steady_false_faults, 0,
        "false faults at 1% noise:\n{table}"
    );
    let all = &report.overall;
    assert!(
        all.wrong_scenarios as f64 <= 0.02 * all.runs as f64,
        "scenarios with a wrong fault:\n{table}"
    );
    assert!(all.unsure_share <= 0.1, "unsure share:\n{table}");
    assert!(
        all.detection_p95.is_some_and(|d| d <= 2.0),
        "detection p95 in probe intervals:\n{table}"
    );
}

/// Generated estates where an earlier method opened a wrong fault: gray loss
/// on the hub's forwarding in a two-spoke estate, where a spoke's connection
/// shares most of its paths with the forwarding and one stray failure on
/// the hub's path into that spoke made it look like a second cause; and
/// gray loss on six spokes at 9 s probes, whose ambiguous onset opened
/// unsure faults that the next round of probes dissolved.
#[test]
fn gray_loss_on_the_forwarding_opens_the_firewall_alone() {
    for (seed, n) in [(2, 56), (2, 47), (3, 18)] {
        let s = &vigil_simulate::generate(seed, n + 1, 0.01)[n];
        assert_eq!(s.class, "hub forwarding loss (gray)", "seed {seed} #{n}");
        let o = vigil_simulate::run_scenario(&s.config, &s.class, s.faults.clone());
        assert!(
            o.component_correct && o.wrong_faults == 0 && o.unsure_faults == 0,
            "seed {seed} #{n}: {o:?}"
        );
    }
}
