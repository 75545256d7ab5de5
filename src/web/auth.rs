//! HTTP basic auth in front of every route but the liveness probe.
//!
//! Passwords are checked with bcrypt, which is slow on purpose, so two things keep
//! it cheap and quiet: a header that once verified is remembered (by a keyed SHA-256
//! of the header, never the plaintext) so a scrape pays bcrypt once, and an unknown
//! user costs a verification too, so response times do not reveal which users exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::config::{WebConfig, looks_like_bcrypt};

/// Realm announced in `WWW-Authenticate`.
pub const REALM: &str = "ppdm-exporter";

/// Paths left open so that liveness and readiness probes (Kubernetes, load
/// balancers) need no credentials; they reveal only whether the exporter runs and has
/// polled.
pub const PROBE_PATHS: [&str; 2] = ["/-/healthy", "/-/ready"];

/// Verified headers remembered at most; the cache is emptied when full.
const CACHE_CAPACITY: usize = 256;

/// Adds basic auth to every route of `router` except [`PROBE_PATHS`], when `web` has
/// users; returns `router` unchanged otherwise.
///
/// A missing, malformed or wrong `Authorization` header gets 401 with
/// `WWW-Authenticate: Basic realm="ppdm-exporter"`.
///
/// Call it once every route is in place: routes added to the returned router later
/// are not protected.
///
/// Known limits: an unknown user is verified against the most expensive configured
/// hash, so users hashed at different costs can still be told apart by timing; a
/// verified header stays accepted for as long as the returned router lives (a new
/// router is needed to revoke it).
pub fn protect(router: Router, web: &WebConfig) -> Router {
    if web.basic_auth_users.is_empty() {
        return router;
    }
    if web.tls_server_config.is_none() {
        tracing::warn!(
            "basic auth without tls_server_config: passwords cross the network in clear text"
        );
    }
    let auth = Arc::new(BasicAuth::new(&web.basic_auth_users));
    router.layer(middleware::from_fn_with_state(auth, require_credentials))
}

async fn require_credentials(
    State(auth): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if PROBE_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let header = request.headers().get(header::AUTHORIZATION).cloned();
    if auth.allows(header).await {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn unauthorized() -> Response {
    let challenge = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        "Unauthorized\n",
    )
        .into_response()
}

/// The users, the verified-header cache and the bcrypt limiter.
struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Hash checked for unknown users: the configured one of the highest cost.
    decoy: Option<String>,
    /// Random key mixed into cache keys, so the cache holds no plain password digest.
    cache_key: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Bounds concurrent bcrypt runs, so a flood of bad logins cannot take every core.
    bcrypt_slots: Arc<Semaphore>,
}

impl BasicAuth {
    fn new(users: &BTreeMap<String, String>) -> BasicAuth {
        let slots = std::thread::available_parallelism().map_or(1, usize::from);
        BasicAuth {
            users: users.clone(),
            decoy: decoy_hash(users),
            cache_key: rand::random(),
            verified: Mutex::new(HashSet::new()),
            bcrypt_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Whether the `Authorization` header names a user and their password.
    async fn allows(&self, header: Option<HeaderValue>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let digest = self.digest(header.as_bytes());
        if self.cache().contains(&digest) {
            return true;
        }
        let Some((user, password)) = credentials(&header) else {
            return false;
        };
        let known = self.users.get(&user);
        let Some(hash) = known.or(self.decoy.as_ref()).cloned() else {
            return false;
        };
        let matches = self.verify(password, hash).await;
        if matches && known.is_some() {
            self.remember(digest);
            return true;
        }
        false
    }

    /// Runs bcrypt off the async threads, at most one run per core at a time.
    async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_slot) = self.bcrypt_slots.clone().acquire_owned().await else {
            return false;
        };
        let check = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash));
        matches!(check.await, Ok(Ok(true)))
    }

    fn digest(&self, header: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.cache_key);
        hasher.update(header);
        hasher.finalize().into()
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(digest);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The valid configured hash of the highest cost, if any.
fn decoy_hash(users: &BTreeMap<String, String>) -> Option<String> {
    users
        .values()
        .filter(|hash| looks_like_bcrypt(hash))
        .max_by_key(|hash| cost(hash))
        .cloned()
}

fn cost(hash: &str) -> u32 {
    hash.get(4..6).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Decodes `Basic base64(user:password)`; the scheme is case-insensitive.
fn credentials(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> HeaderValue {
        let value = format!("Basic {}", STANDARD.encode(user_password));
        HeaderValue::from_str(&value).expect("ascii")
    }

    fn users(entries: &[(&str, &str, u32)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(user, password, cost)| {
                let hash = bcrypt::hash(password, *cost).expect("hash");
                ((*user).to_owned(), hash)
            })
            .collect()
    }

    #[test]
    fn credentials_are_decoded_from_a_basic_header() {
        let parsed = credentials(&basic("prometheus:pa:ss"));
        assert_eq!(parsed, Some(("prometheus".into(), "pa:ss".into())));

        let lower = HeaderValue::from_static("basic cHJvbTp4");
        assert_eq!(credentials(&lower), Some(("prom".into(), "x".into())));
        assert_eq!(credentials(&HeaderValue::from_static("Bearer abc")), None);
        assert_eq!(credentials(&HeaderValue::from_static("Basic !!!")), None);
        assert_eq!(credentials(&basic("no colon")), None);
    }

    #[test]
    fn unknown_users_are_checked_against_the_costliest_hash() {
        let users = users(&[("cheap", "a", 4), ("dear", "b", 5)]);

        let decoy = decoy_hash(&users).expect("a decoy");

        assert_eq!(decoy, users["dear"]);
        assert_eq!(cost(&decoy), 5);
    }

    #[tokio::test]
    async fn only_verified_headers_are_remembered() {
        let auth = BasicAuth::new(&users(&[("prometheus", "s3cret", 4)]));

        assert!(!auth.allows(Some(basic("prometheus:wrong"))).await);
        assert!(!auth.allows(Some(basic("nobody:s3cret"))).await);
        assert!(!auth.allows(None).await);
        assert!(auth.cache().is_empty());
        assert!(auth.allows(Some(basic("prometheus:s3cret"))).await);
        assert_eq!(auth.cache().len(), 1);
        assert!(auth.allows(Some(basic("prometheus:s3cret"))).await);
        assert_eq!(auth.cache().len(), 1);
    }

    #[test]
    fn the_cache_holds_neither_the_header_nor_its_plain_digest() {
        let auth = BasicAuth::new(&users(&[("prometheus", "s3cret", 4)]));
        let header = basic("prometheus:s3cret");

        let key = auth.digest(header.as_bytes());

        let plain: [u8; 32] = Sha256::digest(header.as_bytes()).into();
        assert_ne!(key, plain);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let auth = BasicAuth::new(&BTreeMap::new());
        for n in 0..CACHE_CAPACITY {
            auth.remember(auth.digest(n.to_string().as_bytes()));
        }
        assert_eq!(auth.cache().len(), CACHE_CAPACITY);

        auth.remember(auth.digest(b"one more"));

        assert_eq!(auth.cache().len(), 1);
    }
}
