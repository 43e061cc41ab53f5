//! `vigil why NODE`: the on-call question "is it us?" answered on the first
//! line — which side's fault explains the node, or that nothing explains it
//! yet, or that there is no data — then the node and the faults' evidence.
//!
//! Pure rendering; the caller supplies "now". It must not attribute: the
//! verdict is read from the faults the aggregator sent, never guessed from
//! the node's state.

use vigil_proto::v1::{Fault, HealthState, Side, WhyNodeResponse};

use super::faults::{
    Depth, confidence_text, fault_block, gaps_section, is_open, ordered, side_text,
};
use super::node::summary;
use super::style::{Paint, Style};
use super::view::{FaultJson, GapJson, NodeJson, WhyJson, to_json};
use super::{clean, shown_state, state_name};

/// What explains the node's state, from the open faults that touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Only platform faults touch the node: not us.
    Platform,
    /// Only workload faults touch the node: us.
    Workload,
    /// Faults on both sides touch the node.
    BothSides,
    /// Faults touch the node but none is attributed to a side.
    Undetermined,
    /// The node is degraded or unhealthy and no open fault explains it yet.
    NoAttributedFault,
    /// The node is Unknown and no fault explains it: missing data, not health.
    NoRecentData,
    /// The node is healthy and no open fault touches it.
    Healthy,
}

impl Verdict {
    /// The stable name used in JSON.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Workload => "workload",
            Self::BothSides => "both_sides",
            Self::Undetermined => "undetermined",
            Self::NoAttributedFault => "no_attributed_fault",
            Self::NoRecentData => "no_recent_data",
            Self::Healthy => "healthy",
        }
    }

    /// Reads the verdict from the node's state and the open faults touching it.
    pub fn of(resp: &WhyNodeResponse) -> Self {
        let open: Vec<&Fault> = resp.faults.iter().filter(|f| is_open(f)).collect();
        let platform = open.iter().any(|f| f.side() == Side::Platform);
        let workload = open.iter().any(|f| f.side() == Side::Workload);
        match (platform, workload) {
            (true, true) => return Self::BothSides,
            (true, false) => return Self::Platform,
            (false, true) => return Self::Workload,
            (false, false) if !open.is_empty() => return Self::Undetermined,
            (false, false) => {}
        }
        let state = resp
            .node
            .as_ref()
            .map_or(HealthState::Unknown, |n| shown_state(n.state()));
        match state {
            HealthState::Healthy => Self::Healthy,
            HealthState::Degraded | HealthState::Unhealthy => Self::NoAttributedFault,
            HealthState::Unknown | HealthState::Unspecified => Self::NoRecentData,
        }
    }
}

/// The answer as pretty JSON (see [`WhyJson`]).
pub fn why_json(resp: &WhyNodeResponse) -> String {
    to_json(&why_view(resp), true)
}

/// The answer as its JSON view: the verdict, the sentence in plain text, the
/// node and the faults in display order.
pub fn why_view(resp: &WhyNodeResponse) -> WhyJson {
    WhyJson {
        verdict: Verdict::of(resp).short_name().to_owned(),
        answer: answer(resp, &Style::plain()),
        node: resp.node.as_ref().map(NodeJson::from),
        path: resp.path.clone(),
        faults: ordered(&resp.faults)
            .into_iter()
            .map(FaultJson::from)
            .collect(),
        gaps: resp.gaps.iter().map(GapJson::from).collect(),
    }
}

/// The answer first, then the node, then the faults that explain it and the
/// blind spots.
pub fn why_text(resp: &WhyNodeResponse, style: &Style, now_unix_ms: i64) -> String {
    let mut out = answer(resp, style);
    out.push_str("\n\n");
    match &resp.node {
        Some(node) => out.push_str(&summary(node, &resp.path, style, now_unix_ms)),
        None => out.push_str("the aggregator answered without the node\n"),
    }
    for fault in ordered(&resp.faults) {
        out.push('\n');
        out.push_str(&fault_block(fault, Depth::Brief, style, now_unix_ms));
    }
    if !resp.gaps.is_empty() {
        out.push('\n');
        out.push_str(&gaps_section(&resp.gaps, style));
    }
    out
}

