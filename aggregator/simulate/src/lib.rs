//! vigil-simulate: a deterministic, seeded scenario simulator for attribution quality.
//!
//! It generates the signals a hub with N spokes and M workloads would send,
//! through the real ingest path ([`LocalStream`]), the real store, evaluator
//! and attribution, on a simulated clock, and injects labelled faults. Owns
//! only the simulation; it must not bypass or re-implement any stage it
//! measures. `vigil simulate` and the attribution benchmark test drive it.
#![forbid(unsafe_code)]

mod faults;
mod generate;
mod report;
mod world;

pub use faults::{Expected, SimFault};
pub use generate::{Scenario, evaluation_for, generate};
pub use report::{
    Report, ScenarioOutcome, Summary, run_benchmark, run_generated, run_scenario, steady_run,
};
pub use world::{Shape, model_yaml};

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vigil_proto::v1::{
    Hello, Outcome, ProbeDeclaration, ProbeDeclarations, Signal, SignalBatch, StreamRequest,
    Vantage, stream_request::Message,
};

use vigil_aggregator::config::IngestConfig;
use vigil_aggregator::ingest::LocalStream;
use vigil_health::attribution::{AttributionConfig, Attributor, FaultBoard};
use vigil_health::evaluate::EvaluationConfig;
use vigil_health::evaluate::Evaluator;
use vigil_health::snapshot::Snapshot;
use vigil_health::store::Store;
use vigil_model::Model;
use world::AgentPlan;

/// Knobs of one simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub shape: Shape,
    pub seed: u64,
    /// Every probe's interval.
    pub probe_interval: Duration,
    /// Share of probe runs that fail at random (noise).
    pub noise: f64,
    pub evaluation: EvaluationConfig,
    pub attribution: AttributionConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            shape: Shape::default(),
            seed: 1,
            probe_interval: Duration::from_secs(10),
            noise: 0.0,
            evaluation: EvaluationConfig {
                interval: Duration::from_secs(1),
                window: Duration::from_secs(60),
                staleness: Duration::from_secs(30),
                hysteresis: 2,
                recent_signals: 64,
            },
            attribution: AttributionConfig::default(),
        }
    }
}

struct AgentState {
    plan: AgentPlan,
    stream: Option<LocalStream>,
    incarnation: u64,
    sequence: u64,
    /// Next due time per probe.
    due: Vec<i64>,
    /// Batches an agent cut off from the aggregator holds for replay.
    held: Vec<SignalBatch>,
    /// Whether the agent's link was cut at its previous step.
    was_cut: bool,
    /// After a cut, the agent reconnects only once its backoff has passed
    /// (up to 5 s, as the agent's `backoff_max`), replaying what it held.
    reconnect_at_ms: i64,
}

/// The simulated estate with a running aggregator pipeline.
pub struct Sim {
    config: SimConfig,
    store: Arc<Store>,
    evaluator: Evaluator,
    attributor: Attributor,
    agents: Vec<AgentState>,
    rng: StdRng,
    /// Simulated wall clock.
    pub now_ms: i64,
    pub active: Vec<SimFault>,
    pub latest: Arc<Snapshot>,
    /// Every fault event so far, with the time it happened.
    pub events: Vec<(i64, vigil_health::attribution::FaultEvent)>,
    rejected: u64,
}

/// The simulation's clock starts this far before the real one, so signals
/// are always in the past and a long run stays inside the ingest age limit.
const START_BEFORE_NOW: Duration = Duration::from_secs(3 * 3600);

impl Sim {
    pub fn new(config: SimConfig) -> Result<Self, vigil_model::ModelError> {
        let model = Arc::new(Model::from_yaml(
            &model_yaml(&config.shape),
            "simulated-model.yaml",
        )?);
        let store = Arc::new(Store::new(
            Arc::clone(&model),
            config.evaluation.window,
            config.evaluation.recent_signals,
        ));
        let now_ms = vigil_health::clock::now_unix_ms() - START_BEFORE_NOW.as_millis() as i64;
        let initial = Arc::new(Snapshot::initial(Arc::clone(&model), now_ms));
        let evaluator = Evaluator::new(
            Arc::clone(&model),
            config.evaluation.clone(),
            Arc::clone(&initial),
        );
        let attributor = Attributor::new(
            Arc::clone(&model),
            &config.attribution,
            config.evaluation.staleness,
        );
        let mut rng = StdRng::seed_from_u64(config.seed);
        let interval = config.probe_interval.as_millis() as i64;
        let agents = world::agents(&config.shape)
            .into_iter()
            .enumerate()
            .map(|(i, plan)| AgentState {
                due: plan
                    .probes
                    .iter()
                    .map(|_| now_ms + rng.random_range(0..interval))
                    .collect(),
                plan,
                stream: None,
                incarnation: i as u64 + 1,
                sequence: 0,
                held: Vec::new(),
                was_cut: false,
                reconnect_at_ms: 0,
            })
            .collect();
        Ok(Sim {
            config,
            store,
            evaluator,
            attributor,
            agents,
            rng,
            now_ms,
            active: Vec::new(),
            latest: initial,
            events: Vec::new(),
            rejected: 0,
        })
    }

