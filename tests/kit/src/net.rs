//! Loopback addresses with a known behaviour, for probes and exporters to
//! be pointed at: a port where nothing listens, and a listener that accepts
//! and closes at once.
//!
//! Owns only 127.0.0.1 with OS-chosen ports. It must not reach any other
//! address; servers that speak a protocol belong to the suite that needs
//! them.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A port with nothing listening: bound, noted, released. Connecting there
/// is refused.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// A listener that accepts every connection and closes it at once (a TCP
/// probe's success), for as long as the runtime lives.
pub async fn accepting_and_closing() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    addr
}
