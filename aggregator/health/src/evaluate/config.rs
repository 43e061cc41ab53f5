//! `evaluation:` in the aggregator's config: how and how often the health
//! tree is evaluated.
//!
//! Owns the settings and their defaults; the aggregator's config file checks
//! them against each other (docs/model.md).

use std::time::Duration;

use serde::Deserialize;

/// How and how often the health tree is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Time between two scheduled evaluations, which re-judge every leaf.
    /// A series that turns is evaluated early, without waiting for it.
    #[serde(
        default = "default_interval",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub interval: Duration,
    /// How far back signals count towards a leaf's failure ratio and latency.
    #[serde(
        default = "default_window",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub window: Duration,
    /// A vantage with no signal newer than this is Unknown.
    #[serde(
        default = "default_staleness",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub staleness: Duration,
    /// Consecutive evaluations that must agree before a leaf's state changes.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: u32,
    /// Recent signals kept per (agent, probe) series as evidence.
    #[serde(default = "default_recent_signals")]
    pub recent_signals: usize,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            window: default_window(),
            staleness: default_staleness(),
            hysteresis: default_hysteresis(),
            recent_signals: default_recent_signals(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_window() -> Duration {
    Duration::from_secs(60)
}
fn default_staleness() -> Duration {
    Duration::from_secs(30)
}
fn default_hysteresis() -> u32 {
    2
}
fn default_recent_signals() -> usize {
    // Enough to show what a series did lately and to find its dominant
    // failure class; each entry is 24 bytes per (agent, probe) pair.
    8
}
