//! vigil-demo (`vigil demo`): the embedded default a newcomer runs with one command, without
//! root and without installing anything. One process starts real servers on
//! loopback standing in for a hub and two spokes ([`topology`]), a real
//! aggregator with the embedded model, and real agents for the hub, spoke-a
//! and spoke-b probing those servers ([`config`]); faults are switched on the
//! servers (or an agent is stopped) through a small control endpoint
//! ([`control`]).
//!
//! Owns the demo's lifecycle: start in order, undo what was started when a
//! later step fails, apply faults one at a time, stop everything on shutdown.
//! It must not fake probe results or health: agents observe every fault over
//! real sockets and the aggregator judges it. It never prints; `main.rs` shows
//! [`DemoHandle::banner`].
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod fault;
pub mod network;
pub mod targets;
pub mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Mutex;
use vigil_agent::{Agent, AgentConfig, AgentHandle};
use vigil_aggregator::{Aggregator, AggregatorHandle, StartError};

pub use config::{Pace, Vantage};
pub use control::{ControlClient, ControlError, DEFAULT_CONTROL};
pub use fault::{DemoFault, FaultKeyError};
pub use network::Spoke;
pub use topology::Addressing;

use control::{ControlServer, FaultSwitch};
use topology::Targets;

/// Where the demo listens and how fast it runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The aggregator's gRPC address (`vigil tree` talks to it).
    pub grpc: SocketAddr,
    /// The aggregator's HTTP API.
    pub http: SocketAddr,
    /// The fault-injection control endpoint.
    pub control: SocketAddr,
    pub pace: Pace,
    pub addressing: Addressing,
}

impl Default for DemoOptions {
    /// The ports the CLI's defaults point at: 7400, 7401 and 7409 on 127.0.0.1.
    fn default() -> Self {
        Self {
            grpc: SocketAddr::from(([127, 0, 0, 1], 7400)),
            http: SocketAddr::from(([127, 0, 0, 1], 7401)),
            control: SocketAddr::from(([127, 0, 0, 1], 7409)),
            pace: Pace::Human,
            addressing: Addressing::Spread,
        }
    }
}

impl DemoOptions {
    /// Free ports chosen by the OS and the fast pace, for tests.
    pub fn for_tests() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            grpc: any,
            http: any,
            control: any,
            pace: Pace::Fast,
            addressing: Addressing::Spread,
        }
    }
}

/// Why the demo could not start or a fault could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot listen on {addr} for the {what}: {error}; {hint}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        hint: String,
        error: std::io::Error,
    },
    #[error(transparent)]
    Target(#[from] topology::TargetError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot start the aggregator: {0}")]
    Aggregator(StartError),
    #[error("cannot start the {network} agent: {error}")]
    Agent {
        network: &'static str,
        error: vigil_agent::AgentError,
    },
    #[error("cannot apply fault {fault}: {error}")]
    Fault {
        fault: DemoFault,
        error: std::io::Error,
    },
}

fn listen_error(
    what: &'static str,
    flag: &'static str,
    addr: SocketAddr,
    error: std::io::Error,
) -> DemoError {
    let hint = if error.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "the port is taken (is another `vigil demo` or a vigil-aggregator running?); stop it, or choose another address with `vigil demo {flag} 127.0.0.1:PORT`"
        )
    } else {
        format!("choose another address with `vigil demo {flag} 127.0.0.1:PORT`")
    };
    DemoError::Listen {
        what,
        addr,
        hint,
        error,
    }
}

/// Entry point of the demo.
pub struct Demo;

