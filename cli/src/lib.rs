//! The `vigil` command's library: the on-call client for the aggregator's
//! health tree (connect, query, render) and local targets for the demo and the
//! end-to-end tests.
//!
//! Rendering returns strings and never prints; only `main.rs` writes to the
//! terminal and chooses exit codes.
#![forbid(unsafe_code)]

pub mod client;
pub mod demo;
pub mod loadgen;
pub mod render;
