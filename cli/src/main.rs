//! The `vigil` command line: parses arguments, sets up logging, and hands off
//! to the library. Exit codes: 0 success, 1 the query failed (e.g. no such
//! node or fault), 2 the aggregator cannot be reached or the arguments are wrong.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod certs_cli;
mod demo_cli;
mod simulate_cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigil_client::{ClientAuth, ClientError, DEFAULT_RECENT_SIGNALS, DEFAULT_SERVER, QueryClient};
use vigil_render::{self as render, ColorChoice, OutputFormat, Style};

/// Query the Vigil aggregator: the layered health tree, one node's evidence,
/// the stream of changes, and the attributed faults: is it us or the platform?
#[derive(Debug, Parser)]
#[command(name = "vigil", version)]
struct Cli {
    /// The aggregator's gRPC address.
    #[arg(long, global = true, env = "VIGIL_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// With an https:// server: the CA certificate (PEM) that signs it.
    /// Pointed at a running `vigil demo`, its CA and read token are found
    /// without this (see VIGIL_DEMO_DIR).
    #[arg(long, global = true, env = "VIGIL_CA")]
    ca: Option<std::path::PathBuf>,
    /// A file holding the bearer token the query API asks for. The token
    /// itself may be given in VIGIL_TOKEN instead (never on the command
    /// line, where other users can read it).
    #[arg(long, global = true, env = "VIGIL_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Output for people (text) or for scripts (json).
    #[arg(long, short, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    /// Colour in text output; `auto` honours a terminal and NO_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Deadline for connecting and for each query, e.g. `5s`, `500ms`.
    #[arg(long, global = true, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the layered health tree with states and scores.
    Tree,
    /// Explain one node: state, reason, path, per-vantage breakdown, recent signals.
    Node {
        /// The node id, as listed by `vigil tree`.
        id: String,
        /// How many recent signals to show (the aggregator caps it at 500).
        #[arg(long, default_value_t = DEFAULT_RECENT_SIGNALS)]
        signals: u32,
    },
    /// Follow changes: one line per node whose state changes and per fault
    /// opened, updated or resolved.
    Watch,
    /// List open faults, platform first, with evidence and blind spots.
    Faults {
        /// Also list recently resolved faults.
        #[arg(long)]
        all: bool,
    },
    /// Show one fault with all its evidence and counter-evidence.
    Fault {
        /// The fault id, as listed by `vigil faults` (e.g. F-000007).
        id: String,
    },
    /// Is it us? The node's state and the faults that explain it.
    Why {
        /// The node id, as listed by `vigil tree`.
        node: String,
    },
    /// Run the embedded demo: a hub and two spokes on loopback, real agents
    /// and a real aggregator in one process, until Ctrl-C.
    Demo(demo_cli::DemoArgs),
    /// Inject a fault into the running demo (`--list` shows them).
    Inject(demo_cli::InjectArgs),
    /// Restore a fault injected into the running demo.
    Restore(demo_cli::RestoreArgs),
    /// The attribution benchmark: labelled faults through the real ingest,
    /// evaluation and attribution on a simulated clock. Exits 1 when a
    /// target is missed.
    Simulate(simulate_cli::SimulateArgs),
    /// Write a development CA and TLS certificates for the aggregator and
    /// agents (their identities in SPIFFE URI SANs).
    Certs(certs_cli::CertsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    // The demo runs servers, agents and an aggregator: give it every core.
    let mut builder = if matches!(cli.command, Command::Demo(_)) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<ClientError>()
                .map(ClientError::exit_code)
                .or_else(|| {
                    e.downcast_ref::<vigil_demo::ControlError>()
                        .map(vigil_demo::ControlError::exit_code)
                })
                .unwrap_or(1);
            eprintln!("vigil: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// The CA and token `vigil` presents: `--ca`/`VIGIL_CA`, then the token
/// from `VIGIL_TOKEN` or `--token-file`/`VIGIL_TOKEN_FILE`.
fn client_auth(
    ca: Option<std::path::PathBuf>,
    token_file: Option<&std::path::Path>,
) -> anyhow::Result<ClientAuth> {
    let token = match (std::env::var("VIGIL_TOKEN").ok(), token_file) {
        (Some(token), _) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        (_, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the token file {}", file.display()))?
                .trim()
                .to_owned(),
        ),
        _ => None,
    };
    Ok(ClientAuth { ca, token })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let style = Style::detect(cli.color);
    let auth = client_auth(cli.ca.clone(), cli.token_file.as_deref())?;
    let command = match cli.command {
        Command::Demo(args) => return demo_cli::demo(args).await,
        Command::Inject(args) => return demo_cli::inject(args, &auth).await,
        Command::Restore(args) => return demo_cli::restore(args, &auth).await,
        Command::Certs(args) => return certs_cli::run(&args),
        Command::Simulate(args) => {
            let met = simulate_cli::run(&args, matches!(cli.output, OutputFormat::Json))?;
            anyhow::ensure!(met, "attribution missed a target (see the table above)");
            return Ok(());
        }
        query => query,
    };
    let auth = demo_cli::with_demo_credentials(&cli.server, auth);
    let mut client = QueryClient::connect_with(&cli.server, cli.timeout, &auth).await?;
    match command {
        Command::Tree => {
            let tree = client.tree().await?;
            let out = match cli.output {
                OutputFormat::Text => render::tree::tree_text(&tree, &style),
                OutputFormat::Json => render::tree::tree_json(&tree) + "\n",
            };
            emit(&out)
        }
        Command::Node { id, signals } => {
            let node = client.node(&id, signals).await?;
            let out = match cli.output {
                OutputFormat::Text => render::node::node_text(&node, &style, now_unix_ms()),
                OutputFormat::Json => render::node::node_json(&node) + "\n",
            };
            emit(&out)
        }
        Command::Watch => watch(&mut client, cli.output, &style).await,
        Command::Faults { all } => {
            let faults = client.faults(all).await?;
            let out = match cli.output {
                OutputFormat::Text => render::faults::faults_text(&faults, &style, now_unix_ms()),
                OutputFormat::Json => render::faults::faults_json(&faults) + "\n",
            };
            emit(&out)
        }
        Command::Fault { id } => {
            let fault = client.fault(&id).await?;
            let out = match cli.output {
                OutputFormat::Text => render::faults::fault_text(&fault, &style, now_unix_ms()),
                OutputFormat::Json => render::faults::fault_json(&fault) + "\n",
            };
            emit(&out)
        }
        Command::Why { node } => {
            let why = client.why(&node).await?;
            let out = match cli.output {
                OutputFormat::Text => render::why::why_text(&why, &style, now_unix_ms()),
                OutputFormat::Json => render::why::why_json(&why) + "\n",
            };
            emit(&out)
        }
        // Returned above, before connecting to an aggregator.
        Command::Demo(_)
        | Command::Inject(_)
        | Command::Restore(_)
        | Command::Simulate(_)
        | Command::Certs(_) => Ok(()),
    }
}

async fn watch(
    client: &mut QueryClient,
    output: OutputFormat,
    style: &Style,
) -> anyhow::Result<()> {
    let mut stream = client.watch().await?;
    loop {
        let next = tokio::select! {
            next = stream.next() => next?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(msg) = next else {
            return Err(ClientError::StreamEnded {
                url: client.url().to_owned(),
            }
            .into());
        };
        let out = match output {
            OutputFormat::Text => render::watch::changes_text(&msg, style),
            OutputFormat::Json => render::watch::changes_json(&msg),
        };
        emit(&out)?;
    }
}

/// Writes to stdout; a closed pipe (`vigil watch | head`) ends quietly.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to stdout"),
    }
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
