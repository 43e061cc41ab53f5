//! `vigil node ID`: one node explained from its evidence — state, reason, path,
//! the per-vantage breakdown and the recent signals — and its JSON form.
//!
//! Pure rendering; the caller supplies "now" for ages like "12s ago".

use vigil_proto::ShortName;
use vigil_proto::v1::{
    GetNodeResponse, HealthNode, HealthState, Layer, Outcome, Side, SignalDetail, SignalView,
    VantageHealth, signal_detail,
};

use super::style::{Paint, Style};
use super::table::{Cell, table};
use super::view::{NodeDetailJson, to_json};
use super::{clean, format_age, format_latency, format_time, shown_state, state_name};

/// The node as pretty JSON (see [`NodeDetailJson`]).
pub fn node_json(resp: &GetNodeResponse) -> String {
    to_json(&NodeDetailJson::from(resp), true)
}

/// The node as text.
pub fn node_text(resp: &GetNodeResponse, style: &Style, now_unix_ms: i64) -> String {
    let mut out = String::new();
    match &resp.node {
        Some(node) => out.push_str(&summary(node, &resp.path, style, now_unix_ms)),
        None => out.push_str("the aggregator answered without the node\n"),
    }
    out.push('\n');
    out.push_str(&style.paint(Paint::Bold, "vantages"));
    out.push('\n');
    if resp.vantages.is_empty() {
        out.push_str("  no vantage point has reported on this node\n");
    } else {
        let rows: Vec<Vec<Cell>> = resp
            .vantages
            .iter()
            .map(|v| vantage_row(v, now_unix_ms))
            .collect();
        out.push_str(&table(
            "  ",
            &[
                "AGENT",
                "NETWORK",
                "STATE",
                "SIGNALS",
                "FAILURES",
                "P50",
                "P95",
                "LAST SEEN",
                "CONNECTED",
            ],
            &rows,
            style,
        ));
    }
    out.push('\n');
    out.push_str(&style.paint(Paint::Bold, "recent signals"));
    out.push('\n');
    if resp.recent_signals.is_empty() {
        out.push_str("  no signals in the window\n");
    } else {
        let rows: Vec<Vec<Cell>> = resp.recent_signals.iter().map(signal_row).collect();
        out.push_str(&table(
            "  ",
            &[
                "TIME", "AGENT", "NETWORK", "PROBE", "KIND", "OUTCOME", "ERROR", "LATENCY",
                "MESSAGE",
            ],
            &rows,
            style,
        ));
    }
    out
}

pub(crate) fn summary(
    node: &HealthNode,
    path: &[String],
    style: &Style,
    now_unix_ms: i64,
) -> String {
    let state = shown_state(node.state());
    let mut out = String::new();
    out.push_str(&style.paint(Paint::Bold, &clean(&node.id)));
    if !node.name.is_empty() && node.name != node.id {
        out.push_str(&format!("  {}", clean(&node.name)));
    }
    out.push('\n');
    let field = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!(
            "  {}{value}\n",
            style.paint(Paint::Dim, &format!("{label:<9}"))
        ));
    };
    let since = if node.state_since_unix_ms > 0 {
        format!(
            "  since {} ({})",
            format_time(node.state_since_unix_ms),
            format_age(node.state_since_unix_ms, now_unix_ms)
        )
    } else {
        String::new()
    };
    field(
        &mut out,
        "state",
        &format!(
            "{}  score {}{since}",
            style.paint(Paint::State(state), &state_name(state)),
            node.score
        ),
    );
    let reason = if node.reason.is_empty() {
        "-".to_owned()
    } else {
        clean(&node.reason)
    };
    field(&mut out, "reason", &reason);
    if !path.is_empty() {
        let path: Vec<String> = path.iter().map(|p| clean(p)).collect();
        field(&mut out, "path", &path.join(" › "));
    }
    field(
        &mut out,
        "layer",
        &format!(
            "{}  owner {}  roll-up {}",
            named_or_dash(node.layer(), Layer::Unspecified),
            named_or_dash(node.owner(), Side::Unspecified),
            node.roll_up().short_name()
        ),
    );
    if !node.children.is_empty() {
        field(&mut out, "children", &clean(&node.children.join(", ")));
    }
    if !node.depends_on.is_empty() {
        field(&mut out, "depends", &clean(&node.depends_on.join(", ")));
    }
    if node.children.is_empty() {
        field(
            &mut out,
            "window",
            &format!(
                "{} signals from {} vantage points",
                node.window_signals, node.window_vantages
            ),
        );
    }
    out
}

fn named_or_dash<E: ShortName + PartialEq>(value: E, unset: E) -> String {
    if value == unset {
        "-".to_owned()
    } else {
        value.short_name()
    }
}

