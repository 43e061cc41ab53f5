//! One agent stream through the real ingest path (`LocalStream`: the same
//! decode, validation and apply as a gRPC stream): the input is a sequence
//! of length-prefixed `StreamRequest` encodings. The first byte says
//! whether a valid Hello and declarations go first, so batches reach
//! validation and apply instead of stopping at "send Hello first".
//! Whatever the input, nothing may panic, and a refused message is a typed
//! error, never a half-applied batch.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use vigil_aggregator::config::IngestConfig;
use vigil_aggregator::ingest::LocalStream;
use vigil_health::store::Store;
use vigil_model::Model;
use vigil_proto::v1::{
    Hello, Layer, ProbeDeclaration, ProbeDeclarations, ProbeKind, StreamRequest, Vantage,
    stream_request,
};

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn preamble() -> [StreamRequest; 2] {
    let hello = StreamRequest {
        message: Some(stream_request::Message::Hello(Hello {
            agent_id: "fuzz-agent".into(),
            incarnation: 1,
            vantage: Some(Vantage {
                network: "spoke-a".into(),
                ..Default::default()
            }),
            agent_version: "fuzz".into(),
        })),
    };
    let probe =
        |index: u32, id: &str, kind: ProbeKind, component: &str, layer: Layer| ProbeDeclaration {
            index,
            probe_id: id.into(),
            kind: kind as i32,
            target: "10.0.0.4:53".into(),
            component: component.into(),
            layer: layer as i32,
            labels: Default::default(),
            interval_ms: 1000,
        };
    let declarations = StreamRequest {
        message: Some(stream_request::Message::Declarations(ProbeDeclarations {
            probes: vec![
                probe(0, "dns", ProbeKind::Dns, "hub-dns", Layer::PlatformHub),
                probe(1, "api", ProbeKind::Http, "api", Layer::WorkloadApplication),
            ],
        })),
    };
    [hello, declarations]
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let model = Arc::new(Model::from_yaml(MODEL, "fuzz-model.yaml").expect("valid model"));
    let store = Arc::new(Store::new(model, Duration::from_secs(60), 20));
    let mut stream = LocalStream::new(store, IngestConfig::default());
    if flags & 1 == 1 {
        for m in preamble() {
            stream.handle(m).expect("the preamble is valid");
        }
    }
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        let chunk = &rest[2..end];
        rest = &rest[end..];
        let Ok(mut msg) = StreamRequest::decode(chunk) else {
            // Undecodable bytes take the same path the gRPC stream does.
            assert!(stream.handle_encoded(chunk).is_err());
            continue;
        };
        // Keep most batch times inside the accepted age so validation and
        // apply are reached; the high bit keeps the raw time.
        if flags & 2 == 2
            && let Some(stream_request::Message::Batch(b)) = &mut msg.message
        {
            b.base_time_unix_ms = now_ms() - b.base_time_unix_ms.rem_euclid(3_600_000);
        }
        let _ = stream.handle(msg);
    }
    let stats = stream.stats();
    assert!(stats.signals_applied <= 10_000 * stats.batches_applied.max(1));
});
