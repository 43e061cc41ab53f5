//! vigil-aggregator: the server. Ingest (the agents' gRPC streams, validated
//! at the edge), query (gRPC, HTTP/JSON, server-sent events), the config
//! file, and the wiring that starts the health core (`vigil-health`), the
//! alerts (`vigil-alert`) and the exporters (`vigil-export`) around one
//! store and one stream of snapshots.
//!
//! It must not judge health or faults itself: that is `vigil-health`. Queries
//! answer from published snapshots (and a node's recent signals from the
//! store); they never change ingest state.
#![forbid(unsafe_code)]

mod access;
pub mod config;
mod http_serve;
pub mod ingest;
mod observability;
pub mod query;
mod server;
pub mod trust;

pub use access::{AuthConfig, MetricsAccess};
pub use config::{AggregatorConfig, ConfigError};
pub use http_serve::HttpLimits;
pub use server::{Aggregator, AggregatorHandle, StartError};
pub use trust::{InsecureConfig, TlsConfig, Transport};