fn vantage_row(v: &VantageHealth, now_unix_ms: i64) -> Vec<Cell> {
    let state = shown_state(v.state());
    let network = v
        .vantage
        .as_ref()
        .map(|vt| clean(&vt.network))
        .unwrap_or_default();
    let last_seen = if v.last_seen_unix_ms > 0 {
        format!(
            "{} ({})",
            format_time(v.last_seen_unix_ms),
            format_age(v.last_seen_unix_ms, now_unix_ms)
        )
    } else {
        "never".to_owned()
    };
    let connected = if v.agent_connected {
        Cell::plain("yes")
    } else {
        // A disconnected agent is an observability gap: show it like Unknown.
        Cell::painted("no", Paint::State(HealthState::Unknown))
    };
    vec![
        Cell::plain(clean(&v.agent_id)),
        Cell::plain(network),
        Cell::painted(state_name(state), Paint::State(state)),
        Cell::plain(v.signals.to_string()),
        Cell::plain(v.failures.to_string()),
        Cell::plain(format_latency(v.latency_p50_us)),
        Cell::plain(format_latency(v.latency_p95_us)),
        Cell::plain(last_seen),
        connected,
    ]
}

fn signal_row(s: &SignalView) -> Vec<Cell> {
    let outcome = s.outcome();
    let error = match s.error_class() {
        vigil_proto::v1::ErrorClass::Unspecified => "-".to_owned(),
        class => vigil_proto::error_class_name(class).to_owned(),
    };
    let mut message = clean(&s.message);
    if let Some(detail) = s.detail.as_ref().and_then(detail_text) {
        if !message.is_empty() {
            message.push_str(" · ");
        }
        message.push_str(&detail);
    }
    vec![
        Cell::plain(format_time(s.observed_at_unix_ms)),
        Cell::plain(clean(&s.agent_id)),
        Cell::plain(clean(&s.network)),
        Cell::plain(clean(&s.probe_id)),
        Cell::plain(named_or_dash(
            s.kind(),
            vigil_proto::v1::ProbeKind::Unspecified,
        )),
        Cell::painted(
            named_or_dash(outcome, Outcome::Unspecified),
            Paint::Outcome(outcome),
        ),
        Cell::plain(error),
        Cell::plain(format_latency(s.latency_us)),
        Cell::painted(message, Paint::Dim),
    ]
}

