//! Fast configurations for tests, written as the text of the config file so
//! that the kit needs no Vigil type: [`aggregator_yaml`] gives an aggregator
//! config that listens on loopback ports the OS chooses and evaluates on the
//! [`Evaluation`] timing a suite asks for. A suite parses it with
//! `AggregatorConfig::from_yaml`, which also validates it.
//!
//! Owns the timing the suites share and how it is spelled in YAML. It must
//! not name a model, a probe or an exporter: suites add those themselves.

use std::time::Duration;

/// Evaluation timing for an aggregator under test; `None` keeps the
/// aggregator's own default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evaluation {
    pub interval: Option<Duration>,
    pub window: Option<Duration>,
    pub staleness: Option<Duration>,
    pub hysteresis: Option<u32>,
}

impl Evaluation {
    /// Every field at the aggregator's default.
    pub const DEFAULT: Self = Self {
        interval: None,
        window: None,
        staleness: None,
        hysteresis: None,
    };

    /// The aggregator suites' timing: a tick every 50 ms, a 5 s window,
    /// stale after 3 s, and a state turns on the first evaluation.
    pub const FAST: Self = Self {
        interval: Some(Duration::from_millis(50)),
        window: Some(Duration::from_secs(5)),
        staleness: Some(Duration::from_secs(3)),
        hysteresis: Some(1),
    };

    /// The end-to-end suite's timing (real agents probing every 200 ms): a
    /// tick every 100 ms, a 3 s window, stale after 2 s, and a state turns
    /// after two evaluations.
    pub const END_TO_END: Self = Self {
        interval: Some(Duration::from_millis(100)),
        window: Some(Duration::from_secs(3)),
        staleness: Some(Duration::from_secs(2)),
        hysteresis: Some(2),
    };
}

/// The kit's default security section: plaintext and an open query API.
pub const OPEN: &str = "insecure:\n  plaintext: true\n  open_api: true\n";

/// An aggregator config file: gRPC and HTTP on `127.0.0.1:0`, the default
/// model path (the library takes a loaded model), and `evaluation`. It
/// serves plaintext with an open query API ([`OPEN`]): the suites about TLS,
/// agent identity and tokens (`trust.rs`) use [`aggregator_yaml_with`]; the
/// others test what flows over the connection, not who opened it.
pub fn aggregator_yaml(evaluation: &Evaluation) -> String {
    aggregator_yaml_with(evaluation, OPEN)
}

/// Like [`aggregator_yaml`], with `security` (the `tls:`, `auth:` and
/// `insecure:` sections, as YAML) in place of [`OPEN`].
pub fn aggregator_yaml_with(evaluation: &Evaluation, security: &str) -> String {
    let mut yaml =
        format!("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\nmodel: model.yaml\n{security}");
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let fields = [
        ("interval", evaluation.interval.map(ms)),
        ("window", evaluation.window.map(ms)),
        ("staleness", evaluation.staleness.map(ms)),
        ("hysteresis", evaluation.hysteresis.map(|h| h.to_string())),
    ];
    let set: Vec<String> = fields
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("  {key}: {v}\n")))
        .collect();
    if !set.is_empty() {
        yaml.push_str("evaluation:\n");
        yaml.extend(set);
    }
    yaml
}

/// The `tls:` section for an aggregator serving `dir/{tls.crt,tls.key,ca.crt}`
/// (as `vigil certs` and cert-manager lay them out) for agents of
/// `trust_domain`, with any further `tls:` fields in `extra` (indented).
pub fn tls_section(dir: &std::path::Path, trust_domain: &str, extra: &str) -> String {
    format!(
        "tls:\n  cert: {0}/tls.crt\n  key: {0}/tls.key\n  client_ca: {0}/ca.crt\n  trust_domain: {trust_domain}\n{extra}",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_timing_is_spelled_in_milliseconds() {
        assert_eq!(
            aggregator_yaml(&Evaluation::FAST),
            "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\nmodel: model.yaml\ninsecure:\n  plaintext: true\n  open_api: true\n\
             evaluation:\n  interval: 50ms\n  window: 5000ms\n  staleness: 3000ms\n  hysteresis: 1\n"
        );
    }

    #[test]
    fn defaults_leave_the_section_out() {
        assert_eq!(
            aggregator_yaml(&Evaluation::DEFAULT),
            "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\nmodel: model.yaml\ninsecure:\n  plaintext: true\n  open_api: true\n"
        );
    }
}
