//! Microbenchmarks of the aggregator's hot paths: a batch decoded, validated
//! and applied through the real ingest path; one window update; and the
//! evaluation tick's parts over a 100,000-series fleet (reading the store,
//! attribution, evaluating a 10,000-node tree) and the whole tick; and the
//! `/metrics` page of that tree. Run:
//! `cargo bench -p vigil-aggregator --bench hot_paths`.

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use vigil_aggregator::config::EvaluationConfig;
use vigil_export::catalog::Inputs;
use vigil_export::prometheus;
use vigil_health::attribution::{AttributionConfig, Attributor};
use vigil_health::evaluate::{Evaluator, Occasion};
use vigil_health::snapshot::Snapshot;
use vigil_health::store::IngestStats;
use vigil_health::store::{Store, Window};

fn batch_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    for size in [10u32, 100, 1000] {
        let store = Arc::new(Store::new(common::model(1000), Duration::from_secs(60), 8));
        let mut stream = common::stream(&store, 0, 100, 1000);
        let signals = common::signals(size, 100);
        let sequence = Cell::new(0u64);
        group.throughput(Throughput::Elements(u64::from(size)));
        group.bench_function(format!("decode_validate_apply/{size}_signals"), |b| {
            b.iter_batched(
                || {
                    sequence.set(sequence.get() + 1);
                    common::batch(sequence.get(), &signals)
                },
                |bytes| stream.handle_encoded(&bytes).expect("applied"),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn window_update(c: &mut Criterion) {
    let mut window = Window::new(Duration::from_secs(60));
    let mut at = common::now_ms();
    let mut n = 0u32;
    c.bench_function("window/record", |b| {
        b.iter(|| {
            at += 7;
            n = n.wrapping_add(1);
            window.record(at, n.is_multiple_of(10), 300 + n % 5000);
        });
    });
}

fn evaluation(c: &mut Criterion) {
    // 10,000 leaves under 100 groups; 10,000 agents x 10 probes = 100,000
    // series, every leaf fed by ten agents.
    let store = common::filled_store(9_900, 10_000, 10, 3);
    let model = Arc::clone(store.model());
    let now = common::now_ms();
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(10);
    let config = EvaluationConfig {
        hysteresis: 1,
        ..EvaluationConfig::default()
    };
    let window = config.window;
    // The store's share of a tick: every series locked and summarized,
    // merged per leaf and handed on (here to nobody).
    group.bench_function("store_read/100k_series", |b| {
        b.iter(|| store.read_with(now, window, |_, _, _| {}));
    });
    let reading = store.read(now, window);
    let mut attributor = Attributor::new(
        Arc::clone(&model),
        &AttributionConfig::default(),
        config.staleness,
    );
    group.bench_function("attribute/100k_series", |b| {
        b.iter(|| attributor.step(now, &reading.series));
    });
    let mut evaluator = Evaluator::new(
        Arc::clone(&model),
        config,
        Arc::new(Snapshot::initial(Arc::clone(&model), now)),
    );
    group.bench_function(format!("tree/{}_nodes", model.nodes().len()), |b| {
        b.iter(|| evaluator.evaluate(now, &reading.leaves));
    });
    // What the evaluation thread does per tick: each leaf judged as the
    // store hands it over. Attribution runs on its own thread.
    group.bench_function("tick/100k_series", |b| {
        b.iter(|| {
            let mut pass = evaluator.pass(now, Occasion::Scheduled);
            let series = store.read_with(now, window, |leaf, readings, agents| {
                pass.leaf(leaf, readings, agents);
            });
            (
                pass.finish(Arc::clone(&series.agents), Arc::default()),
                series,
            )
        });
    });
    // An early tick: one leaf whose series turned, the rest carried over.
    let leaf = model.order()[model.order().len() / 2];
    group.bench_function("early_tick/1_leaf", |b| {
        b.iter(|| {
            let mut pass = evaluator.pass(now, Occasion::Early);
            let agents = store.read_leaves(now, &[leaf], |leaf, readings, agents| {
                pass.leaf(leaf, readings, agents);
            });
            pass.finish(agents, Arc::default())
        });
    });
    group.finish();
}

fn export(c: &mut Criterion) {
    // The same fleet as `evaluation`: 10,000 nodes and 100,000 vantages,
    // so a page of about 260,000 series.
    let store = common::filled_store(9_900, 10_000, 10, 3);
    let model = Arc::clone(store.model());
    let now = common::now_ms();
    let config = EvaluationConfig::default();
    let reading = store.read(now, config.window);
    let mut evaluator = Evaluator::new(
        Arc::clone(&model),
        config,
        Arc::new(Snapshot::initial(Arc::clone(&model), now)),
    );
    let inputs = Inputs {
        snapshot: evaluator.evaluate(now, &reading.leaves),
        ingest: IngestStats::default(),
        denials: Vec::new(),
        receivers: Vec::new(),
        vantage_series: true,
    };
    let mut group = c.benchmark_group("export");
    group.sample_size(10);
    group.bench_function("prometheus_page/10001_nodes", |b| {
        b.iter(|| prometheus::render(&inputs));
    });
    group.finish();
}

criterion_group!(benches, batch_apply, window_update, evaluation, export);
criterion_main!(benches);
