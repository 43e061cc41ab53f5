//! The domain table (shared/domain.md) as unit tests of the pure pass: each
//! fault pattern, built as the sightings of what agents would report, must
//! land on the right side and component.

use vigil_proto::v1::{ErrorClass, Layer, ProbeKind, Side};

use super::*;

const SPOKES: [&str; 3] = ["spoke-a", "spoke-b", "spoke-c"];

/// The moment the test sightings are taken at.
pub(super) const NOW_MS: i64 = 1_000_000;

#[derive(Clone)]
struct P {
    id: &'static str,
    kind: ProbeKind,
    component: &'static str,
    layer: Layer,
    target: &'static str,
    target_network: Option<&'static str>,
}

/// The probes every spoke agent runs: hub DNS, a hub service, two egress
/// destinations through the firewall, a deny probe, and the workload.
fn spoke_probes() -> Vec<P> {
    vec![
        P {
            id: "kv-dns",
            kind: ProbeKind::Dns,
            component: "hub-dns",
            layer: Layer::PlatformHub,
            target: "kv.privatelink.test",
            target_network: None,
        },
        P {
            id: "db-dns",
            kind: ProbeKind::Dns,
            component: "hub-dns",
            layer: Layer::PlatformHub,
            target: "db.privatelink.test",
            target_network: None,
        },
        P {
            id: "hub-svc",
            kind: ProbeKind::Tcp,
            component: "hub-service",
            layer: Layer::PlatformHub,
            target: "10.10.0.20:443",
            target_network: None,
        },
        P {
            id: "egress-a",
            kind: ProbeKind::Firewall,
            component: "hub-firewall",
            layer: Layer::PlatformHub,
            target: "203.0.113.10:443",
            target_network: None,
        },
        P {
            id: "egress-b",
            kind: ProbeKind::Firewall,
            component: "hub-firewall",
            layer: Layer::PlatformHub,
            target: "203.0.113.11:443",
            target_network: None,
        },
        P {
            id: "deny",
            kind: ProbeKind::Firewall,
            component: "hub-firewall",
            layer: Layer::PlatformHub,
            target: "203.0.113.66:80",
            target_network: None,
        },
        P {
            id: "checkout",
            kind: ProbeKind::Http,
            component: "checkout-api",
            layer: Layer::WorkloadApplication,
            target: "http://checkout-a/health",
            target_network: Some("spoke-a"),
        },
    ]
}

/// Sightings borrow their strings; test data simply lives as long as the
/// test binary.
pub(super) fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub(super) struct World {
    pub(super) sightings: Vec<Sighting<'static>>,
}

impl World {
    fn healthy() -> Self {
        let mut sightings = Vec::new();
        for net in SPOKES {
            for p in spoke_probes() {
                sightings.push(Sighting {
                    agent: leak(format!("agent-{net}")),
                    network: net,
                    agent_live: true,
                    probe_id: p.id,
                    component: p.component,
                    layer: p.layer,
                    kind: p.kind,
                    target: p.target,
                    target_network: p.target_network,
                    window: WindowView {
                        total: 30,
                        failures: 0,
                        dominant_class: ErrorClass::Unspecified,
                        example: "",
                        fresh: true,
                        last_failed: false,
                        success_streak: 30,
                        failure_streak: 0,
                        last_failure_ms: None,
                        age_ms: Some(1_000),
                        last_signal_ms: Some(0),
                        interval_ms: 10_000,
                    },
                });
            }
        }
        World { sightings }
    }

