//! `vigil faults` and `vigil fault ID`: attributed faults as blocks that answer
//! "is it us or the platform?" — side, suspect, confidence, the evidence to
//! hand to the other team — plus the blind spots, and their JSON forms.
//!
//! Pure rendering; the caller supplies "now". It must not re-attribute: the
//! side, suspect and confidence are the aggregator's, shown as sent.

use std::cmp::Ordering;

use vigil_proto::ShortName;
use vigil_proto::v1::{
    Certainty, ErrorClass, Fault, FaultEvidence, FaultKind, GetFaultResponse, HealthState,
    ListFaultsResponse, ObservabilityGap, Outcome, Side,
};

use super::style::{Paint, Style};
use super::table::{Cell, aligned};
use super::view::{FaultDetailJson, FaultsJson, to_json};
use super::{clean, format_age, format_clock, format_time};

/// Failing probes listed per fault in `vigil faults`; `vigil fault ID` shows all.
pub const LIST_EVIDENCE: usize = 5;

/// Longest example message shown on an evidence line, in characters.
const EXAMPLE_CHARS: usize = 60;

/// How much of a fault's evidence a block shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// The first [`LIST_EVIDENCE`] failing probes and a count of the healthy ones.
    Brief,
    /// Every failing and healthy probe, and the fault's times and nodes.
    Full,
}

/// The faults as pretty JSON (see [`FaultsJson`]), in display order.
pub fn faults_json(resp: &ListFaultsResponse) -> String {
    to_json(&FaultsJson::new(resp), true)
}

/// One fault as pretty JSON (see [`FaultDetailJson`]).
pub fn fault_json(resp: &GetFaultResponse) -> String {
    to_json(&FaultDetailJson::from(resp), true)
}

/// The faults as text: a headline, one block per fault (open first, platform
/// before workload), then the blind spots.
pub fn faults_text(resp: &ListFaultsResponse, style: &Style, now_unix_ms: i64) -> String {
    let faults = ordered(&resp.faults);
    let open = faults.iter().filter(|f| is_open(f)).count();
    let resolved = faults.len() - open;
    let mut out = String::new();
    out.push_str(&headline(resp, &faults, open, resolved, style, now_unix_ms));
    for fault in &faults {
        out.push('\n');
        out.push_str(&fault_block(fault, Depth::Brief, style, now_unix_ms));
    }
    if !resp.gaps.is_empty() {
        out.push('\n');
        out.push_str(&gaps_section(&resp.gaps, style));
    }
    out
}

/// One fault as text with all its evidence and counter-evidence.
pub fn fault_text(resp: &GetFaultResponse, style: &Style, now_unix_ms: i64) -> String {
    match &resp.fault {
        Some(fault) => fault_block(fault, Depth::Full, style, now_unix_ms),
        None => "the aggregator answered without the fault\n".to_owned(),
    }
}

