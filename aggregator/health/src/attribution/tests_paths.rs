//! The failure patterns that only paths explain, as unit tests of the pure
//! pass: a shared hop failing now and then, a spoke cut off both ways, a
//! cause every spoke shares, a shared cause still forming, two causes at
//! once, and failures an agent replays after a recovery already seen.

use vigil_proto::v1::{ErrorClass, Layer, ProbeKind};

use super::tests::{NOW_MS, World, leak, only, only_on};
use super::*;

const SPOKES: [&str; 3] = ["spoke-a", "spoke-b", "spoke-c"];

/// A probe: id, kind, component, layer.
type Probe = (&'static str, ProbeKind, &'static str, Layer);

fn sighting(
    agent: &'static str,
    network: &'static str,
    (id, kind, component, layer): Probe,
    target: &'static str,
    target_network: Option<&'static str>,
) -> Sighting<'static> {
    Sighting {
        agent,
        network,
        agent_live: true,
        probe_id: id,
        component,
        layer,
        kind,
        target,
        target_network,
        window: WindowView {
            total: 10,
            failures: 0,
            dominant_class: ErrorClass::Unspecified,
            example: "",
            fresh: true,
            last_failed: false,
            success_streak: 10,
            failure_streak: 0,
            last_failure_ms: None,
            age_ms: Some(1_000),
            last_signal_ms: Some(0),
            interval_ms: 10_000,
        },
    }
}

/// A hub agent and one agent per spoke. Every spoke runs a workload
/// (`app-<spoke>`) and a sentinel; spoke agents probe hub DNS, a hub
/// service, an allowed and a denied internet destination, the egress IP,
/// every workload and the other spokes' sentinels; the hub agent probes its
/// own services and into every spoke.
fn estate() -> World {
    let mut out = Vec::new();
    let apps: Vec<(&'static str, &'static str, &'static str)> = SPOKES
        .iter()
        .map(|s| {
            let app = leak(format!("app-{s}"));
            (*s, app, leak(format!("http://{app}/health")))
        })
        .collect();
    for net in SPOKES.iter().copied().chain(["hub"]) {
        let agent = leak(format!("agent-{net}"));
        let mut add = |id, kind, component, layer, target, tn| {
            out.push(sighting(
                agent,
                net,
                (id, kind, component, layer),
                target,
                tn,
            ));
        };
        add(
            "dns",
            ProbeKind::Dns,
            "hub-dns",
            Layer::PlatformHub,
            "kv.privatelink.test",
            None,
        );
        add(
            "svc",
            ProbeKind::Tcp,
            "hub-service",
            Layer::PlatformHub,
            "10.10.0.20:443",
            None,
        );
        if net != "hub" {
            let fw = Layer::PlatformHub;
            add(
                "egress",
                ProbeKind::Tcp,
                "hub-firewall",
                fw,
                "203.0.113.10:443",
                None,
            );
            add(
                "deny",
                ProbeKind::Firewall,
                "hub-firewall",
                fw,
                "203.0.113.66:80",
                None,
            );
            let conn = Layer::PlatformSpokeConnectivity;
            add(
                "egress-ip",
                ProbeKind::Egress,
                "egress-path",
                conn,
                "http://203.0.113.10/ip",
                None,
            );
        }
        for (home, app, url) in &apps {
            add(
                app,
                ProbeKind::Http,
                app,
                Layer::WorkloadApplication,
                url,
                Some(*home),
            );
        }
        for s in SPOKES.iter().copied().filter(|s| *s != net) {
            let id = leak(format!("sentinel-{s}"));
            let target = leak(format!("sentinel.{s}:7000"));
            let conn = Layer::PlatformSpokeConnectivity;
            add(id, ProbeKind::Tcp, id, conn, target, Some(s));
        }
    }
    World { sightings: out }
}

/// Whether `o` crosses the hub's forwarding: spoke to another spoke, or
/// spoke to the internet.
fn forwarded(o: &Sighting<'_>) -> bool {
    o.network != "hub"
        && (o.target_network.is_some_and(|t| t != o.network) || o.target.contains("203.0.113"))
}

fn paths_of(v: &Verdict) -> Vec<String> {
    let mut p: Vec<String> = v.findings.iter().map(|f| f.suspect.path()).collect();
    p.sort();
    p
}

#[test]
fn gray_loss_on_the_hubs_forwarding_is_the_hub_firewall_with_the_workloads_as_impact() {
    let mut w = estate();
    // About 30% of everything the hub forwards is lost; each pair fails a
    // few times, some only once or twice (below the per-pair bar).
    let mut n = 0;
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| forwarded(o) && o.probe_id != "deny")
    {
        n += 1;
        o.window.failures = 1 + n % 3;
        o.window.last_failed = n % 2 == 0;
        o.window.success_streak = u32::from(n % 2 != 0);
        o.window.failure_streak = u32::from(n % 2 == 0);
        o.window.last_failure_ms = Some(NOW_MS - 2_000);
        o.window.dominant_class = ErrorClass::Timeout;
    }
    let v = w.verdict_with(&[]);
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::Intermittent, "{f:#?}");
    assert_eq!(f.certainty, Certainty::Attributed, "{f:#?}");
    assert!(f.confidence >= 0.8, "{}", f.confidence);
    assert_eq!(f.impact, ["app-spoke-a", "app-spoke-b", "app-spoke-c"]);
}

