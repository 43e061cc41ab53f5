//! The simulated agents: one long-lived ingest stream each, Hello and
//! declarations first, then batches at a fixed rate (open loop) or as fast as
//! acknowledgements allow (closed loop), counting what the aggregator acks.
//!
//! Owns connections and per-stream pacing. It must not measure latency or
//! read the aggregator's process; see `marker`, `query` and `process`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use vigil_proto::v1::{ProbeKind, stream_response};

use super::LoadError;
use super::model::FleetModel;
use super::tls::LoadTls;
use super::wire::{self, BatchTemplate, RawCodec};

const STREAM_PATH: &str = "/vigil.v1.IngestService/Stream";

/// How batches are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Every agent sends one batch per `interval`, phases spread evenly.
    Every(Duration),
    /// Every agent keeps this many batches unacknowledged, sending the next
    /// as soon as one is acked: the aggregator's peak.
    InFlight(u32),
}

/// Counters shared by every simulated agent.
#[derive(Debug, Default)]
pub struct FleetCounters {
    pub streams_welcomed: AtomicU64,
    pub batches_sent: AtomicU64,
    pub signals_sent: AtomicU64,
    pub signals_acked: AtomicU64,
    /// Open-loop sends skipped because the agent already had its maximum of
    /// unacknowledged batches: the aggregator was behind.
    pub batches_deferred: AtomicU64,
    /// Streams ended by the aggregator with `vigil-rejected-sequence`.
    pub rejected: AtomicU64,
    /// Streams that failed for any other reason (connect, transport).
    pub stream_errors: AtomicU64,
}

/// What every agent of the fleet looks like.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub model: FleetModel,
    pub agents: usize,
    pub probes: u32,
    pub signals_per_batch: u32,
    pub pace: Pace,
    /// Unacked batches allowed in open loop before a send is deferred.
    pub max_unacked: u32,
    pub networks: usize,
    /// Agents sharing one HTTP/2 connection: they share its network too, as
    /// they would share a certificate.
    pub streams_per_connection: usize,
}

impl FleetSpec {
    /// The network of connection `connection` and of every agent on it.
    pub fn network(&self, connection: usize) -> String {
        format!("spoke-{}", connection % self.networks.max(1))
    }

    /// Every network the fleet's agents are in.
    pub fn all_networks(&self) -> Vec<String> {
        (0..self.networks.max(1)).map(|c| self.network(c)).collect()
    }
}

/// How connections reach the aggregator: its URL and, for `https://`, the
/// run's certificates.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub tls: Option<Arc<LoadTls>>,
}

/// Opens `count` HTTP/2 connections to `target`, a few at a time; with TLS,
/// connection `c` presents the agent certificate of `network(c)`.
pub async fn connect(
    target: &Target,
    count: usize,
    network: impl Fn(usize) -> String,
) -> Result<Vec<Channel>, LoadError> {
    let endpoints = (0..count)
        .map(|c| endpoint(target, Some(&network(c))))
        .collect::<Result<Vec<_>, _>>()?;
    connect_with(endpoints, &target.url).await
}

/// One connection tuned for answers as large as a 10,000-node tree, as
/// `vigil` connects ([`vigil_client::for_large_answers`]).
pub async fn connect_for_queries(target: &Target) -> Result<Channel, LoadError> {
    let endpoint = vigil_client::for_large_answers(endpoint(target, None)?);
    let mut channels = connect_with(vec![endpoint], &target.url).await?;
    Ok(channels.remove(0))
}

fn endpoint(target: &Target, network: Option<&str>) -> Result<Endpoint, LoadError> {
    let mut endpoint = Endpoint::from_shared(target.url.clone())
        .map_err(|e| LoadError::Target(format!("{}: {e}", target.url)))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10));
    if let Some(tls) = &target.tls {
        endpoint = endpoint
            .tls_config(tls.client(network)?)
            .map_err(|e| LoadError::Target(format!("{}: {e}", target.url)))?;
    }
    Ok(endpoint)
}

async fn connect_with(endpoints: Vec<Endpoint>, url: &str) -> Result<Vec<Channel>, LoadError> {
    let results: Vec<Result<Channel, tonic::transport::Error>> =
        futures::stream::iter(endpoints.iter().map(Endpoint::connect))
            .buffered(64)
            .collect()
            .await;
    results
        .into_iter()
        .map(|r| r.map_err(|e| LoadError::Connect(format!("{url}: {e:?}"))))
        .collect()
}

/// Starts agent `index` on `channel`; it runs until `stop`.
pub fn spawn_agent(
    index: usize,
    channel: Channel,
    spec: Arc<FleetSpec>,
    templates: Arc<Vec<BatchTemplate>>,
    counters: Arc<FleetCounters>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(status) = run_agent(index, channel, &spec, &templates, &counters, &stop).await {
            if status
                .metadata()
                .get(vigil_proto::REJECTED_SEQUENCE_KEY)
                .is_some()
            {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(agent = index, %status, "stream rejected");
            } else if !stop.is_cancelled() {
                counters.stream_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(agent = index, %status, "stream failed");
            }
        }
    })
}

