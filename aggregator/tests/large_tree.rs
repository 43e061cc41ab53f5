//! `GetTree` on a model whose answer is many times an HTTP/2 window, over a
//! real socket: the pre-framed answer must cross flow control intact for a
//! client with the protocol's default windows, for several callers at once,
//! and match `GetNode` node for node; a request carrying an oversized body
//! still gets its answer.

mod feed;

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use vigil_aggregator::{Aggregator, AggregatorHandle};
use vigil_model::Model;
use vigil_proto::codec::SendEncoded;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{GetNodeRequest, GetTreeRequest, GetTreeResponse, HealthState};
use vigil_testkit::config::Evaluation;

const LEAVES: usize = 3_000;
/// HTTP/2's initial window: the answer must need many of them.
const DEFAULT_WINDOW: usize = 65_535;

fn leaf_id(i: usize) -> String {
    format!("component-with-a-long-name-{i:05}")
}

fn model() -> Model {
    let leaves: Vec<String> = (0..LEAVES).map(leaf_id).collect();
    let mut yaml = format!(
        "nodes:\n  - id: root\n    children: [app]\n  - id: app\n    children: [{}]\n",
        leaves.join(", ")
    );
    for (i, id) in leaves.iter().enumerate() {
        writeln!(yaml, "  - id: {id}\n    select: {{ component: c{i} }}").unwrap();
    }
    Model::from_yaml(&yaml, "large.yaml").unwrap()
}

async fn start() -> (AggregatorHandle, usize) {
    let config = feed::config(&Evaluation {
        interval: Some(Duration::from_millis(100)),
        ..Evaluation::DEFAULT
    });
    let model = model();
    let nodes = model.nodes().len();
    assert!(nodes > LEAVES);
    (Aggregator::start(config, model).await.unwrap(), nodes)
}

async fn channel(handle: &AggregatorHandle) -> Channel {
    // Default client settings: 64 KiB windows, 16 KiB frames.
    Endpoint::from_shared(format!("http://{}", handle.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tree_larger_than_many_windows_arrives_whole_for_every_caller() {
    let (handle, nodes) = start().await;
    let channel = channel(&handle).await;
    let client = QueryServiceClient::new(channel).max_decoding_message_size(64 << 20);

    let calls = (0..8).map(|_| {
        let mut c = client.clone();
        async move { c.get_tree(GetTreeRequest {}).await.map(|r| r.into_inner()) }
    });
    let trees: Vec<GetTreeResponse> = futures::future::join_all(calls)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every GetTree answered");
    for tree in &trees {
        assert_eq!(tree.nodes.len(), nodes);
        assert!(
            prost::Message::encoded_len(tree) > 5 * DEFAULT_WINDOW,
            "the answer must span many windows, was {} bytes",
            prost::Message::encoded_len(tree)
        );
    }
    // A leaf with no agent is Unknown, never Healthy, in the tree and in
    // GetNode alike.
    let last = trees.last().unwrap();
    let leaf = last
        .nodes
        .iter()
        .find(|n| n.id == leaf_id(LEAVES - 1))
        .expect("the last leaf is in the tree");
    assert_eq!(leaf.state(), HealthState::Unknown);
    let node = client
        .clone()
        .get_node(GetNodeRequest {
            id: leaf.id.clone(),
            recent_signals: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .node
        .unwrap();
    assert_eq!(node.id, leaf.id);
    assert_eq!(node.state(), leaf.state());
    handle.shutdown().await;
}

/// `GetTreeRequest` has no fields, so a request body is read past like an
/// unknown field; one far larger than any request still gets the tree, and
/// the connection keeps serving.
#[tokio::test]
async fn a_request_with_an_oversized_body_still_gets_the_tree() {
    let (handle, nodes) = start().await;
    let channel = channel(&handle).await;
    let mut raw = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(64 << 20);
    raw.ready().await.unwrap();
    // Field 15, length-delimited, 200 KB: an unknown field to the server.
    let mut body = vec![0x7a, 0xc0, 0x9a, 0x0c];
    body.resize(4 + 200_000, 0xab);
    let answer = raw
        .unary(
            tonic::Request::new(Bytes::from(body)),
            PathAndQuery::from_static("/vigil.v1.QueryService/GetTree"),
            SendEncoded::<GetTreeResponse>::default(),
        )
        .await
        .expect("answered despite the body")
        .into_inner();
    assert_eq!(answer.nodes.len(), nodes);
    let again = QueryServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .get_tree(GetTreeRequest {})
        .await
        .expect("the connection still serves")
        .into_inner();
    assert_eq!(again.nodes.len(), nodes);
    handle.shutdown().await;
}
