//! Observation → visible latency: a dedicated agent fails one fresh marker
//! probe at a time and polls `GetNode` until the query API shows the signal
//! as evidence and the marker leaf's state as Unhealthy.
//!
//! Owns the marker agent and its timing. Every sample uses a leaf that has
//! never seen a signal, so no window has to drain between samples. It must not
//! pace the fleet.

use std::time::{Duration, Instant};

/// The marker agent's network.
pub const NETWORK: &str = "hub";

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{GetNodeRequest, HealthState, ProbeKind, stream_response};

use super::LoadError;
use super::fleet::now_ms;
use super::model::marker_id;
use super::wire::{self, BatchTemplate, RawCodec};

/// How long one marker may take to become visible before it counts as lost.
const MARKER_DEADLINE: Duration = Duration::from_secs(10);
/// Time between two `GetNode` polls of a marker.
const POLL: Duration = Duration::from_millis(2);

/// Latency samples of the markers.
#[derive(Debug, Default)]
pub struct MarkerSamples {
    /// Until the signal shows in `GetNode.recent_signals`.
    pub evidence: Vec<Duration>,
    /// Until the marker leaf's state is Unhealthy.
    pub state: Vec<Duration>,
    /// Markers not visible within the deadline.
    pub lost: usize,
}

/// Sends `count` markers, one every `every`, until done or `stop`.
pub async fn run(
    channel: Channel,
    count: usize,
    every: Duration,
    stop: CancellationToken,
) -> Result<MarkerSamples, LoadError> {
    let components: Vec<String> = (0..count).map(marker_id).collect();
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(4);
    let send = |b| {
        let tx = tx.clone();
        async move {
            tx.send(b)
                .await
                .map_err(|_| LoadError::Marker("marker stream closed".into()))
        }
    };
    send(wire::hello("load-marker", 1, NETWORK)).await?;
    send(wire::declarations(&components, ProbeKind::Tcp, 1000)).await?;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| LoadError::Marker(format!("connection not ready: {e}")))?;
    let response = grpc
        .streaming(
            tonic::Request::new(ReceiverStream::new(rx)),
            tonic::codegen::http::uri::PathAndQuery::from_static("/vigil.v1.IngestService/Stream"),
            RawCodec::default(),
        )
        .await
        .map_err(|s| LoadError::Marker(format!("open marker stream: {s}")))?;
    let mut inbound = response.into_inner();
    match inbound.next().await {
        Some(Ok(m)) if matches!(m.message, Some(stream_response::Message::Welcome(_))) => {}
        other => {
            return Err(LoadError::Marker(format!(
                "expected Welcome on the marker stream, got {other:?}"
            )));
        }
    }
    // Drain acks so the stream never stalls on its response side.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = inbound.next().await {} });
    let mut query = QueryServiceClient::new(channel);
    let mut out = MarkerSamples::default();
    let mut buf = bytes::BytesMut::new();
    let mut ticks = tokio::time::interval(every);
    for n in 0..count {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let sequence = n as u64 + 1;
        let batch = BatchTemplate::failure(u32::try_from(n).unwrap_or(u32::MAX));
        let sent = Instant::now();
        send(batch.stamp(sequence, now_ms(), &mut buf)).await?;
        let id = marker_id(n);
        let (mut evidence, mut state) = (None, None);
        while sent.elapsed() < MARKER_DEADLINE && (evidence.is_none() || state.is_none()) {
            if let Ok(resp) = query
                .get_node(GetNodeRequest {
                    id: id.clone(),
                    recent_signals: 1,
                })
                .await
            {
                let seen = sent.elapsed();
                let r = resp.into_inner();
                if evidence.is_none() && !r.recent_signals.is_empty() {
                    evidence = Some(seen);
                }
                if state.is_none()
                    && r.node.as_ref().map(|n| n.state) == Some(HealthState::Unhealthy as i32)
                {
                    state = Some(seen);
                }
            }
            tokio::time::sleep(POLL).await;
        }
        match (evidence, state) {
            (Some(e), Some(s)) => {
                out.evidence.push(e);
                out.state.push(s);
            }
            (e, s) => {
                out.lost += 1;
                out.evidence.extend(e);
                out.state.extend(s);
            }
        }
    }
    drop(tx);
    drain.abort();
    Ok(out)
}
