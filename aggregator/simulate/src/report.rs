//! Runs labelled scenarios and scores attribution against the ground truth:
//! side accuracy, component top-1, detection and clear time in probe
//! intervals, false faults per agent-hour, share of unsure findings.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use vigil_proto::v1::HealthState;

use super::{Expected, Scenario, Sim, SimConfig, SimFault};
use vigil_health::attribution::{Certainty, FaultEvent};

/// How one scenario run went.
#[derive(Clone, Debug)]
pub struct ScenarioOutcome {
    pub scenario: String,
    pub expected: Vec<Expected>,
    /// Suspect paths of attributed faults opened after injection, in order.
    pub opened: Vec<String>,
    /// Side of the first attributed fault after injection.
    pub first_side: Option<&'static str>,
    pub side_correct: bool,
    pub component_correct: bool,
    /// All expected suspects were found (pairs).
    pub all_found: bool,
    /// Injection → fault opened, in probe intervals.
    pub detection_intervals: Option<f64>,
    /// First affected node unhealthy (the hysteresis threshold met) → fault
    /// opened, in probe intervals.
    pub detection_after_state_intervals: Option<f64>,
    /// Restore → fault resolved, in probe intervals.
    pub clear_intervals: Option<f64>,
    /// Faults opened after injection that match no expected suspect.
    pub wrong_faults: usize,
    /// Faults opened that were ambiguous or insufficient data.
    pub unsure_faults: usize,
    pub faults_opened: usize,
    pub gap_reported: bool,
}

const WARMUP: Duration = Duration::from_secs(180);
const MAX_DETECT: Duration = Duration::from_secs(300);
const MAX_CLEAR: Duration = Duration::from_secs(600);

fn side_of(path: &str) -> &'static str {
    if path.starts_with("platform/") {
        "platform"
    } else {
        "workload"
    }
}

