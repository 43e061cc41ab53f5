//! `vigil watch`: one line per node change and per fault event, in text or as newline-delimited
//! JSON (one object per change, for `jq` and log shippers).
//!
//! Pure rendering of one `WatchChangesResponse` at a time; following the
//! stream is the caller's job.

use vigil_proto::ShortName;
use vigil_proto::v1::{FaultEventKind, WatchChangesResponse};

use super::faults::{confidence_text, side_text, suspect_text};
use super::style::{Paint, Style};
use super::table::pad;
use super::view::{ChangeJson, FaultJson, to_json};
use super::{clean, format_time, shown_state, state_name};

/// Column for node ids, so consecutive lines mostly line up without buffering.
const ID_WIDTH: usize = 24;

/// One text line per change; the first (snapshot) message prints every node's
/// current state, later ones print `previous → state`.
pub fn changes_text(msg: &WatchChangesResponse, style: &Style) -> String {
    let time = format_time(msg.evaluated_at_unix_ms);
    let mut out = String::new();
    for change in &msg.changes {
        let state = shown_state(change.state());
        let painted_state = style.paint(Paint::State(state), &state_name(state));
        let transition = if msg.snapshot {
            format!("{} {painted_state}", style.paint(Paint::Dim, "now"))
        } else {
            let previous = shown_state(change.previous_state());
            format!(
                "{} → {painted_state}",
                style.paint(Paint::State(previous), &state_name(previous))
            )
        };
        let line = format!(
            "{}  {}  {transition}  score {}  {}",
            style.paint(Paint::Dim, &time),
            pad(&clean(&change.id), ID_WIDTH),
            change.score,
            style.paint(Paint::Dim, &clean(&change.reason)),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Fault lifecycle events ride on the same stream: one line each, so
    // on-call sees "opened" and "resolved" next to the node changes.
    for change in &msg.faults {
        let Some(fault) = &change.fault else { continue };
        let event = FaultEventKind::try_from(change.event)
            .unwrap_or_default()
            .short_name();
        let line = format!(
            "{}  {}  {}  {} · {}  confidence {}",
            style.paint(Paint::Dim, &time),
            pad(&format!("fault {}", clean(&fault.id)), ID_WIDTH),
            style.paint(Paint::Bold, &event),
            side_text(fault.side(), style),
            suspect_text(&fault.suspect),
            confidence_text(fault),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One compact JSON object per change, each on its own line; fault events
/// as `{"fault_event": "opened", "fault": {...}}`.
pub fn changes_json(msg: &WatchChangesResponse) -> String {
    let nodes = ChangeJson::from_message(msg)
        .iter()
        .map(|c| to_json(c, false) + "\n")
        .collect::<String>();
    let faults = msg
        .faults
        .iter()
        .filter_map(|c| {
            let fault = c.fault.as_ref()?;
            let event = FaultEventKind::try_from(c.event)
                .unwrap_or_default()
                .short_name();
            let json = serde_json::json!({
                "fault_event": event,
                "fault": serde_json::to_value(FaultJson::from(fault)).ok()?,
            });
            Some(json.to_string() + "\n")
        })
        .collect::<String>();
    nodes + &faults
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::v1::{HealthState, NodeChange};

    fn msg(snapshot: bool) -> WatchChangesResponse {
        WatchChangesResponse {
            generation: 3,
            evaluated_at_unix_ms: 1_700_000_000_000,
            changes: vec![
                NodeChange {
                    id: "hub-dns".into(),
                    previous_state: HealthState::Healthy as i32,
                    state: HealthState::Unhealthy as i32,
                    score: 0,
                    reason: "dns_timeout from 3 vantages".into(),
                },
                NodeChange {
                    id: "api".into(),
                    previous_state: HealthState::Unspecified as i32,
                    state: HealthState::Unknown as i32,
                    score: 0,
                    reason: String::new(),
                },
            ],
            layers: vec![],
            snapshot,
            faults: vec![],
        }
    }

    #[test]
    fn one_line_per_change() {
        let text = changes_text(&msg(false), &Style::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "2023-11-14T22:13:20Z  hub-dns                   healthy → unhealthy  score 0  dns_timeout from 3 vantages"
        );
        assert_eq!(
            lines[1],
            "2023-11-14T22:13:20Z  api                       unknown → unknown  score 0"
        );
        let snap = changes_text(&msg(true), &Style::plain());
        assert!(snap.lines().next().unwrap().contains("now unhealthy"));
        let coloured = changes_text(&msg(false), &Style::coloured());
        assert!(coloured.contains("\x1b[32mhealthy\x1b[0m → \x1b[31munhealthy\x1b[0m"));
    }

    #[test]
    fn json_is_one_object_per_line() {
        let out = changes_json(&msg(false));
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], "hub-dns");
        assert_eq!(lines[0]["previous_state"], "healthy");
        assert_eq!(lines[0]["state"], "unhealthy");
        assert_eq!(lines[0]["generation"], 3);
        assert_eq!(lines[0]["snapshot"], false);
        assert_eq!(lines[1]["previous_state"], "unknown");
    }

    fn with_fault_event() -> WatchChangesResponse {
        use vigil_proto::v1::{Fault, FaultChange, Side};
        WatchChangesResponse {
            faults: vec![FaultChange {
                event: FaultEventKind::Opened as i32,
                fault: Some(Fault {
                    id: "F-000007".into(),
                    side: Side::Platform as i32,
                    suspect: "platform/hub/hub-dns".into(),
                    confidence: 0.93,
                    ..Fault::default()
                }),
            }],
            ..msg(false)
        }
    }

    #[test]
    fn fault_events_get_a_line_of_their_own() {
        let text = changes_text(&with_fault_event(), &Style::plain());
        let last = text.lines().last().unwrap();
        assert!(last.contains("fault F-000007"), "{last}");
        assert!(last.contains("opened"), "{last}");
        assert!(last.contains("platform · "), "{last}");
        assert!(last.contains("platform/hub/hub-dns"), "{last}");
        assert!(last.ends_with("confidence 0.93"), "{last}");
        let json: Vec<serde_json::Value> = changes_json(&with_fault_event())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(json.len(), 3);
        assert_eq!(json[2]["fault_event"], "opened");
        assert_eq!(json[2]["fault"]["id"], "F-000007");
    }
}
