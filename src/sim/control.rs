//! Steering a running simulator: faults, data changes and credentials.
//!
//! In-process callers use [`Control`]; shell scripts and end-to-end tests use the
//! same operations over HTTP under `/sim`, on the simulator's own HTTPS port.
//! The `/sim` routes need **no authentication**: they are a test tool, and a
//! simulator must never be exposed where untrusted clients can reach it.
//!
//! | route | body | effect |
//! |---|---|---|
//! | `GET /sim/counters` | | [`Counters`] as JSON |
//! | `GET /sim/systems` | | the current list of systems |
//! | `POST /sim/fail` | `{"route","count","status","json_body"}` | [`Control::fail_next`] |
//! | `POST /sim/delay` | `{"route","millis"}` | [`Control::set_delay`] |
//! | `POST /sim/revoke` | | [`Control::revoke_all`] |
//! | `POST /sim/body-fault` | `{"fault": "truncated" \| … \| null}` | [`Control::set_body_fault`] |
//! | `POST /sim/systems/{id}` | a JSON merge patch | patches that system, 404 if unknown |
//! | `POST /sim/fleet/{index}/used-ratio` | `{"tier","ratio"}` | [`Control::set_used_ratio`] |
//! | `POST /sim/password` | `{"password"}` | [`Control::set_password`] |
//! | `POST /sim/lifetimes` | `{"access_seconds","refresh_seconds"}` | [`Control::set_lifetimes`] |
//!
//! Routes are named `login`, `token`, `logout` and `storage_systems` (or
//! `storage-systems`); body faults in snake or kebab case.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::Counters;
use super::capacity;
use super::data::{DataStore, Systems, merge_patch};
use super::faults::{BodyFault, Route};
use super::state::{Shared, lock};

/// A cheap, clonable handle that changes a running simulator's behaviour and data.
///
/// Changes take effect from the next request on.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Sets the lifetimes of tokens issued from now on; issued tokens keep theirs.
    pub fn set_lifetimes(&self, access: Duration, refresh: Duration) {
        lock(&self.shared.tokens).set_lifetimes(access, refresh);
    }

    /// Forgets every access and refresh token: all sessions end and every token
    /// answers 401.
    pub fn revoke_all(&self) {
        lock(&self.shared.tokens).revoke_all();
        tracing::info!("all sessions revoked");
    }

    /// Makes the next `count` calls of `route` answer `status`, with a Dell-style
    /// error body when `json_body`, else an empty one. On login, 302 and 307 carry a
    /// `Location` header. A `count` of 0 clears the pending failures of the route; a
    /// status outside 100–999 is replaced by 500.
    pub fn fail_next(&self, route: Route, count: u32, status: u16, json_body: bool) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared.faults).fail_next(route, count, status, json_body);
    }

    /// Delays every answer of `route` by `delay`; zero removes the delay.
    pub fn set_delay(&self, route: Route, delay: Duration) {
        lock(&self.shared.faults).set_delay(route, delay);
    }

    /// Breaks storage-systems answers as `fault` says until set back to `None`.
    pub fn set_body_fault(&self, fault: Option<BodyFault>) {
        lock(&self.shared.faults).set_body_fault(fault);
    }

    /// Replaces the systems. A [`Systems::Json`] of neither accepted shape is
    /// refused with a warning and the data stays as it was.
    pub fn set_systems(&self, systems: Systems) {
        match DataStore::new(&systems) {
            Ok(data) => *lock(&self.shared.data) = data,
            Err(error) => tracing::warn!(error = %error, "systems not replaced"),
        }
    }

    /// Changes the system with this `id` in place; returns false when there is
    /// none. Nothing is recomputed: the change may make the system inconsistent.
    pub fn update_system(&self, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        lock(&self.shared.data).update(id, f)
    }

    /// Sets the used bytes of `tier` (ACTIVE or CLOUD) of the system at `index` in
    /// the list to `ratio` of its size, and recomputes percentages, COMBINED,
    /// deprecated fields, `capacityUtilization` and `capacityStatus`.
    ///
    /// # Errors
    ///
    /// Fails when `index` is out of range, the system has no such tier, the tier is
    /// COMBINED or the ratio is outside 0–1.
    pub fn set_used_ratio(&self, index: usize, tier: &str, ratio: f64) -> anyhow::Result<()> {
        let mut result = Ok(());
        let found = lock(&self.shared.data).update_at(index, |system| {
            result = capacity::set_used_ratio(system, tier, ratio);
        });
        if !found {
            return Err(anyhow!("no system at index {index}"));
        }
        result.map_err(|message| anyhow!(message))
    }

    /// The current systems as a JSON list.
    pub fn systems_json(&self) -> Value {
        Value::Array(lock(&self.shared.data).all().to_vec())
    }

    /// Replaces the accepted password, as if an administrator had rotated it.
    /// Issued tokens stay valid.
    pub fn set_password(&self, password: String) {
        self.shared.set_password(password);
    }
}

