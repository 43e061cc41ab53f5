//! The `vigil.v1.IngestService`: one long-lived stream per agent.
//!
//! Owns the per-stream protocol (Hello, declarations, batches, Welcome, Ack)
//! and turning rejections into precise gRPC statuses. It writes only into the
//! [`Store`]; it must never wait on evaluation or on query readers, and one bad
//! stream must never affect another.

mod limits;
mod local;
mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status, Streaming};
use vigil_proto::v1::ingest_service_server::IngestService;
use vigil_proto::v1::{
    Ack, ErrorClass, Hello, Outcome, SignalBatch, StreamRequest, StreamResponse, Welcome,
    stream_request, stream_response,
};

use limits::{Limits, Pace};
pub use local::{LocalStream, LocalStreamError};
pub(crate) use validate::MAX_PROBE_INDEX;
use validate::Rejection;
pub use vigil_health::store::{IngestCounters, IngestStats, RejectReason, RejectedCounts};

use crate::config::IngestConfig;
use crate::trust::{AgentPolicy, Denial, Peer};
use vigil_health::clock::now_unix_ms;
use vigil_health::store::{AgentEntry, Series, Store, StoredSignal};

/// The gRPC ingest endpoint.
#[derive(Clone)]
pub(crate) struct IngestEndpoint {
    pub store: Arc<Store>,
    pub counters: Arc<IngestCounters>,
    pub limits: IngestConfig,
    pub aggregator_id: String,
    pub shutdown: CancellationToken,
    /// Whose certificate may claim what (crate::trust).
    pub agents: AgentPolicy,
    /// Rate, stream and per-agent limits shared by every stream; `None`
    /// in-process, where the caller is the process itself.
    pub fairness: Option<Arc<Limits>>,
}

impl IngestEndpoint {
    /// The limits of `config`, for the endpoint's `fairness`.
    pub(crate) fn fairness(config: &IngestConfig) -> Option<Arc<Limits>> {
        Some(Arc::new(Limits::new(config)))
    }
}

#[tonic::async_trait]
impl IngestService for IngestEndpoint {
    type StreamStream = ReceiverStream<Result<StreamResponse, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        // Read before anything else: the certificate the handshake verified.
        let peer = self
            .agents
            .peer(request.peer_certs().as_deref().map(Vec::as_slice));
        let inbound = request.into_inner();
        // Small: an agent that stops reading acks only stalls its own stream.
        let (tx, rx) = mpsc::channel(8);
        let session = Session::new(self.clone(), peer);
        tokio::spawn(session.run(inbound, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The identified agent of a stream; counts the stream as open while alive.
struct Identified {
    agent: Arc<AgentEntry>,
    incarnation: u64,
    /// The stream's place among its agent's streams, given back on drop.
    registration: Option<(Arc<Limits>, u64)>,
}

impl Drop for Identified {
    fn drop(&mut self) {
        self.agent.stream_closed();
        if let Some((limits, id)) = &self.registration {
            limits.deregister(&self.agent.id, *id);
        }
    }
}

struct Session {
    endpoint: IngestEndpoint,
    /// Who the connection's certificate says is at the other end.
    peer: Peer,
    agent: Option<Identified>,
    /// Series by probe index, bound to leaves when declared.
    probes: Vec<Option<Arc<Series>>>,
    /// How long to hold the stream after the last reply (rate pacing).
    pause: Duration,
    /// Cancelled when a newer stream of the same agent supersedes this one.
    superseded: CancellationToken,
}

/// What handling one message produced.
enum Step {
    Reply(StreamResponse),
    Quiet,
}

struct Refused {
    rejection: Rejection,
    sequence: u64,
    /// When the agent may try again (a rate limit): the batch is not
    /// poison, so no sequence is named for the agent to drop.
    retry_after: Option<Duration>,
}

impl Refused {
    fn new(rejection: Rejection, sequence: u64) -> Self {
        Self {
            rejection,
            sequence,
            retry_after: None,
        }
    }
}

impl Session {
    fn new(endpoint: IngestEndpoint, peer: Peer) -> Self {
        Self {
            endpoint,
            peer,
            agent: None,
            probes: Vec::new(),
            pause: Duration::ZERO,
            superseded: CancellationToken::new(),
        }
    }

    async fn run(
        mut self,
        mut inbound: Streaming<StreamRequest>,
        tx: mpsc::Sender<Result<StreamResponse, Status>>,
    ) {
        let counters = Arc::clone(&self.endpoint.counters);
        let open = counters.stream_opened();
        if let Some(limits) = &self.endpoint.fairness
            && !limits.admits_stream(open)
        {
            let status = self.refuse(Refused::new(
                Rejection::new(
                    RejectReason::TooManyStreams,
                    format!(
                        "{open} agent streams are open, as many as ingest.max_streams ({}) allows; retry later or add a replica",
                        limits.max_streams()
                    ),
                ),
                0,
            ));
            let _ = tx.send(Err(status)).await;
            counters.stream_closed();
            return;
        }
        let shutdown = self.endpoint.shutdown.clone();
        let superseded = self.superseded.clone();
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = tx.send(Err(Status::unavailable("aggregator shutting down"))).await;
                    break;
                }
                () = superseded.cancelled() => {
                    let status = self.refuse(Refused::new(
                        Rejection::new(
                            RejectReason::Superseded,
                            format!(
                                "a newer stream of agent {} opened, beyond ingest.max_streams_per_agent; this older one ends",
                                self.agent_id()
                            ),
                        ),
                        0,
                    ));
                    let _ = tx.send(Err(status)).await;
                    break;
                }
                next = inbound.message() => next,
            };
            let outcome = match next {
                Ok(Some(msg)) => self.handle(msg),
                Ok(None) => break,
                Err(status) if is_too_large(&status) => Err(Refused::new(
                    Rejection::new(
                        RejectReason::TooLarge,
                        format!(
                            "message larger than max_message_bytes {}: {}",
                            self.endpoint.limits.max_message_bytes,
                            status.message()
                        ),
                    ),
                    0,
                )),
                Err(status) => {
                    tracing::debug!(agent = self.agent_id(), %status, "ingest stream ended by transport");
                    break;
                }
            };
            match outcome {
                Ok(Step::Reply(resp)) => {
                    if tx.send(Ok(resp)).await.is_err() {
                        break;
                    }
                    // Paced: the stream is not read for a while, so only
                    // this agent waits (HTTP/2 flow control holds its sender).
                    let pause = std::mem::take(&mut self.pause);
                    if !pause.is_zero() {
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = shutdown.cancelled() => {}
                            () = superseded.cancelled() => {}
                        }
                    }
                }
                Ok(Step::Quiet) => {}
                Err(refused) => {
                    let status = self.refuse(refused);
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            }
        }
        counters.stream_closed();
    }

