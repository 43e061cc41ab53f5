//! An in-process hickory DNS server (UDP and TCP) for the zone `lab.test.`
//! with names that resolve privately, publicly, through a privatelink CNAME,
//! not at all, with SERVFAIL or REFUSED, slowly, or with an answer too large
//! for UDP. Counts queries that arrive over TCP to prove the fallback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType,
};
use tokio::net::{TcpListener, UdpSocket};

/// Answers after this long for `slow.lab.test`.
pub const SLOW_DELAY: Duration = Duration::from_millis(300);
/// A records behind `many.lab.test`: too many for one UDP answer.
pub const MANY: u8 = 120;

pub struct DnsLab {
    pub addr: SocketAddr,
    tcp_queries: Arc<AtomicUsize>,
}

impl DnsLab {
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

fn name(text: &str) -> Name {
    Name::from_str(text).expect("valid test name")
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 60, data)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> RData {
    RData::A(A(Ipv4Addr::new(a, b, c, d)))
}

fn zone() -> InMemoryZoneHandler {
    let origin = name("lab.test.");
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name("ns.lab.test."),
        name("admin.lab.test."),
        1,
        3600,
        600,
        86400,
        60,
    );
    let mut records = vec![
        Record::from_rdata(origin, 60, RData::SOA(soa)),
        // A private endpoint reached through its privatelink CNAME, as
        // Azure publishes them.
        record(
            "kv.vault.lab.test.",
            RData::CNAME(CNAME(name("kv.privatelink.vault.lab.test."))),
        ),
        record("kv.privatelink.vault.lab.test.", v4(10, 1, 2, 4)),
        // The zone-not-linked fault: the chain ends at a public address.
        record(
            "unlinked.vault.lab.test.",
            RData::CNAME(CNAME(name("unlinked.privatelink.vault.lab.test."))),
        ),
        record(
            "unlinked.privatelink.vault.lab.test.",
            RData::CNAME(CNAME(name("vault-westeurope.cloudapp.lab.test."))),
        ),
        record("vault-westeurope.cloudapp.lab.test.", v4(52, 1, 2, 3)),
        // Private, but not through a privatelink name.
        record(
            "direct.vault.lab.test.",
            RData::CNAME(CNAME(name("direct.cloudapp.lab.test."))),
        ),
        record("direct.cloudapp.lab.test.", v4(10, 1, 2, 5)),
        record("kv.lab.test.", v4(10, 1, 2, 3)),
        record("cgnat.lab.test.", v4(100, 64, 1, 1)),
        record("public.lab.test.", v4(52, 1, 2, 3)),
        record(
            "v6only.lab.test.",
            RData::AAAA(AAAA(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5))),
        ),
        record("slow.lab.test.", v4(10, 1, 2, 9)),
    ];
    for i in 0..MANY {
        records.push(record("many.lab.test.", v4(10, 2, 0, i)));
    }
    for r in records {
        assert!(zone.upsert_mut(r, 1), "record inserted");
    }
    zone
}

/// Answers like the catalog, except for the names that stand for a broken
/// resolver: `servfail.*`, `refused.*` and a slow `slow.*`.
struct LabHandler {
    catalog: Catalog,
    tcp_queries: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for LabHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        if request.protocol() == Protocol::Tcp {
            self.tcp_queries.fetch_add(1, Ordering::SeqCst);
        }
        let asked = request
            .request_info()
            .map(|info| info.query.name().to_string())
            .unwrap_or_default();
        let code = if asked.starts_with("servfail.") {
            Some(ResponseCode::ServFail)
        } else if asked.starts_with("refused.") {
            Some(ResponseCode::Refused)
        } else {
            None
        };
        if let Some(code) = code {
            let response = MessageResponseBuilder::from_message_request(request)
                .error_msg(&request.metadata, code);
            return match response_handle.send_response(response).await {
                Ok(info) => info,
                Err(_) => failed(request),
            };
        }
        if asked.starts_with("slow.") {
            tokio::time::sleep(SLOW_DELAY).await;
        }
        self.catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

fn failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// Starts the server on loopback (same port for UDP and TCP).
pub async fn start() -> DnsLab {
    let mut catalog = Catalog::new();
    let handler: Arc<dyn ZoneHandler> = Arc::new(zone());
    catalog.upsert(LowerName::new(&name("lab.test.")), vec![handler]);
    let (tcp, udp, addr) = bind_pair().await;
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let mut server = Server::new(LabHandler {
        catalog,
        tcp_queries: tcp_queries.clone(),
    });
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    DnsLab { addr, tcp_queries }
}

/// A TCP listener and a UDP socket on the same free port; retried because
/// the UDP half of a free TCP port may be taken.
async fn bind_pair() -> (TcpListener, UdpSocket, SocketAddr) {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let addr = tcp.local_addr().expect("tcp addr");
        if let Ok(udp) = UdpSocket::bind(addr).await {
            return (tcp, udp, addr);
        }
    }
    panic!("no port free for both TCP and UDP");
}

/// A UDP socket that receives queries and never answers.
pub async fn silent() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}
