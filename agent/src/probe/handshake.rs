//! The client side of a TLS handshake for probes, classified: a connection
//! reset or closed before the server said anything is `tls_reset_after_hello`
//! (how a firewall application rule denies an SNI), other failures are
//! `tls_handshake`. Counts the bytes the server sent to tell those apart. It
//! must not judge the certificate (see `verdict`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use vigil_proto::v1::ErrorClass;

use super::classify;
use super::connect::Failed;

/// A TCP stream that counts what the peer sent.
#[derive(Debug)]
pub struct Counted {
    inner: TcpStream,
    received: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.received
            .fetch_add(u64::try_from(read).unwrap_or(u64::MAX), Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Runs the handshake on a connected stream until `deadline`.
pub async fn handshake(
    stream: TcpStream,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> Result<TlsStream<Counted>, Failed> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
        Failed::new(
            ErrorClass::ProbeInternal,
            format!("\"{server_name}\" cannot be sent as a TLS server name: {e}"),
        )
    })?;
    let received = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: stream,
        received: received.clone(),
    };
    let connect = TlsConnector::from(config).connect(name, counted);
    let result = tokio::time::timeout_at(deadline, connect).await;
    let silent = received.load(Ordering::Relaxed) == 0;
    match result {
        Ok(Ok(tls)) => Ok(tls),
        Err(_) if silent => Err(Failed::new(
            ErrorClass::Timeout,
            format!("no answer to the TLS ClientHello for {server_name} (silently dropped)"),
        )),
        Err(_) => Err(Failed::new(
            ErrorClass::Timeout,
            format!("TLS handshake for {server_name} did not finish in time"),
        )),
        Ok(Err(e)) => Err(classify_failure(&e, silent, server_name)),
    }
}

fn classify_failure(err: &io::Error, silent: bool, server_name: &str) -> Failed {
    use io::ErrorKind as K;
    let cut = matches!(
        err.kind(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe
    );
    if cut && silent {
        return Failed::new(
            ErrorClass::TlsResetAfterHello,
            format!(
                "connection cut right after the ClientHello for {server_name}, before any answer: {err}"
            ),
        );
    }
    if let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Failed::new(
            ErrorClass::TlsHandshake,
            format!("TLS handshake for {server_name} failed: {tls}"),
        );
    }
    let class = match classify::io_kind(err.kind()) {
        Some(class) => class,
        None if cut => ErrorClass::ConnectionReset,
        None => ErrorClass::TlsHandshake,
    };
    Failed::new(
        class,
        format!("TLS handshake for {server_name} failed: {err}"),
    )
}
