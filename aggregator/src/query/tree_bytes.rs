//! `GetTree` served as wire bytes built once per snapshot generation.
//!
//! A node's id, name, children and the rest of its model fields never change
//! while the aggregator runs, so they are encoded once at start. Per
//! generation only what a tick changes (state, score, reason, since, window
//! counts) is encoded and spliced after them: protobuf lets a message's
//! fields come in any order, so the splice is the same message. The buffer
//! is framed for gRPC as it is built, and every caller of a generation is
//! answered with it by reference ([`framed`]) instead of cloning, encoding
//! and copying ~10,000 nodes per call. This module must produce exactly what
//! encoding [`view::tree`] would (tested); it only reads snapshots.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use prost::encoding::{self, WireType};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, BoxFuture, Service, StdError, http};
use tonic::server::NamedService;
use vigil_proto::v1::query_service_server::QueryServiceServer;

use super::framed;
use super::grpc::QueryEndpoint;
use super::view;
use vigil_health::snapshot::Snapshot;
use vigil_model::Model;

/// The gRPC path answered from [`TreeBytes`].
pub const GET_TREE_PATH: &str = "/vigil.v1.QueryService/GetTree";

/// How long after the last `GetTree` new generations are still encoded
/// ahead of requests.
const KEEP_WARM: Duration = Duration::from_secs(10);

/// Encoded `GetTreeResponse`s: the model part per node, and the latest
/// generation's whole answer, framed for gRPC.
#[derive(Debug)]
pub struct TreeBytes {
    /// Per node in depth-first order: its model fields, encoded.
    model_parts: Vec<Vec<u8>>,
    latest: Mutex<Option<(u64, Bytes)>>,
    /// When `GetTree` was last asked for, so generations are encoded ahead
    /// of requests only while someone is polling.
    last_asked: Mutex<Option<Instant>>,
}

impl TreeBytes {
    pub fn new(model: &Model) -> Self {
        let model_parts = model
            .order()
            .iter()
            .map(|&ix| view::model_node(model, ix).encode_to_vec())
            .collect();
        TreeBytes {
            model_parts,
            latest: Mutex::new(None),
            last_asked: Mutex::new(None),
        }
    }

    /// Encodes each new generation as soon as it is published, for as long
    /// as `GetTree` was asked for within `KEEP_WARM`, so a poller's request
    /// finds its answer ready instead of paying for the encode.
    pub fn keep_warm(
        self: Arc<Self>,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = snapshots.changed() => if changed.is_err() { return },
                }
                let asked = *self
                    .last_asked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if asked.is_none_or(|t| t.elapsed() > KEEP_WARM) {
                    continue;
                }
                let snap = Arc::clone(&snapshots.borrow_and_update());
                let trees = Arc::clone(&self);
                // A few milliseconds of CPU: off the runtime's workers.
                let _ = tokio::task::spawn_blocking(move || trees.tree(&snap)).await;
            }
        })
    }

    fn asked(&self) {
        *self
            .last_asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// The encoded tree of `snap` (a `GetTreeResponse`), built on the first
    /// call for its generation and shared after that.
    pub fn tree(&self, snap: &Snapshot) -> Bytes {
        self.framed(snap).slice(framed::PREFIX_LEN..)
    }

    /// [`TreeBytes::tree`] behind its gRPC prefix, as it goes on the wire.
    fn framed(&self, snap: &Snapshot) -> Bytes {
        if let Some((generation, bytes)) = &*self.lock()
            && *generation == snap.generation
        {
            return bytes.clone();
        }
        // Built outside the lock: readers of the cached generation never
        // wait for the next one.
        let built = self.encode(snap);
        let mut latest = self.lock();
        if latest.as_ref().is_none_or(|(g, _)| *g < snap.generation) {
            *latest = Some((snap.generation, built.clone()));
        }
        built
    }

    fn encode(&self, snap: &Snapshot) -> Bytes {
        let model_bytes: usize = self.model_parts.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(model_bytes + snap.nodes.len() * 96 + 256);
        framed::begin(&mut out);
        let mut evaluated = Vec::with_capacity(256);
        for (&ix, model_part) in snap.model.order().iter().zip(&self.model_parts) {
            let h = snap.node(ix);
            evaluated.clear();
            // Field numbers of `vigil.v1.HealthNode`; defaults are omitted
            // like prost omits them.
            if h.state as i32 != 0 {
                encoding::int32::encode(5, &(h.state as i32), &mut evaluated);
            }
            if h.score != 0 {
                encoding::uint32::encode(6, &u32::from(h.score), &mut evaluated);
            }
            if !h.reason.is_empty() {
                encoding::string::encode(9, &h.reason, &mut evaluated);
            }
            if h.state_since_ms != 0 {
                encoding::int64::encode(10, &h.state_since_ms, &mut evaluated);
            }
            if h.window_signals != 0 {
                encoding::uint32::encode(12, &h.window_signals, &mut evaluated);
            }
            if h.window_vantages != 0 {
                encoding::uint32::encode(13, &h.window_vantages, &mut evaluated);
            }
            encoding::encode_key(1, WireType::LengthDelimited, &mut out);
            encoding::encode_varint((model_part.len() + evaluated.len()) as u64, &mut out);
            out.extend_from_slice(model_part);
            out.extend_from_slice(&evaluated);
        }
        for layer in view::layers(snap) {
            encoding::message::encode(2, &layer, &mut out);
        }
        if snap.evaluated_at_ms != 0 {
            encoding::int64::encode(3, &snap.evaluated_at_ms, &mut out);
        }
        if snap.generation != 0 {
            encoding::uint64::encode(4, &snap.generation, &mut out);
        }
        framed::finish(&mut out);
        Bytes::from(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, Bytes)>> {
        // Replaced whole, never left half-written by a panic.
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `QueryService` with `GetTree` answered from [`TreeBytes`]; every other
/// method goes to the generated server unchanged.
#[derive(Clone)]
pub(crate) struct QueryRoutes {
    inner: QueryServiceServer<QueryEndpoint>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    trees: Arc<TreeBytes>,
}

impl QueryRoutes {
    pub(crate) fn new(
        inner: QueryServiceServer<QueryEndpoint>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        trees: Arc<TreeBytes>,
    ) -> Self {
        QueryRoutes {
            inner,
            snapshots,
            trees,
        }
    }
}

impl NamedService for QueryRoutes {
    const NAME: &'static str = <QueryServiceServer<QueryEndpoint> as NamedService>::NAME;
}

impl<B> Service<http::Request<B>> for QueryRoutes
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != GET_TREE_PATH {
            return self.inner.call(req);
        }
        self.trees.asked();
        let snap = Arc::clone(&self.snapshots.borrow());
        let answer = self.trees.framed(&snap);
        Box::pin(async move {
            // `GetTreeRequest` has no fields: whatever the request carries is
            // read past, as an unknown field would be, before answering.
            drain(req.into_body()).await;
            Ok(framed::ok(answer))
        })
    }
}

/// Reads a request body to its end, or past [`MAX_IGNORED_REQUEST`] bytes,
/// so the stream closes cleanly instead of being reset under the client.
async fn drain<B: HttpBody>(body: B) {
    let mut body = std::pin::pin!(body);
    let mut read = 0usize;
    while let Some(Ok(frame)) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        read += frame.data_ref().map_or(0, bytes::Buf::remaining);
        if read > MAX_IGNORED_REQUEST {
            return;
        }
    }
}

