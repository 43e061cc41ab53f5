//! The agent's own `/metrics` page (Prometheus text format 0.0.4): what it
//! produced, shipped, buffered and dropped, whether its stream is up, and
//! per probe how often it ran, why it failed, how long it took and whether
//! its last run succeeded.
//!
//! Owns the series names and their rendering; it reads the shipper's
//! counters, the outbox and the probe cells and must never change them.

pub mod probes;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub use probes::{DURATION_BUCKETS, ProbeCell, ProbeLabels, ProbeSnapshot, ProbeTable, RunOutcome};

use crate::shipper::{Counters, Outbox};

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus names of the per-probe families, in exposition order.
pub const PROBE_RUNS: &str = "vigil_agent_probe_runs_total";
pub const PROBE_FAILURES: &str = "vigil_agent_probe_failures_total";
pub const PROBE_DURATION: &str = "vigil_agent_probe_duration_seconds";
pub const PROBE_UP: &str = "vigil_agent_probe_up";

/// Renders the agent's series.
pub fn render(counters: &Counters, outbox: &Outbox, probes: &ProbeTable) -> String {
    let mut out = String::new();
    render_delivery(&mut out, counters, outbox);
    render_probes(&mut out, probes);
    out
}

fn render_delivery(out: &mut String, counters: &Counters, outbox: &Outbox) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let series: [(&str, &str, &str, f64); 7] = [
        (
            "vigil_agent_signals_produced_total",
            "counter",
            "Signals produced by this agent's probes.",
            load(&counters.signals_produced),
        ),
        (
            "vigil_agent_signals_acked_total",
            "counter",
            "Signals the aggregator acknowledged.",
            load(&counters.signals_acked),
        ),
        (
            "vigil_agent_buffer_dropped_signals_total",
            "counter",
            "Signals dropped because the outbox buffer overflowed.",
            outbox.dropped_total() as f64,
        ),
        (
            "vigil_agent_reconnects_total",
            "counter",
            "Reconnections of the stream to the aggregator.",
            load(&counters.reconnects),
        ),
        (
            "vigil_agent_batches_rejected_total",
            "counter",
            "Batches the aggregator refused.",
            load(&counters.batches_rejected),
        ),
        (
            "vigil_agent_buffered_signals",
            "gauge",
            "Signals waiting in the outbox for the aggregator.",
            outbox.buffered_signals() as f64,
        ),
        (
            "vigil_agent_connected",
            "gauge",
            "1 while the stream to the aggregator is up.",
            if counters.connected.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        ),
    ];
    for (name, kind, help, value) in series {
        announce(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn render_probes(out: &mut String, probes: &ProbeTable) {
    // One snapshot per probe, so all four families show the same moment.
    let snaps: Vec<(&ProbeLabels, ProbeSnapshot)> = probes
        .cells()
        .iter()
        .map(|c| (c.labels(), c.snapshot()))
        .collect();

    announce(
        out,
        PROBE_RUNS,
        "counter",
        "Probe runs by outcome (success, warning, failure).",
    );
    for (labels, s) in &snaps {
        for (outcome, n) in s.runs {
            sample(out, PROBE_RUNS, labels, &[("outcome", outcome.name())], n);
        }
    }

    announce(
        out,
        PROBE_FAILURES,
        "counter",
        "Failed probe runs by error class (short names, see docs/taxonomy.md).",
    );
    for (labels, s) in &snaps {
        for (class, n) in &s.failures {
            sample(out, PROBE_FAILURES, labels, &[("error_class", class)], *n);
        }
    }

    announce(
        out,
        PROBE_DURATION,
        "histogram",
        "Duration of probe runs in seconds.",
    );
    let bucket = format!("{PROBE_DURATION}_bucket");
    let (sum, count) = (
        format!("{PROBE_DURATION}_sum"),
        format!("{PROBE_DURATION}_count"),
    );
    for (labels, s) in &snaps {
        for (le, n) in DURATION_BUCKETS.iter().zip(s.cumulative_buckets) {
            sample(out, &bucket, labels, &[("le", &le.to_string())], n);
        }
        sample(
            out,
            &bucket,
            labels,
            &[("le", "+Inf")],
            s.cumulative_buckets[DURATION_BUCKETS.len()],
        );
        sample(out, &sum, labels, &[], s.duration_sum);
        sample(out, &count, labels, &[], s.duration_count);
    }

    announce(
        out,
        PROBE_UP,
        "gauge",
        "1 if the probe's last run succeeded (a warning counts), 0 if it failed; absent before the first run.",
    );
    for (labels, s) in &snaps {
        if let Some(up) = s.up {
            sample(out, PROBE_UP, labels, &[], u8::from(up));
        }
    }
}

fn announce(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &ProbeLabels,
    extra: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    out.push('{');
    let pairs = labels.pairs();
    let all = pairs.iter().copied().chain(extra.iter().copied());
    for (i, (key, val)) in all.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        escape_into(out, val);
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

/// Label values may hold any text (targets quote URLs and DNS names); the
/// format reserves backslash, double quote and newline.
fn escape_into(out: &mut String, value: &str) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_proto::v1::ErrorClass;

    use super::*;
    use crate::probe::Observation;

    fn table() -> ProbeTable {
        let text = r#"
agent: { id: t, network: n }
probes:
  - id: up
    kind: tcp
    address: "127.0.0.1:1"
    component: "api \"edge\""
    layer: workload_application
  - id: never
    kind: dns
    name: kv.lab.test
    component: hub-dns
    layer: platform_hub
"#;
        let config = crate::AgentConfig::from_yaml(text, "t.yaml").unwrap();
        ProbeTable::new(&config.probes)
    }

    #[test]
    fn every_sample_is_announced_and_counters_end_in_total() {
        let counters = Counters::default();
        counters.signals_produced.store(12, Ordering::Relaxed);
        counters.connected.store(true, Ordering::Relaxed);
        let outbox = Outbox::new(100);
        let probes = table();
        probes.cells()[0].record(&Observation::failure(
            ErrorClass::ConnectionRefused,
            Duration::from_millis(3),
            "refused",
        ));
        let text = render(&counters, &outbox, &probes);
        assert!(
            text.contains("\nvigil_agent_signals_produced_total 12\n"),
            "{text}"
        );
        assert!(text.contains("\nvigil_agent_connected 1\n"), "{text}");
        let mut announced = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                announced = Some((name.to_string(), kind.to_string()));
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let (family, kind) = announced.clone().unwrap();
                let ok = name == family
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name == format!("{family}{s}")));
                assert!(ok, "{line} not announced by {family}");
                assert!(name.starts_with("vigil_agent_"));
            }
        }
    }

    #[test]
    fn probe_labels_are_escaped_and_unknown_probes_are_not_up() {
        let probes = table();
        probes.cells()[0].record(&Observation::failure(
            ErrorClass::ConnectionRefused,
            Duration::from_millis(3),
            "refused",
        ));
        let text = render(&Counters::default(), &Outbox::new(10), &probes);
        let id = r#"probe="up",kind="tcp",target="127.0.0.1:1",component="api \"edge\"""#;
        assert!(
            text.contains(&format!("vigil_agent_probe_up{{{id}}} 0\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "vigil_agent_probe_failures_total{{{id},error_class=\"refused\"}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "vigil_agent_probe_duration_seconds_bucket{{{id},le=\"0.0025\"}} 0\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "vigil_agent_probe_duration_seconds_bucket{{{id},le=\"0.005\"}} 1\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains(r#"vigil_agent_probe_up{probe="never""#),
            "a probe that never ran is unknown, not up or down: {text}"
        );
        assert!(
            text.contains(r#"vigil_agent_probe_runs_total{probe="never",kind="dns",target="kv.lab.test A",component="hub-dns",outcome="success"} 0"#),
            "{text}"
        );
    }
}
