//! Local targets on loopback for the demo and the end-to-end tests: a workload
//! HTTP service, plain TCP services standing in for hub addresses, an
//! authoritative DNS server with a private zone, an echo service that tells the
//! caller its source IP, and a gRPC health server — each with a switch that
//! injects a fault at runtime.
//!
//! Owns these servers and their fault switches. It must not know about probes,
//! agents or the health model: it only behaves like a real service that fails
//! in a real way (refused connections, 5xx, slowness, NXDOMAIN, timeouts).

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use hickory_proto::op::{Header, HeaderCounts, MessageType};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

mod echo;
mod grpc_health;

pub use echo::EchoService;
pub use grpc_health::GrpcHealthTarget;

/// How the workload behaves; switched at runtime with [`HttpWorkload::set_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkloadMode {
    /// `GET /health` answers 200 `ok`.
    #[default]
    Healthy,
    /// `GET /health` answers 503, like a crashing backend behind a live server.
    Failing5xx,
    /// `GET /health` answers 200 after this delay.
    Slow(Duration),
    /// The listener is closed: connections are refused, as for a dead process.
    Down,
}

/// Starts the accept loop of one listener; returns when told to stop.
type Spawner = Arc<dyn Fn(TcpListener, oneshot::Receiver<()>) -> JoinHandle<()> + Send + Sync>;

/// An accept loop that can be closed (connections refused) and reopened on the
/// same port.
struct Reopenable {
    addr: SocketAddr,
    spawn: Spawner,
    running: Mutex<Option<Running>>,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Reopenable {
    async fn start(addr: SocketAddr, spawn: Spawner) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = spawn(listener, stopped);
        Ok(Self {
            addr,
            spawn,
            running: Mutex::new(Some(Running { stop, task })),
        })
    }

    /// Opens the listener again on the same port if it is closed.
    async fn open(&self) -> io::Result<()> {
        let mut running = self.running.lock().await;
        if running.is_none() {
            let listener = TcpListener::bind(self.addr).await?;
            let (stop, stopped) = oneshot::channel();
            let task = (self.spawn)(listener, stopped);
            *running = Some(Running { stop, task });
        }
        Ok(())
    }

    /// Closes the listener and cuts open connections; returns once the port
    /// refuses connections.
    async fn close(&self) {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            if let Err(e) = running.task.await {
                tracing::warn!(addr = %self.addr, error = %e, "target accept loop ended abnormally");
            }
        }
    }
}

/// Accepts connections and hands each to `serve` until told to stop; then drops
/// the listener and aborts the open connections, like a process that died.
async fn accept_loop<F, Fut>(listener: TcpListener, mut stop: oneshot::Receiver<()>, serve: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Also fires when the owner was dropped without stopping.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "target failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// A workload HTTP service: `GET /health` on a real socket, with a fault switch.
pub struct HttpWorkload {
    listener: Reopenable,
    mode: watch::Sender<WorkloadMode>,
}

impl HttpWorkload {
    /// Binds `addr` (port 0 picks a free port) and serves in `Healthy` mode.
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let (mode, mode_rx) = watch::channel(WorkloadMode::Healthy);
        let router = Router::new()
            .route("/health", get(health))
            .with_state(mode_rx);
        let spawn: Spawner = Arc::new(move |listener, stop| {
            let router = router.clone();
            tokio::spawn(accept_loop(listener, stop, move |stream| {
                let service = TowerToHyperService::new(router.clone());
                async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "workload connection ended with an error");
                    }
                }
            }))
        });
        let listener = Reopenable::start(addr, spawn).await?;
        tracing::debug!(addr = %listener.addr, "workload target listening");
        Ok(Self { listener, mode })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.addr
    }

    /// The current mode.
    pub fn mode(&self) -> WorkloadMode {
        *self.mode.borrow()
    }

    /// Switches the behaviour. `Down` closes the listener; any other mode
    /// reopens it on the same port if it was down (which fails if another
    /// process took the port meanwhile).
    pub async fn set_mode(&self, mode: WorkloadMode) -> io::Result<()> {
        self.mode.send_replace(mode);
        match mode {
            WorkloadMode::Down => {
                self.listener.close().await;
                Ok(())
            }
            _ => self.listener.open().await,
        }
    }

    pub async fn stop(self) {
        self.listener.close().await;
    }
}

async fn health(State(mode): State<watch::Receiver<WorkloadMode>>) -> (StatusCode, &'static str) {
    let current = *mode.borrow();
    match current {
        WorkloadMode::Failing5xx => (StatusCode::SERVICE_UNAVAILABLE, "failing"),
        WorkloadMode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "ok")
        }
        // Down is a closed listener; a request that raced the switch still
        // finds a live process.
        WorkloadMode::Healthy | WorkloadMode::Down => (StatusCode::OK, "ok"),
    }
}

