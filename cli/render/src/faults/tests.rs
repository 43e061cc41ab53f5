use super::*;
use crate::strip_ansi;
use vigil_proto::v1::{Fault, FaultEvidence, ObservabilityGap};

/// 3 minutes after the faults below opened.
const NOW: i64 = 1_700_000_180_000;
const OPENED: i64 = 1_700_000_000_000;

fn evidence(n: usize) -> Vec<FaultEvidence> {
    (0..n)
        .map(|i| FaultEvidence {
            agent_id: format!("agent-{}", i + 1),
            network: format!("spoke-{}", (b'a' + u8::try_from(i % 26).unwrap()) as char),
            probe_id: "kv-dns".into(),
            target: "kv.privatelink.test".into(),
            signals: 12,
            failures: 12,
            error_class: ErrorClass::DnsServfail as i32,
            example: "SERVFAIL from 10.0.0.4:53".into(),
        })
        .collect()
}

fn hub_dns() -> Fault {
    Fault {
        id: "F-000007".into(),
        side: Side::Platform as i32,
        suspect: "platform/hub/hub-dns".into(),
        kind: FaultKind::Outage as i32,
        certainty: Certainty::Attributed as i32,
        confidence: 0.93,
        summary: "platform · hub DNS: 7/7 agents in spoke-a … get SERVFAIL".into(),
        evidence: evidence(7),
        counter_evidence: vec![
            FaultEvidence {
                agent_id: "agent-hub".into(),
                network: "hub".into(),
                probe_id: "fw-tcp".into(),
                target: "10.0.1.4:443".into(),
                signals: 12,
                ..Default::default()
            };
            3
        ],
        networks: vec!["spoke-a".into(), "spoke-b".into()],
        impact: vec!["checkout-api".into(), "payments-worker".into()],
        nodes: vec!["hub-dns".into(), "checkout-api".into()],
        opened_at_unix_ms: OPENED,
        updated_at_unix_ms: OPENED + 60_000,
        ..Default::default()
    }
}

fn workload_crash() -> Fault {
    Fault {
        id: "F-000008".into(),
        side: Side::Workload as i32,
        suspect: "workload/checkout-api".into(),
        kind: FaultKind::Outage as i32,
        certainty: Certainty::Attributed as i32,
        confidence: 0.99,
        evidence: evidence(1),
        opened_at_unix_ms: OPENED - 60_000,
        ..Default::default()
    }
}

fn list(faults: Vec<Fault>, gaps: Vec<ObservabilityGap>) -> ListFaultsResponse {
    ListFaultsResponse {
        faults,
        gaps,
        evaluated_at_unix_ms: NOW - 5_000,
    }
}

fn gap() -> ObservabilityGap {
    ObservabilityGap {
        agent_id: "agent-9".into(),
        network: "spoke-c".into(),
    }
}

#[test]
fn a_fault_block_reads_like_the_answer() {
    let text = faults_text(&list(vec![hub_dns()], vec![]), &Style::plain(), NOW);
    let expected = "\
1 open fault · 1 platform · evaluated 22:16:15Z (5s ago)

F-000007  platform · hub dns (platform/hub/hub-dns)  outage · confidence 0.93  since 22:13:20Z (3m ago)
  platform · hub DNS: 7/7 agents in spoke-a … get SERVFAIL
  ✗  spoke-a  agent-1  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL from 10.0.0.4:53\"
  ✗  spoke-b  agent-2  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL from 10.0.0.4:53\"
  ✗  spoke-c  agent-3  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL from 10.0.0.4:53\"
  ✗  spoke-d  agent-4  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL from 10.0.0.4:53\"
  ✗  spoke-e  agent-5  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL from 10.0.0.4:53\"
  … 2 more failing probes: vigil fault F-000007
  counter-evidence: 3 healthy probes through the same suspect
  seen from: spoke-a, spoke-b
  impact: workload checkout-api, payments-worker
";
    assert_eq!(text, expected);
}

