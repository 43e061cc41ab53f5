//! Query surfaces over published snapshots: gRPC `QueryService`, HTTP/JSON
//! and the change stream.
//!
//! Owns nothing but the mapping from snapshots to answers; readers never lock
//! ingest beyond a brief per-series lock to copy recent signals as evidence.

pub mod fault_view;
pub(crate) mod framed;
pub(crate) mod grpc;
pub(crate) mod http;
pub mod tree_bytes;
pub mod view;
pub mod watch;
