//! Thanos' `snappy` gRPC compression (`--grpc-compression=snappy` on Thanos' querier and
//! receiver): each gRPC message flagged as compressed holds a snappy *framed* stream (the
//! framing format with its stream identifier chunk, as Go's snappy buffered writer writes
//! it), under the `grpc-encoding: snappy` header.
//!
//! tonic only knows gzip, deflate and zstd, so this is an HTTP-level layer around the
//! services: [`SnappyLayer`] (server side) decompresses the messages of a request sent with
//! `grpc-encoding: snappy` before tonic sees them and compresses the response the same way
//! (as grpc-go answers with the request's compressor) unless tonic already compressed it;
//! it also advertises `snappy` in `grpc-accept-encoding`. [`SnappyClientLayer`] is the
//! client side, for a channel to a Thanos component.
//!
//! Decompressed messages are bounded by [`MAX_MESSAGE_BYTES`]; a message over the bound, a
//! corrupt stream or a body that ends inside a message fails the call with a gRPC status.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::HeaderValue;
use http_body::{Body, Frame};
use tonic::body::BoxBody;
use tonic::Status;

/// The encoding's name in `grpc-encoding` and `grpc-accept-encoding`.
pub const ENCODING: &str = "snappy";

/// Largest message accepted after decompression (bytes).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

const GRPC_ENCODING: &str = "grpc-encoding";
const GRPC_ACCEPT_ENCODING: &str = "grpc-accept-encoding";

/// Why a gRPC body could not be rewritten.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnappyError {
    /// A message is bigger than [`MAX_MESSAGE_BYTES`], compressed or not.
    #[error("gRPC message over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge,
    /// The snappy stream does not decode.
    #[error("snappy-compressed gRPC message: {0}")]
    Corrupt(String),
    /// The message prefix' compression flag is neither 0 nor 1.
    #[error("gRPC message with compression flag {0}")]
    BadFlag(u8),
    /// The body ends inside a message.
    #[error("gRPC body ends inside a message")]
    Truncated,
}

impl From<SnappyError> for Status {
    fn from(e: SnappyError) -> Status {
        match e {
            SnappyError::TooLarge => Status::resource_exhausted(e.to_string()),
            _ => Status::internal(e.to_string()),
        }
    }
}

/// What a [`Reframed`] body does to each gRPC message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Compressed messages become plain ones.
    Decompress,
    /// Plain messages become compressed ones.
    Compress,
}

/// A gRPC body whose length-prefixed messages are rewritten one by one; trailers pass.
struct Reframed {
    inner: BoxBody,
    direction: Direction,
    pending: BytesMut,
    ready: VecDeque<Bytes>,
}

impl Reframed {
    fn boxed(inner: BoxBody, direction: Direction) -> BoxBody {
        tonic::body::boxed(Reframed {
            inner,
            direction,
            pending: BytesMut::new(),
            ready: VecDeque::new(),
        })
    }

    /// Moves every complete message of `pending` to `ready`, rewritten.
    fn split_messages(&mut self) -> Result<(), SnappyError> {
        while self.pending.len() >= 5 {
            let compressed = self.pending[0];
            let len = u32::from_be_bytes([
                self.pending[1],
                self.pending[2],
                self.pending[3],
                self.pending[4],
            ]) as usize;
            if len > MAX_MESSAGE_BYTES {
                return Err(SnappyError::TooLarge);
            }
            if self.pending.len() < 5 + len {
                return Ok(());
            }
            self.pending.advance(5);
            let message = self.pending.split_to(len).freeze();
            let out = match (self.direction, compressed) {
                (Direction::Decompress, 1) => frame(0, &decompress(&message)?),
                (Direction::Compress, 0) => frame(1, &compress(&message)?),
                (_, 0 | 1) => frame(compressed, &message),
                (_, flag) => return Err(SnappyError::BadFlag(flag)),
            };
            self.ready.push_back(out);
        }
        Ok(())
    }
}

impl Body for Reframed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.pending.extend_from_slice(&data);
                        if let Err(e) = self.split_messages() {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                    Err(trailers) => {
                        if !self.pending.is_empty() {
                            return Poll::Ready(Some(Err(truncated())));
                        }
                        return Poll::Ready(Some(Ok(trailers)));
                    }
                },
                Poll::Ready(Some(Err(status))) => return Poll::Ready(Some(Err(status))),
                Poll::Ready(None) => {
                    if !self.pending.is_empty() {
                        return Poll::Ready(Some(Err(truncated())));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.pending.is_empty() && self.inner.is_end_stream()
    }
}

fn truncated() -> Status {
    SnappyError::Truncated.into()
}

/// A length-prefixed gRPC message.
fn frame(compressed: u8, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(compressed);
    out.put_u32(message.len() as u32);
    out.extend_from_slice(message);
    out.freeze()
}

/// Decodes one snappy framed stream, bounded by [`MAX_MESSAGE_BYTES`].
pub fn decompress(stream: &[u8]) -> Result<Vec<u8>, SnappyError> {
    let mut out = Vec::new();
    snap::read::FrameDecoder::new(stream)
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| SnappyError::Corrupt(e.to_string()))?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(SnappyError::TooLarge);
    }
    Ok(out)
}

