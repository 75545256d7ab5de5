//! The simulated PPDM REST API: login, token refresh, logout and storage systems.
//!
//! Every route first waits for an injected delay and answers an injected failure
//! if one is pending (see [`faults`](super::faults)); only then does it behave
//! like PPDM. Bodies are parsed by hand so that a malformed one gets PPDM's 400
//! with an error body rather than the framework's own rejection.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State, rejection::QueryRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::faults::{self, Route, error_response, failure_response, reported_pages};
use super::query::Selection;
use super::state::{Shared, lock};
use super::tokens::{Grant, Refusal};

const LOGIN: &str = "/api/v2/login";
const TOKEN: &str = "/api/v2/token";
const LOGOUT: &str = "/api/v2/logout";
const STORAGE_SYSTEMS: &str = "/api/v2/storage-systems";

/// Largest `pageSize` PPDM accepts.
const MAX_PAGE_SIZE: usize = 10_000;
const DEFAULT_PAGE_SIZE: usize = 100;

/// The PPDM routes, to be given the shared state by the caller.
pub(crate) fn api_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(LOGIN, post(login))
        .route(TOKEN, post(token))
        .route(LOGOUT, post(logout))
        .route(STORAGE_SYSTEMS, get(storage_systems))
}

/// Login body; deliberately not `Debug`, so the password cannot be printed.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Refresh body; deliberately not `Debug`, so the token cannot be printed.
#[derive(Deserialize)]
struct RefreshRequest {
    grant_type: String,
    refresh_token: String,
}

async fn login(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    if let Some(failure) = gate(&shared, Route::Login, LOGIN).await {
        shared.count(|c| c.failed_logins += 1);
        return failure;
    }
    let status = match serde_json::from_slice::<Credentials>(&body) {
        Err(_) => StatusCode::BAD_REQUEST,
        Ok(c) if !shared.accepts(&c.username, &c.password) => StatusCode::UNAUTHORIZED,
        Ok(c) => {
            let grant = lock(&shared.tokens).login(&c.username, Instant::now());
            shared.count(|c| c.logins += 1);
            return grant_response(grant);
        }
    };
    shared.count(|c| c.failed_logins += 1);
    error_response(status, LOGIN, true)
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(failure) = gate(&shared, Route::Token, TOKEN).await {
        shared.count(|c| c.failed_refreshes += 1);
        return failure;
    }
    let request = match serde_json::from_slice::<RefreshRequest>(&body) {
        Ok(r) if r.grant_type == "refresh_token" => r,
        _ => {
            shared.count(|c| c.failed_refreshes += 1);
            return error_response(StatusCode::BAD_REQUEST, TOKEN, true);
        }
    };
    let subject = shared.username();
    let refreshed = lock(&shared.tokens).refresh(
        bearer(&headers),
        &request.refresh_token,
        &subject,
        Instant::now(),
    );
    match refreshed {
        Ok(grant) => {
            shared.count(|c| c.refreshes += 1);
            grant_response(grant)
        }
        Err(refusal) => {
            shared.count(|c| c.failed_refreshes += 1);
            unauthorized(&shared, refusal, TOKEN)
        }
    }
}

async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(failure) = gate(&shared, Route::Logout, LOGOUT).await {
        return failure;
    }
    let ended = lock(&shared.tokens).logout(bearer(&headers), Instant::now());
    match ended {
        Ok(()) => {
            shared.count(|c| c.logouts += 1);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => unauthorized(&shared, refusal, LOGOUT),
    }
}

async fn storage_systems(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    shared.count(|c| c.storage_calls += 1);
    if let Some(failure) = gate(&shared, Route::StorageSystems, STORAGE_SYSTEMS).await {
        return failure;
    }
    let checked = lock(&shared.tokens).check_access(bearer(&headers), Instant::now());
    if let Err(refusal) = checked {
        return unauthorized(&shared, refusal, STORAGE_SYSTEMS);
    }
    let Some(listing) = query.ok().and_then(|Query(q)| listing(&q)) else {
        return error_response(StatusCode::BAD_REQUEST, STORAGE_SYSTEMS, true);
    };
    systems_page(&shared, &listing)
}

