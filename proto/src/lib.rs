//! The `vigil.v1` wire contract, generated from `proto/vigil/v1/*.proto`.
//!
//! Owns the generated messages and services plus tiny conversions and names.
//! It must not hold behaviour: validation lives at the ingest edge, scoring in
//! the aggregator.
#![forbid(unsafe_code)]

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("vigil.v1");
}

pub mod codec;
mod labels;
mod names;

pub use labels::Label;

pub use names::{error_class_doc, error_class_name, parse_error_class};

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vigil_descriptor");

pub use names::error_classes;

/// Metadata on the status that ends a refused ingest stream: the sequence of
/// the refused batch (0 when the refused message was not a batch), so the
/// agent drops that one poison batch instead of resending it forever.
pub const REJECTED_SEQUENCE_KEY: &str = "vigil-rejected-sequence";

/// Metadata on a `RESOURCE_EXHAUSTED` that ends a stream over its agent's
/// rate limit: milliseconds until the agent may resend (it keeps the batch).
pub const RETRY_AFTER_MS_KEY: &str = "vigil-retry-after-ms";

/// Lower-case names of the contract's enums, without their proto prefix.
pub trait ShortName: Sized {
    fn short_name(&self) -> String;
    /// Parses a short name; the `_UNSPECIFIED` zero value is never accepted.
    fn from_short_name(name: &str) -> Option<Self>;
}
