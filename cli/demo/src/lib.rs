//! vigil-demo (`vigil demo`): the embedded default a newcomer runs with one command, without
//! root and without installing anything. One process starts real servers on
//! loopback standing in for a hub and two spokes ([`topology`]), a real
//! aggregator with the embedded model, and real agents for the hub, spoke-a
//! and spoke-b probing those servers ([`config`]); faults are switched on the
//! servers (or an agent is stopped) through a small control endpoint
//! ([`control`]). It runs the production trust path: a CA and certificates
//! made at start, mutual TLS between agents and aggregator, bearer tokens on
//! every API ([`credentials`]).
//!
//! Owns the demo's lifecycle: start in order, undo what was started when a
//! later step fails, apply faults one at a time, stop everything on shutdown.
//! It must not fake probe results or health: agents observe every fault over
//! real sockets and the aggregator judges it. It never prints; `main.rs` shows
//! [`DemoHandle::banner`].
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod credentials;
pub mod fault;
pub mod network;
pub mod targets;
pub mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Mutex;
use vigil_agent::{Agent, AgentConfig, AgentHandle};
use vigil_aggregator::{Aggregator, AggregatorHandle, StartError};

pub use config::{Pace, Vantage};
pub use control::{ControlAuth, ControlClient, ControlError, DEFAULT_CONTROL};
pub use credentials::{DemoCredentials, Found};
pub use fault::{DemoFault, FaultKeyError};
pub use network::Spoke;
pub use topology::Addressing;

use control::{ControlServer, ControlTrust, FaultSwitch};
use credentials::{CredentialError, Discovery};
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
    /// Where the CA, certificates and tokens made at start are kept (and
    /// removed at shutdown); `vigil` looks in [`credentials::default_dir`].
    pub dir: PathBuf,
}

impl Default for DemoOptions {
    /// The ports the CLI's defaults point at: 7400, 7401 and 7409 on
    /// 127.0.0.1, and the credentials folder `vigil` looks in.
    fn default() -> Self {
        Self {
            grpc: SocketAddr::from(([127, 0, 0, 1], 7400)),
            http: SocketAddr::from(([127, 0, 0, 1], 7401)),
            control: SocketAddr::from(([127, 0, 0, 1], 7409)),
            pace: Pace::Human,
            addressing: Addressing::Spread,
            dir: credentials::default_dir(),
        }
    }
}

