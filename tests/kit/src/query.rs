//! Reading an aggregator's published health over its gRPC query API, as
//! on-call would: the tree, one node with its evidence, one node's state,
//! and waiting (with a deadline) for a node to reach a state.
//!
//! Owns only the query side of `vigil-proto`'s contract, through a fresh
//! client per call. It must not start an aggregator (it cannot: the kit
//! depends on no Vigil crate but the contract) nor feed one.

use std::net::SocketAddr;
use std::time::Duration;

use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{
    GetNodeRequest, GetNodeResponse, GetTreeRequest, GetTreeResponse, HealthState,
};

use crate::eventually;

/// A query client for the aggregator at `addr`.
pub async fn query_client(addr: SocketAddr) -> QueryServiceClient<tonic::transport::Channel> {
    QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("query client connects")
}

/// The whole tree, as on-call sees it.
pub async fn tree(addr: SocketAddr) -> Result<GetTreeResponse, String> {
    let mut client = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    client
        .get_tree(GetTreeRequest {})
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("GetTree: {s}"))
}

/// One node with its evidence (up to 50 recent signals).
pub async fn node(addr: SocketAddr, id: &str) -> Result<GetNodeResponse, String> {
    let mut client = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    client
        .get_node(GetNodeRequest {
            id: id.to_string(),
            recent_signals: 50,
        })
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("GetNode {id}: {s}"))
}

/// The published state of node `id`, or an error naming what was seen.
pub async fn node_state(addr: SocketAddr, id: &str) -> Result<HealthState, String> {
    let t = tree(addr).await?;
    t.nodes
        .iter()
        .find(|n| n.id == id)
        .map(|n| n.state())
        .ok_or_else(|| format!("no node {id} in tree"))
}

/// Waits until node `id` is in `want`, failing after `within` with the last
/// state seen.
pub async fn wait_state(addr: SocketAddr, id: &str, want: HealthState, within: Duration) {
    eventually(&format!("{id} to be {want:?}"), within, || async {
        let got = node_state(addr, id).await?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{id} is {got:?}"))
        }
    })
    .await
}