#[test]
fn gray_loss_that_hit_some_pairs_hard_is_intermittent_while_the_hub_passes_traffic() {
    // 30% loss fails most HTTP probes across the hub: every pair fails more
    // than half its window, a few their newest probes too; but the others
    // succeeded after those failures. The hub still forwards: a gray
    // failure, not an outage.
    let mut w = estate();
    let mut n = 0;
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| forwarded(o) && o.probe_id != "deny")
    {
        n += 1;
        let hard = n % 5 == 0;
        o.window.total = 10;
        o.window.failures = if hard { 7 } else { 6 };
        o.window.last_failed = hard;
        o.window.success_streak = u32::from(!hard);
        o.window.failure_streak = if hard { 3 } else { 0 };
        o.window.last_failure_ms = Some(NOW_MS - if hard { 1_000 } else { 4_000 });
        o.window.last_signal_ms = Some(NOW_MS - if hard { 1_000 } else { 500 });
        o.window.dominant_class = ErrorClass::Timeout;
    }
    let v = w.verdict_with(&[]);
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::Intermittent, "{f:#?}");
    // The same hard-hit pairs, the others healthy but silent since the
    // failures began (their next probe is not due yet): nothing says the
    // hub passed traffic, so the failing pairs decide, and they are down.
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| forwarded(o) && o.probe_id != "deny" && !o.window.last_failed)
    {
        o.window.failures = 0;
        o.window.last_failure_ms = None;
        o.window.success_streak = 10;
        o.window.last_signal_ms = Some(NOW_MS - 4_000);
    }
    let v = w.verdict_with(&[]);
    let f = only_on(&v, "platform/hub/hub-firewall");
    assert_eq!(f.kind, FaultKind::Outage, "{f:#?}");
}

#[test]
fn gray_loss_at_its_onset_is_found_before_the_window_fills() {
    // A 30% loss that began two probes ago: the window still holds the
    // healthy signals from before it, so only about 5% of the window fails
    // through the forwarding, under the failing ratio; but no background
    // noise makes that many failures on those paths and none around them.
    let mut w = estate();
    for o in w.sightings.iter_mut() {
        o.window.total = 30;
        o.window.success_streak = 30;
    }
    let mut n = 0;
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| forwarded(o) && o.probe_id != "deny")
    {
        n += 1;
        o.window.failures = 1 + n % 2;
        o.window.last_failed = n % 2 == 0;
        o.window.success_streak = u32::from(n % 2 != 0);
        o.window.failure_streak = u32::from(n % 2 == 0);
        o.window.last_failure_ms = Some(NOW_MS - 2_000);
        o.window.dominant_class = ErrorClass::Timeout;
    }
    let v = w.verdict_with(&[]);
    assert_eq!(paths_of(&v), ["platform/hub/hub-firewall"], "{v:#?}");
}

