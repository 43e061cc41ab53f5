//! The `simulate` subcommand: the attribution benchmark. Runs every labelled
//! scenario through the real ingest, evaluation and attribution on a
//! simulated clock and prints the table of docs/attribution.md.
//!
//! Owns its arguments and output only; the simulator is
//! `vigil_simulate`.

use std::time::Duration;

use clap::Args;
use vigil_simulate::{Report, Shape, SimConfig, generate, run_benchmark, run_generated};

/// `vigil simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Runs of every scenario, each with its own seed and a different spoke
    /// and workload hit.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// First seed: the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 3)]
    spokes: usize,
    #[arg(long, default_value_t = 2)]
    workloads: usize,
    #[arg(long, default_value_t = 2)]
    agents_per_spoke: usize,
    /// Share of probe runs that fail at random.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Length of the noise-only run that counts false faults.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    steady: Duration,
    /// Instead of the labelled scenarios on one estate, run this many
    /// generated ones (2–6 spokes, probe intervals 2–10 s, one fault from
    /// the catalogue or two at once on different sides), drawn from
    /// `--seed`; `--spokes`, `--workloads` and `--agents-per-spoke` are then
    /// drawn too.
    #[arg(long, value_name = "COUNT")]
    generate: Option<usize>,
    /// With `--generate`: how many of the generated estates also get the
    /// noise-only run of `--steady`.
    #[arg(long, default_value_t = 3)]
    steady_estates: usize,
}

/// The targets of docs/attribution.md, whether `report` meets them.
pub fn targets_met(report: &Report) -> bool {
    let all = &report.overall;
    report.single_side_accuracy >= 0.98
        && report.single_component_top1 >= 0.95
        && report.pairs_all_found >= 0.95
        && all.wrong_scenarios as f64 <= 0.02 * all.runs as f64
        && all.unsure_share <= 0.10
        && all.detection_p95.is_none_or(|d| d <= 2.0)
        && report.steady_false_faults == 0
}

/// Runs the benchmark; `Err` when a target is missed, so scripts can gate on it.
pub fn run(args: &SimulateArgs, json: bool) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.spokes >= 2,
        "--spokes must be at least 2: attribution compares vantage points"
    );
    anyhow::ensure!(
        args.workloads >= 1 && args.agents_per_spoke >= 1,
        "--workloads and --agents-per-spoke must be at least 1"
    );
    anyhow::ensure!(
        (0.0..0.5).contains(&args.noise),
        "--noise must be in 0..0.5, e.g. 0.01"
    );
    anyhow::ensure!(
        args.generate != Some(0),
        "--generate must be at least 1: the number of scenarios to draw"
    );
    let config = SimConfig {
        shape: Shape {
            spokes: args.spokes,
            workloads: args.workloads,
            agents_per_spoke: args.agents_per_spoke,
        },
        seed: args.seed,
        noise: args.noise,
        ..SimConfig::default()
    };
    let report = match args.generate {
        Some(count) => run_generated(
            &generate(args.seed, count, args.noise),
            args.steady,
            args.steady_estates,
        ),
        None => run_benchmark(&config, args.seeds, args.steady),
    };
    let met = targets_met(&report);
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    if json {
        let by_type: serde_json::Map<String, serde_json::Value> = report
            .by_type
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "runs": s.runs,
                        "side_accuracy": s.side_accuracy,
                        "component_top1": s.component_top1,
                        "all_found": s.all_found,
                        "detection_p50_intervals": s.detection_p50,
                        "detection_p95_intervals": s.detection_p95,
                        "wrong_scenarios": s.wrong_scenarios,
                        "detection_after_state_p95_intervals": s.detection_after_state_p95,
                        "clear_p95_intervals": s.clear_p95,
                        "wrong_faults": s.wrong_faults,
                        "unsure_share": s.unsure_share,
                    }),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "scenarios": by_type,
            "single_side_accuracy": report.single_side_accuracy,
            "single_component_top1": report.single_component_top1,
            "pairs_all_found": report.pairs_all_found,
            "steady_false_faults": report.steady_false_faults,
            "steady_false_faults_per_agent_hour": report.steady_false_per_agent_hour,
            "targets_met": met,
        });
        writeln!(out, "{doc}")?;
    } else {
        write!(out, "{}", report.markdown())?;
        writeln!(out, "targets {}", if met { "met" } else { "MISSED" })?;
    }
    Ok(met)
}