    pub fn shape(&self) -> &Shape {
        &self.config.shape
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Batches the real ingest path refused (should stay 0).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    pub fn faults(&self) -> &Arc<FaultBoard> {
        &self.latest.faults
    }

    /// Restarts agent `ix` as a new incarnation (its stream drops first).
    pub fn restart_agent(&mut self, ix: usize) {
        let a = &mut self.agents[ix];
        a.stream = None;
        a.incarnation += 1000;
        a.sequence = 0;
        a.held.clear();
    }

    fn limits() -> IngestConfig {
        IngestConfig::default()
    }

    fn connect(a: &mut AgentState, store: &Arc<Store>, interval: Duration) -> LocalStream {
        let mut s = LocalStream::new(Arc::clone(store), Self::limits());
        let hello = Message::Hello(Hello {
            agent_id: a.plan.id.clone(),
            incarnation: a.incarnation,
            vantage: Some(Vantage {
                network: a.plan.network.clone(),
                ..Vantage::default()
            }),
            agent_version: "simulated".into(),
        });
        let _ = s.handle(StreamRequest {
            message: Some(hello),
        });
        let probes = a
            .plan
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| ProbeDeclaration {
                index: i as u32,
                probe_id: p.id.clone(),
                kind: p.kind as i32,
                target: p.target.clone(),
                component: p.component.clone(),
                layer: p.layer as i32,
                labels: p
                    .target_network
                    .iter()
                    .map(|t| {
                        (
                            vigil_health::attribution::observe::TARGET_NETWORK_LABEL.to_string(),
                            t.clone(),
                        )
                    })
                    .collect(),
                interval_ms: u32::try_from(interval.as_millis()).unwrap_or(u32::MAX),
            })
            .collect();
        let _ = s.handle(StreamRequest {
            message: Some(Message::Declarations(ProbeDeclarations { probes })),
        });
        s
    }

    /// Advances one evaluation interval: agents probe and ship, the aggregator
    /// evaluates and attributes.
    pub fn step(&mut self) {
        let step_ms = self.config.evaluation.interval.as_millis() as i64;
        let end = self.now_ms + step_ms;
        let interval = self.config.probe_interval.as_millis() as i64;
        for ix in 0..self.agents.len() {
            let cut = self
                .active
                .iter()
                .any(|f| f.cuts_agent(&self.config.shape, ix, &self.agents[ix].plan.network));
            let replays = self.active.iter().any(|f| {
                f.cuts_agent(&self.config.shape, ix, &self.agents[ix].plan.network) && f.replays()
            });
            let a = &mut self.agents[ix];
            if a.was_cut && !cut {
                a.reconnect_at_ms = self.now_ms + self.rng.random_range(0..5_000);
            }
            a.was_cut = cut;
            let backing_off = !a.held.is_empty() && self.now_ms < a.reconnect_at_ms;
            if cut && !replays {
                // A dead or muted agent: no stream, no probes.
                a.stream = None;
                for d in &mut a.due {
                    while *d < end {
                        *d += interval;
                    }
                }
                continue;
            }
            let mut signals = Vec::new();
            for (pi, probe) in a.plan.probes.iter().enumerate() {
                while a.due[pi] < end {
                    let t = a.due[pi];
                    let jitter = self.rng.random_range(-(interval / 20)..=interval / 20);
                    a.due[pi] += interval + jitter;
                    let class = self
                        .active
                        .iter()
                        .find_map(|f| {
                            f.observe(&self.config.shape, &a.plan.network, probe, &mut self.rng)
                        })
                        .or_else(|| {
                            (self.config.noise > 0.0 && self.rng.random_bool(self.config.noise))
                                .then_some(vigil_proto::v1::ErrorClass::Timeout)
                        });
                    let latency_us = match class {
                        Some(
                            vigil_proto::v1::ErrorClass::Timeout
                            | vigil_proto::v1::ErrorClass::DnsTimeout,
                        ) => 3_000_000,
                        Some(vigil_proto::v1::ErrorClass::Slow) => 2_500_000,
                        _ => self.rng.random_range(500..20_000),
                    };
                    signals.push((
                        t,
                        Signal {
                            probe_index: pi as u32,
                            outcome: if class.is_some() {
                                Outcome::Failure
                            } else {
                                Outcome::Success
                            } as i32,
                            error_class: class.unwrap_or(vigil_proto::v1::ErrorClass::Unspecified)
                                as i32,
                            latency_us,
                            time_offset_ms: 0,
                            message: class
                                .map(|c| vigil_proto::error_class_name(c).to_string())
                                .unwrap_or_default(),
                            detail: None,
                        },
                    ));
                }
            }
            let batch = (!signals.is_empty()).then(|| {
                let base = signals.iter().map(|(t, _)| *t).min().unwrap_or(self.now_ms);
                a.sequence += 1;
                SignalBatch {
                    sequence: a.sequence,
                    base_time_unix_ms: base,
                    signals: signals
                        .into_iter()
                        .map(|(t, mut s)| {
                            s.time_offset_ms = (t - base) as i32;
                            s
                        })
                        .collect(),
                    dropped_signals_total: 0,
                }
            });
            if cut || backing_off {
                // Cut off from the aggregator, or waiting to reconnect: hold
                // for replay.
                a.stream = None;
                a.held.extend(batch);
                continue;
            }
            if a.stream.is_none() {
                a.stream = Some(Self::connect(a, &self.store, self.config.probe_interval));
            }
            let stream = a.stream.as_mut().expect("connected above");
            for b in a.held.drain(..).chain(batch) {
                if stream
                    .handle(StreamRequest {
                        message: Some(Message::Batch(b)),
                    })
                    .is_err()
                {
                    self.rejected += 1;
                }
            }
        }
        self.now_ms = end;
        let reading = self.store.read(self.now_ms, self.config.evaluation.window);
        let board = self.attributor.step(self.now_ms, &reading.series);
        for e in &board.events {
            self.events.push((self.now_ms, e.clone()));
        }
        self.latest = self
            .evaluator
            .evaluate_with(self.now_ms, &reading.leaves, board);
    }

    /// Steps until `until` (simulated) has passed.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now_ms + d.as_millis() as i64;
        while self.now_ms < end {
            self.step();
        }
    }
}