    pub(super) fn fail(
        &mut self,
        pred: impl Fn(&Sighting<'_>) -> bool,
        class: ErrorClass,
        failures: u32,
    ) -> &mut Self {
        for o in self.sightings.iter_mut().filter(|o| pred(o)) {
            o.window.failures = failures;
            o.window.last_failed = true;
            o.window.success_streak = 0;
            // A hard failure fails every time; a gray one now and then.
            o.window.failure_streak = if failures * 2 >= o.window.total {
                failures
            } else {
                1
            };
            o.window.last_failure_ms = Some(NOW_MS - 1_000);
            o.window.dominant_class = class;
            o.window.example = leak(format!("{class:?}"));
        }
        self
    }

    pub(super) fn silence(&mut self, network: &str) -> &mut Self {
        for o in self.sightings.iter_mut().filter(|o| o.network == network) {
            o.agent_live = false;
            o.window = WindowView::default();
        }
        self
    }

    pub(super) fn verdict(&self) -> Verdict {
        self.verdict_with(&[("checkout-api", "hub-dns")])
    }

    /// The verdict with these (dependent, dependency) edges of the model.
    pub(super) fn verdict_with(&self, depends_on: &[(&str, &str)]) -> Verdict {
        let mut edges: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (from, to) in depends_on {
            edges
                .entry((*from).to_string())
                .or_default()
                .push((*to).to_string());
        }
        let topology = Topology {
            hub_network: "hub".into(),
            firewall: None,
            depends_on: edges,
        };
        attribute(&self.sightings, &topology, &Params::default())
    }
}

pub(super) fn only(v: &Verdict) -> &Finding {
    assert_eq!(
        v.findings.len(),
        1,
        "expected one finding, got {:#?}",
        v.findings
    );
    &v.findings[0]
}

/// The verdict's only finding, which must be on the suspect at `path`
/// (`platform/hub/hub-dns`, `platform/spoke-b/connectivity`, …).
pub(super) fn only_on<'v>(v: &'v Verdict, path: &str) -> &'v Finding {
    let f = only(v);
    assert_eq!(f.suspect.path(), path, "{f:#?}");
    f
}

#[test]
fn no_failures_no_findings() {
    let v = World::healthy().verdict();
    assert!(v.findings.is_empty() && v.gaps.is_empty() && v.unexplained.is_empty());
}

#[test]
fn hub_dns_down_is_the_hub_with_the_workload_as_impact() {
    let mut w = World::healthy();
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 30)
        .fail(
            |o| o.component == "checkout-api",
            ErrorClass::HttpStatus,
            30,
        );
    let v = w.verdict();
    let f = only_on(&v, "platform/hub/hub-dns");
    assert_eq!(f.suspect.side(), Side::Platform);
    assert_eq!(f.certainty, Certainty::Attributed);
    assert!(f.confidence > 0.9, "{}", f.confidence);
    assert_eq!(f.networks, SPOKES);
    assert_eq!(f.impact, ["checkout-api"]);
}

#[test]
fn one_missing_record_is_still_hub_dns() {
    let mut w = World::healthy();
    w.fail(|o| o.probe_id == "kv-dns", ErrorClass::DnsNxdomain, 30);
    let v = w.verdict();
    let f = only_on(&v, "platform/hub/hub-dns");
    assert!(f.confidence >= 0.9, "{}", f.confidence);
}

#[test]
fn a_missing_firewall_rule_is_the_hub_firewall() {
    let mut w = World::healthy();
    w.fail(|o| o.probe_id == "egress-a", ErrorClass::Timeout, 30);
    let v = w.verdict();
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::Outage);
}

#[test]
fn a_deny_probe_that_succeeds_is_security_drift() {
    let mut w = World::healthy();
    w.fail(|o| o.probe_id == "deny", ErrorClass::PolicyDrift, 30);
    let v = w.verdict();
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::SecurityDrift);
}

#[test]
fn intermittent_loss_from_everywhere_is_a_gray_firewall_failure() {
    let mut w = World::healthy();
    w.fail(
        |o| o.component == "hub-firewall" && o.probe_id != "deny",
        ErrorClass::Timeout,
        6,
    );
    let v = w.verdict();
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::Intermittent);
}

#[test]
fn peering_down_with_replayed_evidence_is_that_spokes_connectivity() {
    let mut w = World::healthy();
    // spoke-b's agent replayed: everything crossing to the hub failed.
    w.fail(
        |o| o.network == "spoke-b" && o.probe_id != "deny",
        ErrorClass::Timeout,
        30,
    );
    let v = w.verdict();
    let f = only_on(&v, "platform/spoke-b/connectivity");
    assert!(f.confidence > 0.8, "{}", f.confidence);
}

