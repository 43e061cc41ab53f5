//! The HTTP API's paths and query strings against a real aggregator on
//! loopback (its router, its access guard, its accept loop): whatever the
//! path and query, the answer is not a server error, and the process does
//! not panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_model::Model;

const MODEL: &str = r#"
nodes:
  - id: root
    children: [hub-dns, api]
  - id: hub-dns
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: api
    layer: workload_application
    select: { component: api, network: spoke-a }
"#;

const CONFIG: &str = "listen: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nmodel: model.yaml\ninsecure: { plaintext: true, open_api: true }\n";

struct Server {
    runtime: tokio::runtime::Runtime,
    http: SocketAddr,
    client: reqwest::Client,
    _aggregator: AggregatorHandle,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = AggregatorConfig::from_yaml(CONFIG, "fuzz-aggregator.yaml").expect("config");
        let model = Model::from_yaml(MODEL, "fuzz-model.yaml").expect("model");
        let aggregator = runtime
            .block_on(Aggregator::start(config, model))
            .expect("aggregator starts");
        Server {
            http: aggregator.http_addr(),
            client: reqwest::Client::new(),
            _aggregator: aggregator,
            runtime,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    let s = server();
    let Ok(url) = reqwest::Url::parse(&format!("http://{}/{tail}", s.http)) else {
        return;
    };
    // Only this listener: a URL that parses to another host is not a path.
    if url.port() != Some(s.http.port()) || url.host_str() != Some("127.0.0.1") {
        return;
    }
    let status = s.runtime.block_on(async {
        let response = s
            .client
            .get(url.clone())
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: no answer: {e}"));
        response.status()
    });
    assert!(!status.is_server_error(), "{url} answered {status}");
});
