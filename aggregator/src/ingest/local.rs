//! One agent stream's protocol without a transport: encoded `StreamRequest`
//! bytes in, the same decode, validation and apply as a gRPC stream, the
//! reply out.
//!
//! Owns nothing but the adapter. It exists so benchmarks and the load
//! generator's in-process floor measure the real ingest path; it must not
//! grow a second implementation of validation or apply.

use std::sync::Arc;

use prost::Message;
use tokio_util::sync::CancellationToken;
use vigil_proto::v1::{StreamRequest, StreamResponse};

use super::{IngestCounters, IngestEndpoint, IngestStats, RejectReason, Session, Step};
use crate::config::IngestConfig;
use crate::trust::{AgentPolicy, Peer};
use vigil_health::store::Store;

/// Why a message fed to a [`LocalStream`] was not applied. A gRPC stream
/// would have been ended with the matching status.
#[derive(Debug, thiserror::Error)]
pub enum LocalStreamError {
    #[error("cannot decode StreamRequest: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("rejected ({}), sequence {sequence}: {message}", reason.name())]
    Rejected {
        reason: RejectReason,
        sequence: u64,
        message: String,
    },
}

/// An agent stream applied in-process, message by message.
pub struct LocalStream {
    session: Session,
}

impl LocalStream {
    /// A fresh stream into `store`, with its own counters.
    pub fn new(store: Arc<Store>, limits: IngestConfig) -> Self {
        Self {
            session: Session::new(
                IngestEndpoint {
                    store,
                    counters: Arc::new(IngestCounters::default()),
                    limits,
                    aggregator_id: "local".to_string(),
                    shutdown: CancellationToken::new(),
                    // In-process: there is no connection to read a
                    // certificate from and no other agent to be fair to;
                    // the caller is the process itself.
                    agents: AgentPolicy::Trusting,
                    fairness: None,
                },
                Peer::Trusted,
            ),
        }
    }

    /// Decodes one encoded `StreamRequest` and handles it.
    pub fn handle_encoded(
        &mut self,
        bytes: &[u8],
    ) -> Result<Option<StreamResponse>, LocalStreamError> {
        let msg = StreamRequest::decode(bytes)?;
        self.handle(msg)
    }

    /// Handles one message: `Welcome` after Hello, `Ack` after a batch,
    /// nothing after declarations.
    pub fn handle(
        &mut self,
        msg: StreamRequest,
    ) -> Result<Option<StreamResponse>, LocalStreamError> {
        match self.session.handle(msg) {
            Ok(Step::Reply(resp)) => Ok(Some(resp)),
            Ok(Step::Quiet) => Ok(None),
            Err(refused) => {
                self.session.endpoint.counters.rejected(
                    refused.rejection.reason,
                    self.session.agent_id(),
                    &refused.rejection.message,
                );
                Err(LocalStreamError::Rejected {
                    reason: refused.rejection.reason,
                    sequence: refused.sequence,
                    message: refused.rejection.message,
                })
            }
        }
    }

    /// What this stream applied and refused so far.
    pub fn stats(&self) -> IngestStats {
        self.session.endpoint.counters.snapshot()
    }
}
