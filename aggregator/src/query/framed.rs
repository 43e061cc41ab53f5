//! A unary gRPC answer whose message is already framed: the five-byte gRPC
//! prefix and the encoded message in one shared buffer, sent as it is.
//!
//! tonic's server codec copies every answer into a fresh buffer of its own
//! before framing it; for `GetTree` that is a megabyte allocated and copied
//! per request, on the same workers that run ingest. Here the buffer built
//! once per generation goes to HTTP/2 by reference. Owns only the HTTP shape
//! of a successful unary answer; what the message says stays with its maker.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http;

/// Bytes before each message on a gRPC stream: a compression flag and the
/// message's length (big-endian `u32`).
pub const PREFIX_LEN: usize = 5;

/// Starts a framed message in `out`: the prefix, its length filled in by
/// [`finish`] once the message is written after it.
pub fn begin(out: &mut Vec<u8>) {
    out.put_u8(0); // uncompressed
    out.put_u32(0);
}

/// Writes the length of the message that follows the prefix at the start
/// of `out`.
///
/// # Panics
/// If `out` is shorter than the prefix (never begun) or the message does not
/// fit gRPC's `u32` length.
pub fn finish(out: &mut [u8]) {
    let len = u32::try_from(out.len() - PREFIX_LEN).expect("a gRPC message fits in u32");
    out[1..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
}

/// A 200 answer carrying `framed` and `grpc-status: 0`.
pub fn ok(framed: Bytes) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(Answer {
        data: Some(framed),
        trailers: Some(ok_trailers()),
    }));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

fn ok_trailers() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::with_capacity(1);
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    trailers
}

/// One data frame, then the trailers.
struct Answer {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_carries_the_message_length() {
        let mut out = Vec::new();
        begin(&mut out);
        out.extend_from_slice(&[7; 300]);
        finish(&mut out);
        assert_eq!(&out[..PREFIX_LEN], &[0, 0, 0, 1, 44]);
        assert_eq!(out.len(), PREFIX_LEN + 300);
    }

    #[test]
    fn an_answer_is_its_bytes_then_status_ok() {
        let response = ok(Bytes::from_static(b"\0\0\0\0\x02hi"));
        assert_eq!(response.headers()["content-type"], "application/grpc");
        let mut body = std::pin::pin!(response.into_body());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(Some(Ok(first))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("no data frame");
        };
        assert_eq!(first.into_data().unwrap(), &b"\0\0\0\0\x02hi"[..]);
        let Poll::Ready(Some(Ok(second))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("no trailers");
        };
        assert_eq!(second.into_trailers().unwrap()["grpc-status"], "0");
        assert!(matches!(
            body.as_mut().poll_frame(&mut cx),
            Poll::Ready(None)
        ));
        assert!(body.is_end_stream());
    }
}