/// A `GetTreeRequest` is empty; more than this is not read.
const MAX_IGNORED_REQUEST: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use vigil_proto::v1::GetTreeResponse;

    use super::*;
    use vigil_health::evaluate::EvaluationConfig;
    use vigil_health::evaluate::Evaluator;
    use vigil_health::store::LeafReadings;

    #[test]
    fn spliced_bytes_decode_to_the_tree_view_builds() {
        let model = Arc::new(
            Model::from_yaml(
                "nodes:\n  - id: root\n    children: [platform, app]\n  - id: platform\n    children: [dns]\n    depends_on: []\n  - id: dns\n    select: { kind: dns }\n  - id: app\n    name: The app\n    depends_on: [platform]\n    select: { component: app }\n",
                "t.yaml",
            )
            .unwrap(),
        );
        let trees = TreeBytes::new(&model);
        let initial = Arc::new(Snapshot::initial(Arc::clone(&model), 1_000));
        let from_bytes = GetTreeResponse::decode(trees.tree(&initial)).unwrap();
        assert_eq!(from_bytes, view::tree(&initial));

        let mut evaluator =
            Evaluator::new(Arc::clone(&model), EvaluationConfig::default(), initial);
        let snap = evaluator.evaluate(2_000, &LeafReadings::for_model(&model));
        let bytes = trees.tree(&snap);
        assert_eq!(
            GetTreeResponse::decode(bytes.clone()).unwrap(),
            view::tree(&snap)
        );
        // Same fields, only in another order: the same length on the wire.
        assert_eq!(bytes.len(), view::tree(&snap).encoded_len());
        assert!(
            trees.tree(&snap).as_ptr() == bytes.as_ptr(),
            "a generation is encoded once"
        );
    }

    fn cached_generation(trees: &TreeBytes) -> Option<u64> {
        trees.lock().as_ref().map(|(g, _)| *g)
    }

    #[tokio::test]
    async fn once_asked_new_generations_are_encoded_before_the_next_request() {
        let model = Arc::new(
            Model::from_yaml(
                "nodes:\n  - id: root\n    children: [dns]\n  - id: dns\n    select: { kind: dns }\n",
                "t.yaml",
            )
            .unwrap(),
        );
        let trees = Arc::new(TreeBytes::new(&model));
        let initial = Arc::new(Snapshot::initial(Arc::clone(&model), 1_000));
        let mut evaluator = Evaluator::new(
            Arc::clone(&model),
            EvaluationConfig::default(),
            Arc::clone(&initial),
        );
        let (tx, rx) = watch::channel(initial);
        let stop = CancellationToken::new();
        let task = Arc::clone(&trees).keep_warm(rx, stop.clone());

        // Once asked, the next generation is ready before anyone asks again.
        assert_eq!(cached_generation(&trees), None);
        trees.asked();
        let second = evaluator.evaluate(3_000, &LeafReadings::for_model(&model));
        tx.send_replace(Arc::clone(&second));
        let deadline = Instant::now() + Duration::from_secs(10);
        while cached_generation(&trees) != Some(second.generation) {
            assert!(
                Instant::now() < deadline,
                "generation {} never encoded",
                second.generation
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.cancel();
        task.await.unwrap();
    }
}
