//! Query latency under load: `GetTree` and `GetNode` timed from the client.
//!
//! `GetTree` is timed from the request to the last byte of its response, and
//! the client's decode of that (about a megabyte for 10,000 nodes) is timed
//! apart, so the figure says what the aggregator costs and the decode says
//! what a client should expect on top. `GetNode` includes its small decode.
//! Owns the query sampler. It must not send signals.

use std::time::{Duration, Instant};

use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Request, Status};
use vigil_proto::codec::ReceiveEncoded;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{GetNodeRequest, GetTreeRequest, GetTreeResponse};

use super::model::{FleetModel, leaf_id};

/// Latency samples of both calls.
#[derive(Debug, Default)]
pub struct QuerySamples {
    pub get_tree: Vec<Duration>,
    pub get_tree_decode: Vec<Duration>,
    pub get_node: Vec<Duration>,
    pub tree_nodes: usize,
    pub errors: u64,
}

/// Alternates `GetTree` and `GetNode` (a different leaf each time, with the
/// default 20 recent signals) every `every` until `stop`.
pub async fn run(
    channel: Channel,
    model: FleetModel,
    every: Duration,
    stop: CancellationToken,
) -> QuerySamples {
    let mut raw = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(64 << 20);
    let mut client = QueryServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let mut out = QuerySamples::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0usize;
    loop {
        tokio::select! {
            () = stop.cancelled() => return out,
            _ = ticks.tick() => {}
        }
        let started = Instant::now();
        if n.is_multiple_of(2) {
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                "/vigil.v1.QueryService/GetTree",
            );
            let answer = match raw.ready().await {
                Ok(()) => {
                    raw.unary(
                        Request::new(GetTreeRequest {}),
                        path,
                        ReceiveEncoded::<GetTreeRequest>::default(),
                    )
                    .await
                }
                Err(e) => Err(Status::unavailable(e.to_string())),
            };
            out.get_tree.push(started.elapsed());
            let decoding = Instant::now();
            match answer.map(|r| GetTreeResponse::decode(r.into_inner())) {
                Ok(Ok(tree)) => {
                    out.get_tree_decode.push(decoding.elapsed());
                    out.tree_nodes = tree.nodes.len();
                }
                _ => {
                    out.get_tree.pop();
                    out.errors += 1;
                }
            }
        } else {
            // Stride through the leaves so no single leaf stays cached.
            let leaf = leaf_id((n * 7919) % model.leaves.max(1));
            match client
                .get_node(GetNodeRequest {
                    id: leaf,
                    recent_signals: 20,
                })
                .await
            {
                Ok(_) => out.get_node.push(started.elapsed()),
                Err(_) => out.errors += 1,
            }
        }
        n += 1;
    }
}
