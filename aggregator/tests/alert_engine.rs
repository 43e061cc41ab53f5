//! The alert engine with an explicit clock: repeats on the receiver's
//! interval, holds a flapping alert, alerts on node states at the configured
//! level (never on Unknown), and config errors that name the field and fix.

mod alerting;
mod feed;

use std::sync::Arc;
use std::time::Duration;

use vigil_aggregator::AggregatorConfig;
use vigil_alert::{
    AlertEngine, AlertStatus, AlertsConfig, MinState, ReceiverKind, RouteConfig, RouteMatch,
};
use vigil_health::Snapshot;
use vigil_health::attribution::FaultKind;
use vigil_proto::v1::HealthState;

use alerting::*;
use feed::model;

fn engine_config() -> AlertsConfig {
    let mut c = alerts_config(
        vec![receiver(
            "am",
            ReceiverKind::Alertmanager {
                url: "http://127.0.0.1:9".into(),
            },
        )],
        vec![RouteConfig {
            matches: RouteMatch::default(),
            receivers: vec!["am".into()],
            continue_matching: false,
        }],
    );
    c.flap.window = Duration::from_secs(10);
    c.flap.max_changes = 2;
    c
}

#[test]
fn firing_alerts_repeat_on_the_receivers_interval_only() {
    let mut e = AlertEngine::new(engine_config());
    let f = fault(1, hub("hub-dns"), FaultKind::Outage);
    let s = snapshot(1, vec![f], vec![]);
    assert_eq!(e.step(&s, 0).len(), 1);
    assert_eq!(e.step(&s, 30_000).len(), 0, "deduplicated");
    let again = e.step(&s, 61_000);
    assert_eq!(again.len(), 1, "Alertmanager default repeat is 1m");
    assert_eq!(again[0].alert.status, AlertStatus::Firing);
}

#[test]
fn a_fault_that_changes_while_it_lasts_pages_once_and_resolves_once() {
    let mut e = AlertEngine::new(engine_config());
    let sent = |d: Vec<vigil_alert::Delivery>| -> Vec<(AlertStatus, String, String, String)> {
        d.into_iter()
            .map(|d| {
                let label = |k: &str| d.alert.label(k).unwrap_or_default().to_string();
                let summary = d
                    .alert
                    .annotations
                    .get("summary")
                    .cloned()
                    .unwrap_or_default();
                (d.alert.status, label("kind"), label("severity"), summary)
            })
            .collect()
    };
    let mut f = fault(1, hub("hub-dns"), FaultKind::Intermittent);
    let first = sent(e.step(&snapshot(1, vec![f.clone()], vec![]), 0));
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (&first[0].0, first[0].1.as_str(), first[0].2.as_str()),
        (&AlertStatus::Firing, "intermittent", "warning")
    );
    // New impact and confidence while it lasts, then failing outright, then
    // easing while it recovers: the receivers were paged for this fault
    // already, and its labels (its identity to Alertmanager) stay.
    f.impact.push("checkout".into());
    f.confidence = 0.5;
    assert_eq!(
        sent(e.step(&snapshot(2, vec![f.clone()], vec![]), 1_000)),
        []
    );
    f.kind = FaultKind::Outage;
    assert_eq!(
        sent(e.step(&snapshot(3, vec![f.clone()], vec![]), 2_000)),
        []
    );
    f.kind = FaultKind::Intermittent;
    f.impact.clear();
    assert_eq!(
        sent(e.step(&snapshot(4, vec![f.clone()], vec![]), 3_000)),
        []
    );
    // The repeat, a minute on, tells what it is now in its summary.
    f.kind = FaultKind::Outage;
    let repeat = sent(e.step(&snapshot(5, vec![f.clone()], vec![]), 61_000));
    assert_eq!(repeat.len(), 1, "{repeat:?}");
    assert_eq!(repeat[0].1, "intermittent", "labels as first fired");
    assert!(repeat[0].3.contains("outage"), "{}", repeat[0].3);
    let resolved = sent(e.step(&snapshot(6, vec![], vec![closed(f)]), 62_000));
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].0, AlertStatus::Resolved);
    assert_eq!(resolved[0].1, "intermittent");
}

