//! HTTP servers on loopback: a destination that answers, a firewall deny
//! page (status 470 "Action: Deny"), and an echo endpoint that returns the
//! caller's IP as plain text (what ifconfig.me-style services do).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
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
