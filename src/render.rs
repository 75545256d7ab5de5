//! The `/metrics` body, rendered once per change and served as shared bytes.
//!
//! A render encodes every family to text and compresses it to a raw deflate stream
//! that ends on a sync flush, not a final block. A scrape then appends only the small,
//! always-changing process metrics: as text, or as final stored (uncompressed)
//! deflate blocks behind the cached stream, with a CRC combined from both parts. So
//! gzip costs one compression per change and nothing per scrape, and the result is a
//! single, ordinary gzip member that every client decodes. Bodies are sent as shared
//! chunks, so a scrape copies only the tail.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compression, write::DeflateEncoder};
use http_body::{Frame, SizeHint};
use prometheus::{Encoder, Registry, TextEncoder};

/// The gzip header: deflate, no flags, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Largest payload of one stored deflate block.
const STORED_BLOCK_MAX: usize = 65_535;

/// One render of the slowly changing families.
#[derive(Debug, Clone)]
pub struct Rendered {
    text: Bytes,
    /// The gzip header followed by the deflate stream of `text`, sync-flushed.
    gzip_head: Bytes,
    crc: crc32fast::Hasher,
}

impl Rendered {
    /// Keeps `text` and compresses it.
    pub fn new(text: Vec<u8>) -> Rendered {
        let mut head = Vec::with_capacity(text.len() / 8);
        head.extend_from_slice(&GZIP_HEADER);
        let mut encoder = DeflateEncoder::new(head, Compression::fast());
        encoder
            .write_all(&text)
            .expect("writing to memory cannot fail");
        encoder.flush().expect("flushing to memory cannot fail");
        let gzip_head = std::mem::take(encoder.get_mut());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        Rendered {
            text: Bytes::from(text),
            gzip_head: Bytes::from(gzip_head),
            crc,
        }
    }

    /// The cached text alone.
    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// The plain text body, the cached text followed by `tail`, as shared chunks.
    pub fn plain_body(&self, tail: Bytes) -> Chunks {
        Chunks::new([self.text.clone(), tail])
    }

    /// The gzip body of the cached text followed by `tail`, as shared chunks.
    pub fn gzip_body(&self, tail: &[u8]) -> Chunks {
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(tail);
        let mut crc = self.crc.clone();
        crc.combine(&tail_crc);
        // ISIZE is the length modulo 2^32 (RFC 1952).
        let amount = ((self.text.len() + tail.len()) as u64 & u64::from(u32::MAX)) as u32;

        let blocks = tail.len().div_ceil(STORED_BLOCK_MAX).max(1);
        let mut end = BytesMut::with_capacity(tail.len() + blocks * 5 + 8);
        stored_blocks(tail, &mut end);
        end.put_u32_le(crc.finalize());
        end.put_u32_le(amount);
        Chunks::new([self.gzip_head.clone(), end.freeze()])
    }

    /// [`Rendered::plain_body`] collected in one buffer.
    pub fn plain_with(&self, tail: &[u8]) -> Bytes {
        self.plain_body(Bytes::copy_from_slice(tail)).collect()
    }

    /// [`Rendered::gzip_body`] collected in one buffer.
    pub fn gzip_with(&self, tail: &[u8]) -> Bytes {
        self.gzip_body(tail).collect()
    }
}

/// Writes `data` as stored deflate blocks, the last one final. The stream before
/// them must end on a byte boundary, as a sync flush leaves it.
fn stored_blocks(data: &[u8], out: &mut BytesMut) {
    let mut chunks = data.chunks(STORED_BLOCK_MAX).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = u16::try_from(chunk.len()).expect("chunks hold at most 65535 bytes");
        out.put_u8(u8::from(last));
        out.put_u16_le(len);
        out.put_u16_le(!len);
        out.extend_from_slice(chunk);
    }
}

/// A response body made of shared byte chunks, with its exact length, so that
/// `Content-Length` is set and nothing is copied.
#[derive(Debug)]
pub struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new<const N: usize>(parts: [Bytes; N]) -> Chunks {
        let remaining = parts.iter().map(|part| part.len() as u64).sum();
        Chunks {
            parts: parts.into_iter().filter(|part| !part.is_empty()).collect(),
            remaining,
        }
    }

    /// The whole body in one buffer.
    pub fn collect(self) -> Bytes {
        let mut all = BytesMut::with_capacity(usize::try_from(self.remaining).unwrap_or(0));
        for part in self.parts {
            all.extend_from_slice(&part);
        }
        all.freeze()
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let part = self.parts.pop_front();
        if let Some(part) = &part {
            self.remaining -= part.len() as u64;
        }
        Poll::Ready(part.map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Encodes a registry in the text format.
pub fn encode(registry: &Registry) -> Vec<u8> {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .expect("text encoding to memory cannot fail");
    text
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn registry_with_lines(count: usize) -> Registry {
        let registry = Registry::new();
        let family =
            prometheus::GaugeVec::new(prometheus::Opts::new("demo_value", "A value."), &["n"])
                .expect("valid");
        registry
            .register(Box::new(family.clone()))
            .expect("registered");
        for n in 0..count {
            family.with_label_values(&[n.to_string()]).set(n as f64);
        }
        registry
    }

    #[test]
    fn gzip_body_is_one_member_that_decodes_to_text_and_tail() {
        let rendered = Rendered::new(encode(&registry_with_lines(5_000)));
        let tail = b"process_open_fds 12\n";

        let gzip = rendered.gzip_with(tail);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .expect("valid gzip");

        assert_eq!(decoded, rendered.plain_with(tail));
        assert!(decoded.ends_with(tail));
        assert!(gzip.len() < rendered.text().len() / 4);
    }

    #[test]
    fn tails_longer_than_one_stored_block_decode() {
        let rendered = Rendered::new(b"head\n".to_vec());
        let tail = vec![b'x'; 200_000];

        let gzip = rendered.gzip_with(&tail);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .expect("valid gzip");

        assert_eq!(decoded.len(), 200_005);
        assert!(decoded.starts_with(b"head\nxxx"));
    }

    #[test]
    fn gzip_body_of_an_empty_render_is_valid() {
        let rendered = Rendered::new(Vec::new());

        let gzip = rendered.gzip_with(b"");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .expect("valid gzip");

        assert!(decoded.is_empty());
    }
}
