//! The `attribution:` section of the aggregator config: the hub's network
//! name and the thresholds of the method (docs/attribution.md).

use std::time::Duration;

use serde::Deserialize;

use super::{Params, TrackerParams};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionConfig {
    /// The vantage network name of the hub (`vantage.network` of hub agents).
    #[serde(default = "default_hub")]
    pub hub_network: String,
    /// The hub component that stands for the hub's forwarding path (spoke
    /// to spoke, spoke to internet): a loss or a wrong SNAT there is blamed
    /// on it. Unset, it is the component of the hub's `firewall` and
    /// `egress` probes.
    #[serde(default)]
    pub firewall_component: Option<String>,
    /// A probe pair is failing from this failure ratio over the window on…
    #[serde(default = "default_failing_ratio")]
    pub failing_ratio: f64,
    /// …and with at least this many failed signals in the window.
    #[serde(default = "default_min_failures")]
    pub min_failures: u32,
    /// Median failure ratio from which a finding is an outage, not intermittent.
    #[serde(default = "default_outage_ratio")]
    pub outage_ratio: f64,
    /// Confidence a suspect needs to be attributed.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
    /// Live vantage networks needed to tell the sides apart.
    #[serde(default = "default_min_vantage_networks")]
    pub min_vantage_networks: usize,
    /// Evaluations a finding must persist before its fault opens.
    #[serde(default = "default_open_after")]
    pub open_after: u32,
    /// Evaluations without the finding before its fault is resolved.
    #[serde(default = "default_close_after")]
    pub close_after: u32,
    /// A fault recurring within this long after resolving reopens as itself.
    #[serde(
        default = "default_flap_window",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub flap_window: Duration,
}

fn default_hub() -> String {
    "hub".into()
}
fn default_failing_ratio() -> f64 {
    Params::default().failing_ratio
}
fn default_min_failures() -> u32 {
    Params::default().min_failures
}
fn default_outage_ratio() -> f64 {
    Params::default().outage_ratio
}
fn default_min_confidence() -> f64 {
    Params::default().min_confidence
}
fn default_min_vantage_networks() -> usize {
    Params::default().min_vantage_networks
}
fn default_open_after() -> u32 {
    TrackerParams::default().open_after
}
fn default_close_after() -> u32 {
    TrackerParams::default().close_after
}
fn default_flap_window() -> Duration {
    Duration::from_millis(TrackerParams::default().flap_window_ms as u64)
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            hub_network: default_hub(),
            firewall_component: None,
            failing_ratio: default_failing_ratio(),
            min_failures: default_min_failures(),
            outage_ratio: default_outage_ratio(),
            min_confidence: default_min_confidence(),
            min_vantage_networks: default_min_vantage_networks(),
            open_after: default_open_after(),
            close_after: default_close_after(),
            flap_window: default_flap_window(),
        }
    }
}

impl AttributionConfig {
    pub fn params(&self) -> Params {
        Params {
            failing_ratio: self.failing_ratio,
            min_failures: self.min_failures,
            outage_ratio: self.outage_ratio,
            min_confidence: self.min_confidence,
            min_vantage_networks: self.min_vantage_networks,
            ..Params::default()
        }
    }

    pub fn tracker(&self) -> TrackerParams {
        TrackerParams {
            open_after: self.open_after,
            close_after: self.close_after,
            flap_window_ms: i64::try_from(self.flap_window.as_millis()).unwrap_or(i64::MAX),
            ..TrackerParams::default()
        }
    }

    /// `(field, problem, fix)` for a value that parses but cannot work.
    pub fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        if self.hub_network.trim().is_empty() {
            return Some((
                "attribution.hub_network",
                "is empty".into(),
                "name the hub agents' network, e.g. `hub`",
            ));
        }
        if self
            .firewall_component
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Some((
                "attribution.firewall_component",
                "is empty".into(),
                "name the hub firewall's component, e.g. `hub-firewall`, or leave the field out",
            ));
        }
        for (field, v) in [
            ("attribution.failing_ratio", self.failing_ratio),
            ("attribution.outage_ratio", self.outage_ratio),
            ("attribution.min_confidence", self.min_confidence),
        ] {
            if !(0.0..=1.0).contains(&v) || v.is_nan() {
                return Some((
                    field,
                    format!("{v} is outside 0..=1"),
                    "use a ratio such as `0.5`",
                ));
            }
        }
        if self.open_after == 0 || self.close_after == 0 {
            return Some((
                "attribution.open_after",
                "open_after and close_after must be at least 1".into(),
                "use small counts such as `2` and `3`",
            ));
        }
        None
    }
}
