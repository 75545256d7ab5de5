//! Injected faults: failed answers, delays and broken bodies, and Dell-style error bodies.
//!
//! Faults are switched on through [`Control`](super::Control) or the `/sim` routes
//! and checked at the start of each PPDM route: first the delay, then a pending
//! failure. Body faults only apply to successful storage-systems answers.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Sleep;
use tokio_util::io::ReaderStream;

/// A PPDM route whose answers can be delayed or made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `POST /api/v2/login`.
    Login,
    /// `POST /api/v2/token`.
    Token,
    /// `POST /api/v2/logout`.
    Logout,
    /// `GET /api/v2/storage-systems`.
    #[serde(alias = "storage-systems")]
    StorageSystems,
}

/// A broken answer of `GET /api/v2/storage-systems`, active until switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFault {
    /// Status 200 and a complete HTTP message, but only the first half of the JSON.
    Truncated,
    /// Status 200 with an HTML page instead of JSON, as a proxy might send.
    #[serde(alias = "not-json")]
    NotJson,
    /// Headers and part of the body are sent, then the connection is dropped.
    #[serde(alias = "close-mid-body")]
    CloseMidBody,
    /// Each answer reports more pages than the last: `totalPages` is the true count
    /// plus the number of answers since the fault was set. Pages past the data are
    /// empty, so only a pager that stops on empty content or a page cap terminates.
    #[serde(alias = "total-pages-grows")]
    TotalPagesGrows,
    /// Each answer reports fewer pages than the last: `totalPages` is the true count
    /// minus the answers before this one since the fault was set (at least 1), so a
    /// pager that trusts it misses the last pages.
    #[serde(alias = "total-pages-shrinks")]
    TotalPagesShrinks,
}

/// How long a [`BodyFault::CloseMidBody`] answer stays open after its partial body.
const BREAK_PAUSE: Duration = Duration::from_millis(50);

/// A pending injected failure of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    remaining: u32,
    pub status: StatusCode,
    pub json_body: bool,
}

/// Every fault currently switched on.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    failures: HashMap<Route, Failure>,
    delays: HashMap<Route, Duration>,
    body: Option<BodyFault>,
    body_answers: usize,
}

impl Faults {
    /// Makes the next `count` calls of `route` answer `status`; 0 clears it.
    pub fn fail_next(&mut self, route: Route, count: u32, status: StatusCode, json_body: bool) {
        if count == 0 {
            self.failures.remove(&route);
            return;
        }
        let failure = Failure {
            remaining: count,
            status,
            json_body,
        };
        self.failures.insert(route, failure);
    }

    /// Consumes one pending failure of `route`, if any.
    pub fn take_failure(&mut self, route: Route) -> Option<Failure> {
        let failure = self.failures.get_mut(&route)?;
        failure.remaining -= 1;
        let taken = *failure;
        if taken.remaining == 0 {
            self.failures.remove(&route);
        }
        Some(taken)
    }

    /// Delays every answer of `route`; zero removes the delay.
    pub fn set_delay(&mut self, route: Route, delay: Duration) {
        if delay.is_zero() {
            self.delays.remove(&route);
        } else {
            self.delays.insert(route, delay);
        }
    }

    pub fn delay(&self, route: Route) -> Duration {
        self.delays.get(&route).copied().unwrap_or_default()
    }

    pub fn set_body_fault(&mut self, fault: Option<BodyFault>) {
        self.body = fault;
        self.body_answers = 0;
    }

    /// The body fault for the next answer and how many answers it shaped before.
    pub fn next_body_fault(&mut self) -> Option<(BodyFault, usize)> {
        let fault = self.body?;
        let before = self.body_answers;
        self.body_answers += 1;
        Some((fault, before))
    }
}

/// The `totalPages` a page-count fault reports instead of `true_pages`.
pub(crate) fn reported_pages(fault: BodyFault, true_pages: usize, before: usize) -> Option<usize> {
    match fault {
        BodyFault::TotalPagesGrows => Some(true_pages + before + 1),
        BodyFault::TotalPagesShrinks => Some(true_pages.saturating_sub(before).max(1)),
        _ => None,
    }
}

