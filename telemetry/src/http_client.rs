//! The HTTP client the OTLP/HTTP exporters send with: the workspace's async
//! `reqwest`, so OTLP brings no second HTTP stack and no blocking client.
//!
//! Owns only the translation between `http` requests and `reqwest`; it must
//! not retry, log or look at what it sends.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

#[derive(Debug, Clone)]
pub(crate) struct ReqwestClient(reqwest::Client);

impl ReqwestClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map(Self)
    }
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let mut out = Response::builder().status(status).body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