#[test]
fn a_spoke_cut_off_by_its_own_routes_is_its_connectivity_alone() {
    let mut w = estate();
    // spoke-c's default route is blackholed: everything out of it fails,
    // and everything into it, because the replies are lost.
    w.fail(
        |o| {
            (o.network == "spoke-c" && leaves_its_spoke(o))
                || (o.network != "spoke-c" && o.target_network == Some("spoke-c"))
        },
        ErrorClass::Timeout,
        10,
    );
    let v = w.verdict_with(&[]);
    let f = only_on(&v, "platform/spoke-c/connectivity");
    assert_eq!(f.certainty, Certainty::Attributed, "{f:#?}");
    assert!(f.impact.contains(&"app-spoke-c".to_string()), "{f:#?}");
    // Its agent silent as well (it cannot reach the aggregator either).
    let mut w = estate();
    w.silence("spoke-c");
    w.fail(
        |o| o.network != "spoke-c" && o.target_network == Some("spoke-c"),
        ErrorClass::Timeout,
        10,
    );
    only_on(&w.verdict_with(&[]), "platform/spoke-c/connectivity");
}

#[test]
fn a_crash_when_an_egress_rule_goes_is_two_faults_even_if_the_workload_depends_on_the_firewall() {
    let mut w = estate();
    w.fail(|o| o.probe_id == "egress", ErrorClass::Timeout, 10)
        .fail(|o| o.probe_id == "egress-ip", ErrorClass::Timeout, 10)
        .fail(
            |o| o.component == "app-spoke-a",
            ErrorClass::ConnectionRefused,
            10,
        );
    let v = w.verdict_with(&[("app-spoke-a", "hub-firewall")]);
    assert_eq!(
        paths_of(&v),
        ["platform/hub/hub-firewall", "workload/app-spoke-a"],
        "{:#?}",
        v.findings
    );
}

#[test]
fn a_wrong_snat_that_every_spoke_sees_is_one_hub_fault() {
    let mut w = estate();
    w.fail(
        |o| o.probe_id == "egress-ip",
        ErrorClass::EgressIpMismatch,
        10,
    );
    let v = w.verdict_with(&[]);
    only_on(&v, "platform/hub/hub-firewall");
}

#[test]
fn a_wrong_route_in_one_spoke_is_still_that_spokes_connectivity() {
    let mut w = estate();
    w.fail(
        |o| o.probe_id == "egress-ip" && o.network == "spoke-b",
        ErrorClass::EgressIpMismatch,
        10,
    );
    only_on(&w.verdict_with(&[]), "platform/spoke-b/connectivity");
}

#[test]
fn a_shared_cause_still_forming_blames_no_spoke_that_crossed_the_bar_first() {
    let mut w = estate();
    w.fail(
        |o| o.probe_id == "egress-ip" && o.network == "spoke-a",
        ErrorClass::EgressIpMismatch,
        2,
    );
    // The other spokes have just seen it once.
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| o.probe_id == "egress-ip" && o.network != "spoke-a")
    {
        o.window.failures = 1;
        o.window.last_failed = true;
        o.window.success_streak = 0;
        o.window.failure_streak = 1;
        o.window.dominant_class = ErrorClass::EgressIpMismatch;
    }
    let v = w.verdict_with(&[]);
    assert!(
        v.findings
            .iter()
            .all(|f| f.suspect.path() != "platform/spoke-a/connectivity"
                || f.certainty != Certainty::Attributed),
        "{:#?}",
        v.findings
    );
}

