//! Scoring, staleness, hysteresis and roll-up, driven with an explicit clock:
//! the evaluator is a function of `now` and the leaf readings, so nothing
//! here sleeps.

use std::sync::Arc;
use std::time::Duration;

use vigil_aggregator::config::EvaluationConfig;
use vigil_health::evaluate::{Evaluator, Occasion};
use vigil_health::snapshot::Snapshot;
use vigil_health::store::{AgentView, LeafReadings, WindowSummary};
use vigil_model::Model;
use vigil_proto::v1::{HealthState, Vantage};

const MODEL: &str = r#"
nodes:
  - id: root
    children: [platform, workload]
  - id: platform
    layer: platform_hub
    children: [dns, firewall]
  - id: dns
    layer: platform_hub
    select: { kind: dns }
  - id: firewall
    layer: platform_hub
    select: { component: firewall }
  - id: workload
    layer: workload_application
    roll_up: quorum
    quorum: 1
    children: [api-a, api-b]
  - id: api-a
    layer: workload_application
    select: { component: api, network: spoke-a }
  - id: api-b
    layer: workload_application
    select: { component: api, network: spoke-b }
"#;

struct Rig {
    model: Arc<Model>,
    evaluator: Evaluator,
}

impl Rig {
    fn new(model: &str, hysteresis: u32) -> Self {
        let model = Arc::new(Model::from_yaml(model, "t.yaml").unwrap());
        let config = EvaluationConfig {
            interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
            staleness: Duration::from_secs(10),
            hysteresis,
            recent_signals: 10,
        };
        let initial = Arc::new(Snapshot::initial(Arc::clone(&model), 0));
        Self {
            evaluator: Evaluator::new(Arc::clone(&model), config, initial),
            model,
        }
    }

    fn readings(&self, feeds: &[(&str, &str, WindowSummary)]) -> LeafReadings {
        let mut r = LeafReadings::for_model(&self.model);
        // One index per agent, as the store assigns them.
        let mut ids: std::collections::HashMap<&str, u32> = Default::default();
        for (leaf, agent, window) in feeds {
            let ix = *ids.entry(agent).or_insert_with(|| {
                r.add_agent(AgentView {
                    id: Arc::from(*agent),
                    vantage: Arc::new(Vantage {
                        network: agent.to_string(),
                        ..Default::default()
                    }),
                    connected: true,
                    last_seen_ms: 0,
                    dropped_signals_total: 0,
                })
            });
            r.add(self.model.find(leaf).unwrap(), ix, window);
        }
        r
    }

    fn eval(&mut self, now: i64, feeds: &[(&str, &str, WindowSummary)]) -> Arc<Snapshot> {
        let r = self.readings(feeds);
        self.evaluator.evaluate(now, &r)
    }
}

fn window(signals: u32, failures: u32, latency_ms: u32, last: i64) -> WindowSummary {
    let mut w = WindowSummary {
        signals,
        failures,
        last_signal_ms: Some(last),
        ..Default::default()
    };
    for _ in 0..(signals - failures) {
        w.latency.record(latency_ms * 1000);
    }
    w
}

fn state(s: &Snapshot, id: &str) -> HealthState {
    s.find(id).unwrap().1.state
}

fn score(s: &Snapshot, id: &str) -> u8 {
    s.find(id).unwrap().1.score
}

#[test]
fn thresholds_give_states_and_scores_in_their_bands() {
    let mut rig = Rig::new(MODEL, 1);
    let now = 100_000;
    let s = rig.eval(
        now,
        &[
            ("dns", "spoke-a", window(100, 0, 10, now)),
            ("firewall", "spoke-a", window(100, 10, 10, now)),
            ("api-a", "spoke-a", window(100, 50, 10, now)),
            ("api-b", "spoke-b", window(100, 0, 900, now)),
        ],
    );
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
    assert!(score(&s, "dns") >= 95, "{}", score(&s, "dns"));
    assert_eq!(state(&s, "firewall"), HealthState::Degraded, "10% >= 5%");
    assert!((40..80).contains(&score(&s, "firewall")));
    assert_eq!(state(&s, "api-a"), HealthState::Unhealthy, "50% >= 25%");
    assert!(score(&s, "api-a") < 40);
    assert_eq!(
        state(&s, "api-b"),
        HealthState::Degraded,
        "p95 900ms > 500ms"
    );
    // worst_of: the degraded firewall decides.
    assert_eq!(state(&s, "platform"), HealthState::Degraded);
    // quorum 1 of 2: no child healthy, one degraded -> degraded.
    assert_eq!(state(&s, "workload"), HealthState::Degraded);
    let layer = |name: &str| s.layers.iter().find(|l| l.name == name).unwrap().clone();
    assert_eq!(layer("platform").state, HealthState::Degraded);
    assert_eq!(
        layer("workload").state,
        HealthState::Unhealthy,
        "worst workload leaf"
    );
    assert_eq!(layer("overall").state, state(&s, "root"));
}

