//! gRPC codecs for callers that hold one side of a call as encoded bytes:
//! a server answering from a cache of encoded responses, a load generator
//! sending pre-encoded requests or timing a response before decoding it.
//!
//! Owns only the framing between `Bytes` and prost messages; what the bytes
//! mean stays with the caller.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

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