#[test]
fn network_unreachable_about_another_spoke_is_that_spoke_not_the_observer() {
    let mut w = estate();
    // spoke-b's peering is down: the hub answers "network unreachable" to
    // the other spokes, its own probes into spoke-b time out, and spoke-b's
    // agent cannot reach the aggregator.
    w.silence("spoke-b");
    w.fail(
        |o| o.network != "hub" && o.target_network == Some("spoke-b"),
        ErrorClass::NetworkUnreachable,
        10,
    )
    .fail(
        |o| o.network == "hub" && o.target_network == Some("spoke-b"),
        ErrorClass::Timeout,
        10,
    );
    only_on(&w.verdict_with(&[]), "platform/spoke-b/connectivity");
}

#[test]
fn no_route_to_a_spoke_from_two_networks_is_that_spoke_not_its_workload() {
    // The first sign of the hub losing its route to spoke-c: the hub answers
    // "network unreachable" about spoke-c's workload to spoke-a and spoke-b,
    // while it is fine from inside spoke-c and from the hub. A workload
    // that fails is refused or times out; it is never unroutable.
    let mut w = estate();
    w.fail(
        |o| o.probe_id == "app-spoke-c" && (o.network == "spoke-a" || o.network == "spoke-b"),
        ErrorClass::NetworkUnreachable,
        3,
    );
    let v = w.verdict_with(&[]);
    assert_eq!(paths_of(&v), ["platform/spoke-c/connectivity"], "{v:#?}");
}

