//! vigil-client: the connection to the aggregator's gRPC `QueryService` and `FaultService`:
//! parses the server URL, connects with a deadline, and maps transport and status failures to
//! errors an on-call engineer can act on.
//!
//! Owns connecting, deadlines and error mapping. It must not render anything
//! or exit the process: the binary decides what to print and the exit code.
//! It depends on the contract (`vigil-proto`) alone.
#![forbid(unsafe_code)]

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use vigil_proto::v1::fault_service_client::FaultServiceClient;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{
    GetFaultRequest, GetFaultResponse, GetNodeRequest, GetNodeResponse, GetTreeRequest,
    GetTreeResponse, ListFaultsRequest, ListFaultsResponse, WatchChangesRequest,
    WatchChangesResponse, WhyNodeRequest, WhyNodeResponse,
};

/// Where `vigil` looks for the aggregator unless `--server`/`VIGIL_SERVER` say otherwise.
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:7400";

/// Recent signals asked for by `vigil node` unless told otherwise.
pub const DEFAULT_RECENT_SIGNALS: u32 = 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server URL '{url}': {reason}; expected e.g. {DEFAULT_SERVER}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot reach the aggregator at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error(
        "no CA to verify the aggregator at {url}: pass --ca FILE or set VIGIL_CA (a running `vigil demo` is found without either: start one); a plaintext aggregator is http://"
    )]
    NoCa { url: String },
    #[error("no node '{id}'; `vigil tree` lists the ids")]
    NodeNotFound { id: String },
    #[error("no fault '{id}'; `vigil faults` lists the ids")]
    FaultNotFound { id: String },
    #[error(
        "the aggregator at {url} does not serve {service}; it is older than this vigil, upgrade it"
    )]
    Unsupported { url: String, service: &'static str },
    #[error(
        "the aggregator at {url} wants a token: {message}; set VIGIL_TOKEN or pass --token-file FILE (docs/security.md)"
    )]
    Unauthenticated { url: String, message: String },
    #[error("the aggregator at {url} refused this token: {message}")]
    Forbidden { url: String, message: String },
    #[error("the aggregator at {url} answered {code:?}: {message}")]
    Rejected {
        url: String,
        code: Code,
        message: String,
    },
    #[error("the aggregator at {url} ended the change stream (restarting or shutting down?)")]
    StreamEnded { url: String },
    #[error("the aggregator at {url} answered without {missing}")]
    Incomplete { url: String, missing: &'static str },
}

impl ClientError {
    /// Process exit code: 2 when the aggregator cannot be reached or the URL is
    /// unusable, 1 when it answered but the query failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidUrl { .. }
            | Self::NoCa { .. }
            | Self::Unreachable { .. }
            | Self::StreamEnded { .. }
            | Self::Unauthenticated { .. }
            | Self::Forbidden { .. } => 2,
            Self::NodeNotFound { .. }
            | Self::FaultNotFound { .. }
            | Self::Unsupported { .. }
            | Self::Rejected { .. }
            | Self::Incomplete { .. } => 1,
        }
    }
}

/// How `vigil` proves who it is: the CA that signs an https:// aggregator,
/// and the bearer token the query API asks for.
#[derive(Clone, Default)]
pub struct ClientAuth {
    /// The CA certificate (PEM) an https:// aggregator must chain to.
    pub ca: Option<std::path::PathBuf>,
    /// Sent as `authorization: Bearer TOKEN` on every call.
    pub token: Option<String>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("ca", &self.ca)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A connected client for the tree and the faults, with a per-call deadline.
/// Both services share one channel.
#[derive(Clone)]
pub struct QueryClient {
    inner: QueryServiceClient<Authed>,
    faults: FaultServiceClient<Authed>,
    url: String,
    timeout: Duration,
}

impl QueryClient {
    /// Connects to `url` (http:// or https://), failing after `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, ClientError> {
        Self::connect_with(url, timeout, &ClientAuth::default()).await
    }

