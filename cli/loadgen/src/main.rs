//! `vigil-loadgen`: measures the aggregator at fleet scale (see
//! docs/performance.md). Owns arguments and output only; the work is in
//! `vigil_loadgen`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigil_loadgen::fleet::Target;
use vigil_loadgen::tls::LoadTls;
use vigil_loadgen::{
    AggregatorProcess, EvaluationShape, FleetModel, FleetSpec, FloorPlan, LoadPlan, Pace,
};

#[derive(Debug, Parser)]
#[command(
    name = "vigil-loadgen",
    version,
    about = "Load generator and floor benchmark for the Vigil aggregator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a fleet against an aggregator (started from --aggregator-bin,
    /// or already running at --connect).
    Run(RunArgs),
    /// Decode, validate and apply the same batches in-process: the floor.
    Floor(FloorArgs),
    /// Write the generated model and aggregator config, to start an
    /// aggregator yourself and `run --connect` against it.
    Model(ModelArgs),
}

#[derive(Debug, Args)]
struct Shape {
    /// Simulated agents (one ingest stream each).
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Probes per agent.
    #[arg(long, default_value_t = 10)]
    probes: u32,
    /// Nodes in the generated model (leaves, groups and markers).
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Marker leaves in the model (one per latency sample).
    #[arg(long, default_value_t = 200)]
    markers: usize,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Evaluation interval of a started aggregator: the aggregator's own
    /// default. A series that turns is evaluated early whatever this is.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    eval_interval: Duration,
    /// Consecutive evaluations before a state changes.
    #[arg(long, default_value_t = 1)]
    hysteresis: u32,
    /// Recent signals kept per (agent, probe).
    #[arg(long, default_value_t = 8)]
    recent_signals: usize,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    shape: Shape,
    #[command(flatten)]
    eval: EvalArgs,
    /// Start this vigil-aggregator binary with a generated model and config.
    #[arg(long, conflicts_with = "connect")]
    aggregator_bin: Option<PathBuf>,
    /// Scratch directory for the generated files and the aggregator log.
    #[arg(long, default_value = "target/loadgen")]
    workdir: PathBuf,
    /// gRPC address of a running aggregator (started from `model` output).
    #[arg(long)]
    connect: Option<String>,
    /// PID of that aggregator, to read its CPU and RSS.
    #[arg(long, requires = "connect")]
    pid: Option<u32>,
    /// Signals per second per agent; 0 sends as fast as acks allow.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Time between an agent's batches (open loop).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    batch_interval: Duration,
    /// Signals per batch in closed loop (--rate 0).
    #[arg(long, default_value_t = 100)]
    batch_signals: u32,
    /// Unacknowledged batches per agent in closed loop.
    #[arg(long, default_value_t = 2)]
    in_flight: u32,
    /// Agents sharing one HTTP/2 connection.
    #[arg(long, default_value_t = 1)]
    streams_per_connection: usize,
    /// Serve and speak TLS: a CA and certificates made for the run, every
    /// stream a mutual-TLS handshake with a network-wide agent certificate
    /// (with --aggregator-bin).
    #[arg(long)]
    tls: bool,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Latency markers to send during the measured interval.
    #[arg(long, default_value_t = 50)]
    marker_samples: usize,
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    marker_every: Duration,
    /// Time between query samples; 0 disables query sampling.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    query_every: Duration,
    /// Time between scrapes of the aggregator's `/metrics`, as Prometheus
    /// would during the run; 0 (the default) does not scrape.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    scrape_every: Duration,
    /// `/metrics` URL of the aggregator given by --connect (default: its
    /// HTTP port when --aggregator-bin starts it).
    #[arg(long, requires = "connect")]
    metrics_url: Option<String>,
    /// Time between readings of the aggregator's RSS (for a soak: a long
    /// `--duration` shows whether memory stays flat).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    rss_every: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FloorArgs {
    #[command(flatten)]
    shape: Shape,
    /// Signals per batch.
    #[arg(long, default_value_t = 100)]
    batch_signals: u32,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Threads applying batches (each owns a share of the agents).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 8)]
    recent_signals: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelArgs {
    #[command(flatten)]
    shape: Shape,
    #[command(flatten)]
    eval: EvalArgs,
    /// Directory to write model.yaml and aggregator.yaml into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7400")]
    grpc: std::net::SocketAddr,
    #[arg(long, default_value = "127.0.0.1:7401")]
    http: std::net::SocketAddr,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Floor(args) => floor(args),
        Command::Model(args) => {
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?;
            let config = vigil_loadgen::target::write_files(
                &args.out,
                &fleet_model(&args.shape),
                &eval_shape(&args.eval),
                args.grpc,
                args.http,
                None,
            )?;
            println!("{}", config.display());
            Ok(())
        }
    }
}