impl Demo {
    /// Starts targets, the aggregator, the agents and the control endpoint.
    /// Returns once everything listens; the tree turns Healthy a few probe
    /// intervals later.
    pub async fn start(options: DemoOptions) -> Result<DemoHandle, DemoError> {
        // Bound first so a second demo fails before starting anything.
        let control_listener = TcpListener::bind(options.control).await.map_err(|e| {
            listen_error(
                "fault-injection control endpoint",
                "--control",
                options.control,
                e,
            )
        })?;
        let model = config::model()?;
        let aggregator = Aggregator::start(
            config::aggregator(options.grpc, options.http, options.pace),
            model,
        )
        .await
        .map_err(|e| match e {
            StartError::Bind { what, addr, source } => {
                let (what, flag) = if what == "grpc" {
                    ("aggregator's gRPC API", "--grpc")
                } else {
                    ("aggregator's HTTP API", "--http")
                };
                listen_error(what, flag, addr, source)
            }
            other => DemoError::Aggregator(other),
        })?;
        let targets = match Targets::start(options.addressing, options.pace.slow_delay()).await {
            Ok(t) => t,
            Err(e) => {
                aggregator.shutdown().await;
                return Err(e.into());
            }
        };
        let grpc_addr = config::reachable(aggregator.grpc_addr());
        let agents = match start_agents(grpc_addr, &targets, options.pace).await {
            Ok(a) => a,
            Err(e) => {
                aggregator.shutdown().await;
                targets.stop().await;
                return Err(e);
            }
        };
        let running = Arc::new(Running {
            targets,
            ops: Mutex::new(Ops {
                active: BTreeSet::new(),
                agents,
            }),
        });
        let control = match ControlServer::serve(control_listener, Arc::clone(&running)) {
            Ok(c) => c,
            Err(e) => {
                let error = listen_error(
                    "fault-injection control endpoint",
                    "--control",
                    options.control,
                    e,
                );
                stop_running(running).await;
                aggregator.shutdown().await;
                return Err(error);
            }
        };
        tracing::info!(grpc = %grpc_addr, control = %control.addr(), "demo running");
        Ok(DemoHandle {
            running,
            aggregator,
            control,
        })
    }
}

async fn start_agents(
    aggregator: SocketAddr,
    targets: &Targets,
    pace: Pace,
) -> Result<BTreeMap<Vantage, AgentSlot>, DemoError> {
    let mut agents = BTreeMap::new();
    for vantage in Vantage::ALL {
        let config = config::agent(vantage, aggregator, targets, pace)?;
        match Agent::start(config.clone()).await {
            Ok(handle) => {
                agents.insert(
                    vantage,
                    AgentSlot {
                        config,
                        handle: Some(handle),
                    },
                );
            }
            Err(error) => {
                for slot in agents.into_values() {
                    if let Some(handle) = slot.handle {
                        handle.shutdown().await;
                    }
                }
                return Err(DemoError::Agent {
                    network: vantage.network(),
                    error,
                });
            }
        }
    }
    Ok(agents)
}

/// An agent and the config to start it again after `agent-silent` ends.
struct AgentSlot {
    config: AgentConfig,
    handle: Option<AgentHandle>,
}

/// What fault switching changes; one lock so switches apply one at a time.
struct Ops {
    active: BTreeSet<DemoFault>,
    agents: BTreeMap<Vantage, AgentSlot>,
}

/// The parts of a running demo that the control endpoint drives.
struct Running {
    targets: Targets,
    ops: Mutex<Ops>,
}

impl Running {
    async fn apply(&self, fault: DemoFault, on: bool) -> Result<BTreeSet<DemoFault>, DemoError> {
        let mut ops = self.ops.lock().await;
        if on {
            ops.active.insert(fault);
        } else {
            ops.active.remove(&fault);
        }
        let active = ops.active.clone();
        self.targets
            .converge(&active)
            .await
            .map_err(|error| DemoError::Fault { fault, error })?;
        for (vantage, slot) in &mut ops.agents {
            let silent = match vantage {
                Vantage::Spoke(s) => active.contains(&DemoFault::AgentSilent(*s)),
                Vantage::Hub => false,
            };
            match (silent, slot.handle.take()) {
                (true, Some(handle)) => handle.shutdown().await,
                (false, None) => {
                    let handle = Agent::start(slot.config.clone()).await.map_err(|error| {
                        DemoError::Agent {
                            network: vantage.network(),
                            error,
                        }
                    })?;
                    slot.handle = Some(handle);
                }
                (_, kept) => slot.handle = kept,
            }
        }
        tracing::info!(%fault, on, active = active.len(), "demo fault switched");
        Ok(active)
    }
}

impl FaultSwitch for Running {
    async fn switch(&self, fault: DemoFault, active: bool) -> Result<BTreeSet<DemoFault>, String> {
        self.apply(fault, active).await.map_err(|e| e.to_string())
    }

    async fn active(&self) -> BTreeSet<DemoFault> {
        self.ops.lock().await.active.clone()
    }
}

