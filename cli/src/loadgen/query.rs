//! Query latency under load: `GetTree` and `GetNode` timed from the client,
//! including decoding the response.
//!
//! Owns the query sampler. It must not send signals.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{GetNodeRequest, GetTreeRequest};

use super::model::{FleetModel, leaf_id};

/// Latency samples of both calls.
#[derive(Debug, Default)]
pub struct QuerySamples {
    pub get_tree: Vec<Duration>,
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
            match client.get_tree(GetTreeRequest {}).await {
                Ok(r) => {
                    out.get_tree.push(started.elapsed());
                    out.tree_nodes = r.into_inner().nodes.len();
                }
                Err(_) => out.errors += 1,
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