#[test]
fn a_flapping_alert_is_held_until_stable() {
    let mut e = AlertEngine::new(engine_config());
    let f = fault(1, hub("hub-dns"), FaultKind::Outage);
    let on = snapshot(1, vec![f.clone()], vec![]);
    let off = snapshot(2, vec![], vec![closed(f)]);
    let sent = |d: Vec<vigil_alert::Delivery>| -> Vec<AlertStatus> {
        d.into_iter().map(|d| d.alert.status).collect()
    };
    assert_eq!(sent(e.step(&on, 0)), vec![AlertStatus::Firing]);
    assert_eq!(sent(e.step(&off, 1_000)), vec![AlertStatus::Resolved]);
    assert_eq!(
        sent(e.step(&on, 2_000)),
        vec![],
        "third change in 10s: held"
    );
    assert_eq!(sent(e.step(&off, 3_000)), vec![]);
    assert_eq!(sent(e.step(&on, 4_000)), vec![]);
    assert_eq!(sent(e.step(&on, 9_000)), vec![], "still within the window");
    // Stable for a whole window: the current state goes out once.
    assert_eq!(sent(e.step(&on, 15_000)), vec![AlertStatus::Firing]);
    assert_eq!(sent(e.step(&on, 16_000)), vec![]);
}

#[test]
fn node_states_alert_at_or_above_the_configured_level_never_on_unknown() {
    let mut c = engine_config();
    c.nodes.min_state = MinState::Degraded;
    let mut e = AlertEngine::new(c);
    let mut s = Snapshot::initial(Arc::new(model()), 0);
    let (dns, _) = s.find("hub-dns").unwrap();
    s.nodes[dns.get()].state = HealthState::Unhealthy;
    s.nodes[dns.get()].reason = "100% SERVFAIL".into();
    let out = e.step(&s, 0);
    assert_eq!(
        out.len(),
        1,
        "api-a is Unknown: no alert; groups are not leaves"
    );
    let a = &out[0].alert;
    assert_eq!(a.label("alertname"), Some("VigilNodeState"));
    assert_eq!(a.label("node"), Some("hub-dns"));
    assert_eq!(a.label("severity"), Some("critical"));
    assert_eq!(a.label("side"), Some("platform"));
    let url = "http://vigil.test:7401/api/v1/nodes/hub-dns";
    assert_eq!(a.link.as_deref(), Some(url));
    assert_eq!(a.annotations["vigil_url"], url);
    assert!(
        a.annotations["summary"].contains("unhealthy"),
        "{:?}",
        a.annotations
    );
    s.nodes[dns.get()].state = HealthState::Healthy;
    let out = e.step(&s, 1_000);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.status, AlertStatus::Resolved);
}

#[test]
fn config_errors_name_the_field_and_the_fix() {
    let yaml = r#"
model: m.yaml
alerts:
  receivers:
    - name: pager
      alertmanager: { url: "http://am:9093" }
  routes:
    - match: { side: platform }
      receivers: [pagr]
"#;
    let e = AggregatorConfig::from_yaml(yaml, "/etc/vigil/agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/etc/vigil/agg.yaml"), "{e}");
    assert!(e.contains("alerts.routes[0].receivers"), "{e}");
    assert!(e.contains("`pagr` is not a receiver"), "{e}");
    let yaml = r#"
model: m.yaml
alerts:
  receivers:
    - name: both
      slack: { url: "http://s" }
      webhook: { url: "http://w" }
"#;
    let e = AggregatorConfig::from_yaml(yaml, "agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly one of"), "{e}");
    let yaml = "model: m.yaml\nalerts:\n  recievers: []\n";
    let e = AggregatorConfig::from_yaml(yaml, "agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("recievers"), "typos are errors: {e}");
}
