//! The demo's stand-in network: which loopback address plays which part of a
//! hub and two spokes, the real servers started there, and how an active set
//! of faults maps onto their switches.
//!
//! Owns the address plan, the targets' lifetimes and fault convergence on
//! them. It must not know about agents, the model or the aggregator; the
//! rendered configs only read the addresses it reports.

use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::fault::DemoFault;
use super::network::{PRIVATE_ENDPOINT_NAME, Spoke};
use super::targets::{
    DnsZoneServer, EchoService, GrpcHealthTarget, HttpWorkload, TcpService, WorkloadMode, ZoneSpec,
};

/// The private zone linked to the hub.
pub const PRIVATE_ZONE: &str = "privatelink.database.windows.net";
/// The public-looking parent zone, which answers the data store's public address.
pub const PUBLIC_ZONE: &str = "database.windows.net";
/// The hub's own zone, for the resolver's liveness probe.
pub const HUB_ZONE: &str = "hub.internal";
/// The hub shared service's name in the hub zone.
pub const HUB_SERVICE_NAME: &str = "svc.hub.internal";
/// The data store's public address (TEST-NET-3: documentation only, never
/// routed, and never connected to by the demo).
pub const PUBLIC_ADDRESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 30);

/// How a slow workload behaves relative to the probes' latency threshold is
/// decided by the caller's pace; this is the delay it injects.
#[derive(Debug, Clone, Copy)]
pub struct SlowDelay(pub Duration);

/// How targets are spread over loopback addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Hub on 127.0.1.x, spoke-a on 127.0.2.x, spoke-b on 127.0.3.x, the
    /// internet on 127.0.9.x (all of 127/8 is loopback on Linux); a target
    /// whose address cannot be bound falls back to 127.0.0.1.
    #[default]
    Spread,
    /// Everything on 127.0.0.1 with distinct ports.
    Single,
}

impl Addressing {
    fn ip(self, preferred: [u8; 4]) -> Ipv4Addr {
        match self {
            Addressing::Spread => Ipv4Addr::from(preferred),
            Addressing::Single => Ipv4Addr::LOCALHOST,
        }
    }
}

/// Why a target could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the demo's {what} on {addr}: {error}")]
pub struct TargetError {
    pub what: &'static str,
    pub addr: IpAddr,
    pub error: io::Error,
}

/// Starts a target on `ip` with a free port, or on 127.0.0.1 if `ip` cannot
/// be bound (systems where only 127.0.0.1 is configured on loopback).
async fn on_loopback<T, F, Fut>(
    what: &'static str,
    ip: Ipv4Addr,
    start: F,
) -> Result<T, TargetError>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    match start(SocketAddr::from((ip, 0))).await {
        Ok(target) => Ok(target),
        Err(e) if ip != Ipv4Addr::LOCALHOST => {
            tracing::info!(%ip, error = %e, what, "address not usable; falling back to 127.0.0.1");
            start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                .await
                .map_err(|error| TargetError {
                    what,
                    addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    error,
                })
        }
        Err(error) => Err(TargetError {
            what,
            addr: IpAddr::V4(ip),
            error,
        }),
    }
}

/// The targets inside one spoke.
pub struct SpokeTargets {
    /// The checkout API stamp of this spoke.
    pub checkout: HttpWorkload,
    /// A host on the spoke's side of the peering, probed from outside.
    pub sentinel: TcpService,
}

/// Every server of the demo network.
pub struct Targets {
    /// Hub DNS resolver: private, public-looking and hub zones.
    pub dns: DnsZoneServer,
    /// The hub firewall's private IP (the spokes' next hop).
    pub firewall: TcpService,
    pub hub_service: TcpService,
    /// "The internet" behind the firewall: tells callers their source IP.
    pub echo: EchoService,
    pub spoke_a: SpokeTargets,
    pub spoke_b: SpokeTargets,
    /// The data store's private endpoint, in spoke-a.
    pub orders_db: TcpService,
    /// A gRPC service of the workload, in spoke-a.
    pub orders_grpc: GrpcHealthTarget,
    slow: SlowDelay,
}