#[test]
fn no_data_and_stale_data_are_unknown_never_healthy() {
    let mut rig = Rig::new(MODEL, 1);
    let s = rig.eval(1_000, &[]);
    assert_eq!(state(&s, "dns"), HealthState::Unknown);
    assert_eq!(score(&s, "dns"), 0);
    assert_eq!(state(&s, "root"), HealthState::Unknown);

    // Healthy data observed at t=0 is stale 10s later.
    let s = rig.eval(5_000, &[("dns", "a", window(10, 0, 5, 0))]);
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
    let s = rig.eval(10_001, &[("dns", "a", window(10, 0, 5, 0))]);
    assert_eq!(state(&s, "dns"), HealthState::Unknown);
    assert!(
        s.find("dns")
            .unwrap()
            .1
            .reason
            .contains("no signal newer than")
    );

    // One silent vantage among fresh ones does not make the leaf Unknown.
    let s = rig.eval(
        20_000,
        &[
            ("dns", "a", window(10, 0, 5, 0)),
            ("dns", "b", window(10, 0, 5, 19_000)),
        ],
    );
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
    let dns = s.find("dns").unwrap().1;
    assert_eq!(dns.window_vantages, 1);
    assert_eq!(dns.vantages.len(), 2);
    assert!(
        dns.reason.contains("1 of 2 vantage(s) silent"),
        "{}",
        dns.reason
    );
}

#[test]
fn min_signals_keeps_a_thin_leaf_unknown() {
    let model = MODEL.replace(
        "select: { kind: dns }",
        "select: { kind: dns }\n    thresholds: { min_signals: 5 }",
    );
    let mut rig = Rig::new(&model, 1);
    let s = rig.eval(1_000, &[("dns", "a", window(4, 0, 5, 1_000))]);
    assert_eq!(state(&s, "dns"), HealthState::Unknown);
    let s = rig.eval(2_000, &[("dns", "a", window(5, 0, 5, 2_000))]);
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
}

#[test]
fn hysteresis_needs_consecutive_agreement() {
    let mut rig = Rig::new(MODEL, 3);
    let good = |t| [("dns", "a", window(10, 0, 5, t))];
    let bad = |t| [("dns", "a", window(10, 10, 5, t))];
    // Unknown -> Healthy takes 3 agreeing evaluations.
    assert_eq!(
        state(&rig.eval(1_000, &good(1_000)), "dns"),
        HealthState::Unknown
    );
    assert_eq!(
        state(&rig.eval(2_000, &good(2_000)), "dns"),
        HealthState::Unknown
    );
    let s = rig.eval(3_000, &good(3_000));
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
    assert_eq!(s.find("dns").unwrap().1.state_since_ms, 3_000);
    // A blip that does not last never changes the published state.
    let s = rig.eval(4_000, &bad(4_000));
    assert_eq!(state(&s, "dns"), HealthState::Healthy);
    assert!(score(&s, "dns") >= 80, "score stays in the published band");
    assert!(
        s.find("dns")
            .unwrap()
            .1
            .reason
            .contains("turning unhealthy after 1/3")
    );
    rig.eval(5_000, &bad(5_000));
    assert_eq!(
        state(&rig.eval(6_000, &good(6_000)), "dns"),
        HealthState::Healthy
    );
    // A sustained failure does, on the third evaluation.
    assert_eq!(
        state(&rig.eval(7_000, &bad(7_000)), "dns"),
        HealthState::Healthy
    );
    assert_eq!(
        state(&rig.eval(8_000, &bad(8_000)), "dns"),
        HealthState::Healthy
    );
    let s = rig.eval(9_000, &bad(9_000));
    assert_eq!(state(&s, "dns"), HealthState::Unhealthy);
    assert!(s.changes.iter().any(|c| rig.model.node(c.node).id == "dns"
        && c.previous == HealthState::Healthy
        && c.state == HealthState::Unhealthy));
    // Staleness goes through hysteresis too.
    let stale = [("dns", "a", window(10, 10, 5, 9_000))];
    assert_eq!(
        state(&rig.eval(30_000, &stale), "dns"),
        HealthState::Unhealthy
    );
    assert_eq!(
        state(&rig.eval(31_000, &stale), "dns"),
        HealthState::Unhealthy
    );
    assert_eq!(
        state(&rig.eval(32_000, &stale), "dns"),
        HealthState::Unknown
    );
}

