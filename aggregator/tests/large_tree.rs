//! `GetTree` on a model whose answer is many times an HTTP/2 window, over a
//! real socket: the pre-framed answer must cross flow control intact for a
//! client with the protocol's default windows, for several callers at once,
//! and match `GetNode` node for node.

use std::fmt::Write as _;
use std::time::Duration;

use tonic::transport::Endpoint;
use vigil_aggregator::{Aggregator, AggregatorConfig, Model};
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{GetNodeRequest, GetTreeRequest, GetTreeResponse, HealthState};

const LEAVES: usize = 3_000;
/// HTTP/2's initial window: the answer must need many of them.
const DEFAULT_WINDOW: usize = 65_535;

fn model() -> Model {
    let mut yaml = String::from("nodes:\n  - id: root\n    children: [app]\n");
    yaml.push_str("  - id: app\n    children: [");
    for i in 0..LEAVES {
        if i > 0 {
            yaml.push_str(", ");
        }
        write!(yaml, "component-with-a-long-name-{i:05}").unwrap();
    }
    yaml.push_str("]\n");
    for i in 0..LEAVES {
        writeln!(
            yaml,
            "  - id: component-with-a-long-name-{i:05}\n    select: {{ component: c{i} }}"
        )
        .unwrap();
    }
    Model::from_yaml(&yaml, "large.yaml").unwrap()
}

#[tokio::test]
async fn a_tree_larger_than_many_windows_arrives_whole_for_every_caller() {
    let mut config = AggregatorConfig::default();
    config.listen.grpc = "127.0.0.1:0".parse().unwrap();
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.evaluation.interval = Duration::from_millis(100);
    let model = model();
    let nodes = model.nodes().len();
    assert!(nodes > LEAVES);
    let handle = Aggregator::start(config, model).await.unwrap();
    // Default client settings: 64 KiB windows, 16 KiB frames.
    let channel = Endpoint::from_shared(format!("http://{}", handle.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
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
        .find(|n| n.id == "component-with-a-long-name-02999")
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
