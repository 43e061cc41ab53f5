//! The agent's own `/metrics` page (Prometheus text format 0.0.4): what it
//! produced, shipped, buffered and dropped, and whether its stream is up.
//!
//! Owns rendering only; it reads the shipper's counters and outbox and must
//! never change them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::shipper::{Counters, Outbox};

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the agent's series.
pub fn render(counters: &Counters, outbox: &Outbox) -> String {
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
    let mut out = String::new();
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_announced_and_counters_end_in_total() {
        let counters = Counters::default();
        counters.signals_produced.store(12, Ordering::Relaxed);
        counters.connected.store(true, Ordering::Relaxed);
        let outbox = Outbox::new(100);
        let text = render(&counters, &outbox);
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
                announced = Some(name.to_string());
            } else if !line.starts_with('#') {
                let name = line.split(' ').next().unwrap();
                assert_eq!(Some(name), announced.as_deref(), "{line}");
                assert!(name.starts_with("vigil_agent_"));
            }
        }
    }
}