/// What a storage-systems request asks for.
#[derive(Debug, PartialEq)]
struct Listing {
    page: usize,
    size: usize,
    selection: Selection,
}

/// Builds the page, applying the body fault, and lets a fleet drift after page 1.
fn systems_page(shared: &Shared, listing: &Listing) -> Response {
    let fault = lock(&shared.faults).next_body_fault();
    let mut data = lock(&shared.data);
    let mut page = data.page(listing.page, listing.size, &listing.selection);
    if listing.page == 1 {
        data.after_poll();
    }
    drop(data);

    let true_pages = page["page"]["totalPages"].as_u64().unwrap_or(0) as usize;
    if let Some(pages) = fault.and_then(|(f, before)| reported_pages(f, true_pages, before)) {
        page["page"]["totalPages"] = pages.into();
    }
    let body = page.to_string().into_bytes();
    match fault {
        Some((fault, _)) => faults::faulty_body(fault, body),
        None => faults::json_response(body.into()),
    }
}

/// Reads the query; `None` for a bad value or an undocumented parameter, which
/// PPDM's strict validation refuses with 400.
fn listing(query: &[(String, String)]) -> Option<Listing> {
    let mut listing = Listing {
        page: 1,
        size: DEFAULT_PAGE_SIZE,
        selection: Selection::default(),
    };
    for (name, value) in query {
        match name.as_str() {
            "page" => listing.page = value.parse().ok().filter(|p| *p >= 1)?,
            "pageSize" => listing.size = value.parse().ok().filter(|s| valid_size(*s))?,
            "filter" => listing.selection.add_filter(value)?,
            "orderby" => listing.selection.set_order(value)?,
            _ => return None,
        }
    }
    Some(listing)
}

fn valid_size(size: usize) -> bool {
    (1..=MAX_PAGE_SIZE).contains(&size)
}

/// Waits for the route's delay, then answers its pending failure, if any.
async fn gate(shared: &Shared, route: Route, path: &str) -> Option<Response> {
    let delay = lock(&shared.faults).delay(route);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let failure = lock(&shared.faults).take_failure(route)?;
    tracing::debug!(?route, status = failure.status.as_u16(), "injected failure");
    Some(failure_response(failure, path))
}

fn unauthorized(shared: &Shared, refusal: Refusal, path: &str) -> Response {
    shared.count(|c| c.unauthorized += 1);
    tracing::debug!(?refusal, path, "token refused");
    error_response(StatusCode::UNAUTHORIZED, path, true)
}

/// The token from an `Authorization: Bearer ...` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn grant_response(grant: Grant) -> Response {
    axum::Json(json!({
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "refresh_token": grant.refresh_token,
        "scope": "aaa",
        "jti": grant.jti,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pages(pairs: &[(&str, &str)]) -> Option<(usize, usize)> {
        listing(&query(pairs)).map(|l| (l.page, l.size))
    }

    #[test]
    fn paging_defaults_to_page_one_of_one_hundred() {
        assert_eq!(pages(&[]), Some((1, 100)));
        assert_eq!(
            pages(&[("page", "3"), ("pageSize", "10000")]),
            Some((3, 10_000))
        );
    }

    #[test]
    fn paging_refuses_bad_values_and_undocumented_parameters() {
        assert_eq!(pages(&[("page", "0")]), None);
        assert_eq!(pages(&[("pageSize", "10001")]), None);
        assert_eq!(pages(&[("pageSize", "ten")]), None);
        assert_eq!(pages(&[("size", "10")]), None);
        assert_eq!(pages(&[("filter", "type eq \"X\"")]), Some((1, 100)));
        assert_eq!(pages(&[("filter", "type like \"X\"")]), None);
    }

    #[test]
    fn bearer_takes_the_token_after_the_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Bearer abc.def.ghi".parse().expect("hv"),
        );

        assert_eq!(bearer(&headers), Some("abc.def.ghi"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("hv"));
        assert_eq!(bearer(&headers), None);
    }
}