/// Display order: open before resolved, platform before workload before
/// unattributed (the hub is eliminated first, and its faults explain the
/// workload's), then the most confident, the oldest, and the id as tie-break.
pub fn ordered(faults: &[Fault]) -> Vec<&Fault> {
    let mut sorted: Vec<&Fault> = faults.iter().collect();
    sorted.sort_by(|a, b| {
        is_open(b)
            .cmp(&is_open(a))
            .then_with(|| side_rank(a.side()).cmp(&side_rank(b.side())))
            .then_with(|| {
                confidence(b)
                    .partial_cmp(&confidence(a))
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| a.opened_at_unix_ms.cmp(&b.opened_at_unix_ms))
            .then_with(|| a.id.cmp(&b.id))
    });
    sorted
}

pub(crate) fn is_open(f: &Fault) -> bool {
    f.closed_at_unix_ms <= 0
}

fn side_rank(side: Side) -> u8 {
    match side {
        Side::Platform => 0,
        Side::Workload => 1,
        Side::Unspecified => 2,
    }
}

/// A confidence fit for sorting and printing: a value that is not a number
/// counts as no confidence, and the range is clamped to 0..1.
fn confidence(f: &Fault) -> f64 {
    if f.confidence.is_finite() {
        f.confidence.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// `0.93`, or `?` when the aggregator sent something that is not a number.
pub(crate) fn confidence_text(f: &Fault) -> String {
    if f.confidence.is_finite() {
        format!("{:.2}", confidence(f))
    } else {
        "?".to_owned()
    }
}

/// `platform`, `workload`, or `side unknown`, in the side's colour.
pub(crate) fn side_text(side: Side, style: &Style) -> String {
    let name = match side {
        Side::Unspecified => "side unknown".to_owned(),
        side => side.short_name(),
    };
    style.paint(Paint::Side(side), &name)
}

/// A reader's name for a suspect (`hub dns`, `spoke-a connectivity`), if its
/// path follows the aggregator's scheme.
fn suspect_label(suspect: &str) -> Option<String> {
    let parts: Vec<&str> = suspect.split('/').collect();
    match parts.as_slice() {
        ["platform", "hub", component] if !component.is_empty() => {
            let component = component.strip_prefix("hub-").unwrap_or(component);
            Some(format!("hub {component}"))
        }
        ["platform", network, "connectivity"] if !network.is_empty() => {
            Some(format!("{network} connectivity"))
        }
        ["workload", rest @ ..] if !rest.is_empty() && rest.iter().all(|p| !p.is_empty()) => {
            Some(rest.join("/"))
        }
        _ => None,
    }
}

/// `hub dns (platform/hub/hub-dns)`, or the bare suspect when no label fits.
pub(crate) fn suspect_text(suspect: &str) -> String {
    let suspect = clean(suspect);
    if suspect.is_empty() {
        return "no suspect named".to_owned();
    }
    match suspect_label(&suspect) {
        Some(label) if label != suspect => format!("{label} ({suspect})"),
        _ => suspect,
    }
}

fn headline(
    resp: &ListFaultsResponse,
    faults: &[&Fault],
    open: usize,
    resolved: usize,
    style: &Style,
    now_unix_ms: i64,
) -> String {
    let evaluated = if resp.evaluated_at_unix_ms > 0 {
        format!(
            "evaluated {} ({})",
            format_clock(resp.evaluated_at_unix_ms, now_unix_ms),
            format_age(resp.evaluated_at_unix_ms, now_unix_ms)
        )
    } else {
        String::new()
    };
    if resp.evaluated_at_unix_ms <= 0 && faults.is_empty() {
        // Nothing evaluated is not the same as nothing wrong.
        return "no faults attributed yet: the aggregator has not evaluated the tree\n".to_owned();
    }
    let mut line = if open == 0 {
        "no open faults".to_owned()
    } else {
        let sides: Vec<String> = [Side::Platform, Side::Workload, Side::Unspecified]
            .into_iter()
            .filter_map(|side| {
                let n = faults
                    .iter()
                    .filter(|f| is_open(f) && f.side() == side)
                    .count();
                (n > 0).then(|| format!("{n} {}", side_text(side, style)))
            })
            .collect();
        format!(
            "{} · {}",
            style.paint(Paint::Bold, &plural(open, "open fault", "open faults")),
            sides.join(", ")
        )
    };
    if resolved > 0 {
        line.push_str(&format!(" · {resolved} resolved"));
    }
    if !evaluated.is_empty() {
        line.push_str(" · ");
        line.push_str(&style.paint(Paint::Dim, &evaluated));
    }
    line.push('\n');
    if open == 0 && !resp.gaps.is_empty() {
        // Silence is not health: a quiet fault list with blind spots is not
        // an all-clear.
        line.push_str(&format!(
            "but {}: what they watch is unknown\n",
            plural(resp.gaps.len(), "agent is silent", "agents are silent")
        ));
    }
    line
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One fault: the headline, the summary, the evidence, the counter-evidence
/// and who is hit.
pub(crate) fn fault_block(f: &Fault, depth: Depth, style: &Style, now_unix_ms: i64) -> String {
    let mut out = String::new();
    out.push_str(&fault_headline(f, style, now_unix_ms));
    out.push('\n');
    if !f.summary.is_empty() {
        out.push_str(&format!("  {}\n", clean(&f.summary)));
    }
    let shown = match depth {
        Depth::Brief => f.evidence.len().min(LIST_EVIDENCE),
        Depth::Full => f.evidence.len(),
    };
    if f.evidence.is_empty() {
        out.push_str(&style.paint(Paint::Dim, "  no failing probe listed"));
        out.push('\n');
    } else {
        let rows: Vec<Vec<Cell>> = f.evidence[..shown]
            .iter()
            .map(|e| evidence_row(e, false))
            .collect();
        out.push_str(&aligned("  ", &rows, style));
        let hidden = f.evidence.len() - shown;
        if hidden > 0 {
            out.push_str(&style.paint(
                Paint::Dim,
                &format!(
                    "  … {}: vigil fault {}",
                    plural(hidden, "more failing probe", "more failing probes"),
                    clean(&f.id)
                ),
            ));
            out.push('\n');
        }
    }
    match depth {
        Depth::Brief => {
            let counter = if f.counter_evidence.is_empty() {
                "none: no healthy probe through the same suspect".to_owned()
            } else {
                format!(
                    "{} through the same suspect",
                    plural(f.counter_evidence.len(), "healthy probe", "healthy probes")
                )
            };
            out.push_str(&format!("  counter-evidence: {counter}\n"));
        }
        Depth::Full => {
            if f.counter_evidence.is_empty() {
                out.push_str(
                    "  counter-evidence: none: no healthy probe through the same suspect\n",
                );
            } else {
                out.push_str("  counter-evidence: healthy probes through the same suspect\n");
                let rows: Vec<Vec<Cell>> = f
                    .counter_evidence
                    .iter()
                    .map(|e| evidence_row(e, true))
                    .collect();
                out.push_str(&aligned("  ", &rows, style));
            }
        }
    }
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| clean(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !f.networks.is_empty() {
        out.push_str(&format!("  seen from: {}\n", list(&f.networks)));
    }
    if !f.impact.is_empty() {
        out.push_str(&format!("  impact: workload {}\n", list(&f.impact)));
    }
    if !f.silent_agents.is_empty() {
        out.push_str(&format!(
            "  silent agents (cut off with their network): {}\n",
            list(&f.silent_agents)
        ));
    }
    if depth == Depth::Full {
        if !f.nodes.is_empty() {
            out.push_str(&format!("  nodes: {}\n", list(&f.nodes)));
        }
        out.push_str(&style.paint(Paint::Dim, &times(f)));
        out.push('\n');
    }
    out
}

/// `F-000007  platform · hub dns (platform/hub/hub-dns)  outage · confidence 0.93  since 10:42:07Z (3m ago)`
fn fault_headline(f: &Fault, style: &Style, now_unix_ms: i64) -> String {
    let id = if f.id.is_empty() {
        "(no id)".to_owned()
    } else {
        clean(&f.id)
    };
    let mut qualities = Vec::new();
    match f.kind() {
        FaultKind::Unspecified => {}
        FaultKind::SecurityDrift => qualities.push(style.paint(
            Paint::Outcome(Outcome::Failure),
            &FaultKind::SecurityDrift.short_name(),
        )),
        kind => qualities.push(kind.short_name()),
    }
    match f.certainty() {
        Certainty::Attributed => {}
        Certainty::Unspecified => qualities.push(style.paint(
            Paint::Certainty(Certainty::Unspecified),
            "certainty unknown",
        )),
        certainty => {
            qualities.push(style.paint(Paint::Certainty(certainty), &certainty.short_name()));
        }
    }
    qualities.push(format!("confidence {}", confidence_text(f)));
    let when = if is_open(f) {
        format!(
            "since {} ({})",
            format_clock(f.opened_at_unix_ms, now_unix_ms),
            format_age(f.opened_at_unix_ms, now_unix_ms)
        )
    } else {
        style.paint(
            Paint::Dim,
            &format!(
                "resolved {} ({})",
                format_clock(f.closed_at_unix_ms, now_unix_ms),
                format_age(f.closed_at_unix_ms, now_unix_ms)
            ),
        )
    };
    let mut line = format!(
        "{}  {} · {}  {}  {when}",
        style.paint(Paint::Bold, &id),
        side_text(f.side(), style),
        suspect_text(&f.suspect),
        qualities.join(" · "),
    );
    if f.reopened > 0 {
        line.push_str(&format!("  reopened {}×", f.reopened));
    }
    line
}

/// `✗ spoke-a  agent-1  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  "example"`
fn evidence_row(e: &FaultEvidence, healthy: bool) -> Vec<Cell> {
    let mark = if healthy {
        Cell::painted("✓", Paint::Outcome(Outcome::Success))
    } else {
        Cell::painted("✗", Paint::Outcome(Outcome::Failure))
    };
    let probe = match (e.probe_id.is_empty(), e.target.is_empty()) {
        (false, false) => format!("{} → {}", clean(&e.probe_id), clean(&e.target)),
        (false, true) => clean(&e.probe_id),
        (true, _) => clean(&e.target),
    };
    let error = match e.error_class() {
        ErrorClass::Unspecified => String::new(),
        class => vigil_proto::error_class_name(class).to_owned(),
    };
    let example = if e.example.is_empty() {
        String::new()
    } else {
        format!("\"{}\"", truncate(&clean(&e.example), EXAMPLE_CHARS))
    };
    vec![
        mark,
        Cell::plain(or_dash(clean(&e.network))),
        Cell::plain(or_dash(clean(&e.agent_id))),
        Cell::plain(or_dash(probe)),
        Cell::plain(format!("{}/{} failed", e.failures, e.signals)),
        Cell::plain(error),
        Cell::painted(example, Paint::Dim),
    ]
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn times(f: &Fault) -> String {
    let mut parts = vec![
        format!("opened {}", format_time(f.opened_at_unix_ms)),
        format!("updated {}", format_time(f.updated_at_unix_ms)),
    ];
    if !is_open(f) {
        parts.push(format!("resolved {}", format_time(f.closed_at_unix_ms)));
    }
    if f.reopened > 0 {
        parts.push(format!("reopened {}×", f.reopened));
    }
    format!("  {}", parts.join(" · "))
}

/// Silent agents as their own section: a blind spot is blamed on no side.
pub(crate) fn gaps_section(gaps: &[ObservabilityGap], style: &Style) -> String {
    let mut out = style.paint(Paint::Bold, "blind spots: silent agents, blamed on no side");
    out.push('\n');
    let rows: Vec<Vec<Cell>> = gaps
        .iter()
        .map(|g| {
            vec![
                Cell::painted("?", Paint::State(HealthState::Unknown)),
                Cell::plain(or_dash(clean(&g.agent_id))),
                Cell::plain(or_dash(clean(&g.network))),
                Cell::painted(
                    "no signals: what it watches is unknown",
                    Paint::State(HealthState::Unknown),
                ),
            ]
        })
        .collect();
    out.push_str(&aligned("  ", &rows, style));
    out
}

#[cfg(test)]
mod tests;
