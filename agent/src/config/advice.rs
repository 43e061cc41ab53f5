//! Advice on a config that is valid but probably wrong for where the agent
//! runs, such as a deny firewall probe in the hub, whose traffic does not
//! cross the hub firewall. Owns those checks and their wording; it must not
//! refuse a config (that is validation) or log (the caller does).

use std::fmt;

use super::{AgentConfig, PolicyExpectation, ProbeSpec};

/// The network name this agent takes for the hub: the aggregator's default
/// `attribution.hub_network`. The agent is not told the aggregator's
/// setting, so an agent in a hub named otherwise gets no hub advice.
pub const HUB_NETWORK: &str = "hub";

/// One piece of advice about one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The probe's id.
    pub probe: String,
    /// What is probably wrong, and what to do instead.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probe {}: {}", self.probe, self.message)
    }
}

pub(super) fn warnings(config: &AgentConfig) -> Vec<ConfigWarning> {
    if config.agent.network != HUB_NETWORK {
        return Vec::new();
    }
    config
        .probes
        .iter()
        .filter(|p| {
            matches!(&p.spec, ProbeSpec::Firewall(fw) if fw.expect == PolicyExpectation::Deny)
        })
        .map(|p| ConfigWarning {
            probe: p.id.clone(),
            message: format!(
                "expect: deny firewall probe on an agent in network `{HUB_NETWORK}`: traffic from the hub itself usually does not cross the hub firewall (the spokes' routes send their traffic through it), so this probe reports a permanent security drift (policy_drift) there; run deny probes from spoke agents, or keep it here only if this network's own routes send it through the firewall"
            ),
        })
        .collect()
}