#[test]
fn platform_faults_come_first_and_resolved_ones_last() {
    let mut resolved = hub_dns();
    resolved.id = "F-000001".into();
    resolved.closed_at_unix_ms = NOW - 60_000;
    let mut unattributed = workload_crash();
    unattributed.id = "F-000010".into();
    unattributed.side = Side::Unspecified as i32;
    unattributed.certainty = Certainty::InsufficientData as i32;
    let resp = list(
        vec![resolved, unattributed, workload_crash(), hub_dns()],
        vec![],
    );
    let text = faults_text(&resp, &Style::plain(), NOW);
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("F-")).collect();
    assert_eq!(heads.len(), 4, "{text}");
    assert!(heads[0].starts_with("F-000007  platform"), "{text}");
    assert!(heads[1].starts_with("F-000008  workload"), "{text}");
    assert!(heads[2].starts_with("F-000010  side unknown"), "{text}");
    assert!(heads[2].contains("insufficient_data"), "{text}");
    assert!(heads[3].starts_with("F-000001"), "{text}");
    assert!(heads[3].contains("resolved 22:15:20Z (1m ago)"), "{text}");
    assert!(
        text.starts_with(
            "3 open faults · 1 platform, 1 workload, 1 side unknown · 1 resolved · evaluated"
        ),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&faults_json(&resp)).unwrap();
    let ids: Vec<&str> = json["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["F-000007", "F-000008", "F-000010", "F-000001"]);
}

#[test]
fn no_open_faults_is_said_plainly_but_silence_is_not_health() {
    let text = faults_text(&list(vec![], vec![]), &Style::plain(), NOW);
    assert_eq!(text, "no open faults · evaluated 22:16:15Z (5s ago)\n");

    let text = faults_text(&list(vec![], vec![gap()]), &Style::plain(), NOW);
    assert!(
        text.starts_with(
            "no open faults · evaluated 22:16:15Z (5s ago)\n\
             but 1 agent is silent: what they watch is unknown\n"
        ),
        "{text}"
    );

    let never = ListFaultsResponse::default();
    let text = faults_text(&never, &Style::plain(), NOW);
    assert!(text.contains("has not evaluated"), "{text}");
    assert!(!text.contains("no open faults"), "{text}");
}

#[test]
fn gaps_are_their_own_section_blamed_on_no_side() {
    let text = faults_text(&list(vec![hub_dns()], vec![gap()]), &Style::plain(), NOW);
    let section = text
        .split("\nblind spots: silent agents, blamed on no side\n")
        .nth(1)
        .expect("a blind-spot section");
    assert_eq!(
        section,
        "  ?  agent-9  spoke-c  no signals: what it watches is unknown\n"
    );
    let block = text.split("\nblind spots").next().unwrap();
    assert!(!block.contains("agent-9"), "{text}");
}

#[test]
fn one_fault_shows_all_evidence_and_counter_evidence() {
    let resp = GetFaultResponse {
        fault: Some(hub_dns()),
    };
    let text = fault_text(&resp, &Style::plain(), NOW);
    assert_eq!(text.lines().filter(|l| l.starts_with("  ✗")).count(), 7);
    assert!(!text.contains("more failing probes"), "{text}");
    assert!(
        text.contains("counter-evidence: healthy probes through the same suspect\n"),
        "{text}"
    );
    let healthy: Vec<&str> = text.lines().filter(|l| l.starts_with("  ✓")).collect();
    assert_eq!(healthy.len(), 3);
    assert!(
        healthy[0].contains("hub  agent-hub  fw-tcp → 10.0.1.4:443  0/12 failed"),
        "{}",
        healthy[0]
    );
    assert!(!healthy[0].ends_with(' '), "{:?}", healthy[0]);
    assert!(text.contains("  nodes: hub-dns, checkout-api\n"), "{text}");
    assert!(
        text.contains("opened 2023-11-14T22:13:20Z · updated 2023-11-14T22:14:20Z"),
        "{text}"
    );
    let missing = fault_text(&GetFaultResponse::default(), &Style::plain(), NOW);
    assert!(missing.contains("without the fault"));
}

#[test]
fn colour_marks_sides_doubt_and_drift_and_is_off_when_plain() {
    let mut drift = hub_dns();
    drift.id = "F-000011".into();
    drift.kind = FaultKind::SecurityDrift as i32;
    drift.certainty = Certainty::Ambiguous as i32;
    let resp = list(vec![drift, workload_crash()], vec![gap()]);
    let coloured = faults_text(&resp, &Style::coloured(), NOW);
    assert!(coloured.contains("\x1b[35mplatform\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[36mworkload\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[33mambiguous\x1b[0m"), "{coloured}");
    assert!(
        coloured.contains("\x1b[31msecurity_drift\x1b[0m"),
        "{coloured}"
    );
    assert!(coloured.contains("\x1b[31m✗\x1b[0m"), "{coloured}");
    let plain = faults_text(&resp, &Style::plain(), NOW);
    assert!(!plain.contains('\x1b'));
    assert_eq!(strip_ansi(&coloured), plain);
}