#[test]
fn a_cut_off_spoke_whose_agents_are_silent_is_its_connectivity_not_a_gap() {
    let mut w = World::healthy();
    w.silence("spoke-a");
    // Probes from elsewhere into spoke-a fail.
    w.fail(
        |o| o.probe_id == "checkout" && o.network != "spoke-a",
        ErrorClass::Timeout,
        30,
    );
    let v = w.verdict();
    let f = only_on(&v, "platform/spoke-a/connectivity");
    assert_eq!(f.silent_agents, ["agent-spoke-a"]);
    assert!(v.gaps.is_empty(), "{:?}", v.gaps);
}

#[test]
fn a_silent_agent_alone_is_a_gap_blamed_on_nobody() {
    let mut w = World::healthy();
    w.silence("spoke-c");
    let v = w.verdict();
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert_eq!(
        v.gaps,
        [Gap {
            agent: "agent-spoke-c".into(),
            network: "spoke-c".into()
        }]
    );
}

#[test]
fn a_wrong_route_in_one_spoke_is_its_connectivity() {
    let mut w = World::healthy();
    w.fail(
        |o| o.network == "spoke-c" && o.probe_id.starts_with("egress"),
        ErrorClass::EgressIpMismatch,
        30,
    );
    only_on(&w.verdict(), "platform/spoke-c/connectivity");
}

#[test]
fn a_workload_crash_seen_from_everywhere_is_the_workload() {
    let mut w = World::healthy();
    w.fail(
        |o| o.component == "checkout-api",
        ErrorClass::ConnectionRefused,
        30,
    );
    let v = w.verdict();
    let f = only_on(&v, "workload/checkout-api");
    assert_eq!(f.suspect.side(), Side::Workload);
}

#[test]
fn two_independent_faults_on_two_sides_come_out_as_two() {
    let mut w = World::healthy();
    w.fail(
        |o| o.probe_id == "egress-b",
        ErrorClass::ConnectionReset,
        30,
    )
    .fail(
        |o| o.component == "checkout-api",
        ErrorClass::HttpStatus,
        30,
    );
    let v = w.verdict();
    let mut suspects: Vec<String> = v.findings.iter().map(|f| f.suspect.path()).collect();
    suspects.sort();
    assert_eq!(
        suspects,
        ["platform/hub/hub-firewall", "workload/checkout-api"]
    );
}

#[test]
fn a_single_vantage_is_insufficient_data() {
    let mut w = World::healthy();
    w.sightings.retain(|o| o.network == "spoke-a");
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsServfail, 30);
    let f = only(&w.verdict()).clone();
    assert_eq!(f.certainty, Certainty::InsufficientData);
}

#[test]
fn tracker_opens_after_persistence_reopens_on_flap_and_closes() {
    let mut w = World::healthy();
    w.fail(
        |o| o.component == "checkout-api",
        ErrorClass::HttpStatus,
        30,
    );
    let mut failing = w.verdict();
    // Not seen down now by two networks (a gray failure, say): it must
    // persist before it opens.
    // Probes every second, like the evaluations here.
    for f in &mut failing.findings {
        f.corroborated = false;
        f.interval_ms = 1_000;
    }
    let healthy = World::healthy().verdict();
    let mut t = FaultTracker::new(TrackerParams {
        open_after: 2,
        close_after: 2,
        flap_window_ms: 60_000,
        keep_closed: 10,
    });
    assert!(
        t.observe(&failing, 1_000).is_empty(),
        "one evaluation is not enough"
    );
    let ev = t.observe(&failing, 2_000);
    assert!(matches!(ev.as_slice(), [FaultEvent::Opened(_)]), "{ev:?}");
    let id = ev[0].fault().id;
    assert!(
        ev[0]
            .fault()
            .summary()
            .starts_with("workload · workload/checkout-api"),
        "{}",
        ev[0].fault().summary()
    );
    t.observe(&healthy, 3_000);
    let ev = t.observe(&healthy, 4_000);
    assert!(matches!(ev.as_slice(), [FaultEvent::Resolved(f)] if f.id == id));
    assert!(t.open().is_empty());
    // Recurs within the flap window: the same fault reopens.
    t.observe(&failing, 5_000);
    let ev = t.observe(&failing, 6_000);
    assert!(
        matches!(ev.as_slice(), [FaultEvent::Opened(f)] if f.id == id && f.reopened == 1),
        "{ev:?}"
    );
    assert_eq!(t.open().len(), 1);
    assert_eq!("F-000001".parse::<FaultId>().unwrap(), id);
}

