//! The `demo`, `inject` and `restore` subcommands: run the embedded demo in
//! the foreground until Ctrl-C, and switch its faults from another terminal.
//!
//! Owns their arguments and what they print; the demo itself lives in
//! `vigil_demo`. It must not reach into the demo's internals: `inject` and
//! `restore` only talk to the control endpoint.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use vigil_demo::{Addressing, ControlClient, DEFAULT_CONTROL, Demo, DemoFault, DemoOptions, Pace};

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

pub async fn inject(args: InjectArgs) -> anyhow::Result<()> {
    let client = ControlClient::new(&args.control)?;
    let Some(fault) = args.fault else {
        return list(&client).await;
    };
    let reply = client.inject(fault).await?;
    println!("injected {}: {}", reply.fault, fault.description());
    println!("active: {}", reply.active.join(", "));
    println!("watch it: vigil tree, vigil faults; undo it: vigil restore {fault}");
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let client = ControlClient::new(&args.control)?;
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

async fn list(client: &ControlClient) -> anyhow::Result<()> {
    match client.list().await {
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