/// Injects `faults` into a fresh simulation after a warm-up, waits for
/// detection, restores, waits for the faults to clear.
pub fn run_scenario(config: &SimConfig, name: &str, faults: Vec<SimFault>) -> ScenarioOutcome {
    let mut sim = Sim::new(config.clone()).expect("the simulated model is valid");
    let interval_ms = config.probe_interval.as_millis() as f64;
    sim.run_for(WARMUP);
    let expected: Vec<Expected> = faults.iter().map(|f| f.expected(sim.shape())).collect();
    let wanted: Vec<String> = expected
        .iter()
        .filter_map(|e| match e {
            Expected::Suspect(s) => Some(s.clone()),
            Expected::Gap => None,
        })
        .collect();
    let t0 = sim.now_ms;
    let events_before = sim.events.len();
    sim.active = faults;
    let mut first_unhealthy: Option<i64> = None;
    let mut opened_at: BTreeMap<String, i64> = BTreeMap::new();
    let mut gap_reported = false;
    let deadline = t0 + MAX_DETECT.as_millis() as i64;
    while sim.now_ms < deadline {
        sim.step();
        if first_unhealthy.is_none()
            && sim
                .latest
                .nodes
                .iter()
                .any(|n| matches!(n.state, HealthState::Unhealthy | HealthState::Degraded))
        {
            first_unhealthy = Some(sim.now_ms);
        }
        gap_reported |= !sim.faults().gaps.is_empty();
        for f in &sim.faults().open {
            if f.certainty == Certainty::Attributed {
                opened_at.entry(f.suspect.path()).or_insert(sim.now_ms);
            }
        }
        let found = wanted.iter().all(|w| opened_at.contains_key(w));
        // Gaps need time to show that nothing opens: run the full window.
        if found && !wanted.is_empty() && sim.now_ms - t0 > 60_000 {
            break;
        }
    }
    let t_restore = sim.now_ms;
    sim.active.clear();
    let clear_deadline = t_restore + MAX_CLEAR.as_millis() as i64;
    while sim.now_ms < clear_deadline && !sim.faults().open.is_empty() {
        sim.step();
    }
    let t_cleared = sim.faults().open.is_empty().then_some(sim.now_ms);

    // Score from the events after injection.
    let mut opened_order: Vec<(i64, String, Certainty)> = Vec::new();
    for (t, e) in &sim.events[events_before..] {
        if let FaultEvent::Opened(f) = e
            && *t <= t_restore
        {
            opened_order.push((*t, f.suspect.path(), f.certainty));
        }
    }
    let attributed: Vec<&(i64, String, Certainty)> = opened_order
        .iter()
        .filter(|(_, _, c)| *c == Certainty::Attributed)
        .collect();
    let first = attributed.first().map(|(_, p, _)| p.clone());
    // Faults first opened as unsure and later firmed up count as found.
    let first = first.or_else(|| {
        opened_at
            .iter()
            .min_by_key(|(_, t)| **t)
            .map(|(p, _)| p.clone())
    });
    let is_gap = wanted.is_empty();
    let side_correct = if is_gap {
        opened_order.is_empty()
    } else {
        first.as_deref().map(side_of) == expected.iter().find_map(|e| e.side())
    };
    let component_correct = if is_gap {
        opened_order.is_empty() && gap_reported
    } else {
        first.as_ref().is_some_and(|f| wanted.contains(f))
    };
    let all_found = if is_gap {
        opened_order.is_empty()
    } else {
        wanted.iter().all(|w| opened_at.contains_key(w))
    };
    let detect_t = wanted
        .iter()
        .filter_map(|w| opened_at.get(w))
        .max()
        .copied();
    ScenarioOutcome {
        scenario: name.to_string(),
        expected,
        opened: attributed.iter().map(|(_, p, _)| p.clone()).collect(),
        first_side: first.as_deref().map(side_of),
        side_correct,
        component_correct,
        all_found,
        detection_intervals: detect_t.map(|t| (t - t0) as f64 / interval_ms),
        detection_after_state_intervals: detect_t
            .zip(first_unhealthy)
            .map(|(t, u)| (t - u).max(0) as f64 / interval_ms),
        clear_intervals: t_cleared.map(|t| (t - t_restore) as f64 / interval_ms),
        wrong_faults: opened_order
            .iter()
            .filter(|(_, p, _)| !wanted.contains(p))
            .count(),
        unsure_faults: opened_order
            .iter()
            .filter(|(_, _, c)| *c != Certainty::Attributed)
            .count(),
        faults_opened: opened_order.len(),
        gap_reported,
    }
}

/// Noise-only run: faults opened per agent-hour.
pub fn steady_run(config: &SimConfig, duration: Duration, restart_agent: bool) -> (usize, f64) {
    let mut sim = Sim::new(config.clone()).expect("the simulated model is valid");
    sim.run_for(WARMUP);
    let before = sim.events.len();
    let half = duration / 2;
    sim.run_for(half);
    if restart_agent {
        sim.restart_agent(0);
    }
    sim.run_for(duration - half);
    let opened = sim.events[before..]
        .iter()
        .filter(|(_, e)| matches!(e, FaultEvent::Opened(_)))
        .count();
    let agent_hours = sim.agent_count() as f64 * duration.as_secs_f64() / 3600.0;
    (opened, opened as f64 / agent_hours)
}

/// Per scenario type, over its runs.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub runs: usize,
    pub side_accuracy: f64,
    pub component_top1: f64,
    pub all_found: f64,
    pub detection_p50: Option<f64>,
    pub detection_p95: Option<f64>,
    pub detection_after_state_p95: Option<f64>,
    pub clear_p95: Option<f64>,
    pub wrong_faults: usize,
    /// Scenarios in which at least one wrong fault opened.
    pub wrong_scenarios: usize,
    pub unsure_share: f64,
}

fn p95(v: Vec<f64>) -> Option<f64> {
    quantile(v, 0.95)
}

fn quantile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