#[test]
fn a_fault_keeps_its_id_when_its_kind_changes() {
    // The same suspect, first failing now and then, then failing outright,
    // then now and then again while it recovers: one fault throughout,
    // updated with its kind, never resolved and reopened under a new id.
    let mut gray = World::healthy();
    gray.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 6);
    let mut down = World::healthy();
    down.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 30);
    let (gray, down) = (gray.verdict(), down.verdict());
    assert_eq!(only(&gray).kind, FaultKind::Intermittent, "{gray:#?}");
    assert_eq!(only(&down).kind, FaultKind::Outage, "{down:#?}");
    let mut t = FaultTracker::new(TrackerParams::default());
    t.observe(&gray, 1_000);
    let ev = t.observe(&gray, 2_000);
    let id = match ev.as_slice() {
        [FaultEvent::Opened(f)] => f.id,
        other => panic!("expected one opened fault, got {other:?}"),
    };
    for (verdict, at, kind) in [
        (&down, 3_000, FaultKind::Outage),
        (&gray, 4_000, FaultKind::Intermittent),
    ] {
        let ev = t.observe(verdict, at);
        assert!(
            matches!(ev.as_slice(), [FaultEvent::Updated(f)] if f.id == id && f.kind == kind),
            "{ev:?}"
        );
    }
    assert_eq!(t.open().len(), 1);
    assert_eq!(t.open()[0].id, id);
}

#[test]
fn an_unsure_finding_opens_only_once_it_outlasts_two_rounds_of_its_probes() {
    // Probes every 10 s, evaluated every second: the onset of a fault looks
    // ambiguous until every vantage point has run its probes again, so an
    // unsure finding waits two rounds, not a few evaluations.
    let mut w = World::healthy();
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 30);
    let mut unsure = w.verdict();
    for f in &mut unsure.findings {
        f.certainty = Certainty::Ambiguous;
        f.interval_ms = 10_000;
    }
    let mut t = FaultTracker::new(TrackerParams::default());
    for at in (1..20).map(|s| s * 1_000) {
        let ev = t.observe(&unsure, at);
        assert!(ev.is_empty(), "opened after {} s: {ev:?}", at / 1_000);
    }
    let ev = t.observe(&unsure, 21_000);
    assert!(
        matches!(ev.as_slice(), [FaultEvent::Opened(f)] if f.certainty == Certainty::Ambiguous),
        "{ev:?}"
    );
}

#[test]
fn a_target_just_gone_down_from_two_networks_is_a_fault_at_once() {
    // Two networks, each of whose newest two probes of hub DNS failed: below
    // the per-pair bar of three failures, too few to pool as a gray failure,
    // but two networks failing twice in a row at once is no noise.
    let mut w = World::healthy();
    w.sightings
        .retain(|o| o.network == "spoke-a" || o.network == "spoke-b");
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 2);
    for o in w.sightings.iter_mut().filter(|o| o.component == "hub-dns") {
        o.window.failure_streak = 2;
    }
    let v = w.verdict();
    let f = only(&v);
    assert_eq!(f.suspect.path(), "platform/hub/hub-dns");
    assert!(f.corroborated, "{f:#?}");
    let mut t = FaultTracker::new(TrackerParams::default());
    let ev = t.observe(&v, 1_000);
    assert!(matches!(ev.as_slice(), [FaultEvent::Opened(_)]), "{ev:?}");
    // One network alone is not enough: its two failures wait for a third.
    for o in w.sightings.iter_mut().filter(|o| o.network == "spoke-b") {
        o.window = World::healthy().sightings[0].window.clone();
    }
    assert!(w.verdict().findings.is_empty(), "{:#?}", w.verdict());
}

