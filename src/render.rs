//! The `/metrics` body, rendered once per change and served as shared bytes.
//!
//! A render encodes every family to text and compresses it to a raw deflate stream
//! that ends on a sync flush, not a final block. A scrape then appends only the small,
//! always-changing process metrics: as text, or as a final deflate block behind the
//! cached one, with the gzip header and a CRC combined from both parts. So gzip costs
//! one compression per change, not per scrape, and the result is a single, ordinary
//! gzip member that every client decodes.

use std::io::Write;

use bytes::{Bytes, BytesMut};
use flate2::{Compression, write::DeflateEncoder};
use prometheus::{Encoder, Registry, TextEncoder};

/// The gzip header: deflate, no flags, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One render of the slowly changing families.
#[derive(Debug, Clone)]
pub struct Rendered {
    text: Bytes,
    deflate: Bytes,
    crc: crc32fast::Hasher,
}

impl Rendered {
    /// Keeps `text` and compresses it.
    pub fn new(text: Vec<u8>) -> Rendered {
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(text.len() / 8), Compression::fast());
        encoder
            .write_all(&text)
            .expect("writing to memory cannot fail");
        encoder.flush().expect("flushing to memory cannot fail");
        let deflate = std::mem::take(encoder.get_mut());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        Rendered {
            text: Bytes::from(text),
            deflate: Bytes::from(deflate),
            crc,
        }
    }

    /// The cached text alone.
    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// The plain text body: the cached text followed by `tail`.
    pub fn plain_with(&self, tail: &[u8]) -> Bytes {
        let mut body = BytesMut::with_capacity(self.text.len() + tail.len());
        body.extend_from_slice(&self.text);
        body.extend_from_slice(tail);
        body.freeze()
    }

    /// The gzip body of the cached text followed by `tail`.
    pub fn gzip_with(&self, tail: &[u8]) -> Bytes {
        let mut encoder = DeflateEncoder::new(Vec::with_capacity(256), Compression::fast());
        encoder
            .write_all(tail)
            .expect("writing to memory cannot fail");
        let tail_deflate = encoder.finish().expect("finishing in memory cannot fail");
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(tail);
        let mut crc = self.crc.clone();
        crc.combine(&tail_crc);
        // ISIZE is the length modulo 2^32 (RFC 1952).
        let amount = ((self.text.len() + tail.len()) as u64 & u64::from(u32::MAX)) as u32;

        let len = GZIP_HEADER.len() + self.deflate.len() + tail_deflate.len() + 8;
        let mut body = BytesMut::with_capacity(len);
        body.extend_from_slice(&GZIP_HEADER);
        body.extend_from_slice(&self.deflate);
        body.extend_from_slice(&tail_deflate);
        body.extend_from_slice(&crc.finalize().to_le_bytes());
        body.extend_from_slice(&amount.to_le_bytes());
        body.freeze()
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
