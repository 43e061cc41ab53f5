//! Serving the HTTP router on a listener (plaintext or TLS) with the limits
//! a hostile client must not get around: a deadline for every request's
//! headers, which also bounds an idle keep-alive connection, and a cap on
//! request bodies. `axum::serve` gives hyper no timer, so a client sending
//! its headers a byte a minute (slow loris) would hold a connection and a
//! task forever; this loop is `axum::serve` with the timer and limits set.
//!
//! Owns accepting, choosing HTTP/1.1 or HTTP/2 (by ALPN under TLS; HTTP/1.1
//! in plaintext, where nothing negotiates h2) and draining on shutdown. It
//! must not look at requests: the router and its guards do.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// `http:`: limits on the HTTP API's connections.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// A request's headers must arrive within this, from the connection's
    /// start or the end of the previous response; otherwise the connection
    /// is closed. Bounds idle keep-alive connections too.
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub header_timeout: Duration,
    /// Larger request bodies are refused with 413 (the API reads none
    /// today; this bounds what any future route may be sent).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long open requests (a watcher's SSE stream) may go on after a
    /// shutdown begins before their connections are dropped.
    #[serde(
        default = "default_drain",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub drain: Duration,
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}

fn default_drain() -> Duration {
    Duration::from_secs(5)
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: default_header_timeout(),
            max_body_bytes: default_max_body_bytes(),
            drain: default_drain(),
        }
    }
}

/// Which HTTP a connection speaks.
pub(crate) trait Negotiated {
    /// Whether the client chose HTTP/2 in the TLS handshake.
    fn wants_h2(&self) -> bool;
}

impl Negotiated for tokio::net::TcpStream {
    fn wants_h2(&self) -> bool {
        false
    }
}

impl Negotiated for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn wants_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

/// Serves `router` on `listener` until `stop`, then lets open requests
/// finish for `limits.drain`.
pub(crate) async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: HttpLimits,
    stop: CancellationToken,
) where
    L: Listener,
    L::Io: Negotiated,
    L::Addr: std::fmt::Debug,
{
    let router = router.layer(DefaultBodyLimit::max(limits.max_body_bytes));
    let graceful = GracefulShutdown::new();
    loop {
        let (io, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let h2 = io.wants_h2();
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|r: http::Request<Incoming>| r.map(axum::body::Body::new)),
        );
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(limits.header_timeout)
            .keep_alive_timeout(limits.header_timeout);
        // One protocol per connection, known before the first byte: auto
        // detection (and `serve_connection_with_upgrades`, which always
        // detects) would wait, without a deadline, for a preface that a
        // silent client never sends. The API has no upgrades to serve.
        let builder = if h2 {
            builder.http2_only()
        } else {
            builder.http1_only()
        };
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(?remote, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::debug!("HTTP connections still open after the drain; dropping them");
        }
    }
}