/// A plain TCP service that accepts and closes: stands in for a hub address
/// (firewall private IP, DNS resolver, shared service) for TCP probes.
pub struct TcpService {
    listener: Reopenable,
}

impl TcpService {
    /// Binds `addr` (port 0 picks a free port) and starts accepting.
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let spawn: Spawner = Arc::new(|listener, stop| {
            tokio::spawn(accept_loop(listener, stop, |stream| async move {
                drop(stream);
            }))
        });
        let listener = Reopenable::start(addr, spawn).await?;
        Ok(Self { listener })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.addr
    }

    /// Down closes the listener (connections refused); up reopens it on the
    /// same port.
    pub async fn set_up(&self, up: bool) -> io::Result<()> {
        if up {
            self.listener.open().await
        } else {
            self.listener.close().await;
            Ok(())
        }
    }

    pub async fn stop(self) {
        self.listener.close().await;
    }
}

/// How long the DNS server keeps an idle TCP connection.
const DNS_TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// Records carry TTL 0 so a fault injected with `set_record` is seen at once,
/// even by a caching resolver.
const DNS_TTL: u32 = 0;

/// An authoritative DNS server (hickory-server) for one or more in-memory
/// zones, on UDP and TCP at the same port, with switches for record faults and
/// an outage.
pub struct DnsZoneServer {
    addr: SocketAddr,
    /// In the order given at start; the first is where relative names go.
    zones: Vec<(Name, Arc<InMemoryZoneHandler>)>,
    up: Arc<AtomicBool>,
    serial: AtomicU32,
    server: Mutex<Server<ZoneFront>>,
}

/// One zone served by a [`DnsZoneServer`]: its origin and its A records.
#[derive(Debug, Clone, Copy)]
pub struct ZoneSpec<'a> {
    /// e.g. `privatelink.vaultcore.azure.net`.
    pub origin: &'a str,
    /// `(name, address)`; a name is relative to the origin or absolute inside it.
    pub records: &'a [(&'a str, Ipv4Addr)],
}

impl DnsZoneServer {
    /// Serves `zone_origin` (e.g. `privatelink.vaultcore.azure.net`) with one A
    /// record per `(name, address)`. A name is relative to the origin (`vault`)
    /// or absolute inside it (`vault.privatelink.vaultcore.azure.net`).
    pub async fn start(
        addr: SocketAddr,
        zone_origin: &str,
        records: &[(&str, Ipv4Addr)],
    ) -> io::Result<Self> {
        Self::start_zones(
            addr,
            &[ZoneSpec {
                origin: zone_origin,
                records,
            }],
        )
        .await
    }

    /// Serves several zones from one address, like a hub resolver that
    /// answers both a private zone and a public-looking parent zone. A name is
    /// answered by the most specific zone that contains it.
    pub async fn start_zones(addr: SocketAddr, specs: &[ZoneSpec<'_>]) -> io::Result<Self> {
        if specs.is_empty() {
            return Err(invalid(
                "a DNS server needs at least one zone; give one such as 'privatelink.vaultcore.azure.net'"
                    .to_owned(),
            ));
        }
        let serial = 1;
        let mut catalog = Catalog::new();
        let mut zones = Vec::with_capacity(specs.len());
        for spec in specs {
            let origin = parse_origin(spec.origin)?;
            if zones.iter().any(|(o, _)| *o == origin) {
                return Err(invalid(format!(
                    "DNS zone '{origin}' is given twice; merge its records into one zone"
                )));
            }
            let zone = Arc::new(build_zone(&origin, spec.records, serial)?);
            let handler: Arc<dyn ZoneHandler> = zone.clone();
            catalog.upsert(LowerName::new(&origin), vec![handler]);
            zones.push((origin, zone));
        }

        let up = Arc::new(AtomicBool::new(true));
        let (udp, tcp) = bind_udp_and_tcp(addr).await?;
        let addr = udp.local_addr()?;
        let mut server = Server::new(ZoneFront {
            catalog,
            up: up.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, DNS_TCP_TIMEOUT, 64);
        tracing::debug!(%addr, zones = zones.len(), "DNS target serving");
        Ok(Self {
            addr,
            zones,
            up,
            serial: AtomicU32::new(serial),
            server: Mutex::new(server),
        })
    }

    /// The UDP and TCP address of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets `name`'s A record to `address`, or deletes it with `None` (the name
    /// then answers NXDOMAIN). A public address here simulates a private DNS
    /// zone that lost its private endpoint record.
    /// With several zones, an absolute name goes to the most specific zone
    /// that contains it and a relative name to the first zone.
    pub async fn set_record(&self, name: &str, address: Option<Ipv4Addr>) -> io::Result<()> {
        let (name, zone) = self.zone_for(name)?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let key = RrKey::new(LowerName::new(&name), RecordType::A);
        zone.records_mut().await.remove(&key);
        if let Some(address) = address {
            let record = Record::from_rdata(name.clone(), DNS_TTL, RData::A(A(address)));
            if !zone.upsert(record, serial).await {
                return Err(io::Error::other(format!(
                    "the zone refused the A record for '{name}'"
                )));
            }
        }
        Ok(())
    }

    /// The record's absolute name and the zone that holds it.
    fn zone_for(&self, name: &str) -> io::Result<(Name, &InMemoryZoneHandler)> {
        let trimmed = name.trim_end_matches('.');
        let mut absolute = Name::from_ascii(trimmed)
            .map_err(|e| invalid(format!("DNS record name '{name}' is not a valid name: {e}")))?;
        absolute.set_fqdn(true);
        let most_specific = self
            .zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(&absolute))
            .max_by_key(|(origin, _)| origin.num_labels());
        let (origin, zone) = most_specific.unwrap_or(&self.zones[0]);
        Ok((record_name(origin, name)?, zone))
    }

    /// Down keeps the sockets bound but drops every query, so clients time out
    /// (a hung resolver); up answers again.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        if let Err(e) = self.server.lock().await.shutdown_gracefully().await {
            tracing::warn!(addr = %self.addr, error = %e, "DNS target stopped with an error");
        }
    }
}

