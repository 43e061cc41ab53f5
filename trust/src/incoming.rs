//! A TLS listener: TCP accepted in one loop, each handshake in its own task
//! under a deadline, so a client that opens a socket and says nothing (or
//! speaks plaintext) never holds up the next one. Finished connections
//! reach gRPC (tonic's `serve_with_incoming`) or HTTP (axum's [`Listener`])
//! through a bounded channel.
//!
//! Owns accepting and handshaking; what is spoken over the connection is
//! the server's. Failed handshakes are counted and logged at a bounded rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::serve::Listener;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::Reloading;

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one log line per this long about failed handshakes.
const LOG_EVERY_MS: u64 = 10_000;

/// Handshakes that failed on a listener, and when one was last logged.
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    last_log_ms: AtomicU64,
    since_log: AtomicU64,
}

impl HandshakeCounters {
    fn failed(&self, what: &'static str, peer: SocketAddr, error: &dyn std::fmt::Display) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let suppressed = self.since_log.fetch_add(1, Ordering::Relaxed);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_EVERY_MS
            && self
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.since_log.store(0, Ordering::Relaxed);
            tracing::warn!(
                listener = what,
                %peer,
                %error,
                not_logged_since_last = suppressed,
                "TLS handshake refused (a client without TLS, an untrusted, expired or not yet valid certificate)"
            );
        }
    }
}

/// Accepts on `listener` until `stop`, handshaking with the settings
/// current at each accept. `what` names the listener in logs.
pub fn accept_tls(
    what: &'static str,
    listener: TcpListener,
    settings: Reloading<ServerConfig>,
    counters: Arc<HandshakeCounters>,
    stop: CancellationToken,
) -> mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off, do not spin.
                    tracing::warn!(listener = what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Answers are small and awaited: Nagle would hold the last segment.
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(settings.load());
            let (tx, counters) = (tx.clone(), Arc::clone(&counters));
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        counters.failed(what, peer, &e);
                    }
                    Err(_) => {
                        counters.timed_out.fetch_add(1, Ordering::Relaxed);
                        counters.failed(what, peer, &"no handshake within 10 s");
                    }
                }
            });
        }
    });
    rx
}

/// The finished connections of [`accept_tls`] as an axum listener.
pub struct TlsListener {
    pub incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    pub local: SocketAddr,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept loop ended (shutdown): graceful shutdown ends the
            // server; until then there is nothing more to accept.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
