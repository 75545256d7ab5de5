//! The login session with one PPDM server.
//!
//! [`Session`] is the only place that calls `/login`, `/token` and `/logout`. Callers
//! ask it for data; it reuses, refreshes or replaces the access token as needed. The
//! token state sits behind one async mutex held across every login and refresh, so
//! concurrent callers never cause two logins at once.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use prometheus::IntCounterVec;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::client::{Answer, Client, HttpClients, path_only};
use super::error::{AuthRefusal, PpdmError};
use super::model::TokenResponse;
use crate::config::{PasswordSource, ServerConfig};

/// Share of the access token's lifetime after which it is refreshed.
const REFRESH_AT: f64 = 0.8;

/// Longest token lifetime believed; larger `expires_in` values are capped.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Lifetime assumed when PPDM's answer has no `expires_in`.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(300);

/// The kinds of authentication request, the `kind` label of
/// `ppdm_auth_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `POST /api/v2/login`.
    Login,
    /// `POST /api/v2/token`.
    Refresh,
    /// `POST /api/v2/logout`.
    Logout,
}

impl AuthKind {
    /// Every kind, for initialising counters at zero.
    pub const ALL: [AuthKind; 3] = [Self::Login, Self::Refresh, Self::Logout];

    /// The label value.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
        }
    }
}

/// The tokens of a live session.
struct Tokens {
    access: SecretString,
    refresh: Option<SecretString>,
    expires_at: Instant,
    refresh_at: Instant,
}

/// Credentials, tokens and the transport of one PPDM server.
pub struct Session {
    client: Client,
    server: String,
    username: String,
    password: PasswordSource,
    auth_requests: IntCounterVec,
    tokens: Mutex<Option<Tokens>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Creates a session that logs in on first use.
    ///
    /// `auth_requests` is the `ppdm_auth_requests_total` family, labelled
    /// `server`, `kind`, `result`.
    pub fn new(
        client: Client,
        server: String,
        username: String,
        password: PasswordSource,
        auth_requests: IntCounterVec,
    ) -> Session {
        Session {
            client,
            server,
            username,
            password,
            auth_requests,
            tokens: Mutex::new(None),
        }
    }

    /// Creates the session of a configured server: its HTTP client and credentials.
    ///
    /// # Errors
    ///
    /// Fails when the client cannot be built (CA file, URL) or the entry has no
    /// password source; validation rules both out for loaded configurations.
    pub fn for_server(
        server: &ServerConfig,
        label: &str,
        clients: &HttpClients,
        auth_requests: IntCounterVec,
    ) -> anyhow::Result<Session> {
        let client = Client::shared(server, clients).with_context(|| format!("server {label}"))?;
        let password = server
            .password_source()
            .with_context(|| format!("server {label} has no password source"))?;
        let username = server.username.clone();
        Ok(Session::new(
            client,
            label.to_owned(),
            username,
            password,
            auth_requests,
        ))
    }