/// The batch templates an agent cycles through so every probe gets signals.
pub fn templates(probes: u32, per_batch: u32, spread_ms: u32) -> Vec<BatchTemplate> {
    let distinct = probes / gcd(probes, per_batch % probes.max(1)).max(1);
    (0..distinct.max(1))
        .map(|i| {
            let first = (u64::from(i) * u64::from(per_batch) % u64::from(probes.max(1))) as u32;
            BatchTemplate::successes(first, probes, per_batch, spread_ms)
        })
        .collect()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

async fn run_agent(
    index: usize,
    channel: Channel,
    spec: &FleetSpec,
    templates: &[BatchTemplate],
    counters: &FleetCounters,
    stop: &CancellationToken,
) -> Result<(), tonic::Status> {
    let components: Vec<String> = (0..spec.probes)
        .map(|p| spec.model.component(index, spec.probes, p))
        .collect();
    let window = match spec.pace {
        Pace::InFlight(n) => n,
        Pace::Every(_) => spec.max_unacked,
    } as usize;
    let (tx, rx) = mpsc::channel::<Bytes>(window + 2);
    let network = spec.network(index / spec.streams_per_connection.max(1));
    let incarnation = u64::try_from(index).unwrap_or(0) + 1;
    let _ = tx
        .send(wire::hello(
            &format!("load-{index:05}"),
            incarnation,
            &network,
        ))
        .await;
    let _ = tx
        .send(wire::declarations(&components, ProbeKind::Tcp, 1000))
        .await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connection not ready: {e}")))?;
    let response = grpc
        .streaming(
            tonic::Request::new(ReceiverStream::new(rx)),
            PathAndQuery::from_static(STREAM_PATH),
            RawCodec::default(),
        )
        .await?;
    let mut inbound = response.into_inner();
    let mut buf = BytesMut::with_capacity(4096);
    let mut sequence = 0u64;
    let mut acked = 0u64;
    let mut welcomed = false;
    let mut next_template = index % templates.len().max(1);
    let per_batch = u64::from(spec.signals_per_batch);

    let mut send = |sequence: &mut u64| {
        *sequence += 1;
        let t = &templates[next_template];
        next_template = (next_template + 1) % templates.len();
        counters.batches_sent.fetch_add(1, Ordering::Relaxed);
        counters
            .signals_sent
            .fetch_add(u64::from(t.count()), Ordering::Relaxed);
        t.stamp(*sequence, now_ms(), &mut buf)
    };

    let mut ticks = match spec.pace {
        Pace::Every(every) => {
            // Spread phases so the fleet does not send in lockstep.
            let phase = every.mul_f64(index as f64 / spec.agents.max(1) as f64);
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(t)
        }
        Pace::InFlight(_) => None,
    };
    loop {
        let tick = async {
            match ticks.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tick, if welcomed => {
                if sequence - acked >= window as u64 {
                    counters.batches_deferred.fetch_add(1, Ordering::Relaxed);
                } else {
                    let batch = send(&mut sequence);
                    if tx.send(batch).await.is_err() { return Ok(()); }
                }
            }
            msg = inbound.message() => {
                let Some(msg) = msg? else { return Ok(()) };
                match msg.message {
                    Some(stream_response::Message::Welcome(_)) => {
                        welcomed = true;
                        counters.streams_welcomed.fetch_add(1, Ordering::Relaxed);
                        if let Pace::InFlight(n) = spec.pace {
                            for _ in 0..n {
                                let batch = send(&mut sequence);
                                if tx.send(batch).await.is_err() { return Ok(()); }
                            }
                        }
                    }
                    Some(stream_response::Message::Ack(ack)) => {
                        let newly = ack.sequence.saturating_sub(acked);
                        acked = acked.max(ack.sequence);
                        counters.signals_acked.fetch_add(newly * per_batch, Ordering::Relaxed);
                        if matches!(spec.pace, Pace::InFlight(_)) {
                            for _ in 0..newly {
                                let batch = send(&mut sequence);
                                if tx.send(batch).await.is_err() { return Ok(()); }
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

/// Wall-clock milliseconds: batch base times are wall-clock on the wire.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_cover_every_probe() {
        let ts = templates(10, 4, 1000);
        assert_eq!(ts.len(), 5);
        let mut seen = [0u32; 10];
        for t in &ts {
            assert_eq!(t.count(), 4);
            let mut buf = BytesMut::new();
            let bytes = t.stamp(1, 0, &mut buf);
            let msg = <vigil_proto::v1::StreamRequest as prost::Message>::decode(bytes).unwrap();
            let Some(vigil_proto::v1::stream_request::Message::Batch(b)) = msg.message else {
                panic!("not a batch");
            };
            for s in b.signals {
                seen[s.probe_index as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 2), "{seen:?}");
    }
}
