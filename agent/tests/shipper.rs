//! Delivery against a real tonic IngestService written here: order, probe
//! indexes, acks, replay across a server restart, overflow and rejection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use vigil_agent::{Agent, AgentConfig, AgentHandle};
use vigil_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use vigil_proto::v1::{
    Ack, ErrorClass, Hello, Outcome, ProbeDeclarations, SignalBatch, StreamRequest, StreamResponse,
    Welcome, stream_request, stream_response,
};
use vigil_testkit::eventually;
use vigil_testkit::net::closed_port;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Seen {
    hellos: Vec<Hello>,
    declarations: Vec<ProbeDeclarations>,
    /// Applied batches in arrival order; each (agent, sequence) once.
    applied: Vec<SignalBatch>,
    last_applied: HashMap<(String, u64), u64>,
    /// Batches received again after being applied (acked again, not applied).
    duplicates: u64,
}

#[derive(Clone)]
struct TestIngest {
    seen: Arc<Mutex<Seen>>,
    ack: bool,
    reject: Option<u64>,
    kill: CancellationToken,
}

type Out = Pin<Box<dyn tokio_stream::Stream<Item = Result<StreamResponse, Status>> + Send>>;

fn response(message: stream_response::Message) -> Result<StreamResponse, Status> {
    Ok(StreamResponse {
        message: Some(message),
    })
}

#[tonic::async_trait]
impl IngestService for TestIngest {
    type StreamStream = Out;

    async fn stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<Out>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let me = self.clone();
        tokio::spawn(async move {
            let mut key: Option<(String, u64)> = None;
            loop {
                let msg = tokio::select! {
                    () = me.kill.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("going away"))).await;
                        return;
                    }
                    m = inbound.message() => m,
                };
                let Ok(Some(msg)) = msg else { return };
                match msg.message {
                    Some(stream_request::Message::Hello(h)) => {
                        let k = (h.agent_id.clone(), h.incarnation);
                        let last = {
                            let mut s = me.seen.lock().unwrap();
                            s.hellos.push(h);
                            s.last_applied.get(&k).copied().unwrap_or(0)
                        };
                        key = Some(k);
                        let _ = tx
                            .send(response(stream_response::Message::Welcome(Welcome {
                                aggregator_id: "test".into(),
                                last_applied_sequence: last,
                            })))
                            .await;
                    }
                    Some(stream_request::Message::Declarations(d)) => {
                        me.seen.lock().unwrap().declarations.push(d);
                    }
                    Some(stream_request::Message::Batch(b)) => {
                        let Some(k) = key.clone() else {
                            let _ = tx.send(Err(Status::failed_precondition("no hello"))).await;
                            return;
                        };
                        if me.reject == Some(b.sequence) {
                            let mut status = Status::invalid_argument("poison batch");
                            status.metadata_mut().insert(
                                vigil_proto::REJECTED_SEQUENCE_KEY,
                                b.sequence.to_string().parse().unwrap(),
                            );
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                        let seq = b.sequence;
                        {
                            let mut s = me.seen.lock().unwrap();
                            let last = s.last_applied.get(&k).copied().unwrap_or(0);
                            if seq <= last {
                                s.duplicates += 1;
                            } else {
                                s.applied.push(b);
                                s.last_applied.insert(k, seq);
                            }
                        }
                        if me.ack {
                            let _ = tx
                                .send(response(stream_response::Message::Ack(Ack {
                                    sequence: seq,
                                })))
                                .await;
                        }
                    }
                    None => {}
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Out))
    }
}

struct RunningServer {
    kill: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    async fn stop(self) {
        self.kill.cancel();
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    seen: Arc<Mutex<Seen>>,
    ack: bool,
    reject: Option<u64>,
) -> RunningServer {
    let kill = CancellationToken::new();
    let svc = TestIngest {
        seen,
        ack,
        reject,
        kill: kill.clone(),
    };
    let stop = kill.clone();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(IngestServiceServer::new(svc))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned())
            .await;
    });
    RunningServer { kill, task }
}

