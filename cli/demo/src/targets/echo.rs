//! The demo's stand-in for "the internet": an HTTP endpoint that tells the
//! caller which source address it saw, as the public what-is-my-IP services
//! do for the egress-IP probe.
//!
//! Owns only this server. It must not interpret the address (whether it is the
//! hub firewall's egress IP is the probe's question, not the target's).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;

use super::{Reopenable, Spawner, accept_loop};

/// `GET /ip` answers the caller's source IP as plain text; `GET /` answers 200
/// `echo`. Can be taken down (connections refused) and brought back.
pub struct EchoService {
    listener: Reopenable,
}

impl EchoService {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let router = Router::new()
            .route("/", get(|| async { "echo" }))
            .route("/ip", get(source_ip));
        let spawn: Spawner = Arc::new(move |listener, stop| {
            let router = router.clone();
            tokio::spawn(accept_loop(listener, stop, move |stream| {
                // The peer is known per connection, before any request.
                let peer = stream.peer_addr().map(|a| a.ip());
                let router = router.clone();
                async move {
                    let peer = match peer {
                        Ok(ip) => ip,
                        Err(e) => {
                            tracing::debug!(error = %e, "echo connection closed before it was read");
                            return;
                        }
                    };
                    let service = TowerToHyperService::new(router.layer(Extension(peer)));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "echo connection ended with an error");
                    }
                }
            }))
        });
        let listener = Reopenable::start(addr, spawn).await?;
        tracing::debug!(addr = %listener.addr, "echo target listening");
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

async fn source_ip(Extension(peer): Extension<IpAddr>) -> String {
    peer.to_string()
}