/// The `/sim` routes, to be given the shared state by the caller.
pub(crate) fn control_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/counters", get(counters))
        .route("/sim/systems", get(systems))
        .route("/sim/fail", post(fail))
        .route("/sim/delay", post(delay))
        .route("/sim/revoke", post(revoke))
        .route("/sim/body-fault", post(body_fault))
        .route("/sim/systems/{id}", post(patch_system))
        .route("/sim/fleet/{index}/used-ratio", post(used_ratio))
        .route("/sim/password", post(password))
        .route("/sim/lifetimes", post(lifetimes))
}

fn control(shared: Arc<Shared>) -> Control {
    Control::new(shared)
}

async fn counters(State(shared): State<Arc<Shared>>) -> Json<Counters> {
    Json(shared.counters())
}

async fn systems(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(control(shared).systems_json())
}

#[derive(Deserialize)]
struct FailRequest {
    route: Route,
    count: u32,
    status: u16,
    #[serde(default = "yes")]
    json_body: bool,
}

fn yes() -> bool {
    true
}

async fn fail(State(shared): State<Arc<Shared>>, Json(r): Json<FailRequest>) -> Response {
    if StatusCode::from_u16(r.status).is_err() {
        return (StatusCode::BAD_REQUEST, "status must be 100-999").into_response();
    }
    control(shared).fail_next(r.route, r.count, r.status, r.json_body);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct DelayRequest {
    route: Route,
    millis: u64,
}

async fn delay(State(shared): State<Arc<Shared>>, Json(r): Json<DelayRequest>) -> StatusCode {
    control(shared).set_delay(r.route, Duration::from_millis(r.millis));
    StatusCode::NO_CONTENT
}

async fn revoke(State(shared): State<Arc<Shared>>) -> StatusCode {
    control(shared).revoke_all();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct BodyFaultRequest {
    fault: Option<BodyFault>,
}

async fn body_fault(
    State(shared): State<Arc<Shared>>,
    Json(r): Json<BodyFaultRequest>,
) -> StatusCode {
    control(shared).set_body_fault(r.fault);
    StatusCode::NO_CONTENT
}

async fn patch_system(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> StatusCode {
    if control(shared).update_system(&id, |system| merge_patch(system, &patch)) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct RatioRequest {
    tier: String,
    ratio: f64,
}

async fn used_ratio(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<usize>,
    Json(r): Json<RatioRequest>,
) -> Response {
    let in_range = index < lock(&shared.data).all().len();
    match control(shared).set_used_ratio(index, &r.tier, r.ratio) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) if !in_range => (StatusCode::NOT_FOUND, error.to_string()).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// Not `Debug`, so the password cannot be printed.
#[derive(Deserialize)]
struct PasswordRequest {
    password: String,
}

async fn password(State(shared): State<Arc<Shared>>, Json(r): Json<PasswordRequest>) -> StatusCode {
    control(shared).set_password(r.password);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LifetimesRequest {
    access_seconds: f64,
    refresh_seconds: f64,
}

async fn lifetimes(State(shared): State<Arc<Shared>>, Json(r): Json<LifetimesRequest>) -> Response {
    let access = Duration::try_from_secs_f64(r.access_seconds);
    let refresh = Duration::try_from_secs_f64(r.refresh_seconds);
    let (Ok(access), Ok(refresh)) = (access, refresh) else {
        return (StatusCode::BAD_REQUEST, "lifetimes must be >= 0 seconds").into_response();
    };
    control(shared).set_lifetimes(access, refresh);
    StatusCode::NO_CONTENT.into_response()
}
