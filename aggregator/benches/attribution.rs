//! Microbenchmark of one attribution pass over a fleet's (agent, probe)
//! windows with a hub DNS outage seen from every spoke. Run:
//! `cargo bench -p vigil-aggregator --bench attribution`.

use std::collections::BTreeMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_health::attribution::{Params, Sighting, Topology, WindowView, attribute};
use vigil_proto::v1::{ErrorClass, Layer, ProbeKind};

/// `agents` agents over four spokes and the hub, each probing the hub DNS,
/// the hub firewall and `workload` workload components; the hub DNS fails.
/// Sightings borrow their strings; the bench's live as long as it runs.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn fleet(agents: usize, workload: usize) -> Vec<Sighting<'static>> {
    let mut out = Vec::new();
    let apps: Vec<&'static str> = (0..workload).map(|w| leak(format!("app-{w}"))).collect();
    for a in 0..agents {
        let network = if a % 5 == 0 {
            "hub"
        } else {
            leak(format!("spoke-{}", a % 5))
        };
        let agent = leak(format!("agent-{a}"));
        let mut push =
            |probe: &'static str, component: &'static str, layer, kind, failing: bool| {
                out.push(Sighting {
                    agent,
                    network,
                    agent_live: true,
                    probe_id: probe,
                    component,
                    layer,
                    kind,
                    target: leak(format!("{component}.internal")),
                    target_network: None,
                    window: WindowView {
                        total: 12,
                        failures: if failing { 12 } else { 0 },
                        dominant_class: if failing {
                            ErrorClass::DnsTimeout
                        } else {
                            ErrorClass::Unspecified
                        },
                        example: if failing { "dns timeout" } else { "" },
                        fresh: true,
                        last_failed: failing,
                        success_streak: if failing { 0 } else { 12 },
                        failure_streak: if failing { 12 } else { 0 },
                        last_failure_ms: failing.then_some(0),
                        age_ms: Some(1_000),
                        last_signal_ms: Some(0),
                        interval_ms: 10_000,
                    },
                });
            };
        push("dns", "hub-dns", Layer::PlatformHub, ProbeKind::Dns, true);
        push(
            "fw",
            "hub-firewall",
            Layer::PlatformHub,
            ProbeKind::Tcp,
            false,
        );
        for &c in &apps {
            push(c, c, Layer::WorkloadApplication, ProbeKind::Http, false);
        }
    }
    out
}

fn attribution(c: &mut Criterion) {
    let mut depends_on = BTreeMap::new();
    for w in 0..8 {
        depends_on.insert(
            format!("app-{w}"),
            vec!["hub-dns".to_string(), "hub-firewall".to_string()],
        );
    }
    let topology = Topology {
        hub_network: "hub".into(),
        firewall: None,
        depends_on,
    };
    let params = Params::default();
    let mut group = c.benchmark_group("attribution");
    group.sample_size(10);
    for agents in [100usize, 1_000, 10_000] {
        let sightings = fleet(agents, 8);
        group.throughput(Throughput::Elements(sightings.len() as u64));
        group.bench_function(format!("attribute/{}_pairs", sightings.len()), |b| {
            b.iter(|| attribute(&sightings, &topology, &params));
        });
    }
    group.finish();
}

criterion_group!(benches, attribution);
criterion_main!(benches);