#[test]
fn hostile_wire_text_cannot_break_the_layout() {
    let mut f = hub_dns();
    f.summary = "line one\nline two\x1b[2J".into();
    f.evidence[0].example = "x".repeat(500);
    f.confidence = f64::NAN;
    let text = faults_text(&list(vec![f.clone()], vec![]), &Style::plain(), NOW);
    assert!(text.contains("  line one line two [2J\n"), "{text}");
    assert!(!text.contains('\x1b'));
    assert!(text.contains("confidence ?"), "{text}");
    let long = text.lines().find(|l| l.contains("xxx")).unwrap();
    assert!(long.ends_with("x…\""), "{long}");
    assert!(long.chars().count() < 200, "{long}");
    let json: serde_json::Value =
        serde_json::from_str(&fault_json(&GetFaultResponse { fault: Some(f) })).unwrap();
    assert!(json["fault"]["confidence"].is_null());
}

#[test]
fn suspects_get_a_reader_label_when_the_scheme_fits() {
    assert_eq!(
        suspect_text("platform/hub/hub-dns"),
        "hub dns (platform/hub/hub-dns)"
    );
    assert_eq!(
        suspect_text("platform/hub/firewall"),
        "hub firewall (platform/hub/firewall)"
    );
    assert_eq!(
        suspect_text("platform/spoke-a/connectivity"),
        "spoke-a connectivity (platform/spoke-a/connectivity)"
    );
    assert_eq!(
        suspect_text("workload/checkout-api"),
        "checkout-api (workload/checkout-api)"
    );
    assert_eq!(suspect_text("something-else"), "something-else");
    assert_eq!(suspect_text("platform/hub/"), "platform/hub/");
    assert_eq!(suspect_text(""), "no suspect named");
}

#[test]
fn json_shape_is_stable() {
    let mut resolved = workload_crash();
    resolved.closed_at_unix_ms = NOW - 1_000;
    resolved.reopened = 2;
    let resp = list(vec![resolved, hub_dns()], vec![gap()]);
    let json: serde_json::Value = serde_json::from_str(&faults_json(&resp)).unwrap();
    assert_eq!(json["evaluated_at_unix_ms"], NOW - 5_000);
    let f = &json["faults"][0];
    assert_eq!(f["id"], "F-000007");
    assert_eq!(f["side"], "platform");
    assert_eq!(f["suspect"], "platform/hub/hub-dns");
    assert_eq!(f["kind"], "outage");
    assert_eq!(f["certainty"], "attributed");
    assert_eq!(f["confidence"], 0.93);
    assert_eq!(f["status"], "open");
    assert!(f["closed_at_unix_ms"].is_null());
    assert_eq!(f["opened_at_unix_ms"], OPENED);
    // JSON keeps every piece of evidence; only the text truncates.
    assert_eq!(f["evidence"].as_array().unwrap().len(), 7);
    let e = &f["evidence"][0];
    assert_eq!(e["agent_id"], "agent-1");
    assert_eq!(e["network"], "spoke-a");
    assert_eq!(e["probe_id"], "kv-dns");
    assert_eq!(e["target"], "kv.privatelink.test");
    assert_eq!(e["signals"], 12);
    assert_eq!(e["failures"], 12);
    assert_eq!(e["error_class"], "dns_servfail");
    assert_eq!(f["counter_evidence"][0]["error_class"], "none");
    assert_eq!(f["impact"][1], "payments-worker");
    assert_eq!(f["networks"][0], "spoke-a");
    let r = &json["faults"][1];
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["closed_at_unix_ms"], NOW - 1_000);
    assert_eq!(r["reopened"], 2);
    assert_eq!(json["gaps"][0]["agent_id"], "agent-9");
    assert_eq!(json["gaps"][0]["network"], "spoke-c");

    let one: serde_json::Value = serde_json::from_str(&fault_json(&GetFaultResponse {
        fault: Some(hub_dns()),
    }))
    .unwrap();
    assert_eq!(one["fault"]["id"], "F-000007");
    let none: serde_json::Value =
        serde_json::from_str(&fault_json(&GetFaultResponse::default())).unwrap();
    assert!(none["fault"].is_null());
}
