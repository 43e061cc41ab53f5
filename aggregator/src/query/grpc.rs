//! `vigil.v1.QueryService` and `vigil.v1.FaultService` over gRPC.
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
use vigil_proto::v1::fault_service_server::FaultService;
use vigil_proto::v1::query_service_server::QueryService;
use vigil_proto::v1::{
    GetFaultRequest, GetFaultResponse, GetNodeRequest, GetNodeResponse, GetTreeRequest,
    GetTreeResponse, ListFaultsRequest, ListFaultsResponse, WatchChangesRequest,
    WatchChangesResponse, WhyNodeRequest, WhyNodeResponse,
};

use super::fault_view::{self, FaultLookup};
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

#[tonic::async_trait]
impl FaultService for QueryEndpoint {
    async fn list_faults(
        &self,
        request: Request<ListFaultsRequest>,
    ) -> Result<Response<ListFaultsResponse>, Status> {
        Ok(Response::new(fault_view::list(
            &self.latest(),
            request.into_inner().include_resolved,
        )))
    }

    async fn get_fault(
        &self,
        request: Request<GetFaultRequest>,
    ) -> Result<Response<GetFaultResponse>, Status> {
        match fault_view::get(&self.latest(), &request.into_inner().id) {
            Ok(r) => Ok(Response::new(r)),
            Err(FaultLookup::BadId(m)) => Err(Status::invalid_argument(m)),
            Err(FaultLookup::NotFound(m)) => Err(Status::not_found(m)),
        }
    }

    async fn why_node(
        &self,
        request: Request<WhyNodeRequest>,
    ) -> Result<Response<WhyNodeResponse>, Status> {
        let id = request.into_inner().id;
        fault_view::why(&self.latest(), &id)
            .map(Response::new)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no node `{id}` in the model; GetTree lists the node ids"
                ))
            })
    }
}