impl DemoOptions {
    /// Free ports chosen by the OS, the fast pace and a credentials folder
    /// of its own, for tests (several demos may run in one process).
    pub fn for_tests() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            grpc: any,
            http: any,
            control: any,
            pace: Pace::Fast,
            addressing: Addressing::Spread,
            dir: std::env::temp_dir().join(format!("vigil-demo-test-{}-{n}", std::process::id())),
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
    #[error(transparent)]
    Credentials(#[from] CredentialError),
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
    /// Makes the credentials, then starts targets, the aggregator, the
    /// agents and the control endpoint. Returns once everything listens; the
    /// tree turns Healthy a few probe intervals later.
    pub async fn start(options: DemoOptions) -> Result<DemoHandle, DemoError> {
        // Bound first so a second demo fails before starting anything, and
        // before it touches the first one's credentials.
        let control_listener = TcpListener::bind(options.control).await.map_err(|e| {
            listen_error(
                "fault-injection control endpoint",
                "--control",
                options.control,
                e,
            )
        })?;
        let model = config::model()?;
        let ips: Vec<_> = [options.grpc, options.http, options.control]
            .iter()
            .map(|a| config::reachable(*a).ip())
            .collect();
        let networks = Vantage::ALL.map(Vantage::network);
        let credentials = DemoCredentials::create(&options.dir, &ips, &networks)?;
        match start_parts(&options, control_listener, model, &credentials).await {
            Ok((running, aggregator, control)) => {
                let handle = DemoHandle {
                    running,
                    aggregator,
                    control,
                    credentials,
                };
                if let Err(e) = handle.credentials.publish(&handle.discovery()) {
                    handle.shutdown().await;
                    return Err(e.into());
                }
                tracing::info!(grpc = %handle.grpc_addr(), control = %handle.control_addr(), "demo running");
                Ok(handle)
            }
            Err(e) => {
                credentials.remove();
                Err(e)
            }
        }
    }
}

/// Starts the aggregator, the targets, the agents and the control endpoint,
/// undoing what was started when a later step fails.
async fn start_parts(
    options: &DemoOptions,
    control_listener: TcpListener,
    model: vigil_model::Model,
    credentials: &DemoCredentials,
) -> Result<(Arc<Running>, AggregatorHandle, ControlServer), DemoError> {
    let aggregator = Aggregator::start(
        config::aggregator(options.grpc, options.http, options.pace, credentials),
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
    let agents = match start_agents(grpc_addr, &targets, options.pace, credentials).await {
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
    let control = match control_trust(credentials) {
        Ok(trust) => {
            ControlServer::serve(control_listener, Arc::clone(&running), trust).map_err(|e| {
                listen_error(
                    "fault-injection control endpoint",
                    "--control",
                    options.control,
                    e,
                )
            })
        }
        Err(e) => Err(e.into()),
    };
    match control {
        Ok(control) => Ok((running, aggregator, control)),
        Err(error) => {
            stop_running(running).await;
            aggregator.shutdown().await;
            Err(error)
        }
    }
}

/// The control endpoint's TLS (the aggregator's certificate) and tokens.
fn control_trust(credentials: &DemoCredentials) -> Result<ControlTrust, CredentialError> {
    let dir = credentials.aggregator_dir();
    let files = vigil_trust::ServerFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca: None,
    };
    let tls = vigil_trust::server_config(&files, &[b"h2", b"http/1.1"])?;
    let credentials =
        vigil_trust::Credentials::load("demo control", &credentials.token_sources(), None)?;
    Ok(ControlTrust { tls, credentials })
}

async fn start_agents(
    aggregator: SocketAddr,
    targets: &Targets,
    pace: Pace,
    credentials: &DemoCredentials,
) -> Result<BTreeMap<Vantage, AgentSlot>, DemoError> {
    let mut agents = BTreeMap::new();
    for vantage in Vantage::ALL {
        let config = config::agent(vantage, aggregator, targets, pace, credentials)?;
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
    credentials: DemoCredentials,
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

    /// `https://` URL of the aggregator's gRPC API, as `vigil --server` takes it.
    pub fn grpc_url(&self) -> String {
        format!("https://{}", self.grpc_addr())
    }

    /// `https://` URL of the aggregator's HTTP API.
    pub fn http_url(&self) -> String {
        format!("https://{}", self.http_addr())
    }

    /// The CA, certificates and tokens made at start.
    pub fn credentials(&self) -> &DemoCredentials {
        &self.credentials
    }

    /// What `vigil` presents to this demo's aggregator: its CA and the read
    /// token.
    pub fn client_auth(&self) -> vigil_client::ClientAuth {
        vigil_client::ClientAuth {
            ca: Some(self.credentials.ca_file()),
            token: Some(self.credentials.read_token().to_owned()),
        }
    }

    /// What `vigil inject` presents to the control endpoint: the CA and the
    /// admin token (`admin = false`: the read token, which may only list).
    pub fn control_auth(&self, admin: bool) -> ControlAuth {
        let token = if admin {
            self.credentials.admin_token()
        } else {
            self.credentials.read_token()
        };
        ControlAuth {
            ca_pem: self.credentials.ca_pem(),
            token: Some(token.to_owned()),
        }
    }

    fn discovery(&self) -> Discovery {
        Discovery {
            pid: std::process::id(),
            grpc: self.grpc_url(),
            http: self.http_url(),
            control: self.control_addr().to_string(),
        }
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
        self.credentials.remove();
        tracing::info!("demo stopped");
    }

    /// Where to look and what to type, for people.
    pub fn banner(&self) -> String {
        let t = &self.running.targets;
        let grpc = self.grpc_addr();
        let control = self.control_addr();
        let server = if grpc == DemoOptions::default().grpc {
            String::new()
        } else {
            format!(" --server {}", self.grpc_url())
        };
        let control_flag = if control == DemoOptions::default().control {
            String::new()
        } else {
            format!(" --control {control}")
        };
        let dir = self.credentials.dir();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Vigil demo: a hub and two spokes on loopback, probed by 3 agents, judged by 1 aggregator.\n"
        );
        let _ = writeln!(
            out,
            "  aggregator  gRPC {}   HTTP {}   (TLS; agents by certificate, on-call by token)",
            self.grpc_url(),
            self.http_url()
        );
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
        let _ = writeln!(
            out,
            "\nCredentials made for this run (a CA, certificates, a read and an admin token),\nremoved at exit: {}",
            dir.display()
        );
        if dir != credentials::default_dir() {
            let _ = writeln!(
                out,
                "  vigil finds them with {}={}",
                credentials::DIR_ENV,
                dir.display()
            );
        }
        let _ = writeln!(
            out,
            "\nLook, from another terminal (vigil finds the CA and a token there):"
        );
        for cmd in ["tree", "faults", "why checkout", "watch"] {
            let _ = writeln!(out, "  vigil{server} {cmd}");
        }
        let _ = writeln!(
            out,
            "  curl --cacert {0}/ca.crt -H \"Authorization: Bearer $(cat {0}/read.token)\" \\",
            dir.display()
        );
        let _ = writeln!(out, "       {}/api/v1/tree", self.http_url());
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
