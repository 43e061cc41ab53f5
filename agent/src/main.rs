//! `vigil-agent`: loads the config, runs the agent until SIGTERM or Ctrl-C,
//! then flushes buffered signals for up to two seconds. Owns process concerns
//! (arguments, logging, signals, exit codes); it must not hold agent logic.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;
use vigil_agent::{Agent, AgentConfig};

/// How long an idle blocking-pool thread waits for more work before exiting.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
#[command(
    name = "vigil-agent",
    version,
    about = "Probes hub-spoke dependencies and streams signals to the Vigil aggregator"
)]
struct Args {
    /// Config file to run with.
    #[arg(
        long,
        env = "VIGIL_AGENT_CONFIG",
        value_name = "PATH",
        required_unless_present = "check_config"
    )]
    config: Option<PathBuf>,
    /// Validate a config file (with environment overrides) and exit.
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Log output format; the level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    if let Some(path) = &args.check_config {
        return match AgentConfig::load(path) {
            Ok(config) => {
                println!(
                    "{}: ok ({} probes, agent {} in network {})",
                    path.display(),
                    config.probes.len(),
                    config.agent.id,
                    config.agent.network
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(path) = args.config else {
        eprintln!("vigil-agent: --config PATH (or VIGIL_AGENT_CONFIG) is required");
        return ExitCode::FAILURE;
    };
    let config = match AgentConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: AgentConfig) -> anyhow::Result<()> {
    // A hundred probes every few seconds are mostly waiting: one thread runs
    // them all, and each worker thread more would cost its stack and its own
    // malloc arena. Blocking work (getaddrinfo, file reads, the OTLP SDK's
    // shutdown) still runs on tokio's blocking pool, whose idle threads
    // exit soon so they do not hold memory between probe rounds.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let agent = Agent::start(config)
            .await
            .context("cannot start the agent")?;
        wait_for_stop().await?;
        tracing::info!("stopping: flushing buffered signals");
        agent.shutdown().await;
        Ok(())
    })
}

async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
