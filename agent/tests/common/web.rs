//! HTTP servers on loopback: a destination that answers, one that also
//! records the `Host` of every request, a firewall deny page (status 470
//! "Action: Deny"), and an echo endpoint that returns the caller's IP as
//! plain text (what ifconfig.me-style services do).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;

/// The body Azure Firewall sends when an application rule denies plain HTTP.
pub const DENY_BODY: &str = "HTTP request from 10.1.0.4:51000 to blocked.example:80. Action: Deny. Reason: No rule matched. Proceeding with default action.";

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// Any path answers 200 "hello".
pub async fn destination() -> SocketAddr {
    serve(Router::new().fallback(|| async { "hello" })).await
}

/// The `Host` of every request a server saw, in order.
pub type Hosts = Arc<Mutex<Vec<String>>>;

/// Any path answers 200 "hello" and records the request's `Host`.
pub async fn host_recorder() -> (SocketAddr, Hosts) {
    let hosts = Hosts::default();
    let seen = hosts.clone();
    let app = Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            seen.lock().expect("hosts").push(host);
            "hello"
        }
    });
    (serve(app).await, hosts)
}

/// Any path answers 470 with the firewall's deny text.
pub async fn firewall_deny() -> SocketAddr {
    let status = StatusCode::from_u16(470).expect("470 is a valid status");
    serve(Router::new().fallback(move || async move { (status, DENY_BODY) })).await
}

/// `/ip` answers the caller's address; `/garbage` answers something else.
pub async fn echo() -> SocketAddr {
    serve(
        Router::new()
            .route(
                "/ip",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    format!("{}\n", peer.ip())
                }),
            )
            .route("/garbage", get(|| async { "<html>hello</html>" })),
    )
    .await
}
