//! The `demo`, `inject` and `restore` subcommands: run the embedded demo in
//! the foreground until Ctrl-C, and switch its faults from another terminal.
//!
//! Owns their arguments and what they print; the demo itself lives in
//! `vigil_demo`. It must not reach into the demo's internals: `inject` and
//! `restore` only talk to the control endpoint.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use vigil_client::ClientAuth;
use vigil_demo::credentials::default_dir;
use vigil_demo::{
    Addressing, ControlAuth, ControlClient, ControlError, DEFAULT_CONTROL, Demo, DemoFault,
    DemoOptions, Found, Pace,
};

/// `vigil demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the aggregator serves gRPC (`vigil tree` talks to it).
    #[arg(long, default_value = "127.0.0.1:7400")]
    grpc: SocketAddr,
    /// Where the aggregator serves its HTTP API.
    #[arg(long, default_value = "127.0.0.1:7401")]
    http: SocketAddr,
    /// Where the demo accepts `vigil inject` and `vigil restore`.
    #[arg(long, env = "VIGIL_DEMO_CONTROL", default_value = DEFAULT_CONTROL)]
    control: SocketAddr,
    /// Put every target on 127.0.0.1 (distinct ports) instead of spreading
    /// the hub and spokes over 127.0.1.x, 127.0.2.x, ...
    #[arg(long)]
    single_address: bool,
}

/// `vigil inject`.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The fault, e.g. `dns-down` or `workload-5xx:spoke-a`.
    #[arg(required_unless_present = "list")]
    fault: Option<DemoFault>,
    /// List the faults and which are active.
    #[arg(long, conflicts_with = "fault")]
    list: bool,
    /// The running demo's control endpoint.
    #[arg(long, env = "VIGIL_DEMO_CONTROL", default_value = DEFAULT_CONTROL)]
    control: String,
}

/// `vigil restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The fault to undo, as given to `vigil inject`.
    fault: DemoFault,
    /// The running demo's control endpoint.
    #[arg(long, env = "VIGIL_DEMO_CONTROL", default_value = DEFAULT_CONTROL)]
    control: String,
}

/// Runs the demo until Ctrl-C (or TERM), then stops everything cleanly.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let options = DemoOptions {
        grpc: args.grpc,
        http: args.http,
        control: args.control,
        pace: Pace::Human,
        addressing: if args.single_address {
            Addressing::Single
        } else {
            Addressing::Spread
        },
        dir: default_dir(),
    };
    let handle = Demo::start(options)
        .await
        .context("the demo did not start")?;
    println!("{}", handle.banner());
    wait_for_stop().await?;
    eprintln!("vigil demo: stopping (flushing the agents, releasing the ports)");
    handle.shutdown().await;
    eprintln!("vigil demo: stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for TERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_stop() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

/// The running demo's credentials when `vigil` is pointed at it: its CA
/// and token, unless `--ca`, `VIGIL_TOKEN` or `--token-file` give others.
/// Credentials of a demo go to no other server.
pub fn with_demo_credentials(server: &str, mut auth: ClientAuth) -> ClientAuth {
    if auth.ca.is_some() && auth.token.is_some() {
        return auth;
    }
    if let Some(found) = Found::in_dir(&default_dir()).filter(|f| f.serves_grpc(server)) {
        tracing::debug!(dir = %found.dir.display(), "using the running demo's CA and read token");
        auth.ca = auth.ca.or_else(|| Some(found.ca()));
        auth.token = auth.token.or_else(|| found.read_token());
    }
    auth
}

/// The control endpoint's CA and admin token: given ones first, else the
/// running demo's at that address.
fn control_client(control: &str, given: &ClientAuth) -> Result<ControlClient, ControlError> {
    let dir = default_dir();
    let found = Found::in_dir(&dir).filter(|f| f.serves_control(control));
    let ca = match (&given.ca, &found) {
        (Some(ca), _) => ca.clone(),
        (None, Some(found)) => found.ca(),
        (None, None) => {
            return Err(ControlError::Unreachable {
                addr: control.to_owned(),
                reason: format!(
                    "no running demo keeps its credentials in {}, and no --ca was given",
                    dir.display()
                ),
            });
        }
    };
    let ca_pem = std::fs::read(&ca).map_err(|e| ControlError::Setup {
        addr: control.to_owned(),
        reason: format!("cannot read the CA file {}: {e}", ca.display()),
    })?;
    let token = given
        .token
        .clone()
        .or_else(|| found.and_then(|f| f.admin_token()));
    ControlClient::new(control, &ControlAuth { ca_pem, token })
}

pub async fn inject(args: InjectArgs, auth: &ClientAuth) -> anyhow::Result<()> {
    let Some(fault) = args.fault else {
        return list(control_client(&args.control, auth)).await;
    };
    let client = control_client(&args.control, auth)?;
    let reply = client.inject(fault).await?;
    println!("injected {}: {}", reply.fault, fault.description());
    println!("active: {}", reply.active.join(", "));
    println!("watch it: vigil tree, vigil faults; undo it: vigil restore {fault}");
    Ok(())
}

pub async fn restore(args: RestoreArgs, auth: &ClientAuth) -> anyhow::Result<()> {
    let client = control_client(&args.control, auth)?;
    let reply = client.restore(args.fault).await?;
    println!("restored {}", reply.fault);
    let active = if reply.active.is_empty() {
        "none".to_owned()
    } else {
        reply.active.join(", ")
    };
    println!("still active: {active}");
    Ok(())
}

async fn list(client: Result<ControlClient, ControlError>) -> anyhow::Result<()> {
    let rows = match client {
        Ok(client) => client.list().await,
        Err(e) => Err(e),
    };
    match rows {
        Ok(rows) => {
            for row in rows {
                let mark = if row.active { "ACTIVE" } else { "" };
                println!("{:<24} {:<7}{}", row.key, mark, row.description);
            }
        }
        Err(e) => {
            eprintln!("vigil: {e}; listing the faults a demo knows");
            for fault in DemoFault::all() {
                println!("{:<24} {}", fault.to_string(), fault.description());
            }
        }
    }
    Ok(())
}