/// An in-memory primary zone with its SOA and one A record per name.
fn build_zone(
    origin: &Name,
    records: &[(&str, Ipv4Addr)],
    serial: u32,
) -> io::Result<InMemoryZoneHandler> {
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        child(origin, "ns")?,
        child(origin, "hostmaster")?,
        serial,
        3600,
        600,
        86_400,
        DNS_TTL,
    );
    zone.upsert_mut(
        Record::from_rdata(origin.clone(), DNS_TTL, RData::SOA(soa)),
        serial,
    );
    // Duplicate names replace earlier ones, like later set_record calls.
    let mut unique = BTreeMap::new();
    for (name, address) in records {
        unique.insert(record_name(origin, name)?, *address);
    }
    for (name, address) in unique {
        zone.upsert_mut(
            Record::from_rdata(name, DNS_TTL, RData::A(A(address))),
            serial,
        );
    }
    Ok(zone)
}

/// Answers from the catalog while up; drops queries while down.
struct ZoneFront {
    catalog: Catalog,
    up: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl RequestHandler for ZoneFront {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        if self.up.load(Ordering::Relaxed) {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        }
        // Nothing is sent: the client sees a timeout, as with a hung resolver.
        let mut metadata = request.metadata;
        metadata.message_type = MessageType::Response;
        ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        })
    }
}

/// Binds UDP and TCP on one port. With port 0 the UDP port is picked first; if
/// TCP cannot take the same port, another pair is tried.
async fn bind_udp_and_tcp(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    const ATTEMPTS: usize = 16;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let udp = UdpSocket::bind(addr).await?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn parse_origin(origin: &str) -> io::Result<Name> {
    let trimmed = origin.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(invalid(
            "DNS zone origin is empty; give a zone such as 'privatelink.vaultcore.azure.net'"
                .to_owned(),
        ));
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| {
        invalid(format!(
            "DNS zone origin '{origin}' is not a valid name: {e}"
        ))
    })?;
    name.set_fqdn(true);
    Ok(name)
}

fn child(origin: &Name, label: &str) -> io::Result<Name> {
    Name::from_ascii(label)
        .and_then(|l| l.append_domain(origin))
        .map_err(|e| invalid(format!("cannot build '{label}.{origin}': {e}")))
}

/// Resolves a record name against the zone: absolute if it already ends with
/// the origin, otherwise relative to it. Names outside the zone are refused.
fn record_name(origin: &Name, name: &str) -> io::Result<Name> {
    let trimmed = name.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(invalid(format!(
            "DNS record name is empty; give a name inside '{origin}' such as 'vault'"
        )));
    }
    let parsed = Name::from_ascii(trimmed)
        .map_err(|e| invalid(format!("DNS record name '{name}' is not a valid name: {e}")))?;
    let mut absolute = parsed.clone();
    absolute.set_fqdn(true);
    let full = if origin.zone_of(&absolute) {
        absolute
    } else {
        parsed
            .append_domain(origin)
            .map_err(|e| invalid(format!("DNS record name '{name}' is too long: {e}")))?
    };
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_resolve_inside_the_zone() {
        let origin = parse_origin("privatelink.vaultcore.azure.net").unwrap();
        assert_eq!(
            record_name(&origin, "vault").unwrap().to_ascii(),
            "vault.privatelink.vaultcore.azure.net."
        );
        assert_eq!(
            record_name(&origin, "vault.privatelink.vaultcore.azure.net.")
                .unwrap()
                .to_ascii(),
            "vault.privatelink.vaultcore.azure.net."
        );
        let err = record_name(&origin, "").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        assert!(parse_origin(".").is_err());
        assert!(record_name(&origin, "bad..name").is_err());
    }
}