#[test]
fn early_evaluations_start_a_streak_but_only_scheduled_ones_extend_it() {
    let mut rig = Rig::new(MODEL, 2);
    let good = |t| [("dns", "a", window(10, 0, 5, t))];
    let bad = |t| [("dns", "a", window(10, 10, 5, t))];
    let early = |rig: &mut Rig, now: i64, feeds: &[(&str, &str, WindowSummary)]| {
        let r = rig.readings(feeds);
        let mut pass = rig.evaluator.pass(now, Occasion::Early);
        for &ix in rig.model.order() {
            pass.leaf(ix, r.leaf(ix), &r.agents);
        }
        pass.finish(Arc::clone(&r.agents), Arc::default())
    };
    rig.eval(1_000, &good(1_000));
    assert_eq!(
        state(&rig.eval(2_000, &good(2_000)), "dns"),
        HealthState::Healthy
    );
    // However many early evaluations see the failure, they count as one.
    for t in [2_100, 2_200, 2_300] {
        let s = early(&mut rig, t, &bad(t));
        assert_eq!(state(&s, "dns"), HealthState::Healthy, "at {t}");
        assert!(s.find("dns").unwrap().1.reason.contains("after 1/2"));
    }
    // The next scheduled evaluation completes the streak.
    assert_eq!(
        state(&rig.eval(3_000, &bad(3_000)), "dns"),
        HealthState::Unhealthy
    );
    // Without hysteresis an early evaluation publishes at once.
    let mut rig = Rig::new(MODEL, 1);
    rig.eval(1_000, &good(1_000));
    let s = early(&mut rig, 1_050, &bad(1_050));
    assert_eq!(state(&s, "dns"), HealthState::Unhealthy);
    assert_eq!(s.find("dns").unwrap().1.state_since_ms, 1_050);
}

#[test]
fn an_early_evaluation_carries_over_the_leaves_it_is_not_fed() {
    let mut rig = Rig::new(MODEL, 1);
    let before = rig.eval(
        1_000,
        &[
            ("dns", "a", window(10, 0, 5, 1_000)),
            ("firewall", "a", window(10, 0, 5, 1_000)),
        ],
    );
    assert_eq!(state(&before, "firewall"), HealthState::Healthy);
    // The firewall fails too, but the news is only about DNS.
    let r = rig.readings(&[
        ("dns", "a", window(10, 10, 5, 1_100)),
        ("firewall", "a", window(10, 10, 5, 1_100)),
    ]);
    let dns = rig.model.find("dns").unwrap();
    let mut pass = rig.evaluator.pass(1_100, Occasion::Early);
    pass.leaf(dns, r.leaf(dns), &r.agents);
    let early = pass.finish(Arc::clone(&r.agents), Arc::default());
    assert_eq!(state(&early, "dns"), HealthState::Unhealthy);
    assert_eq!(
        state(&early, "platform"),
        HealthState::Unhealthy,
        "rolled up"
    );
    let (ix, firewall) = early.find("firewall").unwrap();
    assert_eq!(firewall, before.node(ix), "carried over as it was");
    assert!(Arc::ptr_eq(&firewall.vantages, &before.node(ix).vantages));
    assert_eq!(
        early.changes.len(),
        3,
        "dns, platform, root: {:?}",
        early.changes
    );
    // The next scheduled evaluation judges every leaf.
    let s = rig.evaluator.evaluate(1_200, &r);
    assert_eq!(state(&s, "firewall"), HealthState::Unhealthy);
}

#[test]
fn news_interjected_in_a_long_pass_is_published_and_kept() {
    let mut rig = Rig::new(MODEL, 1);
    let ok = |t| window(10, 0, 5, t);
    let failing = |t| window(10, 10, 5, t);
    rig.eval(
        1_000,
        &[("dns", "a", ok(1_000)), ("firewall", "a", ok(1_000))],
    );
    // A scheduled pass has judged DNS healthy when news says it fails.
    let dns = rig.model.find("dns").unwrap();
    let stale = rig.readings(&[("dns", "a", ok(2_000))]);
    let fresh = rig.readings(&[("dns", "a", failing(2_010))]);
    let mut pass = rig.evaluator.pass(2_000, Occasion::Scheduled);
    pass.leaf(dns, stale.leaf(dns), &stale.agents);
    let between = pass.interject(2_010, Arc::default(), |judge| {
        judge(dns, fresh.leaf(dns), &fresh.agents);
        Arc::clone(&fresh.agents)
    });
    assert_eq!(state(&between, "dns"), HealthState::Unhealthy);
    assert_eq!(
        state(&between, "firewall"),
        HealthState::Healthy,
        "as published"
    );
    assert_eq!(between.generation, 2);
    assert!(
        Arc::ptr_eq(&between.agents, &fresh.agents),
        "the agents the interjection read"
    );
    // The pass ends with the fresher judgement, not the one it made first.
    let end = pass.finish(Arc::clone(&stale.agents), Arc::default());
    assert_eq!(end.generation, 3);
    assert_eq!(state(&end, "dns"), HealthState::Unhealthy);
    assert!(
        end.changes.iter().all(|c| c.node != dns),
        "no change since the interjection: {:?}",
        end.changes
    );
}