impl Targets {
    pub async fn start(addressing: Addressing, slow: SlowDelay) -> Result<Self, TargetError> {
        let ip = |octets| addressing.ip(octets);
        let firewall = on_loopback("hub firewall", ip([127, 0, 1, 4]), TcpService::start).await?;
        let hub_service =
            on_loopback("hub shared service", ip([127, 0, 1, 20]), TcpService::start).await?;
        let echo = on_loopback("internet echo", ip([127, 0, 9, 10]), EchoService::start).await?;
        let spoke_a = SpokeTargets {
            checkout: on_loopback(
                "spoke-a checkout API",
                ip([127, 0, 2, 10]),
                HttpWorkload::start,
            )
            .await?,
            sentinel: on_loopback("spoke-a sentinel", ip([127, 0, 2, 2]), TcpService::start)
                .await?,
        };
        let spoke_b = SpokeTargets {
            checkout: on_loopback(
                "spoke-b checkout API",
                ip([127, 0, 3, 10]),
                HttpWorkload::start,
            )
            .await?,
            sentinel: on_loopback("spoke-b sentinel", ip([127, 0, 3, 2]), TcpService::start)
                .await?,
        };
        let orders_db = on_loopback(
            "orders-db private endpoint",
            ip([127, 0, 2, 30]),
            TcpService::start,
        )
        .await?;
        let orders_grpc = on_loopback(
            "orders gRPC service",
            ip([127, 0, 2, 40]),
            GrpcHealthTarget::start,
        )
        .await?;

        let db_ip = v4(orders_db.addr());
        let private_records = [(PRIVATE_ENDPOINT_NAME, db_ip)];
        let public_records = [(
            PRIVATE_ENDPOINT_NAME.replace(".privatelink", ""),
            PUBLIC_ADDRESS,
        )];
        let public_records: Vec<(&str, Ipv4Addr)> = public_records
            .iter()
            .map(|(n, a)| (n.as_str(), *a))
            .collect();
        let hub_records = [
            (HUB_SERVICE_NAME, v4(hub_service.addr())),
            ("firewall.hub.internal", v4(firewall.addr())),
        ];
        let zones = [
            ZoneSpec {
                origin: PRIVATE_ZONE,
                records: &private_records,
            },
            ZoneSpec {
                origin: PUBLIC_ZONE,
                records: &public_records,
            },
            ZoneSpec {
                origin: HUB_ZONE,
                records: &hub_records,
            },
        ];
        let dns = on_loopback("hub DNS resolver", ip([127, 0, 1, 53]), |addr| {
            DnsZoneServer::start_zones(addr, &zones)
        })
        .await?;
        Ok(Self {
            dns,
            firewall,
            hub_service,
            echo,
            spoke_a,
            spoke_b,
            orders_db,
            orders_grpc,
            slow,
        })
    }

    pub fn spoke(&self, spoke: Spoke) -> &SpokeTargets {
        match spoke {
            Spoke::A => &self.spoke_a,
            Spoke::B => &self.spoke_b,
        }
    }

    /// Sets every switch to what `active` asks for. Faults that touch the
    /// same server combine (a deleted record wins over a public one, a dead
    /// workload over a slow one), so restoring one never undoes another.
    pub async fn converge(&self, active: &BTreeSet<DemoFault>) -> io::Result<()> {
        let has = |f: DemoFault| active.contains(&f);
        self.dns.set_up(!has(DemoFault::DnsDown));
        let record = if has(DemoFault::DnsDeleted) {
            None
        } else if has(DemoFault::DnsPublic) {
            Some(PUBLIC_ADDRESS)
        } else {
            Some(v4(self.orders_db.addr()))
        };
        self.dns.set_record(PRIVATE_ENDPOINT_NAME, record).await?;
        self.hub_service
            .set_up(!has(DemoFault::HubServiceDown))
            .await?;
        let egress_up = !has(DemoFault::EgressDown);
        self.echo.set_up(egress_up).await?;
        self.firewall.set_up(egress_up).await?;
        self.orders_grpc
            .set_serving(!has(DemoFault::GrpcNotServing))
            .await;
        for spoke in Spoke::ALL {
            let mode = if has(DemoFault::WorkloadDown(spoke)) {
                WorkloadMode::Down
            } else if has(DemoFault::WorkloadSlow(spoke)) {
                WorkloadMode::Slow(self.slow.0)
            } else if has(DemoFault::Workload5xx(spoke)) {
                WorkloadMode::Failing5xx
            } else {
                WorkloadMode::Healthy
            };
            if self.spoke(spoke).checkout.mode() != mode {
                self.spoke(spoke).checkout.set_mode(mode).await?;
            }
        }
        Ok(())
    }

    /// Stops every server and releases its ports.
    pub async fn stop(self) {
        self.dns.stop().await;
        self.firewall.stop().await;
        self.hub_service.stop().await;
        self.echo.stop().await;
        for spoke in [self.spoke_a, self.spoke_b] {
            spoke.checkout.stop().await;
            spoke.sentinel.stop().await;
        }
        self.orders_db.stop().await;
        self.orders_grpc.stop().await;
    }
}

/// Targets are only ever bound to IPv4 loopback addresses.
fn v4(addr: SocketAddr) -> Ipv4Addr {
    match addr.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    }
}
