//! The HTTP server: `/metrics`, a status page, and health and readiness probes.
//!
//! [`router`] builds the whole service from the store, so tests drive it without a
//! socket. No handler talks to PPDM: `/metrics` serves the last render.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;

/// Content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds the router; `telemetry_path` serves the metrics.
pub fn router(store: Arc<Store>, telemetry_path: &str) -> Router {
    let index = {
        let path = telemetry_path.to_owned();
        move |state| index(state, path)
    };
    Router::new()
        .route(telemetry_path, get(metrics))
        .route("/", get(index))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .with_state(store)
}

async fn metrics(State(store): State<Arc<Store>>, headers: HeaderMap) -> Response {
    let rendered = store.rendered();
    let tail = store.process_text();
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    if accepts_gzip(&headers) {
        let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (
            StatusCode::OK,
            [content_type, encoding],
            rendered.gzip_with(&tail),
        )
            .into_response()
    } else {
        (StatusCode::OK, [content_type], rendered.plain_with(&tail)).into_response()
    }
}

async fn ready(State(store): State<Arc<Store>>) -> (StatusCode, &'static str) {
    if store.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first poll of every server\n",
        )
    }
}

async fn index(State(store): State<Arc<Store>>, telemetry_path: String) -> Html<String> {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ppdm-exporter</title></head>\
         <body><h1>ppdm-exporter</h1>",
    );
    let _ = write!(
        page,
        "<p><a href=\"{}\">Metrics</a> · <a href=\"/-/ready\">Readiness</a></p>\
         <table border=\"1\" cellpadding=\"4\"><tr><th>server</th><th>state</th>\
         <th>storage systems</th><th>last error</th></tr>",
        escape(&telemetry_path)
    );
    for (name, state) in store.states() {
        let status = match (state.attempted, state.up) {
            (false, _) => "waiting for first poll",
            (true, true) => "up",
            (true, false) => "down",
        };
        let systems = state.snapshot.as_ref().map_or(0, |s| s.systems.len());
        let error = state.last_error.as_deref().unwrap_or("");
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{status}</td><td>{systems}</td><td>{}</td></tr>",
            escape(&name),
            escape(error)
        );
    }
    page.push_str("</table></body></html>\n");
    Html(page)
}

/// Whether the client accepts gzip (a `gzip` coding whose weight is not zero).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                let weight = p
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok());
                weight == Some(0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !zero
        })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("ascii"),
        );
        headers
    }

    #[test]
    fn gzip_is_chosen_only_when_accepted_with_weight() {
        assert!(accepts_gzip(&with_accept("gzip")));
        assert!(accepts_gzip(&with_accept("identity, GZIP;q=0.5")));
        assert!(!accepts_gzip(&with_accept("gzip;q=0")));
        assert!(!accepts_gzip(&with_accept("gzip; q=0.000")));
        assert!(!accepts_gzip(&with_accept("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