/// One row of the report over `v`'s runs.
fn summarize(v: &[&ScenarioOutcome]) -> Summary {
    let n = v.len().max(1) as f64;
    let opened: usize = v.iter().map(|o| o.faults_opened).sum();
    let detections = || v.iter().filter_map(|o| o.detection_intervals).collect();
    Summary {
        runs: v.len(),
        side_accuracy: v.iter().filter(|o| o.side_correct).count() as f64 / n,
        component_top1: v.iter().filter(|o| o.component_correct).count() as f64 / n,
        all_found: v.iter().filter(|o| o.all_found).count() as f64 / n,
        detection_p50: quantile(detections(), 0.5),
        detection_p95: p95(detections()),
        detection_after_state_p95: p95(v
            .iter()
            .filter_map(|o| o.detection_after_state_intervals)
            .collect()),
        clear_p95: p95(v.iter().filter_map(|o| o.clear_intervals).collect()),
        wrong_faults: v.iter().map(|o| o.wrong_faults).sum(),
        wrong_scenarios: v.iter().filter(|o| o.wrong_faults > 0).count(),
        unsure_share: if opened == 0 {
            0.0
        } else {
            v.iter().map(|o| o.unsure_faults).sum::<usize>() as f64 / opened as f64
        },
    }
}

/// The whole benchmark's result.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub by_type: BTreeMap<String, Summary>,
    pub outcomes: Vec<ScenarioOutcome>,
    pub steady_false_per_agent_hour: f64,
    pub steady_false_faults: usize,
    pub single_side_accuracy: f64,
    pub single_component_top1: f64,
    pub pairs_all_found: f64,
    /// Every scenario together.
    pub overall: Summary,
}

/// Every scenario type, with `seeds` runs each, varying the spoke and
/// workload hit. `steady` is the length of the noise-only run.
pub fn run_benchmark(base: &SimConfig, seeds: u64, steady: Duration) -> Report {
    let shape = base.shape.clone();
    let mut outcomes = Vec::new();
    for seed in 0..seeds {
        let cfg = SimConfig {
            seed: base.seed.wrapping_add(seed * 7919),
            noise: base.noise,
            ..base.clone()
        };
        let s = seed as usize;
        let singles: Vec<SimFault> = vec![
            SimFault::HubDnsDown,
            SimFault::ZoneUnlinked,
            SimFault::RecordMissing,
            SimFault::FirewallRuleMissing,
            SimFault::FirewallDrift,
            SimFault::FirewallDown,
            SimFault::FirewallLoss(0.3),
            SimFault::PeeringDown {
                spoke: s % shape.spokes,
            },
            SimFault::RouteWrong {
                spoke: (s + 1) % shape.spokes,
            },
            SimFault::WorkloadCrash {
                w: s % shape.workloads,
            },
            SimFault::WorkloadSlow {
                w: (s + 1) % shape.workloads,
            },
            SimFault::Workload5xx {
                w: s % shape.workloads,
            },
            SimFault::WorkloadDbDown {
                w: (s + 1) % shape.workloads,
            },
            SimFault::ExpiredCert {
                w: s % shape.workloads,
            },
            SimFault::AgentSilent {
                agent: s % (shape.spokes * shape.agents_per_spoke),
            },
            SimFault::SpokeAgentsSilent {
                spoke: (s + 2) % shape.spokes,
            },
        ];
        for f in singles {
            let name = f.name().to_string();
            outcomes.push(run_scenario(&cfg, &name, vec![f]));
        }
        // Two independent faults on two sides at once.
        outcomes.push(run_scenario(
            &cfg,
            "pair: firewall rule + workload crash",
            vec![
                SimFault::FirewallRuleMissing,
                SimFault::WorkloadCrash {
                    w: s % shape.workloads,
                },
            ],
        ));
        let cut = s % shape.spokes;
        let elsewhere = (0..shape.workloads)
            .find(|w| w % shape.spokes != cut)
            .unwrap_or(0);
        outcomes.push(run_scenario(
            &cfg,
            "pair: peering down + workload 5xx",
            vec![
                SimFault::PeeringDown { spoke: cut },
                SimFault::Workload5xx { w: elsewhere },
            ],
        ));
    }
    let steady_cfg = SimConfig {
        noise: base.noise.max(0.01),
        ..base.clone()
    };
    let steady = steady_run(&steady_cfg, steady, true);
    Report::from_outcomes(outcomes, steady)
}