/// Two probes: index 0 always succeeds (a listener), index 1 is refused.
async fn agent_config(aggregator: SocketAddr, buffer: usize) -> (AgentConfig, TcpListener) {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = target.local_addr().unwrap();
    let down = closed_port().await;
    let text = format!(
        r#"
agent: {{ id: test-agent, network: spoke-a, role: daemonset, zone: "1" }}
aggregator: {{ endpoint: "http://{aggregator}", connect_timeout: 1s }}
delivery:
  batch_max_signals: 5
  batch_max_delay: 100ms
  buffer_max_signals: {buffer}
  backoff_initial: 20ms
  backoff_max: 200ms
admin: {{ listen: "127.0.0.1:0" }}
defaults: {{ interval: 50ms, timeout: 40ms, jitter: 0 }}
probes:
  - id: up
    kind: tcp
    address: "{up}"
    component: target
    layer: workload_application
  - id: down
    kind: tcp
    address: "{down}"
    component: hub-firewall
    layer: platform_hub
    labels: {{ side: hub }}
"#
    );
    (AgentConfig::from_yaml(&text, "test.yaml").unwrap(), target)
}

fn applied_sequences(seen: &Mutex<Seen>) -> Vec<u64> {
    seen.lock()
        .unwrap()
        .applied
        .iter()
        .map(|b| b.sequence)
        .collect()
}

fn assert_contiguous(seqs: &[u64], from: u64) {
    let expected: Vec<u64> = (from..from + seqs.len() as u64).collect();
    assert_eq!(
        seqs,
        expected.as_slice(),
        "sequences must be contiguous and in order"
    );
}