#[test]
fn a_snapshot_publishes_the_agents_its_readings_index_without_copying_them() {
    let mut rig = Rig::new(MODEL, 1);
    let r = rig.readings(&[("dns", "a", window(10, 0, 5, 1_000))]);
    let s = rig.evaluator.evaluate(1_000, &r);
    assert!(Arc::ptr_eq(&s.agents, &r.agents), "shared, not copied");
    let known: Vec<&str> = s.known_agents().map(|a| &*a.id).collect();
    assert_eq!(known, ["a"]);
}

#[test]
fn worst_of_ranks_unknown_between_healthy_and_degraded() {
    let mut rig = Rig::new(MODEL, 1);
    let now = 1_000;
    // dns healthy, firewall silent -> platform Unknown.
    let s = rig.eval(now, &[("dns", "a", window(10, 0, 5, now))]);
    assert_eq!(state(&s, "platform"), HealthState::Unknown);
    assert_eq!(score(&s, "platform"), 0);
    // dns degraded, firewall silent -> platform Degraded (worse than Unknown).
    let s = rig.eval(now, &[("dns", "a", window(10, 1, 5, now))]);
    assert_eq!(state(&s, "platform"), HealthState::Degraded);
    // Both healthy -> Healthy.
    let s = rig.eval(
        now,
        &[
            ("dns", "a", window(10, 0, 5, now)),
            ("firewall", "a", window(10, 0, 5, now)),
        ],
    );
    assert_eq!(state(&s, "platform"), HealthState::Healthy);
}

#[test]
fn quorum_is_healthy_while_k_children_are() {
    let mut rig = Rig::new(MODEL, 1);
    let now = 1_000;
    let s = rig.eval(
        now,
        &[
            ("api-a", "a", window(10, 10, 5, now)),
            ("api-b", "b", window(10, 0, 5, now)),
        ],
    );
    assert_eq!(state(&s, "api-a"), HealthState::Unhealthy);
    assert_eq!(
        state(&s, "workload"),
        HealthState::Healthy,
        "1 of 2 is a quorum"
    );
    let s = rig.eval(
        now,
        &[
            ("api-a", "a", window(10, 10, 5, now)),
            ("api-b", "b", window(10, 10, 5, now)),
        ],
    );
    assert_eq!(state(&s, "workload"), HealthState::Unhealthy);
    let s = rig.eval(now, &[("api-a", "a", window(10, 10, 5, now))]);
    assert_eq!(
        state(&s, "workload"),
        HealthState::Unknown,
        "api-b could still make quorum"
    );
}

#[test]
fn weighted_mean_follows_weights_and_needs_half_the_weight_known() {
    let model = r#"
nodes:
  - id: root
    roll_up: weighted
    children: [big, small]
  - id: big
    weight: 3
    select: { component: big }
  - id: small
    weight: 1
    select: { component: small }
"#;
    let mut rig = Rig::new(model, 1);
    let now = 1_000;
    let s = rig.eval(
        now,
        &[
            ("big", "a", window(100, 0, 1, now)),
            ("small", "a", window(100, 100, 1, now)),
        ],
    );
    let root = score(&s, "root");
    assert_eq!(state(&s, "root"), HealthState::Degraded, "score {root}");
    assert!(
        (70..=79).contains(&root),
        "(3*~100 + 1*0)/4 = ~75, got {root}"
    );
    let s = rig.eval(now, &[("small", "a", window(100, 0, 1, now))]);
    assert_eq!(
        state(&s, "root"),
        HealthState::Unknown,
        "only 25% of the weight known"
    );
}

#[test]
fn unmodelled_signals_are_shown_but_not_rolled_up() {
    let mut rig = Rig::new(MODEL, 1);
    let now = 1_000;
    let s = rig.eval(
        now,
        &[
            ("dns", "a", window(10, 0, 5, now)),
            ("firewall", "a", window(10, 0, 5, now)),
            ("api-a", "a", window(10, 0, 5, now)),
            ("unmodelled", "a", window(10, 10, 5, now)),
        ],
    );
    assert_eq!(state(&s, "unmodelled"), HealthState::Unhealthy);
    assert_eq!(state(&s, "root"), HealthState::Healthy);
    assert_eq!(s.generation, 1);
}