    fn agent_id(&self) -> &str {
        self.agent.as_ref().map_or("", |a| &a.agent.id)
    }

    fn refuse(&self, refused: Refused) -> Status {
        let Refused {
            rejection,
            sequence,
            retry_after,
        } = refused;
        self.endpoint
            .counters
            .rejected(rejection.reason, self.agent_id(), &rejection.message);
        let mut metadata = MetadataMap::new();
        metadata.insert(
            vigil_proto::REJECTED_SEQUENCE_KEY,
            MetadataValue::from(sequence),
        );
        if let Some(after) = retry_after {
            let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            metadata.insert(vigil_proto::RETRY_AFTER_MS_KEY, MetadataValue::from(ms));
        }
        Status::with_metadata(rejection.code(), rejection.message, metadata)
    }

    fn handle(&mut self, msg: StreamRequest) -> Result<Step, Refused> {
        match msg.message {
            Some(stream_request::Message::Hello(h)) => self.hello(h),
            Some(stream_request::Message::Declarations(d)) => self.declare(&d.probes),
            Some(stream_request::Message::Batch(b)) => self.batch(b),
            None => Err(Refused::new(
                Rejection::new(
                    RejectReason::Malformed,
                    "empty StreamRequest: set hello, declarations or batch",
                ),
                0,
            )),
        }
    }

    fn hello(&mut self, h: Hello) -> Result<Step, Refused> {
        let refused = |rejection| Refused::new(rejection, 0);
        if self.agent.is_some() {
            return Err(refused(Rejection::new(
                RejectReason::Malformed,
                "hello sent twice on one stream; open a new stream to re-identify",
            )));
        }
        validate::hello(&h).map_err(refused)?;
        let network = h.vantage.as_ref().map_or("", |v| v.network.as_str());
        self.endpoint
            .agents
            .admit(&self.peer, &h.agent_id, network)
            .map_err(|d| refused(denied(d)))?;
        let (agent, last) =
            self.endpoint
                .store
                .identify(&h.agent_id, h.incarnation, h.vantage.unwrap_or_default());
        agent.stream_opened();
        agent.touch(now_unix_ms());
        let registration = self.endpoint.fairness.as_ref().map(|limits| {
            let (id, ended) = limits.register(&agent.id, self.superseded.clone());
            if ended > 0 {
                tracing::info!(agent = %agent.id, ended, "a newer stream of the agent ends its oldest");
            }
            (Arc::clone(limits), id)
        });
        tracing::info!(agent = %agent.id, incarnation = h.incarnation, last_applied = last, "agent identified");
        self.agent = Some(Identified {
            agent,
            incarnation: h.incarnation,
            registration,
        });
        Ok(Step::Reply(StreamResponse {
            message: Some(stream_response::Message::Welcome(Welcome {
                aggregator_id: self.endpoint.aggregator_id.clone(),
                last_applied_sequence: last,
            })),
        }))
    }

