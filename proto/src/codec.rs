//! gRPC codecs: the one every generated client and server of the contract
//! uses ([`CompactCodec`]), and two for callers that hold one side of a call
//! as encoded bytes (a server answering from a cache of encoded responses, a
//! load generator sending pre-encoded requests or timing a response before
//! decoding it).
//!
//! Owns only the framing between `Bytes` and prost messages; what the bytes
//! mean stays with the caller.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Starting size of a call's encode and decode buffers.
pub const CALL_BUFFER_BYTES: usize = 1024;

/// Encoded bytes gathered before a streaming call's buffer is handed on.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// prost encoding with small per-call buffers; `build.rs` makes it the codec
/// of every generated client and server.
///
/// tonic's default gives each call an 8 KiB encode and an 8 KiB decode
/// buffer for as long as the call lives. An agent's ingest stream lives for
/// days, carries batches of a few kilobytes one way and acks of a few bytes
/// the other, so at 10,000 streams those defaults are 160 MiB of the
/// aggregator's memory that is never filled. The buffers still grow to fit
/// whatever message comes.
#[derive(Debug)]
pub struct CompactCodec<T, U>(PhantomData<fn(T) -> U>);

impl<T, U> Default for CompactCodec<T, U> {
    fn default() -> Self {
        CompactCodec(PhantomData)
    }
}

fn compact() -> BufferSettings {
    BufferSettings::new(CALL_BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

impl<T, U> Codec for CompactCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(compact())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(compact())
    }
}

/// Sends already encoded messages as they are and decodes `D`.
#[derive(Debug)]
pub struct SendEncoded<D>(PhantomData<fn() -> D>);

/// Encodes `E` and hands back what it receives undecoded.
#[derive(Debug)]
pub struct ReceiveEncoded<E>(PhantomData<fn(E)>);

impl<D> Default for SendEncoded<D> {
    fn default() -> Self {
        SendEncoded(PhantomData)
    }
}

impl<E> Default for ReceiveEncoded<E> {
    fn default() -> Self {
        ReceiveEncoded(PhantomData)
    }
}

impl<D: Message + Default + Send + 'static> Codec for SendEncoded<D> {
    type Encode = Bytes;
    type Decode = D;
    type Encoder = SendEncoded<D>;
    type Decoder = SendEncoded<D>;

    fn encoder(&mut self) -> Self::Encoder {
        SendEncoded::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        SendEncoded::default()
    }
}

impl<D: Send + 'static> Encoder for SendEncoded<D> {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl<D: Message + Default + Send + 'static> Decoder for SendEncoded<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed message: {e}")))
    }
}

impl<E: Message + Send + 'static> Codec for ReceiveEncoded<E> {
    type Encode = E;
    type Decode = Bytes;
    type Encoder = ReceiveEncoded<E>;
    type Decoder = ReceiveEncoded<E>;

    fn encoder(&mut self) -> Self::Encoder {
        ReceiveEncoded::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ReceiveEncoded::default()
    }
}

impl<E: Message + Send + 'static> Encoder for ReceiveEncoded<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

impl<E: Send + 'static> Decoder for ReceiveEncoded<E> {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Ack, StreamRequest};

    #[test]
    fn compact_calls_start_with_small_buffers() {
        let mut codec = CompactCodec::<Ack, StreamRequest>::default();
        let (enc, dec) = (codec.encoder(), codec.decoder());
        // BufferSettings hides its fields; its Debug form shows them.
        let want = format!(
            "BufferSettings {{ buffer_size: {CALL_BUFFER_BYTES}, yield_threshold: {YIELD_THRESHOLD_BYTES} }}"
        );
        assert_eq!(format!("{:?}", enc.buffer_settings()), want);
        assert_eq!(format!("{:?}", dec.buffer_settings()), want);
    }

    #[test]
    fn every_generated_client_and_server_uses_the_compact_codec() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/vigil.v1.rs"));
        assert!(generated.contains("crate::codec::CompactCodec::default()"));
        assert!(
            !generated.contains("ProstCodec"),
            "a call kept tonic's default codec"
        );
    }
}