    /// GETs an API path, renewing the token and retrying once if PPDM answers 401.
    ///
    /// # Errors
    ///
    /// Authentication, transport, status (anything but 200) and size errors.
    pub async fn get(&self, path_and_query: &str) -> Result<Bytes, PpdmError> {
        let token = self.bearer().await?;
        let answer = self
            .client
            .send(Method::GET, path_and_query, Some(&token), None)
            .await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return ok_body(answer, path_and_query);
        }
        tracing::debug!(server = %self.server, "access token refused, renewing once");
        let token = self.renew_refused(&token).await?;
        let answer = self
            .client
            .send(Method::GET, path_and_query, Some(&token), None)
            .await?;
        ok_body(answer, path_and_query)
    }

    /// When the access token should next be refreshed, if a session is live.
    pub fn refresh_due(&self) -> Option<Instant> {
        let guard = self.tokens.try_lock().ok()?;
        guard.as_ref().map(|tokens| tokens.refresh_at)
    }

    /// Refreshes the access token if it is due, or logs in if there is no session.
    ///
    /// # Errors
    ///
    /// As [`Session::get`], when neither refresh nor login succeeds.
    pub async fn refresh_if_due(&self) -> Result<(), PpdmError> {
        self.bearer().await.map(drop)
    }

    /// Logs out, if logged in. Failures are counted and logged at debug level, not
    /// returned; the answer says whether PPDM confirmed the logout (`None` when there
    /// was no session).
    pub async fn logout(&self) -> Option<bool> {
        let tokens = self.tokens.lock().await.take()?;
        Some(self.send_logout(&tokens.access).await)
    }

    /// A valid access token: the current one, a refreshed one, or a new login's.
    async fn bearer(&self) -> Result<SecretString, PpdmError> {
        let mut guard = self.tokens.lock().await;
        if let Some(tokens) = guard.as_ref()
            && Instant::now() < tokens.refresh_at
        {
            return Ok(tokens.access.clone());
        }
        self.renew(&mut guard).await
    }

    /// Renews after PPDM refused `refused`, unless another caller already did.
    async fn renew_refused(&self, refused: &SecretString) -> Result<SecretString, PpdmError> {
        let mut guard = self.tokens.lock().await;
        if let Some(tokens) = guard.as_mut() {
            if tokens.access.expose_secret() != refused.expose_secret() {
                return Ok(tokens.access.clone());
            }
            tokens.expires_at = Instant::now();
        }
        self.renew(&mut guard).await
    }

    /// Refreshes the tokens in `slot`, or logs in when that is impossible or refused.
    async fn renew(&self, slot: &mut Option<Tokens>) -> Result<SecretString, PpdmError> {
        if let Some(old) = slot.take() {
            match self.try_refresh(&old).await {
                Ok(tokens) => return Ok(store(slot, tokens)),
                Err(error) if error.is_transient() && Instant::now() < old.expires_at => {
                    let retry_at = old.retry_refresh_later();
                    tracing::warn!(server = %self.server, error = %error.chain(),
                        retry_in = ?retry_at.saturating_duration_since(Instant::now()),
                        "token refresh failed, keeping the current token");
                    let access = old.access.clone();
                    *slot = Some(Tokens {
                        refresh_at: retry_at,
                        ..old
                    });
                    return Ok(access);
                }
                Err(error) => {
                    tracing::info!(server = %self.server, error = %error.chain(),
                        "token refresh not possible, logging in again");
                }
            }
            if Instant::now() < old.expires_at {
                self.send_logout(&old.access).await;
            }
        }
        let tokens = self.login().await?;
        Ok(store(slot, tokens))
    }

    async fn try_refresh(&self, old: &Tokens) -> Result<Tokens, PpdmError> {
        let Some(refresh_token) = &old.refresh else {
            return Err(PpdmError::Status {
                status: StatusCode::UNAUTHORIZED,
                path: "/api/v2/token".to_owned(),
            });
        };
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.expose_secret(),
            "scope": "aaa",
        });
        let result = self
            .token_call("/api/v2/token", Some(&old.access), body)
            .await;
        self.count(AuthKind::Refresh, answered(&result));
        let mut tokens = result.map_err(|error| match error {
            PpdmError::Auth(_) => PpdmError::Status {
                status: StatusCode::UNAUTHORIZED,
                path: "/api/v2/token".to_owned(),
            },
            other => other,
        })?;
        if tokens.refresh.is_none() {
            tokens.refresh = old.refresh.clone();
        }
        tracing::debug!(server = %self.server, "access token refreshed");
        Ok(tokens)
    }

    async fn login(&self) -> Result<Tokens, PpdmError> {
        let password = self.password.read()?;
        let body = serde_json::json!({
            "username": self.username,
            "password": password.expose_secret(),
        });
        let result = self.token_call("/api/v2/login", None, body).await;
        self.count(AuthKind::Login, answered(&result));
        let result = match (result, &self.password) {
            (Err(PpdmError::Auth(AuthRefusal::BadCredentials)), PasswordSource::File(path)) => {
                Err(PpdmError::PasswordFileRefused {
                    path: path.display().to_string(),
                })
            }
            (result, _) => result,
        };
        if result.is_ok() {
            tracing::debug!(server = %self.server, user = %self.username, "logged in");
        }
        result
    }

    async fn token_call(
        &self,
        path: &str,
        bearer: Option<&SecretString>,
        body: serde_json::Value,
    ) -> Result<Tokens, PpdmError> {
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self
            .client
            .send(Method::POST, path, bearer, Some(json))
            .await?;
        if let Some(refusal) = AuthRefusal::from_login_status(answer.status) {
            return Err(PpdmError::Auth(refusal));
        }
        let body = ok_body(answer, path)?;
        let decoded: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| PpdmError::Decode {
                path: path.to_owned(),
                source,
            })?;
        Ok(Tokens::from_answer(decoded))
    }

    async fn send_logout(&self, access: &SecretString) -> bool {
        let path = "/api/v2/logout";
        let result = self
            .client
            .send(Method::POST, path, Some(access), None)
            .await;
        let ok = matches!(&result, Ok(answer) if answer.status.is_success());
        self.count(AuthKind::Logout, result.as_ref().ok().map(|_| ok));
        match result {
            Ok(answer) => {
                let outcome = if ok { "logged out" } else { "logout refused" };
                tracing::debug!(server = %self.server, status = %answer.status, "{outcome}");
            }
            Err(error) => {
                tracing::debug!(server = %self.server, error = %error.chain(), "logout failed");
            }
        }
        ok
    }

    /// Counts a request that PPDM answered (`Some(accepted)`); requests that never
    /// reached it (`None`) show up as poll failures instead.
    fn count(&self, kind: AuthKind, answered: Option<bool>) {
        let Some(ok) = answered else {
            return;
        };
        let result = if ok { "success" } else { "failure" };
        self.auth_requests
            .with_label_values(&[self.server.as_str(), kind.as_label(), result])
            .inc();
    }
}

