//! One minimal HTTP/1.1 request on an already open stream (plain or TLS),
//! reading the status and the start of the body. The firewall probe needs
//! this instead of an HTTP client because it must choose the address, SNI
//! and Host separately and see exactly how the conversation ended. It must
//! not follow redirects or keep connections.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use vigil_proto::v1::ErrorClass;

use super::classify;
use super::connect::Failed;

/// Enough of a body to recognise a proxy's deny page.
const BODY_LIMIT: usize = 8 * 1024;
const HEAD_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The first bytes of the body, lossily decoded.
    pub body: String,
}

/// Sends `GET path` with `Host: host` and reads the answer until `deadline`.
/// A body cut short by the deadline is returned as far as it came.
pub async fn get<S>(
    stream: &mut S,
    host: &str,
    path: &str,
    deadline: Instant,
) -> Result<Response, Failed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vigil-agent/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let send = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await
    };
    match tokio::time::timeout_at(deadline, send).await {
        Err(_) => {
            return Err(Failed::new(
                ErrorClass::Timeout,
                "sending the request timed out",
            ));
        }
        Ok(Err(e)) => return Err(io_failure(&e, "sending the request")),
        Ok(Ok(())) => {}
    }

    let mut buf = Vec::with_capacity(1024);
    let (status, head_len, content_length) = loop {
        match read_more(stream, &mut buf, deadline).await {
            Err(e) => return Err(e),
            Ok(0) if buf.is_empty() => {
                return Err(Failed::new(
                    ErrorClass::ConnectionReset,
                    "the connection was closed without an HTTP answer",
                ));
            }
            Ok(0) => {
                return Err(Failed::new(
                    ErrorClass::HttpProtocol,
                    "the connection was closed in the middle of the response head",
                ));
            }
            Ok(_) => {}
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = parsed.code.unwrap_or_default();
                let length = parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse::<usize>().ok());
                break (status, len, length);
            }
            Ok(httparse::Status::Partial) if buf.len() < HEAD_LIMIT => {}
            Ok(httparse::Status::Partial) => {
                return Err(Failed::new(
                    ErrorClass::HttpProtocol,
                    "the response head is larger than 16 KiB",
                ));
            }
            Err(e) => {
                return Err(Failed::new(
                    ErrorClass::HttpProtocol,
                    format!("the answer is not HTTP: {e}"),
                ));
            }
        }
    };

    let wanted = content_length.unwrap_or(BODY_LIMIT).min(BODY_LIMIT);
    while buf.len() - head_len < wanted {
        // Whatever arrived before the deadline or a cut is enough to judge.
        match read_more(stream, &mut buf, deadline).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let end = buf.len().min(head_len + BODY_LIMIT);
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&buf[head_len..end]).into_owned(),
    })
}

async fn read_more<S>(stream: &mut S, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize, Failed>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        Err(_) => Err(Failed::new(
            ErrorClass::Timeout,
            "no HTTP answer within the timeout",
        )),
        Ok(Err(e)) => Err(io_failure(&e, "reading the response")),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
    }
}

fn io_failure(err: &io::Error, doing: &str) -> Failed {
    // A TLS peer that closes without close_notify shows up as UnexpectedEof.
    let class = match err.kind() {
        io::ErrorKind::UnexpectedEof => ErrorClass::ConnectionReset,
        kind => classify::io_kind(kind).unwrap_or(ErrorClass::HttpProtocol),
    };
    Failed::new(class, format!("{doing}: {err}"))
}