/// Kind-specific evidence in a few words ("status 503", "rcode NXDOMAIN").
fn detail_text(d: &SignalDetail) -> Option<String> {
    use signal_detail::Detail;
    let text = match d.detail.as_ref()? {
        Detail::Http(h) => format!("status {}", h.status),
        Detail::Dns(d) => {
            let mut parts = Vec::new();
            if !d.rcode.is_empty() {
                parts.push(format!("rcode {}", clean(&d.rcode)));
            }
            if !d.addresses.is_empty() {
                parts.push(format!("answers {}", clean(&d.addresses.join(","))));
            }
            if !d.cname_chain.is_empty() {
                parts.push(format!("via {}", clean(&d.cname_chain.join(" → "))));
            }
            if !d.resolver.is_empty() {
                parts.push(format!("resolver {}", clean(&d.resolver)));
            }
            parts.join(", ")
        }
        Detail::Tls(t) => format!(
            "certificate {} days to expiry, subject {}",
            t.days_to_expiry,
            clean(&t.subject)
        ),
        Detail::Reachability(r) => format!("{}/{} answered", r.received, r.sent),
        Detail::Egress(e) => format!("egress ip {}", clean(&e.observed_ip)),
        Detail::Grpc(g) => format!("serving {}", clean(&g.serving_status)),
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strip_ansi;
    use vigil_proto::v1::{DnsDetail, ErrorClass, HttpDetail, ProbeKind, RollUp, Vantage};

    const NOW: i64 = 1_700_000_060_000;

    fn sample() -> GetNodeResponse {
        GetNodeResponse {
            node: Some(HealthNode {
                id: "hub-dns".into(),
                name: "Hub DNS resolver".into(),
                layer: Layer::PlatformHub as i32,
                owner: Side::Platform as i32,
                state: HealthState::Unhealthy as i32,
                score: 0,
                reason: "2/2 vantages failing: dns_timeout".into(),
                state_since_unix_ms: 1_700_000_000_000,
                roll_up: RollUp::WorstOf as i32,
                window_signals: 12,
                window_vantages: 2,
                parent: "platform".into(),
                ..Default::default()
            }),
            path: vec!["root".into(), "platform".into(), "hub-dns".into()],
            vantages: vec![
                VantageHealth {
                    agent_id: "agent-a".into(),
                    vantage: Some(Vantage {
                        network: "spoke-a".into(),
                        ..Default::default()
                    }),
                    state: HealthState::Unhealthy as i32,
                    signals: 6,
                    failures: 6,
                    latency_p50_us: 1_000_000,
                    latency_p95_us: 1_000_000,
                    last_seen_unix_ms: 1_700_000_055_000,
                    agent_connected: true,
                },
                VantageHealth {
                    agent_id: "agent-b".into(),
                    vantage: None,
                    state: HealthState::Unspecified as i32,
                    last_seen_unix_ms: 0,
                    agent_connected: false,
                    ..Default::default()
                },
            ],
            recent_signals: vec![
                SignalView {
                    agent_id: "agent-a".into(),
                    network: "spoke-a".into(),
                    probe_id: "dns-vault".into(),
                    kind: ProbeKind::Dns as i32,
                    target: "vault.privatelink".into(),
                    outcome: Outcome::Failure as i32,
                    error_class: ErrorClass::DnsTimeout as i32,
                    latency_us: 1_000_000,
                    observed_at_unix_ms: 1_700_000_055_000,
                    message: "no answer\nin 1s".into(),
                    detail: Some(SignalDetail {
                        detail: Some(signal_detail::Detail::Dns(DnsDetail {
                            resolver: "10.0.0.4:53".into(),
                            ..Default::default()
                        })),
                    }),
                },
                SignalView {
                    agent_id: "agent-a".into(),
                    network: "spoke-a".into(),
                    probe_id: "api".into(),
                    kind: ProbeKind::Http as i32,
                    outcome: Outcome::Success as i32,
                    latency_us: 850,
                    observed_at_unix_ms: 1_700_000_054_000,
                    detail: Some(SignalDetail {
                        detail: Some(signal_detail::Detail::Http(HttpDetail { status: 200 })),
                    }),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn explains_state_path_and_evidence() {
        let text = node_text(&sample(), &Style::plain(), NOW);
        let expected_head = "\
hub-dns  Hub DNS resolver
  state    unhealthy  score 0  since 2023-11-14T22:13:20Z (1m ago)
  reason   2/2 vantages failing: dns_timeout
  path     root › platform › hub-dns
  layer    platform_hub  owner platform  roll-up worst_of
  window   12 signals from 2 vantage points

vantages
  AGENT    NETWORK  STATE      SIGNALS  FAILURES  P50    P95    LAST SEEN                      CONNECTED
  agent-a  spoke-a  unhealthy  6        6         1.00s  1.00s  2023-11-14T22:14:15Z (5s ago)  yes
  agent-b           unknown    0        0         -      -      never                          no
";
        assert!(text.starts_with(expected_head), "{text}");
        assert!(text.contains("recent signals\n  TIME"), "{text}");
        let failure = text
            .lines()
            .find(|l| l.contains("dns-vault"))
            .expect("signal row");
        for part in [
            "2023-11-14T22:14:15Z",
            "agent-a",
            "spoke-a",
            "dns",
            "failure",
            "dns_timeout",
            "1.00s",
            "no answer in 1s · resolver 10.0.0.4:53",
        ] {
            assert!(failure.contains(part), "{part} missing in {failure}");
        }
        let success = text.lines().find(|l| l.contains(" api ")).expect("row");
        assert!(success.contains("success") && success.contains("850µs"));
        assert!(success.contains("status 200"));
    }

    #[test]
    fn colour_follows_the_style() {
        let coloured = node_text(&sample(), &Style::coloured(), NOW);
        assert!(coloured.contains("\x1b[31munhealthy\x1b[0m"));
        assert!(coloured.contains("\x1b[31mfailure\x1b[0m"));
        assert_eq!(
            strip_ansi(&coloured),
            node_text(&sample(), &Style::plain(), NOW)
        );
        assert!(!node_text(&sample(), &Style::plain(), NOW).contains('\x1b'));
    }

    #[test]
    fn empty_evidence_is_explained() {
        let resp = GetNodeResponse {
            node: Some(HealthNode {
                id: "x".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = node_text(&resp, &Style::plain(), NOW);
        assert!(text.contains("unknown"), "{text}");
        assert!(text.contains("no vantage point has reported"));
        assert!(text.contains("no signals in the window"));
        let text = node_text(&GetNodeResponse::default(), &Style::plain(), NOW);
        assert!(text.contains("without the node"));
    }

    #[test]
    fn json_shape_is_stable() {
        let json: serde_json::Value = serde_json::from_str(&node_json(&sample())).unwrap();
        assert_eq!(json["node"]["id"], "hub-dns");
        assert_eq!(json["node"]["state"], "unhealthy");
        assert_eq!(
            json["path"],
            serde_json::json!(["root", "platform", "hub-dns"])
        );
        let v = &json["vantages"][0];
        assert_eq!(v["agent_id"], "agent-a");
        assert_eq!(v["network"], "spoke-a");
        assert_eq!(v["state"], "unhealthy");
        assert_eq!(v["latency_p95_us"], 1_000_000);
        assert_eq!(v["connected"], true);
        assert_eq!(json["vantages"][1]["state"], "unknown");
        let s = &json["recent_signals"][0];
        assert_eq!(s["kind"], "dns");
        assert_eq!(s["outcome"], "failure");
        assert_eq!(s["error_class"], "dns_timeout");
        assert_eq!(s["detail"]["dns"]["resolver"], "10.0.0.4:53");
        assert_eq!(json["recent_signals"][1]["error_class"], "none");
        assert_eq!(json["recent_signals"][1]["detail"]["http"]["status"], 200);
    }
}
