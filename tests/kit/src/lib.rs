//! Dev-only test kit shared by every Vigil test suite (the agent's, the
//! aggregator's, the cli's and the end-to-end suite in `tests/`); it is never
//! a normal dependency and never ships. It holds the helpers those suites
//! used to write again each: [`eventually`], which waits on a condition with
//! a deadline instead of sleeping for luck ([`wait`]); a real OTLP collector
//! that records what an exporter sent ([`otlp`]); a `/metrics` page fetched,
//! parsed and searched ([`exposition`]), and `promtool check` of such a page
//! or of a rules file ([`promtool`]); Debian-packaged peers, required under
//! CI and skipped loudly elsewhere ([`peer`]); fast aggregator configs as
//! config-file text ([`config`]); loopback addresses with a known behaviour
//! ([`net`]); reading an aggregator's tree over the query API ([`query`]);
//! ingest messages and streams driven by hand ([`ingest`]); a fresh folder
//! per test ([`scratch`]); and the clock as signal batches spell it
//! ([`clock`]).
//!
//! It depends on no Vigil crate but the `vigil-proto` contract, so the
//! agent, the aggregator and the cli can each take it as a dev-dependency
//! without a cycle. A helper that needs a crate's own types stays in that
//! crate's tests, once.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod exposition;
pub mod ingest;
pub mod net;
pub mod otlp;
pub mod peer;
pub mod promtool;
pub mod query;
pub mod scratch;
pub mod wait;

pub use clock::now_ms;
pub use wait::eventually;
