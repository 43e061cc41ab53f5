//! `vigil watch`: one line per node change, in text or as newline-delimited
//! JSON (one object per change, for `jq` and log shippers).
//!
//! Pure rendering of one `WatchChangesResponse` at a time; following the
//! stream is the caller's job.

use vigil_proto::v1::WatchChangesResponse;

use super::style::{Paint, Style};
use super::table::pad;
use super::view::{ChangeJson, to_json};
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
    out
}

/// One compact JSON object per change, each on its own line.
pub fn changes_json(msg: &WatchChangesResponse) -> String {
    ChangeJson::from_message(msg)
        .iter()
        .map(|c| to_json(c, false) + "\n")
        .collect()
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
}