    /// Connects to `url`; an https:// URL verifies the aggregator against
    /// the CA certificate in `auth.ca`, which it then requires; `auth.token`
    /// goes with every call.
    pub async fn connect_with(
        url: &str,
        timeout: Duration,
        auth: &ClientAuth,
    ) -> Result<Self, ClientError> {
        let mut endpoint = parse_endpoint(url)?;
        let invalid = |reason: String| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let bearer = match &auth.token {
            Some(token) => Some(
                format!("Bearer {}", token.trim())
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| {
                        invalid("the token holds characters a header cannot carry".into())
                    })?,
            ),
            None => None,
        };
        if url.starts_with("https://") {
            let Some(ca) = auth.ca.as_deref() else {
                return Err(ClientError::NoCa {
                    url: url.to_owned(),
                });
            };
            let pem = std::fs::read(ca)
                .map_err(|e| invalid(format!("cannot read the CA file {}: {e}", ca.display())))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| invalid(error_chain(&e)))?;
        }
        let endpoint = for_large_answers(endpoint).connect_timeout(timeout);
        let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => {
                return Err(ClientError::Unreachable {
                    url: url.to_owned(),
                    cause: error_chain(&e),
                });
            }
            Err(_) => {
                return Err(ClientError::Unreachable {
                    url: url.to_owned(),
                    cause: format!(
                        "no connection within {}",
                        humantime::format_duration(timeout)
                    ),
                });
            }
        };
        tracing::debug!(%url, "connected to the aggregator");
        let bearer = Bearer(bearer);
        Ok(Self {
            inner: QueryServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            faults: FaultServiceClient::with_interceptor(channel, bearer),
            url: url.to_owned(),
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The whole layered tree.
    pub async fn tree(&mut self) -> Result<GetTreeResponse, ClientError> {
        let mut client = self.inner.clone();
        let resp = self
            .deadline(async move { client.get_tree(GetTreeRequest {}).await })
            .await?;
        Ok(resp.into_inner())
    }

    /// One node with its evidence; `recent_signals` caps the signal list.
    pub async fn node(
        &mut self,
        id: &str,
        recent_signals: u32,
    ) -> Result<GetNodeResponse, ClientError> {
        let mut client = self.inner.clone();
        let request = GetNodeRequest {
            id: id.to_owned(),
            recent_signals,
        };
        let resp = self
            .deadline(async move { client.get_node(request).await })
            .await
            .map_err(|e| match e {
                ClientError::Rejected {
                    code: Code::NotFound,
                    ..
                } => ClientError::NodeNotFound { id: id.to_owned() },
                other => other,
            })?
            .into_inner();
        if resp.node.is_none() {
            return Err(ClientError::Incomplete {
                url: self.url.clone(),
                missing: "the node",
            });
        }
        Ok(resp)
    }

    /// Opens the change stream. Only the opening is under the deadline; the
    /// stream itself lives as long as the caller reads it.
    pub async fn watch(&mut self) -> Result<ChangeStream, ClientError> {
        let mut client = self.inner.clone();
        let stream = self
            .deadline(async move { client.watch_changes(WatchChangesRequest {}).await })
            .await?
            .into_inner();
        Ok(ChangeStream {
            inner: stream,
            url: self.url.clone(),
        })
    }

    /// The open faults and blind spots; `include_resolved` adds recently
    /// resolved faults.
    pub async fn faults(
        &mut self,
        include_resolved: bool,
    ) -> Result<ListFaultsResponse, ClientError> {
        let mut client = self.faults.clone();
        let request = ListFaultsRequest { include_resolved };
        let resp = self
            .deadline(async move { client.list_faults(request).await })
            .await
            .map_err(|e| self.fault_service_error(e))?;
        Ok(resp.into_inner())
    }

    /// One fault with all its evidence.
    pub async fn fault(&mut self, id: &str) -> Result<GetFaultResponse, ClientError> {
        let mut client = self.faults.clone();
        let request = GetFaultRequest { id: id.to_owned() };
        let resp = self
            .deadline(async move { client.get_fault(request).await })
            .await
            .map_err(|e| match e {
                ClientError::Rejected {
                    code: Code::NotFound,
                    ..
                } => ClientError::FaultNotFound { id: id.to_owned() },
                other => self.fault_service_error(other),
            })?
            .into_inner();
        if resp.fault.is_none() {
            return Err(ClientError::Incomplete {
                url: self.url.clone(),
                missing: "the fault",
            });
        }
        Ok(resp)
    }

    /// A node's state and the open faults that explain it.
    pub async fn why(&mut self, node_id: &str) -> Result<WhyNodeResponse, ClientError> {
        let mut client = self.faults.clone();
        let request = WhyNodeRequest {
            id: node_id.to_owned(),
        };
        let resp = self
            .deadline(async move { client.why_node(request).await })
            .await
            .map_err(|e| match e {
                ClientError::Rejected {
                    code: Code::NotFound,
                    ..
                } => ClientError::NodeNotFound {
                    id: node_id.to_owned(),
                },
                other => self.fault_service_error(other),
            })?
            .into_inner();
        if resp.node.is_none() {
            return Err(ClientError::Incomplete {
                url: self.url.clone(),
                missing: "the node",
            });
        }
        Ok(resp)
    }

    /// An aggregator without fault attribution answers Unimplemented: say
    /// what is missing instead of a bare status code.
    fn fault_service_error(&self, e: ClientError) -> ClientError {
        match e {
            ClientError::Rejected {
                code: Code::Unimplemented,
                ..
            } => ClientError::Unsupported {
                url: self.url.clone(),
                service: "fault attribution (vigil.v1.FaultService)",
            },
            other => other,
        }
    }

    async fn deadline<T>(
        &self,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(status)) => Err(status_error(&self.url, &status)),
            Err(_) => Err(ClientError::Unreachable {
                url: self.url.clone(),
                cause: format!(
                    "no answer within {}",
                    humantime::format_duration(self.timeout)
                ),
            }),
        }
    }
}

