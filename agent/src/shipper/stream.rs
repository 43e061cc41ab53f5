//! The agent's end of the ingest stream: connect, say Hello and declare the
//! probes, read Welcome, replay the outbox in order, release on Ack, and
//! reconnect with backoff when the stream breaks. Owns the stream protocol;
//! it must not build batches or decide what a probe result means.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use vigil_proto::v1::ingest_service_client::IngestServiceClient;
use vigil_proto::v1::{Hello, ProbeDeclarations, StreamRequest, stream_request, stream_response};

use super::{Backoff, Counters, Outbox};

pub struct Shipper {
    pub endpoint: String,
    pub connect_timeout: Duration,
    pub tls: Option<crate::config::AggregatorTls>,
    pub hello: Hello,
    pub declarations: ProbeDeclarations,
    pub outbox: Arc<Outbox>,
    pub counters: Arc<Counters>,
    pub backoff: Backoff,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("invalid endpoint: {0}")]
    Endpoint(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("connect failed: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("stream failed: {0}")]
    Status(#[from] tonic::Status),
    #[error("no Welcome within {0:?}")]
    NoWelcome(Duration),
    #[error("the aggregator sent {0} before Welcome")]
    Unexpected(&'static str),
    #[error("the aggregator closed the stream")]
    Closed,
}

/// The TLS settings of one connection, from the files as they are now: a
/// certificate rotated on disk is presented from the next connection on.
fn client_tls(tls: &crate::config::AggregatorTls) -> Result<ClientTlsConfig, SessionError> {
    let (ca, identity) = tls
        .files
        .read_pem()
        .map_err(|e| SessionError::Tls(e.to_string()))?;
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some((cert, key)) = identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

impl Shipper {
    /// Keeps a stream up until `stop` is cancelled.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut first = true;
        let mut failures = 0u32;
        loop {
            // How long the aggregator asked this agent to stay away (a rate
            // limit); at least the backoff.
            let mut told_to_wait = Duration::ZERO;
            if !first {
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            let result = tokio::select! {
                r = self.session(&stop) => r,
                () = stop.cancelled() => Ok(()),
            };
            if self.counters.connected.swap(false, Ordering::Relaxed) {
                failures = 0;
            }
            if stop.is_cancelled() {
                return;
            }
            match result {
                Ok(()) => {}
                Err(SessionError::Status(status)) => told_to_wait = self.on_refusal(&status),
                Err(e) => {
                    // Warn once per outage: a spoke cut off for hours would
                    // otherwise flood its logs with one line per retry.
                    failures += 1;
                    let error = chain(&e);
                    if failures == 1 {
                        tracing::warn!(endpoint = %self.endpoint, %error, "ingest stream down; buffering and retrying");
                    } else {
                        tracing::debug!(endpoint = %self.endpoint, %error, failures, "ingest stream still down");
                    }
                }
            }
            let delay = self.backoff.next_delay().max(told_to_wait);
            tracing::debug!(?delay, "reconnecting to the aggregator");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// A refusal naming a sequence means that batch can never be applied:
    /// drop it rather than resend it forever. Returns how long the
    /// aggregator asked to wait before resending (a rate limit), if it did.
    fn on_refusal(&self, status: &tonic::Status) -> Duration {
        use tonic::Code;
        let refusing = matches!(
            status.code(),
            Code::InvalidArgument
                | Code::FailedPrecondition
                | Code::ResourceExhausted
                | Code::AlreadyExists
        );
        let metadata = |key: &str| {
            status
                .metadata()
                .get(key)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(ms) = metadata(vigil_proto::RETRY_AFTER_MS_KEY) {
            let wait = Duration::from_millis(ms.min(60_000));
            tracing::warn!(
                ?wait,
                message = status.message(),
                "the aggregator paces this agent (its rate limit); keeping the batch and resending after the wait"
            );
            return wait;
        }
        // Sequence 0 names no batch (the refused message was not one).
        match (
            refusing,
            metadata(vigil_proto::REJECTED_SEQUENCE_KEY).filter(|s| *s > 0),
        ) {
            (true, Some(sequence)) => {
                let signals = self.outbox.reject(sequence);
                self.counters
                    .batches_rejected
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sequence,
                    signals = signals.unwrap_or(0),
                    code = ?status.code(),
                    message = status.message(),
                    "aggregator rejected a batch; dropped it from the buffer"
                );
            }
            _ => tracing::warn!(
                endpoint = %self.endpoint,
                code = ?status.code(),
                message = status.message(),
                "ingest stream ended with an error"
            ),
        }
        Duration::ZERO
    }

    async fn session(&mut self, stop: &CancellationToken) -> Result<(), SessionError> {
        let timeout = self.connect_timeout;
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| SessionError::Endpoint(e.to_string()))?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(client_tls(tls)?)
                .map_err(|e| SessionError::Tls(e.to_string()))?;
        }
        let channel = endpoint
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .connect()
            .await?;
        let mut client = IngestServiceClient::new(channel);

        let (tx, rx) = mpsc::channel::<StreamRequest>(16);
        // Capacity 16 holds both; the receiver lives in the stream below.
        let _ = tx.try_send(request(stream_request::Message::Hello(self.hello.clone())));
        let _ = tx.try_send(request(stream_request::Message::Declarations(
            self.declarations.clone(),
        )));
        let response = tokio::time::timeout(timeout, client.stream(ReceiverStream::new(rx)))
            .await
            .map_err(|_| SessionError::NoWelcome(timeout))??;
        let mut inbound = response.into_inner();

        let last_applied = match tokio::time::timeout(timeout, inbound.message()).await {
            Err(_) => return Err(SessionError::NoWelcome(timeout)),
            Ok(Err(status)) => return Err(status.into()),
            Ok(Ok(None)) => return Err(SessionError::Closed),
            Ok(Ok(Some(msg))) => match msg.message {
                Some(stream_response::Message::Welcome(w)) => w.last_applied_sequence,
                Some(stream_response::Message::Ack(_)) => {
                    return Err(SessionError::Unexpected("an Ack"));
                }
                None => return Err(SessionError::Unexpected("an empty message")),
            },
        };
        let already = self.outbox.release_through(last_applied);
        self.counters
            .signals_acked
            .fetch_add(already, Ordering::Relaxed);
        self.counters.connected.store(true, Ordering::Relaxed);
        self.backoff.reset();
        tracing::info!(
            endpoint = %self.endpoint,
            last_applied,
            buffered = self.outbox.buffered_batches(),
            "connected to the aggregator"
        );

        let mut cursor = last_applied;
        let mut changes = self.outbox.subscribe();
        loop {
            // Marking the version seen before looking means a push after the
            // look wakes `changed()` below.
            changes.borrow_and_update();
            let next = self.outbox.next_after(cursor);
            let has_next = next.is_some();
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                msg = inbound.message() => match msg? {
                    None => return Err(SessionError::Closed),
                    Some(resp) => match resp.message {
                        Some(stream_response::Message::Ack(ack)) => {
                            let released = self.outbox.release_through(ack.sequence);
                            self.counters.signals_acked.fetch_add(released, Ordering::Relaxed);
                        }
                        Some(stream_response::Message::Welcome(_)) | None => {
                            tracing::debug!("ignoring a repeated Welcome or empty message");
                        }
                    },
                },
                permit = tx.reserve(), if has_next => {
                    let Ok(permit) = permit else { return Err(SessionError::Closed) };
                    if let Some(batch) = next {
                        cursor = batch.sequence;
                        permit.send(request(stream_request::Message::Batch(batch)));
                    }
                }
                changed = changes.changed(), if !has_next => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn request(message: stream_request::Message) -> StreamRequest {
    StreamRequest {
        message: Some(message),
    }
}

/// The error and its causes on one line: tonic's own message ("transport
/// error") hides whether the connection was refused or timed out.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}
