//! Routing: which receivers an alert goes to, by its labels.
//!
//! Owns rule matching only (first match wins unless `continue: true`). It
//! must not know how receivers send.

use std::collections::BTreeSet;

use super::compose::Alert;
use super::config::{AlertsConfig, RouteMatch};

struct Rule {
    matches: RouteMatch,
    receivers: Vec<usize>,
    continue_matching: bool,
}

/// Compiled routes, receiver names resolved to indices.
pub struct Router {
    rules: Vec<Rule>,
}

impl Router {
    pub fn new(config: &AlertsConfig) -> Self {
        let index = |name: &String| config.receivers.iter().position(|r| r.name == *name);
        let rules = config
            .routes
            .iter()
            .map(|r| Rule {
                matches: r.matches.clone(),
                receivers: r.receivers.iter().filter_map(index).collect(),
                continue_matching: r.continue_matching,
            })
            .collect();
        Self { rules }
    }

    /// Receivers for `alert`, each once, in declaration order.
    pub fn receivers(&self, alert: &Alert) -> Vec<usize> {
        let mut out = BTreeSet::new();
        for rule in &self.rules {
            let hit = rule.matches.fields().iter().all(|(label, allowed)| {
                allowed.is_empty()
                    || alert
                        .label(label)
                        // `network` may list several (a workload fault seen
                        // from two spokes): any of them matches.
                        .is_some_and(|v| v.split(',').any(|one| allowed.iter().any(|a| a == one)))
            });
            if hit {
                out.extend(rule.receivers.iter().copied());
                if !rule.continue_matching {
                    break;
                }
            }
        }
        out.into_iter().collect()
    }
}
