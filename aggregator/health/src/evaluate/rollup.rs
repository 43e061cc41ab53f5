//! How a parent combines its children's published states and scores.
//!
//! Owns the roll-up rules (worst-of, weighted, quorum) and the badness order
//! Unhealthy > Degraded > Unknown > Healthy. Pure functions; no hysteresis
//! (children are already debounced).

use vigil_proto::Label;
use vigil_proto::v1::HealthState;

use super::score::{clamp_to_band, state_of_score};
use vigil_model::RollUp;

/// How bad a state is. Unknown sits between Healthy and Degraded: missing
/// data hides health, but known trouble is worse than not knowing.
pub fn badness(state: HealthState) -> u8 {
    match state {
        HealthState::Healthy => 0,
        HealthState::Unknown | HealthState::Unspecified => 1,
        HealthState::Degraded => 2,
        HealthState::Unhealthy => 3,
    }
}

/// One child as its parent sees it.
#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    pub id: &'a str,
    pub state: HealthState,
    pub score: u8,
    pub weight: f64,
}

/// A parent's combined state, score and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub state: HealthState,
    pub score: u8,
    pub reason: String,
}

pub fn combine(rule: RollUp, children: &[Child<'_>]) -> Combined {
    if children.is_empty() {
        return Combined {
            state: HealthState::Unknown,
            score: 0,
            reason: "no children to roll up".into(),
        };
    }
    let c = match rule {
        RollUp::WorstOf => worst_of(children),
        RollUp::Weighted => weighted(children),
        RollUp::Quorum(k) => quorum(k as usize, children),
    };
    Combined {
        score: if c.state == HealthState::Unknown {
            0
        } else {
            c.score
        },
        ..c
    }
}

fn worst_of(children: &[Child<'_>]) -> Combined {
    let worst = children
        .iter()
        .max_by_key(|c| badness(c.state))
        .map_or(HealthState::Unknown, |c| c.state);
    let score = children.iter().map(|c| c.score).min().unwrap_or(0);
    let culprits: Vec<&str> = children
        .iter()
        .filter(|c| c.state == worst)
        .map(|c| c.id)
        .collect();
    let reason = if worst == HealthState::Healthy {
        format!("all {} children healthy", children.len())
    } else {
        format!(
            "worst of children: {} {}",
            culprits.join(", "),
            worst.label()
        )
    };
    Combined {
        state: worst,
        score: clamp_to_band(worst, f64::from(score)),
        reason,
    }
}

fn weighted(children: &[Child<'_>]) -> Combined {
    let total: f64 = children.iter().map(|c| c.weight).sum();
    let known: Vec<&Child<'_>> = children
        .iter()
        .filter(|c| c.state != HealthState::Unknown)
        .collect();
    let known_weight: f64 = known.iter().map(|c| c.weight).sum();
    // Less than half the weight known: the mean would mostly be a guess.
    if known_weight * 2.0 < total || known_weight <= 0.0 {
        return Combined {
            state: HealthState::Unknown,
            score: 0,
            reason: format!(
                "only {:.0}% of the weight has data",
                100.0 * known_weight / total.max(f64::MIN_POSITIVE)
            ),
        };
    }
    let mean = known
        .iter()
        .map(|c| c.weight * f64::from(c.score))
        .sum::<f64>()
        / known_weight;
    let state = state_of_score(mean);
    Combined {
        state,
        score: clamp_to_band(state, mean),
        reason: format!(
            "weighted mean {mean:.0} over {} of {} children with data",
            known.len(),
            children.len()
        ),
    }
}

fn quorum(k: usize, children: &[Child<'_>]) -> Combined {
    let count = |s: HealthState| children.iter().filter(|c| c.state == s).count();
    let healthy = count(HealthState::Healthy);
    let degraded = count(HealthState::Degraded);
    let unknown = count(HealthState::Unknown);
    let state = if healthy >= k {
        HealthState::Healthy
    } else if healthy + degraded >= k {
        HealthState::Degraded
    } else if healthy + degraded + unknown >= k {
        HealthState::Unknown
    } else {
        HealthState::Unhealthy
    };
    let mut scores: Vec<u8> = children.iter().map(|c| c.score).collect();
    scores.sort_unstable_by(|a, b| b.cmp(a));
    let best = &scores[..k.min(scores.len())];
    let mean = best.iter().map(|&s| f64::from(s)).sum::<f64>() / best.len().max(1) as f64;
    Combined {
        state,
        score: clamp_to_band(state, mean),
        reason: format!(
            "{healthy} of {} children healthy, quorum {k}",
            children.len()
        ),
    }
}