/// One sentence: `checkout-api is UNHEALTHY because of a platform fault:
/// F-000007 hub dns (platform/hub/hub-dns) (confidence 0.93)`.
fn answer(resp: &WhyNodeResponse, style: &Style) -> String {
    let (id, state) = match &resp.node {
        Some(n) if !n.id.is_empty() => (clean(&n.id), shown_state(n.state())),
        Some(n) => ("the node".to_owned(), shown_state(n.state())),
        None => ("the node".to_owned(), HealthState::Unknown),
    };
    let subject = format!(
        "{id} is {}",
        style.paint(Paint::State(state), &state_name(state).to_ascii_uppercase())
    );
    let open: Vec<&Fault> = ordered(&resp.faults)
        .into_iter()
        .filter(|f| is_open(f))
        .collect();
    let healthy = state == HealthState::Healthy;
    match Verdict::of(resp) {
        Verdict::Platform | Verdict::Workload => {
            let side = open[0].side();
            let what = if open.len() == 1 {
                format!("a {} fault", side_text(side, style))
            } else {
                format!("{} {} faults", open.len(), side_text(side, style))
            };
            let faults: Vec<String> = open.iter().map(|f| fault_ref(f, false, style)).collect();
            if healthy {
                format!("{subject}, but {what} touches it: {}", faults.join("; "))
            } else {
                format!("{subject} because of {what}: {}", faults.join("; "))
            }
        }
        Verdict::BothSides => {
            let faults: Vec<String> = open.iter().map(|f| fault_ref(f, true, style)).collect();
            let link = if healthy {
                ", but faults on both sides touch it"
            } else {
                " because of faults on both sides"
            };
            format!("{subject}{link}: {}", faults.join("; "))
        }
        Verdict::Undetermined => {
            let faults: Vec<String> = open.iter().map(|f| fault_ref(f, false, style)).collect();
            format!(
                "{subject}; open faults touch it but no side is attributed yet: {}",
                faults.join("; ")
            )
        }
        Verdict::NoAttributedFault => {
            format!(
                "{subject} but no attributed fault explains it yet{}",
                silent_suffix(resp)
            )
        }
        Verdict::NoRecentData => {
            let silent = silent_suffix(resp);
            let silent = if silent.is_empty() {
                " (no agent reports on it)".to_owned()
            } else {
                silent
            };
            format!("{subject}: no recent data{silent}")
        }
        Verdict::Healthy => format!("{subject}: no open fault touches it"),
    }
}

/// `F-000007 hub dns (platform/hub/hub-dns) (confidence 0.93, ambiguous)`;
/// with the side in front when sides are mixed.
fn fault_ref(f: &Fault, with_side: bool, style: &Style) -> String {
    use vigil_proto::ShortName;
    use vigil_proto::v1::Certainty;
    let mut quality = format!("confidence {}", confidence_text(f));
    match f.certainty() {
        Certainty::Attributed => {}
        Certainty::Unspecified => quality.push_str(", certainty unknown"),
        certainty => {
            quality.push_str(", ");
            quality.push_str(&style.paint(Paint::Certainty(certainty), &certainty.short_name()));
        }
    }
    let side = if with_side {
        format!("{} ", side_text(f.side(), style))
    } else {
        String::new()
    };
    format!(
        "{side}{} {} ({quality})",
        style.paint(Paint::Bold, &clean(&f.id)),
        super::faults::suspect_text(&f.suspect)
    )
}