/// The server stream of changes opened by [`QueryClient::watch`].
#[derive(Debug)]
pub struct ChangeStream {
    inner: Streaming<WatchChangesResponse>,
    url: String,
}

impl ChangeStream {
    /// The next message; `Ok(None)` when the aggregator ended the stream.
    pub async fn next(&mut self) -> Result<Option<WatchChangesResponse>, ClientError> {
        self.inner
            .message()
            .await
            .map_err(|status| status_error(&self.url, &status))
    }
}

/// Receive windows and frame size for answers as large as a whole tree
/// (about 0.9 MB for 10,000 nodes). With HTTP/2's defaults the aggregator
/// sends 64 KiB, then waits a round trip for the window to reopen, fourteen
/// times for such a tree, and in 16 KiB frames; with these it sends the
/// answer in one go.
pub fn for_large_answers(endpoint: Endpoint) -> Endpoint {
    endpoint
        .initial_stream_window_size(ANSWER_WINDOW_BYTES)
        .initial_connection_window_size(ANSWER_WINDOW_BYTES)
        .max_frame_size(ANSWER_FRAME_BYTES)
}

/// Receive window of a query connection, per stream and per connection.
const ANSWER_WINDOW_BYTES: u32 = 4 << 20;
/// The largest HTTP/2 frame a query connection accepts.
const ANSWER_FRAME_BYTES: u32 = 1 << 20;

fn parse_endpoint(url: &str) -> Result<Endpoint, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid("the scheme must be http:// or https://"));
    }
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| invalid(&error_chain(&e)))?;
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(endpoint)
}

fn status_error(url: &str, status: &Status) -> ClientError {
    match status.code() {
        // Transport failures after connecting (aggregator restarted, network
        // gone) surface as Unavailable: the same remedy as a failed connect.
        Code::Unavailable => ClientError::Unreachable {
            url: url.to_owned(),
            cause: if status.message().is_empty() {
                "unavailable".to_owned()
            } else {
                status.message().to_owned()
            },
        },
        Code::Unauthenticated => ClientError::Unauthenticated {
            url: url.to_owned(),
            message: status.message().to_owned(),
        },
        Code::PermissionDenied => ClientError::Forbidden {
            url: url.to_owned(),
            message: status.message().to_owned(),
        },
        code => ClientError::Rejected {
            url: url.to_owned(),
            code,
            message: status.message().to_owned(),
        },
    }
}

/// `e: source: source…` — tonic's transport errors say only "transport error"
/// at the top; the cause (refused, DNS, TLS) is in the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_at_the_edge() {
        assert!(parse_endpoint("http://127.0.0.1:7400").is_ok());
        assert!(parse_endpoint("https://aggregator.hub:7400").is_ok());
        let err = parse_endpoint("127.0.0.1:7400").unwrap_err().to_string();
        assert!(
            err.contains("'127.0.0.1:7400'") && err.contains("http://"),
            "{err}"
        );
        assert!(parse_endpoint("http://").is_err());
        assert!(parse_endpoint("http://exa mple").is_err());
    }

    #[test]
    fn exit_codes_separate_reachability_from_answers() {
        let unreachable = ClientError::Unreachable {
            url: "u".into(),
            cause: "c".into(),
        };
        assert_eq!(unreachable.exit_code(), 2);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the aggregator at u: c"
        );
        let missing = ClientError::NodeNotFound { id: "x".into() };
        assert_eq!(missing.exit_code(), 1);
        assert_eq!(
            missing.to_string(),
            "no node 'x'; `vigil tree` lists the ids"
        );
        let fault = ClientError::FaultNotFound { id: "F-1".into() };
        assert_eq!(fault.exit_code(), 1);
        assert_eq!(
            fault.to_string(),
            "no fault 'F-1'; `vigil faults` lists the ids"
        );
    }
}