impl Tokens {
    /// When to try a failed refresh again: after a quarter of the remaining
    /// lifetime, at least a second later, and no later than the expiry.
    fn retry_refresh_later(&self) -> Instant {
        let now = Instant::now();
        let wait = (self.expires_at.saturating_duration_since(now) / 4).max(Duration::from_secs(1));
        (now + wait).min(self.expires_at)
    }

    fn from_answer(answer: TokenResponse) -> Tokens {
        let lifetime = answer
            .expires_in
            .map_or(FALLBACK_LIFETIME, Duration::from_secs)
            .clamp(Duration::from_secs(1), MAX_LIFETIME);
        let now = Instant::now();
        Tokens {
            access: answer.access_token,
            refresh: answer.refresh_token,
            expires_at: now + lifetime,
            refresh_at: now + lifetime.mul_f64(REFRESH_AT),
        }
    }
}

/// Whether PPDM answered, and if so whether it accepted.
fn answered<T>(result: &Result<T, PpdmError>) -> Option<bool> {
    match result {
        Ok(_) => Some(true),
        Err(error) if error.reached_ppdm() => Some(false),
        Err(_) => None,
    }
}

fn store(slot: &mut Option<Tokens>, tokens: Tokens) -> SecretString {
    let access = tokens.access.clone();
    *slot = Some(tokens);
    access
}

fn ok_body(answer: Answer, path_and_query: &str) -> Result<Bytes, PpdmError> {
    if answer.status == StatusCode::OK {
        Ok(answer.body)
    } else {
        Err(PpdmError::Status {
            status: answer.status,
            path: path_only(path_and_query).to_owned(),
        })
    }
}

impl PasswordSource {
    /// Reads the password now; files and variables are read at each login.
    ///
    /// # Errors
    ///
    /// The file cannot be read, the variable is unset, or the password is empty.
    pub fn read(&self) -> Result<SecretString, PpdmError> {
        let text = match self {
            Self::Inline(secret) => return Ok(secret.clone()),
            Self::File(path) => std::fs::read_to_string(path).map_err(|error| {
                PpdmError::Password(format!("password_file {}: {error}", path.display()))
            })?,
            Self::Env(name) => std::env::var(name).map_err(|_| {
                PpdmError::Password(format!("environment variable {name} is not set"))
            })?,
        };
        let trimmed = text.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            return Err(PpdmError::Password("the password is empty".to_owned()));
        }
        Ok(SecretString::from(trimmed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expires_in: Option<u64>) -> TokenResponse {
        let json = match expires_in {
            Some(seconds) => format!(r#"{{"access_token":"a","expires_in":{seconds}}}"#),
            None => r#"{"access_token":"a"}"#.to_owned(),
        };
        serde_json::from_str(&json).expect("token answer")
    }

    #[tokio::test]
    async fn lifetimes_are_taken_from_the_answer_and_bounded() {
        let now = Instant::now();

        let eight_hours = Tokens::from_answer(answer(Some(28_800)));
        let absurd = Tokens::from_answer(answer(Some(u64::MAX)));
        let missing = Tokens::from_answer(answer(None));

        assert_eq!((eight_hours.expires_at - now).as_secs(), 28_800);
        assert_eq!(
            (eight_hours.refresh_at - now).as_secs(),
            23_040,
            "80 % of the lifetime"
        );
        assert_eq!((absurd.expires_at - now).as_secs(), 30 * 24 * 3600);
        assert_eq!((missing.expires_at - now).as_secs(), 300);
    }
}
