//! A baseline for the load test: serves one file's bytes at `/metrics` through the
//! same HTTP stack as the exporter (axum on tokio), plain or pre-gzipped.
//!
//! ```text
//! cargo run --release --example static-metrics -- 127.0.0.1:9899 body.txt
//! curl -H 'Accept-Encoding: gzip' http://127.0.0.1:9899/metrics | gunzip | head
//! ```
//!
//! Both bodies are built once at start, so a request costs only the HTTP work the
//! exporter cannot avoid either; `benches/load.sh` reports the exporter's figures
//! as ratios to this server's. It also answers `/-/healthy`, so the script can wait
//! for it the same way.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Same content type as the exporter's `/metrics`.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The body in both encodings.
#[derive(Clone)]
struct Bodies {
    plain: Bytes,
    gzip: Bytes,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: static-metrics ADDR FILE";
    let addr: SocketAddr = args.next().context(usage)?.parse().context(usage)?;
    let path = args.next().context(usage)?;
    let plain = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let bodies = Bodies {
        gzip: Bytes::from(gzip(&plain)?),
        plain: Bytes::from(plain),
    };

    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .with_state(bodies);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app).await.context("serving")
}

async fn metrics(State(bodies): State<Bodies>, headers: HeaderMap) -> Response {
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    if wants_gzip(&headers) {
        let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([content_type, encoding], bodies.gzip).into_response()
    } else {
        ([content_type], bodies.plain).into_response()
    }
}

/// A plain substring test: enough for the load tool, which sends `gzip` or nothing.
fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("gzip"))
}

fn gzip(plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(plain)?;
    Ok(encoder.finish()?)
}