/// Runs generated `scenarios`, and a noise-only run of `steady` on each of
/// the first `steady_estates` scenarios' estates.
pub fn run_generated(scenarios: &[Scenario], steady: Duration, steady_estates: usize) -> Report {
    let outcomes = scenarios
        .iter()
        .map(|s| run_scenario(&s.config, &s.class, s.faults.clone()))
        .collect();
    let (mut false_faults, mut agent_hours) = (0, 0.0);
    for s in scenarios.iter().take(steady_estates) {
        false_faults += steady_run(&s.config, steady, true).0;
        // Every spoke's agents and the hub's one.
        let agents = s.config.shape.spokes * s.config.shape.agents_per_spoke + 1;
        agent_hours += agents as f64 * steady.as_secs_f64() / 3600.0;
    }
    let per_hour = if agent_hours > 0.0 {
        false_faults as f64 / agent_hours
    } else {
        0.0
    };
    Report::from_outcomes(outcomes, (false_faults, per_hour))
}

impl Report {
    /// Scores `outcomes` per scenario type, with the steady run's false
    /// faults and their rate per agent-hour.
    pub fn from_outcomes(outcomes: Vec<ScenarioOutcome>, steady: (usize, f64)) -> Report {
        let mut by_type: BTreeMap<String, Vec<&ScenarioOutcome>> = BTreeMap::new();
        for o in &outcomes {
            by_type.entry(o.scenario.clone()).or_default().push(o);
        }
        let summaries: BTreeMap<String, Summary> = by_type
            .iter()
            .map(|(k, v)| (k.clone(), summarize(v)))
            .collect();
        let (pairs, singles): (Vec<&ScenarioOutcome>, Vec<&ScenarioOutcome>) = outcomes
            .iter()
            .partition(|o| o.scenario.starts_with("pair"));
        let single = summarize(&singles);
        let all = summarize(&outcomes.iter().collect::<Vec<_>>());
        Report {
            by_type: summaries,
            single_side_accuracy: single.side_accuracy,
            single_component_top1: single.component_top1,
            pairs_all_found: if pairs.is_empty() {
                1.0
            } else {
                summarize(&pairs).all_found
            },
            overall: all,
            steady_false_faults: steady.0,
            steady_false_per_agent_hour: steady.1,
            outcomes,
        }
    }

    /// The table for docs/attribution.md.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | runs | side accuracy | component top-1 | all found | scenarios with a wrong fault | unsure share | detection p50 | detection p95 | detection p95 after state threshold | clear p95 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
        let all = "**all**".to_string();
        let rows = self.by_type.iter().chain([(&all, &self.overall)]);
        for (name, s) in rows {
            let _ = writeln!(
                out,
                "| {name} | {} | {:.0}% | {:.0}% | {:.0}% | {} | {:.0}% | {} | {} | {} | {} |",
                s.runs,
                s.side_accuracy * 100.0,
                s.component_top1 * 100.0,
                s.all_found * 100.0,
                s.wrong_scenarios,
                s.unsure_share * 100.0,
                f(s.detection_p50),
                f(s.detection_p95),
                f(s.detection_after_state_p95),
                f(s.clear_p95),
            );
        }
        let _ = writeln!(
            out,
            "\nDetection and clearing in probe intervals from the injection or restore. Single faults: side accuracy {:.1}%, component top-1 {:.1}%. Pairs: both found in {:.0}%. Scenarios with a wrong fault: {:.1}%. Steady run at 1% noise with an agent restart: {} false faults ({:.3} per agent-hour).",
            self.single_side_accuracy * 100.0,
            self.single_component_top1 * 100.0,
            self.pairs_all_found * 100.0,
            self.overall.wrong_scenarios as f64 * 100.0 / self.overall.runs.max(1) as f64,
            self.steady_false_faults,
            self.steady_false_per_agent_hour
        );
        out
    }
}
