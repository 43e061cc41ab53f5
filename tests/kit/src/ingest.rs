//! Driving the ingest contract by hand, as an agent would: the three kinds
//! of message an agent sends ([`hello`], [`declare`], [`batch`]), an open
//! stream read reply by reply ([`IngestStream`]), and the status a stream of
//! bad input ends with ([`rejection`]).
//!
//! Owns the wire shape of `vigil-proto`'s ingest messages for tests. It must
//! not choose probe or signal values (each suite passes its own fixtures)
//! nor judge a reply.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use vigil_proto::v1::ingest_service_client::IngestServiceClient;
use vigil_proto::v1::{
    Hello, ProbeDeclaration, ProbeDeclarations, Signal, SignalBatch, StreamRequest, StreamResponse,
    Vantage, stream_request, stream_response,
};

/// The agent's greeting: who it is, its incarnation and its network.
pub fn hello(agent: &str, network: &str, incarnation: u64) -> StreamRequest {
    StreamRequest {
        message: Some(stream_request::Message::Hello(Hello {
            agent_id: agent.into(),
            incarnation,
            vantage: Some(Vantage {
                network: network.into(),
                ..Default::default()
            }),
            agent_version: "test".into(),
        })),
    }
}

/// The agent's probe declarations.
pub fn declare(probes: Vec<ProbeDeclaration>) -> StreamRequest {
    StreamRequest {
        message: Some(stream_request::Message::Declarations(ProbeDeclarations {
            probes,
        })),
    }
}

/// One batch of signals stamped relative to `base_ms` (Unix milliseconds).
pub fn batch(
    sequence: u64,
    base_ms: i64,
    signals: Vec<Signal>,
    dropped_signals_total: u64,
) -> StreamRequest {
    StreamRequest {
        message: Some(stream_request::Message::Batch(SignalBatch {
            sequence,
            base_time_unix_ms: base_ms,
            signals,
            dropped_signals_total,
        })),
    }
}

/// An open ingest stream to a real aggregator, driven message by message.
pub struct IngestStream {
    tx: mpsc::Sender<StreamRequest>,
    rx: tonic::Streaming<StreamResponse>,
}

impl IngestStream {
    /// Connects to the aggregator's gRPC address and opens the stream.
    pub async fn open(addr: SocketAddr) -> Self {
        Self::over(plaintext(addr).await).await
    }

    /// Opens the stream over `channel` (a TLS channel, say).
    pub async fn over(channel: Channel) -> Self {
        let mut client = IngestServiceClient::new(channel);
        let (tx, rx) = mpsc::channel(16);
        let rx = client
            .stream(ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        Self { tx, rx }
    }

    /// Sends `m`; panics if the stream is closed.
    pub async fn send(&mut self, m: StreamRequest) {
        self.tx.send(m).await.expect("stream open");
    }

    /// Sends `m`, or says the stream is closed (for input meant to be refused).
    pub async fn try_send(&mut self, m: StreamRequest) -> bool {
        self.tx.send(m).await.is_ok()
    }

    /// The next reply, or the status that ended the stream (`Status::ok`
    /// when it ended without one). Panics if nothing comes within `within`.
    pub async fn reply(
        &mut self,
        within: Duration,
    ) -> Result<stream_response::Message, tonic::Status> {
        match tokio::time::timeout(within, self.rx.next())
            .await
            .expect("reply in time")
        {
            Some(Ok(r)) => Ok(r.message.expect("reply has a message")),
            Some(Err(status)) => Err(status),
            None => Err(tonic::Status::ok("stream ended")),
        }
    }
}

/// Sends `messages` on a fresh stream and returns the status that ends it
/// (`Status::ok` if the stream ends without one); replies before it are
/// skipped. The stream stays open while the answer is awaited, so the
/// aggregator's verdict is not an end-of-stream. Panics if no status comes
/// within `within`.
pub async fn rejection(
    addr: SocketAddr,
    messages: Vec<StreamRequest>,
    within: Duration,
) -> tonic::Status {
    rejection_over(plaintext(addr).await, messages, within).await
}

async fn plaintext(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("a valid address")
        .connect()
        .await
        .expect("ingest reachable")
}

/// [`rejection`] over `channel`.
pub async fn rejection_over(
    channel: Channel,
    messages: Vec<StreamRequest>,
    within: Duration,
) -> tonic::Status {
    let mut client = IngestServiceClient::new(channel);
    // Room for every message: none waits for the stream to open.
    let (tx, rx) = mpsc::channel(messages.len().max(1));
    for m in messages {
        tx.send(m).await.expect("the channel has room");
    }
    let mut inbound = match client.stream(ReceiverStream::new(rx)).await {
        Ok(r) => r.into_inner(),
        Err(status) => return status,
    };
    let status = tokio::time::timeout(within, async {
        loop {
            match inbound.next().await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return status,
                None => return tonic::Status::ok("stream ended without an error"),
            }
        }
    })
    .await
    .expect("the aggregator answers bad input promptly");
    drop(tx);
    status
}