/// Stops the agents (flushing what they buffered) and then the targets.
async fn stop_running(running: Arc<Running>) {
    let agents = std::mem::take(&mut running.ops.lock().await.agents);
    for slot in agents.into_values() {
        if let Some(handle) = slot.handle {
            handle.shutdown().await;
        }
    }
    match Arc::try_unwrap(running) {
        Ok(running) => running.targets.stop().await,
        // Only the control endpoint shares it, and it has stopped; dropping
        // still closes every listener.
        Err(_) => tracing::warn!("demo targets still referenced at shutdown; dropping them"),
    }
}

/// A running demo.
pub struct DemoHandle {
    running: Arc<Running>,
    aggregator: AggregatorHandle,
    control: ControlServer,
}

impl DemoHandle {
    /// The aggregator's gRPC address (query, faults, ingest).
    pub fn grpc_addr(&self) -> SocketAddr {
        config::reachable(self.aggregator.grpc_addr())
    }

    /// The aggregator's HTTP API.
    pub fn http_addr(&self) -> SocketAddr {
        config::reachable(self.aggregator.http_addr())
    }

    /// The fault-injection control endpoint.
    pub fn control_addr(&self) -> SocketAddr {
        config::reachable(self.control.addr())
    }

    /// Injects a fault; injecting an active fault again changes nothing.
    pub async fn inject(&self, fault: DemoFault) -> Result<(), DemoError> {
        self.running.apply(fault, true).await.map(drop)
    }

    /// Restores a fault; restoring one that is not active changes nothing.
    pub async fn restore(&self, fault: DemoFault) -> Result<(), DemoError> {
        self.running.apply(fault, false).await.map(drop)
    }

    /// The faults active now.
    pub async fn active(&self) -> BTreeSet<DemoFault> {
        self.running.ops.lock().await.active.clone()
    }

    /// Stops the control endpoint, the agents (flushed), the aggregator and
    /// the targets, releasing every port.
    pub async fn shutdown(self) {
        self.control.stop().await;
        stop_running(self.running).await;
        self.aggregator.shutdown().await;
        tracing::info!("demo stopped");
    }

    /// Where to look and what to type, for people.
    pub fn banner(&self) -> String {
        let t = &self.running.targets;
        let grpc = self.grpc_addr();
        let http = self.http_addr();
        let control = self.control_addr();
        let server = if grpc == DemoOptions::default().grpc {
            String::new()
        } else {
            format!(" --server http://{grpc}")
        };
        let control_flag = if control == DemoOptions::default().control {
            String::new()
        } else {
            format!(" --control {control}")
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Vigil demo: a hub and two spokes on loopback, probed by 3 agents, judged by 1 aggregator.\n"
        );
        let _ = writeln!(out, "  aggregator  gRPC {grpc}   HTTP http://{http}");
        let _ = writeln!(
            out,
            "  hub         DNS {} (zones {}, {}, {})",
            t.dns.addr(),
            topology::PRIVATE_ZONE,
            topology::PUBLIC_ZONE,
            topology::HUB_ZONE
        );
        let _ = writeln!(
            out,
            "              firewall {}   shared service {}",
            t.firewall.addr(),
            t.hub_service.addr()
        );
        let _ = writeln!(
            out,
            "  spoke-a     checkout http://{}/health   orders-db {}   orders gRPC {}",
            t.spoke_a.checkout.addr(),
            t.orders_db.addr(),
            t.orders_grpc.addr()
        );
        let _ = writeln!(
            out,
            "  spoke-b     checkout http://{}/health",
            t.spoke_b.checkout.addr()
        );
        let _ = writeln!(out, "  internet    echo http://{}/ip", t.echo.addr());
        let _ = writeln!(out, "\nLook, from another terminal:");
        for cmd in ["tree", "faults", "why checkout", "watch"] {
            let _ = writeln!(out, "  vigil{server} {cmd}");
        }
        for path in ["tree", "faults", "nodes/checkout"] {
            let _ = writeln!(out, "  curl http://{http}/api/v1/{path}");
        }
        let _ = writeln!(out, "\nBreak something, watch it appear, then restore it:");
        let _ = writeln!(out, "  vigil inject{control_flag} workload-5xx:spoke-a");
        let _ = writeln!(out, "  vigil restore{control_flag} workload-5xx:spoke-a\n");
        let _ = writeln!(out, "Faults (vigil inject{control_flag} --list):");
        for fault in DemoFault::all() {
            let _ = writeln!(out, "  {:<24} {}", fault.to_string(), fault.description());
        }
        let _ = writeln!(out, "\nCtrl-C stops everything.");
        out
    }
}