#[test]
fn a_probes_own_trouble_is_no_evidence() {
    let mut w = estate();
    w.fail(|o| o.component == "hub-dns", ErrorClass::ProbeInternal, 10);
    let v = w.verdict_with(&[]);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

#[test]
fn when_the_newest_signals_all_fail_it_is_an_outage() {
    let mut w = estate();
    // Three failures out of ten: the window's average says intermittent,
    // but every vantage point's newest signals failed.
    w.fail(
        |o| o.component == "app-spoke-b",
        ErrorClass::ConnectionRefused,
        3,
    );
    for o in w
        .sightings
        .iter_mut()
        .filter(|o| o.component == "app-spoke-b")
    {
        o.window.failure_streak = 3;
    }
    let f = only_on(&w.verdict_with(&[]), "workload/app-spoke-b").clone();
    assert_eq!(f.kind, FaultKind::Outage);
}

#[test]
fn failures_replayed_after_a_recovery_already_seen_open_no_fault() {
    let mut cut = estate();
    cut.silence("spoke-c");
    cut.fail(
        |o| o.network != "spoke-c" && o.target_network == Some("spoke-c"),
        ErrorClass::Timeout,
        10,
    );
    let healthy = estate().verdict_with(&[]);
    let mut t = FaultTracker::new(TrackerParams {
        open_after: 2,
        close_after: 2,
        flap_window_ms: 60_000,
        keep_closed: 10,
    });
    let mut cut = cut.verdict_with(&[]);
    // Probes every second, like the evaluations here.
    for f in &mut cut.findings {
        f.interval_ms = 1_000;
    }
    let mut ev = t.observe(&cut, NOW_MS - 10_000);
    ev.extend(t.observe(&cut, NOW_MS - 9_000));
    assert!(matches!(ev.as_slice(), [FaultEvent::Opened(_)]), "{ev:?}");
    t.observe(&healthy, NOW_MS - 8_000);
    let ev = t.observe(&healthy, NOW_MS - 7_000);
    assert!(matches!(ev.as_slice(), [FaultEvent::Resolved(_)]), "{ev:?}");
    // The spoke's agent comes back and replays what it saw during the cut:
    // its probes out of the spoke failed, up to just before the restore.
    let mut replay = estate();
    replay.fail(
        |o| o.network == "spoke-c" && leaves_its_spoke(o),
        ErrorClass::Timeout,
        10,
    );
    for o in replay
        .sightings
        .iter_mut()
        .filter(|o| o.window.failures > 0)
    {
        o.window.last_failure_ms = Some(NOW_MS - 9_500);
    }
    let replay = replay.verdict_with(&[]);
    assert_eq!(
        only(&replay).suspect.path(),
        "platform/spoke-c/connectivity",
        "the pass itself sees the replayed failures"
    );
    for at in [NOW_MS - 6_000, NOW_MS - 5_000, NOW_MS - 4_000] {
        let ev = t.observe(&replay, at);
        assert!(ev.is_empty(), "a replay reopened the fault: {ev:?}");
    }
    // A failure observed after the recovery is news again.
    let mut again = estate();
    again.fail(
        |o| o.network == "spoke-c" && leaves_its_spoke(o),
        ErrorClass::Timeout,
        10,
    );
    let again = again.verdict_with(&[]);
    let mut ev = t.observe(&again, NOW_MS - 3_000);
    ev.extend(t.observe(&again, NOW_MS - 2_000));
    assert!(matches!(ev.as_slice(), [FaultEvent::Opened(_)]), "{ev:?}");
}

/// Whether a spoke agent's probe leaves its spoke.
fn leaves_its_spoke(o: &Sighting<'_>) -> bool {
    o.layer == Layer::PlatformHub
        || o.layer == Layer::PlatformSpokeConnectivity
        || o.target_network.is_some_and(|t| t != o.network)
}

#[test]
fn a_dead_resolver_takes_the_zone_and_what_depends_on_the_zone_as_its_impact() {
    let mut w = estate();
    for net in SPOKES {
        let agent = leak(format!("agent-{net}"));
        let zone = (
            "zone",
            ProbeKind::Dns,
            "private-dns-zone",
            Layer::PlatformHub,
        );
        w.sightings
            .push(sighting(agent, net, zone, "kv.privatelink.test", None));
        // Two names in the zone per spoke, one resolver probe: the zone
        // explains more pairs, but fails because the resolver does.
        let zone_db = ("zone-db", zone.1, zone.2, zone.3);
        w.sightings
            .push(sighting(agent, net, zone_db, "db.privatelink.test", None));
        let kv = ("kv", ProbeKind::Tcp, "kv-store", Layer::WorkloadData);
        w.sightings.push(sighting(
            agent,
            net,
            kv,
            "kv.privatelink.test:443",
            Some("spoke-a"),
        ));
    }
    // The resolver is dead: the hub answers port unreachable, which a UDP
    // lookup reads as refused; the data store's name no longer resolves.
    w.fail(
        |o| o.kind == ProbeKind::Dns,
        ErrorClass::ConnectionRefused,
        10,
    )
    .fail(|o| o.component == "kv-store", ErrorClass::DnsTimeout, 10);
    let v = w.verdict_with(&[
        ("private-dns-zone", "hub-dns"),
        ("kv-store", "private-dns-zone"),
    ]);
    assert_eq!(paths_of(&v), ["platform/hub/hub-dns"], "{v:#?}");
    let f = only_on(&v, "platform/hub/hub-dns");
    assert_eq!(f.impact, ["kv-store", "private-dns-zone"], "{f:#?}");
}

#[test]
fn a_zone_failing_while_its_resolver_starts_to_is_unsure_until_the_resolver_is_judged() {
    // The resolver has just died: the zone's names, probed more often, have
    // already failed twice in a row from every spoke, the resolver's own
    // probe only once. The zone is not a fault of its own yet.
    let mut w = estate();
    for net in SPOKES {
        let agent = leak(format!("agent-{net}"));
        let zone = (
            "zone",
            ProbeKind::Dns,
            "private-dns-zone",
            Layer::PlatformHub,
        );
        w.sightings
            .push(sighting(agent, net, zone, "kv.privatelink.test", None));
    }
    w.fail(
        |o| o.component == "private-dns-zone",
        ErrorClass::DnsTimeout,
        10,
    )
    .fail(|o| o.component == "hub-dns", ErrorClass::DnsTimeout, 1);
    let v = w.verdict_with(&[("private-dns-zone", "hub-dns")]);
    let f = only_on(&v, "platform/hub/private-dns-zone");
    assert_eq!(f.certainty, Certainty::Ambiguous, "{f:#?}");
    // Without the dependency declared, nothing holds it.
    let v = w.verdict_with(&[]);
    let f = only_on(&v, "platform/hub/private-dns-zone");
    assert_eq!(f.certainty, Certainty::Attributed, "{f:#?}");
}

#[test]
fn a_deny_probe_getting_through_from_one_spoke_only_is_that_spokes_route() {
    let mut w = estate();
    // spoke-b's default route bypasses the firewall: its egress IP is wrong
    // and the forbidden destination answers it, and only it.
    w.fail(
        |o| o.probe_id == "egress-ip" && o.network == "spoke-b",
        ErrorClass::EgressIpMismatch,
        10,
    )
    .fail(
        |o| o.probe_id == "deny" && o.network == "spoke-b",
        ErrorClass::PolicyDrift,
        10,
    );
    let v = w.verdict_with(&[]);
    assert!(
        v.findings
            .iter()
            .all(|f| f.suspect.path() == "platform/spoke-b/connectivity"),
        "{:#?}",
        v.findings
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.kind == FaultKind::SecurityDrift),
        "the bypass is still a security drift: {:#?}",
        v.findings
    );
    // Seen from every spoke, it is the firewall's policy.
    let mut w = estate();
    w.fail(|o| o.probe_id == "deny", ErrorClass::PolicyDrift, 10);
    let f = only_on(&w.verdict_with(&[]), "platform/hub/hub-firewall").clone();
    assert_eq!(f.kind, FaultKind::SecurityDrift);
    assert_eq!(f.certainty, Certainty::Attributed);
    // From one spoke, before its egress-IP probe has run since: its route
    // or the firewall's rule for it, which only that probe tells. Unsure,
    // so it waits for the probe rather than blaming the firewall at once.
    let mut w = estate();
    w.fail(
        |o| o.probe_id == "deny" && o.network == "spoke-b",
        ErrorClass::PolicyDrift,
        10,
    );
    let f = only_on(&w.verdict_with(&[]), "platform/hub/hub-firewall").clone();
    assert_eq!(f.kind, FaultKind::SecurityDrift);
    assert_eq!(f.certainty, Certainty::Ambiguous, "{f:#?}");
}