async fn stats_until(
    agent: &AgentHandle,
    what: &str,
    f: impl Fn(&vigil_agent::AgentStats) -> bool,
) {
    eventually(what, WAIT, || async { f(&agent.stats()).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_arrive_in_order_with_indexes_and_acks_release() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = serve(listener, seen.clone(), true, None).await;
    let (config, _target) = agent_config(addr, 1000).await;
    let agent = Agent::start(config).await.unwrap();

    eventually("4 batches applied", WAIT, || async {
        (applied_sequences(&seen).len() >= 4).then_some(())
    })
    .await;
    stats_until(&agent, "acks counted", |s| {
        s.signals_acked >= 10 && s.connected
    })
    .await;

    {
        let s = seen.lock().unwrap();
        let hello = &s.hellos[0];
        assert_eq!(hello.agent_id, "test-agent");
        assert!(hello.incarnation > 0);
        let vantage = hello.vantage.as_ref().unwrap();
        assert_eq!(vantage.network, "spoke-a");
        assert_eq!(vantage.zone, "1");
        let decl = &s.declarations[0].probes;
        assert_eq!(decl.len(), 2);
        assert_eq!((decl[0].index, decl[0].probe_id.as_str()), (0, "up"));
        assert_eq!((decl[1].index, decl[1].probe_id.as_str()), (1, "down"));
        assert_eq!(decl[1].interval_ms, 50);
        assert_eq!(decl[1].labels.get("side").map(String::as_str), Some("hub"));
        let seqs: Vec<u64> = s.applied.iter().map(|b| b.sequence).collect();
        assert_contiguous(&seqs, 1);
        let mut by_index = [0usize; 2];
        for batch in &s.applied {
            assert!(batch.base_time_unix_ms > 0);
            assert!(batch.signals.len() <= 5);
            assert_eq!(batch.dropped_signals_total, 0);
            for sig in &batch.signals {
                assert!(sig.time_offset_ms >= 0);
                by_index[sig.probe_index as usize] += 1;
                if sig.probe_index == 0 {
                    assert_eq!(sig.outcome, Outcome::Success as i32);
                    assert!(sig.message.is_empty());
                } else {
                    assert_eq!(sig.outcome, Outcome::Failure as i32);
                    assert_eq!(sig.error_class, ErrorClass::ConnectionRefused as i32);
                    assert!(!sig.message.is_empty());
                }
            }
        }
        assert!(by_index[0] > 0 && by_index[1] > 0, "{by_index:?}");
    }

    // Acknowledged batches leave the buffer: it only ever holds the tail.
    stats_until(&agent, "buffer drains to the unacked tail", |s| {
        s.buffered <= 10
    })
    .await;

    let admin = agent.admin_addr().unwrap();
    let ready: serde_json::Value = reqwest::get(format!("http://{admin}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["connected"], true);
    let health = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let produced_before = agent.stats().signals_produced;
    agent.shutdown().await;
    // Shutdown flushed the partial batch: everything produced got applied.
    let total: usize = seen
        .lock()
        .unwrap()
        .applied
        .iter()
        .map(|b| b.signals.len())
        .sum();
    assert!(
        total as u64 >= produced_before,
        "{total} < {produced_before}"
    );
    assert_eq!(seen.lock().unwrap().duplicates, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_replays_buffered_batches_without_loss() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = serve(listener, seen.clone(), true, None).await;
    let (config, _target) = agent_config(addr, 10_000).await;
    let agent = Agent::start(config).await.unwrap();

    eventually("first batches applied", WAIT, || async {
        (applied_sequences(&seen).len() >= 2).then_some(())
    })
    .await;
    server.stop().await;
    stats_until(&agent, "agent notices the server is gone", |s| !s.connected).await;
    let applied_while_up = applied_sequences(&seen).len();
    // Keep probing while the aggregator is away: results pile up.
    stats_until(&agent, "signals buffered while down", |s| s.buffered >= 20).await;
    let readyz = reqwest::get(format!("http://{}/readyz", agent.admin_addr().unwrap()))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200, "ready while buffering");

    let listener = TcpListener::bind(addr).await.unwrap();
    let server = serve(listener, seen.clone(), true, None).await;
    stats_until(&agent, "reconnected", |s| s.connected && s.reconnects >= 1).await;
    eventually("replayed batches applied", WAIT, || async {
        (applied_sequences(&seen).len() >= applied_while_up + 4).then_some(())
    })
    .await;
    stats_until(&agent, "replayed buffer acked", |s| s.buffered <= 10).await;

    let seqs = applied_sequences(&seen);
    assert_contiguous(&seqs, 1);
    assert_eq!(agent.stats().signals_dropped, 0);
    agent.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_drops_oldest_and_reports_the_count() {
    // No aggregator yet: the agent buffers, and the 10-signal buffer overflows.
    let addr = closed_port().await;
    let (config, _target) = agent_config(addr, 10).await;
    let agent = Agent::start(config).await.unwrap();
    stats_until(&agent, "signals dropped on overflow", |s| {
        s.signals_dropped >= 10
    })
    .await;
    assert!(agent.stats().buffered <= 10);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = TcpListener::bind(addr).await.unwrap();
    let server = serve(listener, seen.clone(), true, None).await;
    eventually("batches after the overflow", WAIT, || async {
        (applied_sequences(&seen).len() >= 2).then_some(())
    })
    .await;
    {
        let s = seen.lock().unwrap();
        let first = &s.applied[0];
        assert!(first.sequence > 1, "the oldest batches were dropped");
        assert!(
            first.dropped_signals_total >= 10,
            "{}",
            first.dropped_signals_total
        );
        let seqs: Vec<u64> = s.applied.iter().map(|b| b.sequence).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    }
    agent.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_batch_is_dropped_not_resent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = serve(listener, seen.clone(), true, Some(2)).await;
    let (config, _target) = agent_config(addr, 1000).await;
    let agent = Agent::start(config).await.unwrap();

    stats_until(&agent, "batch rejected", |s| s.batches_rejected == 1).await;
    eventually("batches after the poison one", WAIT, || async {
        applied_sequences(&seen)
            .iter()
            .any(|s| *s >= 4)
            .then_some(())
    })
    .await;
    let seqs = applied_sequences(&seen);
    assert!(!seqs.contains(&2), "{seqs:?}");
    assert_eq!(seqs[0], 1);
    assert_eq!(agent.stats().batches_rejected, 1);
    agent.shutdown().await;
    server.stop().await;
}