fn fleet_model(shape: &Shape) -> FleetModel {
    FleetModel::with_nodes(shape.nodes, shape.markers)
}

fn eval_shape(e: &EvalArgs) -> EvaluationShape {
    EvaluationShape {
        interval: e.eval_interval,
        hysteresis: e.hysteresis,
        recent_signals: e.recent_signals,
        ..EvaluationShape::default()
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let model = fleet_model(&args.shape);
    anyhow::ensure!(
        args.marker_samples <= model.markers,
        "--marker-samples {} is more than the model's --markers {}; raise --markers",
        args.marker_samples,
        model.markers
    );
    let (pace, per_batch) = if args.rate > 0.0 {
        let per = (args.rate * args.batch_interval.as_secs_f64())
            .round()
            .max(1.0) as u32;
        (Pace::Every(args.batch_interval), per)
    } else {
        (
            Pace::InFlight(args.in_flight.max(1)),
            args.batch_signals.max(1),
        )
    };
    let fleet = FleetSpec {
        model,
        agents: args.shape.agents,
        probes: args.shape.probes.max(1),
        signals_per_batch: per_batch,
        pace,
        max_unacked: 8,
        networks: 4,
        streams_per_connection: args.streams_per_connection,
    };
    anyhow::ensure!(
        !args.tls || args.aggregator_bin.is_some(),
        "--tls makes the run's certificates for the aggregator it starts: give --aggregator-bin PATH"
    );
    let tls = if args.tls {
        let mut networks = fleet.all_networks();
        networks.push(vigil_loadgen::marker::NETWORK.to_string());
        Some(Arc::new(LoadTls::make(
            &args.workdir.join("tls"),
            &networks,
        )?))
    } else {
        None
    };
    let started = match &args.aggregator_bin {
        Some(bin) => Some(AggregatorProcess::start(
            bin,
            &args.workdir,
            &fleet.model,
            &eval_shape(&args.eval),
            tls.as_deref(),
        )?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (url, pid) = match (&started, &args.connect) {
        (Some(p), _) => (format!("{scheme}://{}", p.grpc), Some(p.pid())),
        (None, Some(addr)) => (
            if addr.starts_with("http") {
                addr.clone()
            } else {
                format!("http://{addr}")
            },
            args.pid,
        ),
        (None, None) => anyhow::bail!("give --aggregator-bin PATH or --connect ADDR"),
    };
    let plan = LoadPlan {
        target: Target { url, tls },
        aggregator_pid: pid,
        fleet,
        streams_per_connection: args.streams_per_connection,
        connect_deadline: Duration::from_secs(300),
        warmup: args.warmup,
        duration: args.duration,
        markers: args.marker_samples,
        marker_every: args.marker_every,
        query_every: (!args.query_every.is_zero()).then_some(args.query_every),
        scrape: match (&started, &args.metrics_url) {
            _ if args.scrape_every.is_zero() => None,
            (Some(p), _) => Some((format!("{scheme}://{}/metrics", p.http), args.scrape_every)),
            (None, Some(url)) => Some((url.clone(), args.scrape_every)),
            (None, None) => anyhow::bail!("--scrape-every needs --metrics-url with --connect"),
        },
        rss_every: args.rss_every,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(vigil_loadgen::run(&plan))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    drop(started);
    Ok(())
}

fn floor(args: FloorArgs) -> anyhow::Result<()> {
    let plan = FloorPlan {
        model: fleet_model(&args.shape),
        agents: args.shape.agents,
        probes: args.shape.probes.max(1),
        signals_per_batch: args.batch_signals.max(1),
        duration: args.duration,
        threads: args.threads,
        window: Duration::from_secs(60),
        recent_signals: args.recent_signals,
    };
    let report = vigil_loadgen::floor::run(&plan)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "floor: {:.0} signals/s on {} threads ({} agents x {} probes, {} signals/batch, {:.0} ns per batch per thread, {} rejected)",
            report.signals_per_sec,
            report.threads,
            report.agents,
            report.probes,
            report.signals_per_batch,
            report.ns_per_batch_per_thread,
            report.rejected
        );
        println!(
            "live state: {:.0} bytes of RSS per (agent, probe) pair, windows and evidence rings full",
            report.state_bytes_per_pair
        );
    }
    Ok(())
}
