//! `vigil-aggregator`: loads the config and model, runs until SIGTERM/Ctrl-C.
//!
//! Owns process concerns only (arguments, logging, exit codes, signals); all
//! behaviour is in the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};
use vigil_aggregator::{Aggregator, AggregatorConfig};
use vigil_export::TraceExport;
use vigil_model::Model;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

/// Ingests agent signal streams and serves the layered health tree.
#[derive(Debug, Parser)]
#[command(name = "vigil-aggregator", version)]
struct Args {
    /// Aggregator config file (YAML).
    #[arg(long, env = "VIGIL_AGGREGATOR_CONFIG")]
    config: PathBuf,
    /// Log format; filter with RUST_LOG (default `info`).
    #[arg(long, value_enum, default_value = "pretty")]
    log_format: LogFormat,
    /// Validate the config and the model, print a summary and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-aggregator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr (filtered by RUST_LOG) and, when OTLP traces are on,
/// spans to the collector (with their own filter, see `export::traces`).
fn init_logging(format: LogFormat, otel: Option<impl Layer<Registry> + Send + Sync + 'static>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(otel);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => registry.with(fmt.with_filter(filter)).init(),
        LogFormat::Json => registry.with(fmt.json().with_filter(filter)).init(),
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let origin = args.config.display().to_string();
    let config =
        AggregatorConfig::load(&args.config)?.with_otel_env(&origin, &|k| std::env::var(k).ok())?;
    let model = Model::load(&config.model).with_context(|| {
        format!(
            "loading the model named by `model:` in {}",
            args.config.display()
        )
    })?;
    // After the model, so a broken model is reported first; before anything
    // starts, so a missing `tls:` or `auth:`, an unreadable certificate or
    // token names its file.
    if let vigil_aggregator::Transport::Tls(tls) = config.transport(&origin)? {
        tls.check()
            .with_context(|| format!("checking `tls:` in {origin}"))?;
    }
    config.check_access(&origin)?;
    config
        .auth
        .check()
        .with_context(|| format!("checking `auth:` in {origin}"))?;
    if args.check_config {
        init_logging(args.log_format, None::<tracing_subscriber::layer::Identity>);
        println!(
            "{}: ok; model {}: ok ({} nodes)",
            args.config.display(),
            config.model.display(),
            model.nodes().len()
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let settings = config
            .export
            .otlp_settings(&|_| None)
            .map_err(|(field, problem, fix)| {
                anyhow::anyhow!("{origin}: `{field}`: {problem}; fix: {fix}")
            })?
            .filter(|s| s.traces);
        let (traces, layer) = match settings {
            Some(s) => {
                let (t, l) = TraceExport::start::<Registry>(&s, &config.id)?;
                (Some(t), Some(l))
            }
            None => (None, None),
        };
        init_logging(args.log_format, layer);
        let handle = Aggregator::start(config, model).await?;
        tracing::info!(grpc = %handle.grpc_addr(), http = %handle.http_addr(), "ready");
        wait_for_signal().await;
        tracing::info!("shutting down");
        handle.shutdown().await;
        if let Some(t) = traces {
            t.shutdown().await;
        }
        Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
