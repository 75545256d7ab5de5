//! The HTTP server: `/metrics`, a status page, and health and readiness probes.
//!
//! [`router`] builds the whole service from the store, so tests drive it without a
//! socket. No handler talks to PPDM: `/metrics` serves the last render.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::app::ReloadRequest;
use crate::store::Store;

/// Content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the router needs besides the store.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Path that serves the metrics.
    pub telemetry_path: String,
    /// Where `POST /-/reload` sends its requests; `None` answers 403.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

/// Builds the router.
pub fn router(store: Arc<Store>, options: &HttpOptions) -> Router {
    let index = {
        let path = options.telemetry_path.clone();
        move |state| index(state, path)
    };
    let reload = {
        let reloads = options.reload.clone();
        move || reload(reloads)
    };
    Router::new()
        .route(&options.telemetry_path, get(metrics))
        .route("/", get(index))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .with_state(store)
}

async fn reload(reloads: Option<mpsc::Sender<ReloadRequest>>) -> (StatusCode, String) {
    let Some(reloads) = reloads else {
        let text = "the reload endpoint is off; set enable_reload_endpoint = true or send SIGHUP\n";
        return (StatusCode::FORBIDDEN, text.to_owned());
    };
    let (answer, outcome) = oneshot::channel();
    if reloads.send(answer).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_owned(),
        );
    }
    match outcome.await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("reloaded: {summary}\n")),
        Ok(Err(error)) => (StatusCode::BAD_REQUEST, format!("{error}\n")),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_owned(),
        ),
    }
}

async fn metrics(State(store): State<Arc<Store>>, headers: HeaderMap) -> Response {
    let rendered = store.rendered();
    let tail = store.process_text();
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    if accepts_gzip(&headers) {
        let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let body = Body::new(rendered.gzip_body(&tail));
        (StatusCode::OK, [content_type, encoding], body).into_response()
    } else {
        let body = Body::new(rendered.plain_body(tail));
        (StatusCode::OK, [content_type], body).into_response()
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
    use std::io::Read as _;
    use std::time::Duration;

    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::snapshot::{Snapshot, System};

    fn options() -> HttpOptions {
        HttpOptions {
            telemetry_path: "/metrics".to_owned(),
            reload: None,
        }
    }

    async fn call(store: &Arc<Store>, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = router(store.clone(), &options())
            .oneshot(request)
            .await
            .expect("answer");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        (parts.status, parts.headers, bytes.to_vec())
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn metrics_are_served_plain_or_gzip_with_the_same_content() {
        let store = Store::new();
        store.add_server("lab", Duration::from_secs(60));
        let snapshot = Snapshot {
            systems: vec![System {
                id: "a".into(),
                name: "dd".into(),
                ..System::default()
            }],
            ..Snapshot::default()
        };
        store.record_success("lab", snapshot, Duration::from_millis(3));
        let gzip_request = Request::get("/metrics")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .expect("request");

        let (status, headers, plain) = call(&store, get("/metrics")).await;
        let (_, gzip_headers, gzip) = call(&store, gzip_request).await;
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut decoded)
            .expect("gzip");

        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], TEXT_FORMAT);
        assert_eq!(gzip_headers[header::CONTENT_ENCODING], "gzip");
        let plain = String::from_utf8(plain).expect("utf-8");
        assert!(plain.contains(r#"ppdm_storage_system_info{model="",os_version="",serial_number="",server="lab",system="dd",system_id="a",system_type=""} 1"#));
        let without_process = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.contains("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(without_process(&decoded), without_process(&plain));
    }

    #[tokio::test]
    async fn readiness_needs_a_first_attempt_of_every_server() {
        let store = Store::new();
        store.add_server("lab", Duration::from_secs(60));

        let (before, _, _) = call(&store, get("/-/ready")).await;
        store.record_success("lab", Snapshot::default(), Duration::from_millis(3));
        let (after, _, _) = call(&store, get("/-/ready")).await;

        assert_eq!(before, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(after, StatusCode::OK);
    }

    #[tokio::test]
    async fn status_page_escapes_server_names() {
        let store = Store::new();
        store.add_server("<script>", Duration::from_secs(60));

        let (_, _, page) = call(&store, get("/")).await;

        let page = String::from_utf8(page).expect("utf-8");
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
        assert!(page.contains("waiting for first poll"));
    }

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
