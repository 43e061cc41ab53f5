//! The Vigil agent: runs probes against the workload and its foundational
//! dependencies (hub DNS, firewall, peering) and streams their results to the
//! aggregator. Owns probing, scheduling, batching and delivery; it must not
//! judge health — that is the aggregator's job.
#![forbid(unsafe_code)]

mod admin;
mod agent;
pub mod config;
pub mod export;
pub mod metrics;
pub mod probe;
mod schedule;
pub mod shipper;

pub use agent::{Agent, AgentError, AgentHandle, AgentStats, FLUSH_TIMEOUT};
pub use config::{AgentConfig, ConfigError};
pub use export::ExportError;