/// An answer with a Dell-style error body (`code`, `reason`, `path`, ...) or none.
pub(crate) fn error_response(status: StatusCode, path: &str, json_body: bool) -> Response {
    if !json_body {
        return status.into_response();
    }
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let body = json!({
        "code": status.as_u16(),
        "reason": reason(status),
        "path": path,
        "timestamp": timestamp,
        "remediation": remediation(status),
    });
    (status, axum::Json(body)).into_response()
}

/// The answer of an injected failure; 302 and 307 carry a `Location` header, as
/// PPDM's password-expired and MFA redirects do (the targets are invented).
pub(crate) fn failure_response(failure: Failure, path: &str) -> Response {
    let mut response = error_response(failure.status, path, failure.json_body);
    let location = match failure.status.as_u16() {
        302 => "/#/password-expired",
        307 => "/api/v2/login/mfa",
        _ => return response,
    };
    let value = header::HeaderValue::from_static(location);
    response.headers_mut().insert(header::LOCATION, value);
    response
}

fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request is malformed or has an invalid parameter.",
        401 => "The authorization token is either invalid or expired.",
        403 => "The user is not allowed to perform this operation.",
        423 => "The user account is locked.",
        503 => "The system is in maintenance mode.",
        _ => status.canonical_reason().unwrap_or("Unexpected error."),
    }
}

fn remediation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Log in again to obtain a new access token, or renew it with POST /api/v2/token.",
        400 => "Check the request body and query parameters against the API reference.",
        _ => "Retry the operation later; contact support if the problem persists.",
    }
}

/// A 200 answer whose body is broken as `fault` says; page-count faults are not body
/// faults and get the intact `json`.
pub(crate) fn faulty_body(fault: BodyFault, json: Vec<u8>) -> Response {
    let half = json.len() / 2;
    match fault {
        BodyFault::Truncated => json_response(Body::from(json[..half].to_vec())),
        BodyFault::NotJson => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        BodyFault::CloseMidBody => {
            let reader = BreaksAfter::new(json[..half].to_vec());
            json_response(Body::from_stream(ReaderStream::new(reader)))
        }
        BodyFault::TotalPagesGrows | BodyFault::TotalPagesShrinks => json_response(json.into()),
    }
}

pub(crate) fn json_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A reader that yields its data, waits a moment so that the headers and the data
/// reach the client, then fails, so the body stream errors and hyper drops the
/// connection mid-body.
struct BreaksAfter {
    data: Vec<u8>,
    pause: Pin<Box<Sleep>>,
}

impl BreaksAfter {
    fn new(data: Vec<u8>) -> BreaksAfter {
        BreaksAfter {
            data,
            pause: Box::pin(tokio::time::sleep(BREAK_PAUSE)),
        }
    }
}

impl AsyncRead for BreaksAfter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.data.is_empty() {
            let n = buf.remaining().min(self.data.len());
            buf.put_slice(&self.data[..n]);
            self.data.drain(..n);
            return Poll::Ready(Ok(()));
        }
        ready!(self.pause.as_mut().poll(cx));
        let error = io::Error::new(io::ErrorKind::ConnectionAborted, "simulated drop");
        Poll::Ready(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_consumed_one_call_at_a_time() {
        let mut faults = Faults::default();
        faults.fail_next(Route::Login, 2, StatusCode::SERVICE_UNAVAILABLE, true);

        assert!(faults.take_failure(Route::Login).is_some());
        assert!(faults.take_failure(Route::Token).is_none());
        assert!(faults.take_failure(Route::Login).is_some());
        assert!(faults.take_failure(Route::Login).is_none());
    }

    #[test]
    fn page_counts_grow_and_shrink_with_each_answer() {
        let grows: Vec<_> = (0..3)
            .map(|n| reported_pages(BodyFault::TotalPagesGrows, 3, n))
            .collect();
        let shrinks: Vec<_> = (0..4)
            .map(|n| reported_pages(BodyFault::TotalPagesShrinks, 3, n))
            .collect();

        assert_eq!(grows, [Some(4), Some(5), Some(6)]);
        assert_eq!(shrinks, [Some(3), Some(2), Some(1), Some(1)]);
    }

    #[test]
    fn route_names_accept_snake_and_kebab_case() {
        let snake: Route = serde_json::from_str("\"storage_systems\"").expect("snake");
        let kebab: Route = serde_json::from_str("\"storage-systems\"").expect("kebab");

        assert_eq!(snake, Route::StorageSystems);
        assert_eq!(kebab, Route::StorageSystems);
    }
}