/// ` (agents silent: agent-7 in spoke-c, agent-8)`, or nothing without gaps.
fn silent_suffix(resp: &WhyNodeResponse) -> String {
    if resp.gaps.is_empty() {
        return String::new();
    }
    let agents: Vec<String> = resp
        .gaps
        .iter()
        .map(|g| {
            if g.network.is_empty() {
                clean(&g.agent_id)
            } else {
                format!("{} in {}", clean(&g.agent_id), clean(&g.network))
            }
        })
        .collect();
    format!(" (agents silent: {})", agents.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strip_ansi;
    use vigil_proto::v1::{
        Certainty, FaultEvidence, FaultKind, HealthNode, Layer, ObservabilityGap,
    };

    const NOW: i64 = 1_700_000_180_000;

    fn node(state: HealthState) -> HealthNode {
        HealthNode {
            id: "checkout-api".into(),
            name: "Checkout API".into(),
            layer: Layer::WorkloadApplication as i32,
            owner: Side::Workload as i32,
            state: state as i32,
            score: 10,
            reason: "3/3 vantages failing".into(),
            ..Default::default()
        }
    }

    fn fault(id: &str, side: Side, suspect: &str, confidence: f64) -> Fault {
        Fault {
            id: id.into(),
            side: side as i32,
            suspect: suspect.into(),
            kind: FaultKind::Outage as i32,
            certainty: Certainty::Attributed as i32,
            confidence,
            opened_at_unix_ms: 1_700_000_000_000,
            evidence: vec![FaultEvidence {
                agent_id: "agent-1".into(),
                network: "spoke-a".into(),
                probe_id: "kv-dns".into(),
                target: "kv.privatelink.test".into(),
                signals: 12,
                failures: 12,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn why(state: HealthState, faults: Vec<Fault>, gaps: Vec<ObservabilityGap>) -> WhyNodeResponse {
        WhyNodeResponse {
            node: Some(node(state)),
            path: vec!["root".into(), "workload".into(), "checkout-api".into()],
            faults,
            gaps,
        }
    }

    fn first_line(resp: &WhyNodeResponse) -> String {
        why_text(resp, &Style::plain(), NOW)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_platform_fault_answers_not_us_on_the_first_line() {
        let resp = why(
            HealthState::Unhealthy,
            vec![fault(
                "F-000007",
                Side::Platform,
                "platform/hub/hub-dns",
                0.93,
            )],
            vec![],
        );
        assert_eq!(Verdict::of(&resp), Verdict::Platform);
        assert_eq!(
            first_line(&resp),
            "checkout-api is UNHEALTHY because of a platform fault: \
             F-000007 hub dns (platform/hub/hub-dns) (confidence 0.93)"
        );
        let text = why_text(&resp, &Style::plain(), NOW);
        assert!(text.contains("\n\ncheckout-api  Checkout API\n"), "{text}");
        assert!(
            text.contains("path     root › workload › checkout-api"),
            "{text}"
        );
        assert!(text.contains("\nF-000007  platform · hub dns"), "{text}");
        assert!(text.contains("12/12 failed"), "{text}");
    }

    #[test]
    fn a_workload_fault_is_us() {
        let resp = why(
            HealthState::Unhealthy,
            vec![fault(
                "F-000009",
                Side::Workload,
                "workload/checkout-api",
                0.8,
            )],
            vec![],
        );
        assert_eq!(Verdict::of(&resp), Verdict::Workload);
        assert!(
            first_line(&resp)
                .starts_with("checkout-api is UNHEALTHY because of a workload fault: F-000009"),
            "{}",
            first_line(&resp)
        );
    }

    #[test]
    fn faults_on_both_sides_are_named_platform_first() {
        let resp = why(
            HealthState::Unhealthy,
            vec![
                fault("F-2", Side::Workload, "workload/checkout-api", 0.99),
                fault("F-1", Side::Platform, "platform/spoke-a/connectivity", 0.7),
            ],
            vec![],
        );
        assert_eq!(Verdict::of(&resp), Verdict::BothSides);
        let line = first_line(&resp);
        assert!(
            line.contains(
                "because of faults on both sides: platform F-1 spoke-a connectivity \
                 (platform/spoke-a/connectivity) (confidence 0.70); workload F-2"
            ),
            "{line}"
        );
    }

    #[test]
    fn doubt_is_spelled_out() {
        let mut f = fault("F-3", Side::Platform, "platform/hub/firewall", 0.41);
        f.certainty = Certainty::Ambiguous as i32;
        let resp = why(HealthState::Degraded, vec![f], vec![]);
        assert!(
            first_line(&resp).ends_with("(confidence 0.41, ambiguous)"),
            "{}",
            first_line(&resp)
        );
        let coloured = why_text(&resp, &Style::coloured(), NOW);
        assert!(coloured.contains("\x1b[33mambiguous\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[35mplatform\x1b[0m"), "{coloured}");
        assert_eq!(strip_ansi(&coloured), why_text(&resp, &Style::plain(), NOW));
    }

    #[test]
    fn without_faults_the_answer_does_not_guess() {
        let gap = ObservabilityGap {
            agent_id: "agent-7".into(),
            network: "spoke-c".into(),
        };
        let red = why(HealthState::Unhealthy, vec![], vec![]);
        assert_eq!(Verdict::of(&red), Verdict::NoAttributedFault);
        assert_eq!(
            first_line(&red),
            "checkout-api is UNHEALTHY but no attributed fault explains it yet"
        );

        let silent = why(HealthState::Unknown, vec![], vec![gap.clone()]);
        assert_eq!(Verdict::of(&silent), Verdict::NoRecentData);
        assert_eq!(
            first_line(&silent),
            "checkout-api is UNKNOWN: no recent data (agents silent: agent-7 in spoke-c)"
        );
        let text = why_text(&silent, &Style::plain(), NOW);
        assert!(
            text.contains("blind spots: silent agents, blamed on no side"),
            "{text}"
        );

        // An unset state is Unknown, never Healthy.
        let unset = why(HealthState::Unspecified, vec![], vec![]);
        assert_eq!(Verdict::of(&unset), Verdict::NoRecentData);
        assert!(first_line(&unset).ends_with("no recent data (no agent reports on it)"));

        let green = why(HealthState::Healthy, vec![], vec![]);
        assert_eq!(Verdict::of(&green), Verdict::Healthy);
        assert_eq!(
            first_line(&green),
            "checkout-api is HEALTHY: no open fault touches it"
        );
    }

    #[test]
    fn resolved_faults_do_not_explain_the_present() {
        let mut f = fault("F-1", Side::Platform, "platform/hub/hub-dns", 0.9);
        f.closed_at_unix_ms = 1_700_000_100_000;
        let resp = why(HealthState::Unhealthy, vec![f], vec![]);
        assert_eq!(Verdict::of(&resp), Verdict::NoAttributedFault);
    }

    #[test]
    fn a_missing_node_is_said_plainly() {
        let resp = WhyNodeResponse::default();
        let text = why_text(&resp, &Style::plain(), NOW);
        assert!(
            text.starts_with("the node is UNKNOWN: no recent data"),
            "{text}"
        );
        assert!(text.contains("the aggregator answered without the node"));
    }

    #[test]
    fn json_carries_the_verdict_and_the_answer() {
        let resp = why(
            HealthState::Unhealthy,
            vec![fault(
                "F-000007",
                Side::Platform,
                "platform/hub/hub-dns",
                0.93,
            )],
            vec![ObservabilityGap {
                agent_id: "agent-7".into(),
                network: "spoke-c".into(),
            }],
        );
        let json: serde_json::Value = serde_json::from_str(&why_json(&resp)).unwrap();
        assert_eq!(json["verdict"], "platform");
        assert!(
            json["answer"]
                .as_str()
                .unwrap()
                .starts_with("checkout-api is UNHEALTHY because of a platform fault")
        );
        assert!(!json["answer"].as_str().unwrap().contains('\x1b'));
        assert_eq!(json["node"]["id"], "checkout-api");
        assert_eq!(json["node"]["state"], "unhealthy");
        assert_eq!(json["path"][2], "checkout-api");
        assert_eq!(json["faults"][0]["id"], "F-000007");
        assert_eq!(json["faults"][0]["side"], "platform");
        assert_eq!(json["faults"][0]["status"], "open");
        assert_eq!(json["gaps"][0]["agent_id"], "agent-7");
    }
}