/// Encodes `message` as one snappy framed stream.
pub fn compress(message: &[u8]) -> Result<Vec<u8>, SnappyError> {
    let mut encoder = snap::write::FrameEncoder::new(Vec::with_capacity(message.len() / 2 + 16));
    encoder
        .write_all(message)
        .map_err(|e| SnappyError::Corrupt(e.to_string()))?;
    encoder
        .into_inner()
        .map_err(|e| SnappyError::Corrupt(e.error().to_string()))
}

fn is_snappy(headers: &http::HeaderMap) -> bool {
    headers
        .get(GRPC_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(ENCODING.as_bytes()))
}

/// Adds `snappy` to the `grpc-accept-encoding` list of `headers`.
fn accept_snappy(headers: &mut http::HeaderMap) {
    let list = match headers
        .get(GRPC_ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        Some(list) if list.split(',').any(|e| e.trim() == ENCODING) => return,
        Some(list) if !list.trim().is_empty() => format!("{list},{ENCODING}"),
        _ => ENCODING.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&list) {
        headers.insert(GRPC_ACCEPT_ENCODING, v);
    }
}

/// Server-side layer: see the module doc.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnappyLayer;

impl<S> tower_layer::Layer<S> for SnappyLayer {
    type Service = SnappyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SnappyService { inner }
    }
}

/// The service [`SnappyLayer`] wraps around the gRPC routes.
#[derive(Clone, Debug)]
pub struct SnappyService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower_service::Service<http::Request<BoxBody>> for SnappyService<S>
where
    S: tower_service::Service<http::Request<BoxBody>, Response = http::Response<BoxBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<BoxBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<BoxBody>) -> Self::Future {
        let snappy = is_snappy(request.headers());
        let request = if snappy {
            let (mut parts, body) = request.into_parts();
            parts.headers.remove(GRPC_ENCODING);
            http::Request::from_parts(parts, Reframed::boxed(body, Direction::Decompress))
        } else {
            request
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            let (mut parts, body) = response.into_parts();
            accept_snappy(&mut parts.headers);
            let grpc_response = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            let body = if snappy && grpc_response && !parts.headers.contains_key(GRPC_ENCODING) {
                parts
                    .headers
                    .insert(GRPC_ENCODING, HeaderValue::from_static(ENCODING));
                Reframed::boxed(body, Direction::Compress)
            } else {
                body
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// Client-side layer: requests go out snappy-compressed with `grpc-encoding: snappy`, and
/// responses compressed with snappy are decompressed before tonic decodes them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnappyClientLayer;

impl<S> tower_layer::Layer<S> for SnappyClientLayer {
    type Service = SnappyClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SnappyClient { inner }
    }
}

/// The service [`SnappyClientLayer`] wraps around a channel.
#[derive(Clone, Debug)]
pub struct SnappyClient<S> {
    inner: S,
}

impl<S> tower_service::Service<http::Request<BoxBody>> for SnappyClient<S>
where
    S: tower_service::Service<http::Request<BoxBody>, Response = http::Response<BoxBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<BoxBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<BoxBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let body = if parts.headers.contains_key(GRPC_ENCODING) {
            // Already compressed by tonic: leave it.
            body
        } else {
            parts
                .headers
                .insert(GRPC_ENCODING, HeaderValue::from_static(ENCODING));
            Reframed::boxed(body, Direction::Compress)
        };
        accept_snappy(&mut parts.headers);
        let call = self.inner.call(http::Request::from_parts(parts, body));
        Box::pin(async move {
            let response = call.await?;
            if !is_snappy(response.headers()) {
                return Ok(response);
            }
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(GRPC_ENCODING);
            Ok(http::Response::from_parts(
                parts,
                Reframed::boxed(body, Direction::Decompress),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bad_streams_are_errors() {
        let message = b"thanos.Store/Series ".repeat(1000);
        let packed = compress(&message).unwrap();
        // The framing format starts with its stream identifier chunk.
        assert_eq!(&packed[..10], b"\xff\x06\x00\x00sNaPpY");
        assert!(packed.len() < message.len() / 4);
        assert_eq!(decompress(&packed).unwrap(), message);
        assert!(decompress(b"\xff\x06\x00\x00sNaPpY\x00\x10\x00\x00garbage").is_err());
        assert!(decompress(b"not snappy").is_err());
    }

    // tonic's body error type is `Status`, however large.
    #[allow(clippy::result_large_err)]
    #[tokio::test]
    async fn a_body_split_anywhere_is_reframed_whole() {
        use http_body_util::BodyExt;
        let messages: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![7; 70_000], Vec::new()];
        let mut wire = Vec::new();
        for m in &messages {
            wire.extend_from_slice(&frame(1, &compress(m).unwrap()));
        }
        // Delivered in 3-byte pieces.
        let pieces: Vec<Result<Frame<Bytes>, Status>> = wire
            .chunks(3)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = tonic::body::boxed(http_body_util::StreamBody::new(tokio_stream::iter(pieces)));
        let out = Reframed::boxed(body, Direction::Decompress)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let mut expected = Vec::new();
        for m in &messages {
            expected.extend_from_slice(&frame(0, m));
        }
        assert_eq!(out.as_ref(), expected.as_slice());

        // Cut inside a message: an error, not a short message.
        let cut_piece: Result<Frame<Bytes>, Status> =
            Ok(Frame::data(Bytes::copy_from_slice(&wire[..wire.len() - 2])));
        let cut = tonic::body::boxed(http_body_util::StreamBody::new(tokio_stream::iter([
            cut_piece,
        ])));
        assert!(Reframed::boxed(cut, Direction::Decompress)
            .collect()
            .await
            .is_err());
    }
}