    fn declare(&mut self, probes: &[vigil_proto::v1::ProbeDeclaration]) -> Result<Step, Refused> {
        let refused = |rejection| Refused::new(rejection, 0);
        let Some(id) = &self.agent else {
            return Err(refused(Rejection::new(
                RejectReason::NotIdentified,
                "declarations before identification: send Hello first",
            )));
        };
        let agent = Arc::clone(&id.agent);
        let declared = validate::declarations(probes).map_err(refused)?;
        let store = &self.endpoint.store;
        let new = declared
            .iter()
            .filter(|(_, info)| !store.knows_probe(&agent, &info.probe_id))
            .count();
        let max = self.endpoint.limits.max_probes_per_agent;
        if agent.probes() + new > max {
            return Err(refused(Rejection::new(
                RejectReason::TooManyProbes,
                format!(
                    "agent {} would have {} distinct probes, more than ingest.max_probes_per_agent ({max}); probe ids must be stable, not generated",
                    agent.id,
                    agent.probes() + new
                ),
            )));
        }
        for (index, info) in declared {
            let series = self.endpoint.store.declare(&agent, info);
            let ix = index as usize;
            if self.probes.len() <= ix {
                self.probes.resize(ix + 1, None);
            }
            self.probes[ix] = Some(series);
        }
        Ok(Step::Quiet)
    }

    fn batch(&mut self, b: SignalBatch) -> Result<Step, Refused> {
        let sequence = b.sequence;
        let refused = |rejection| Refused::new(rejection, sequence);
        let Some(id) = &self.agent else {
            return Err(refused(Rejection::new(
                RejectReason::NotIdentified,
                "batch before identification: send Hello first",
            )));
        };
        if let Peer::Agent(cert) = &self.peer
            && self.endpoint.agents.revoked(cert)
        {
            return Err(refused(denied(Denial::Revoked(format!(
                "certificate {} (serial {}) was revoked by tls.revoked while its stream was open",
                cert.spiffe_id, cert.serial
            )))));
        }
        let now = now_unix_ms();
        validate::batch(&b, &self.probes, &self.endpoint.limits, now).map_err(refused)?;
        let agent = Arc::clone(&id.agent);
        let count = b.signals.len();
        if let Some(limits) = &self.endpoint.fairness {
            match limits.take(&agent.id, count, Instant::now()) {
                Pace::Now => {}
                Pace::After(wait) => {
                    self.pause = wait;
                    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    self.endpoint.counters.throttled(&agent.id, ms);
                }
                Pace::Refuse(retry) => {
                    let rate = limits.rate();
                    return Err(Refused {
                        rejection: Rejection::new(
                            RejectReason::RateLimited,
                            format!(
                                "batch {sequence} ({count} signals) is over agent {}'s rate limit ({} signals/s, burst {}) by more than ingest.rate_limit.max_delay; retry in {} ms",
                                agent.id,
                                rate.signals_per_second,
                                rate.burst,
                                retry.as_millis()
                            ),
                        ),
                        // Not poison: the agent keeps it and resends it.
                        sequence: 0,
                        retry_after: Some(retry),
                    });
                }
            }
        }
        let probes = &self.probes;
        let base = b.base_time_unix_ms;
        let signals = b.signals;
        let store = &self.endpoint.store;
        agent
            .apply_once(id.incarnation, sequence, || {
                for s in signals {
                    // Validated above: the index is declared and the enums known.
                    let Some(Some(series)) = probes.get(s.probe_index as usize) else {
                        continue;
                    };
                    let mut message = s.message;
                    if message.len() > validate::MAX_SIGNAL_MESSAGE_LEN {
                        let kept = validate::cut(&message, validate::MAX_SIGNAL_MESSAGE_LEN).len();
                        message.truncate(kept);
                    }
                    let turned = series.writer().record(StoredSignal::new(
                        Outcome::try_from(s.outcome).unwrap_or(Outcome::Failure),
                        ErrorClass::try_from(s.error_class).unwrap_or(ErrorClass::Unspecified),
                        s.latency_us,
                        base.saturating_add(i64::from(s.time_offset_ms)),
                        message,
                        s.detail,
                    ));
                    if turned {
                        store.turned(series);
                    }
                }
            })
            .map_err(|last| {
                refused(Rejection::new(
                    RejectReason::DuplicateSequence,
                    format!(
                        "batch {sequence} is at or below the last applied sequence {last} for this agent incarnation"
                    ),
                ))
            })?;
        agent.touch(now);
        agent.set_dropped(b.dropped_signals_total);
        self.endpoint.counters.applied(count);
        Ok(Step::Reply(StreamResponse {
            message: Some(stream_response::Message::Ack(Ack { sequence })),
        }))
    }
}

fn denied(d: Denial) -> Rejection {
    match d {
        Denial::Unauthenticated(m) => Rejection::new(RejectReason::Unauthenticated, m),
        Denial::Mismatch(m) => Rejection::new(RejectReason::IdentityMismatch, m),
        Denial::Revoked(m) => Rejection::new(RejectReason::Revoked, m),
    }
}

/// tonic reports an over-limit inbound message as `OutOfRange`; the contract
/// promises `ResourceExhausted`.
fn is_too_large(status: &Status) -> bool {
    matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted)
        && status.message().contains("too large")
}