#[test]
fn a_workload_is_not_held_unsure_by_a_dependency_whose_failure_is_already_explained() {
    let mut w = estate();
    // The egress rule goes (every spoke's egress-IP probe, which stands for
    // the spoke's egress path, fails with it) while a workload answers 503.
    w.fail(|o| o.probe_id == "egress", ErrorClass::Timeout, 10)
        .fail(|o| o.probe_id == "egress-ip", ErrorClass::Timeout, 10)
        .fail(|o| o.component == "app-spoke-b", ErrorClass::HttpStatus, 10);
    let v = w.verdict_with(&[("app-spoke-b", "egress-path")]);
    assert_eq!(
        paths_of(&v),
        ["platform/hub/hub-firewall", "workload/app-spoke-b"],
        "{:#?}",
        v.findings
    );
    assert!(
        v.findings
            .iter()
            .all(|f| f.certainty == Certainty::Attributed),
        "{:#?}",
        v.findings
    );
}

#[test]
fn a_deny_probe_blocked_again_is_no_longer_drift() {
    let mut w = estate();
    w.fail(|o| o.probe_id == "deny", ErrorClass::PolicyDrift, 8);
    for o in w.sightings.iter_mut().filter(|o| o.probe_id == "deny") {
        o.window.last_failed = false;
        o.window.success_streak = 2;
        o.window.failure_streak = 0;
    }
    let v = w.verdict_with(&[]);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}
