//! The `vigil.v1.QueryService` over gRPC.
//!
//! Owns request handling and status codes for the query contract. It reads
//! the latest published snapshot (and the recent-signal rings for evidence);
//! it must never touch ingest streams or wait on evaluation.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use vigil_proto::v1::query_service_server::QueryService;
use vigil_proto::v1::{
    GetNodeRequest, GetNodeResponse, GetTreeRequest, GetTreeResponse, WatchChangesRequest,
    WatchChangesResponse,
};

use super::{view, watch as changes};
use vigil_health::snapshot::Snapshot;
use vigil_health::store::Store;

#[derive(Clone)]
pub(crate) struct QueryEndpoint {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub store: Arc<Store>,
    pub shutdown: CancellationToken,
    pub trees: Arc<view::TreeCache>,
}

impl QueryEndpoint {
    pub(crate) fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<WatchChangesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl QueryService for QueryEndpoint {
    /// Served over the network by `tree_bytes::QueryRoutes` from encoded
    /// bytes; this answer is for callers of the service itself.
    async fn get_tree(
        &self,
        _request: Request<GetTreeRequest>,
    ) -> Result<Response<GetTreeResponse>, Status> {
        let tree = self.trees.tree(&self.latest());
        Ok(Response::new(Arc::unwrap_or_clone(tree)))
    }

    async fn get_node(
        &self,
        request: Request<GetNodeRequest>,
    ) -> Result<Response<GetNodeResponse>, Status> {
        let req = request.into_inner();
        let snap = self.latest();
        view::node(&snap, &self.store, &req.id, req.recent_signals as usize)
            .map(Response::new)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no node `{}` in the model; GetTree lists the node ids",
                    req.id
                ))
            })
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        _request: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let rx = changes::spawn(self.snapshots.clone(), self.shutdown.clone());
        let stream = ReceiverStream::new(rx).map(Ok);
        Ok(Response::new(Box::pin(stream)))
    }
}
