//! Vigil aggregator: ingests agents' signal streams, keeps the layered health
//! model and serves it to on-call over gRPC and HTTP.
//!
//! The crate root only wires modules together and re-exports the public API;
//! behaviour lives in the modules.
#![forbid(unsafe_code)]

pub mod alert;
pub mod attribution;
mod clock;
pub mod config;
mod duration;
pub mod evaluate;
pub mod export;
pub mod ingest;
pub mod model;
pub mod query;
mod server;
pub mod simulate;
pub mod snapshot;
pub mod store;
mod tick;

pub use config::{AggregatorConfig, ConfigError};
pub use ingest::IngestStats;
pub use model::{Model, ModelError};
pub use server::{Aggregator, AggregatorHandle, StartError};
pub use snapshot::Snapshot;