#[test]
fn a_drift_and_an_outage_of_one_suspect_are_one_fault() {
    // A spoke whose route bypasses the firewall: its deny probes get through
    // (a drift, seen first), then what needs the hub fails (an outage, and
    // unsure at its onset). One suspect, one fault: no second page.
    let mut w = World::healthy();
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 30);
    let outage = only(&w.verdict()).clone();
    let drift = Finding {
        kind: FaultKind::SecurityDrift,
        certainty: Certainty::Attributed,
        confidence: 0.9,
        evidence: Vec::new(),
        corroborated: false,
        ..outage.clone()
    };
    let unsure_outage = Finding {
        certainty: Certainty::Ambiguous,
        confidence: 0.5,
        ..outage.clone()
    };
    let verdict = |findings: Vec<Finding>| Verdict {
        findings,
        ..Verdict::default()
    };
    let mut t = FaultTracker::new(TrackerParams::default());
    t.observe(&verdict(vec![drift.clone()]), 1_000);
    let ev = t.observe(&verdict(vec![drift.clone()]), 2_000);
    let id = match ev.as_slice() {
        [FaultEvent::Opened(f)] if f.kind == FaultKind::SecurityDrift => f.id,
        other => panic!("expected the drift to open, got {other:?}"),
    };
    let ev = t.observe(&verdict(vec![drift, unsure_outage]), 3_000);
    match ev.as_slice() {
        [FaultEvent::Updated(f)] => {
            assert_eq!(f.id, id);
            assert_eq!(f.kind, FaultKind::Outage, "the worse kind: {f:#?}");
            assert_eq!(f.certainty, Certainty::Attributed, "the firmer: {f:#?}");
            assert!((f.confidence - 0.9).abs() < 1e-9, "the surer: {f:#?}");
            assert_eq!(f.evidence.len(), outage.evidence.len(), "{f:#?}");
        }
        other => panic!("expected one update of {id}, got {other:?}"),
    }
    assert_eq!(t.open().len(), 1);
}

#[test]
fn a_fault_stays_open_while_its_finding_lapses_between_two_rounds_of_slow_probes() {
    // Probes every 9 s, evaluated every 500 ms: a firewall's finding that
    // lapses for a few evaluations between two rounds is the same fault when
    // the next round lands. Closing it meanwhile would page resolved, then
    // firing again; it closes only once a whole round has passed without it.
    let mut w = World::healthy();
    w.fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 30);
    let mut failing = w.verdict();
    for f in &mut failing.findings {
        f.interval_ms = 9_000;
    }
    let healthy = World::healthy().verdict();
    let mut t = FaultTracker::new(TrackerParams::default());
    let ev = t.observe(&failing, 500);
    let id = match ev.as_slice() {
        [FaultEvent::Opened(f)] => f.id,
        other => panic!("expected the outage to open at once, got {other:?}"),
    };
    // Lapses for 8 s, well past `close_after` evaluations.
    for at in (2..=17).map(|i| i * 500) {
        let ev = t.observe(&healthy, at);
        assert!(ev.is_empty(), "changed at {at} ms: {ev:?}");
    }
    let ev = t.observe(&failing, 9_000);
    assert!(ev.is_empty(), "the same fault, unchanged: {ev:?}");
    assert_eq!(t.open().len(), 1);
    assert_eq!(t.open()[0].reopened, 0);
    // Gone for a whole round: resolved, once.
    let mut resolved = Vec::new();
    for at in (19..=40).map(|i| i * 500) {
        resolved.extend(t.observe(&healthy, at));
    }
    assert!(
        matches!(resolved.as_slice(), [FaultEvent::Resolved(f)] if f.id == id),
        "{resolved:?}"
    );
}
