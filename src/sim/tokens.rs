//! Sessions and tokens: what `/login`, `/token` and `/logout` hand out and take back.
//!
//! A session is one successful login. It owns one refresh token and every access
//! token issued to it. Rules, chosen to be at least as strict as PPDM:
//!
//! - an access token is valid until its own expiry, even after a refresh issued a
//!   newer one (JWT semantics);
//! - a refresh **rotates**: it issues a new access token and a new refresh token
//!   with a full refresh lifetime, and the old refresh token becomes unknown;
//! - a refresh needs a Bearer header naming an access token of the same session;
//!   that access token may have expired, since that is when clients refresh;
//! - logout and revocation forget the tokens, which then answer 401 as unknown;
//! - a session is live while its refresh token has not expired.
//!
//! Expiry uses [`tokio::time::Instant`] so tests can pause and advance time.
//! Tokens are opaque random strings shaped like JWTs; nothing verifies their
//! signature, only their presence in this store.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::json;
use tokio::time::Instant;

/// base64url of `{"alg":"RS256","typ":"JWT"}`, the header every token carries.
const JWT_HEADER: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";

/// What a successful login or refresh answers.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub access_token: String,
    pub refresh_token: String,
    pub jti: String,
    /// Access token lifetime in whole seconds, rounded down.
    pub expires_in: u64,
}

/// Why a token was refused; both answer 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Missing,
    Unknown,
    Expired,
}

struct Session {
    refresh_token: String,
    refresh_expires: Instant,
    access_tokens: Vec<String>,
}

struct AccessToken {
    session: u64,
    expires: Instant,
}

/// Every session and token the simulator has issued and not yet forgotten.
pub(crate) struct TokenStore {
    access_lifetime: Duration,
    refresh_lifetime: Duration,
    next_session: u64,
    sessions: HashMap<u64, Session>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, u64>,
}

impl TokenStore {
    pub fn new(access_lifetime: Duration, refresh_lifetime: Duration) -> TokenStore {
        TokenStore {
            access_lifetime,
            refresh_lifetime,
            next_session: 1,
            sessions: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    /// Changes the lifetimes of tokens issued from now on; issued tokens keep theirs.
    pub fn set_lifetimes(&mut self, access: Duration, refresh: Duration) {
        self.access_lifetime = access;
        self.refresh_lifetime = refresh;
    }

    /// Opens a new session for `subject` and issues its first token pair.
    pub fn login(&mut self, subject: &str, now: Instant) -> Grant {
        self.prune(now);
        let id = self.next_session;
        self.next_session += 1;

        let grant = self.issue(subject);
        self.access.insert(
            grant.access_token.clone(),
            AccessToken {
                session: id,
                expires: now + self.access_lifetime,
            },
        );
        self.refresh.insert(grant.refresh_token.clone(), id);
        let session = Session {
            refresh_token: grant.refresh_token.clone(),
            refresh_expires: now + self.refresh_lifetime,
            access_tokens: vec![grant.access_token.clone()],
        };
        self.sessions.insert(id, session);
        grant
    }

    /// Returns the session of a valid, unexpired access token.
    pub fn check_access(&self, bearer: Option<&str>, now: Instant) -> Result<u64, Refusal> {
        let token = self.known_access(bearer)?;
        if now >= token.expires {
            return Err(Refusal::Expired);
        }
        Ok(token.session)
    }

    /// Rotates the session's tokens, see the module documentation for the rules.
    pub fn refresh(
        &mut self,
        bearer: Option<&str>,
        refresh_token: &str,
        subject: &str,
        now: Instant,
    ) -> Result<Grant, Refusal> {
        let bearer_session = self.known_access(bearer)?.session;
        let id = *self.refresh.get(refresh_token).ok_or(Refusal::Unknown)?;
        let session = self.sessions.get(&id).ok_or(Refusal::Unknown)?;
        if session.refresh_expires <= now {
            return Err(Refusal::Expired);
        }
        if bearer_session != id {
            return Err(Refusal::Unknown);
        }

        let grant = self.issue(subject);
        self.refresh.remove(refresh_token);
        self.refresh.insert(grant.refresh_token.clone(), id);
        let expires = now + self.access_lifetime;
        self.access.insert(
            grant.access_token.clone(),
            AccessToken {
                session: id,
                expires,
            },
        );
        let refresh_expires = now + self.refresh_lifetime;
        if let Some(session) = self.sessions.get_mut(&id) {
            session.refresh_token = grant.refresh_token.clone();
            session.refresh_expires = refresh_expires;
            session.access_tokens.push(grant.access_token.clone());
        }
        self.drop_expired_access(id, now);
        Ok(grant)
    }

    /// Ends the session of a valid access token and forgets all its tokens.
    pub fn logout(&mut self, bearer: Option<&str>, now: Instant) -> Result<(), Refusal> {
        let id = self.check_access(bearer, now)?;
        self.end_session(id);
        Ok(())
    }

    /// Forgets every session and token.
    pub fn revoke_all(&mut self) {
        self.sessions.clear();
        self.access.clear();
        self.refresh.clear();
    }

    /// Counts sessions whose refresh token has not expired.
    pub fn live_sessions(&self, now: Instant) -> u64 {
        let live = self.sessions.values().filter(|s| s.refresh_expires > now);
        live.count() as u64
    }

    fn known_access(&self, bearer: Option<&str>) -> Result<&AccessToken, Refusal> {
        let token = bearer.ok_or(Refusal::Missing)?;
        self.access.get(token).ok_or(Refusal::Unknown)
    }

    fn end_session(&mut self, id: u64) {
        if let Some(session) = self.sessions.remove(&id) {
            self.refresh.remove(&session.refresh_token);
            for token in &session.access_tokens {
                self.access.remove(token);
            }
        }
    }

    /// Forgets sessions whose refresh token expired, so the store stays bounded.
    fn prune(&mut self, now: Instant) {
        let dead: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.refresh_expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.end_session(id);
        }
    }

    /// Keeps the newest access token of a session (the Bearer of its next
    /// refresh) and those not yet expired.
    fn drop_expired_access(&mut self, id: u64, now: Instant) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let newest = session.access_tokens.len().saturating_sub(1);
        let access = &mut self.access;
        let mut index = 0;
        session.access_tokens.retain(|token| {
            let keep = index == newest || access.get(token).is_some_and(|t| t.expires > now);
            index += 1;
            if !keep {
                access.remove(token);
            }
            keep
        });
    }

    fn issue(&self, subject: &str) -> Grant {
        let jti = random_uuid();
        let access_token = jwt_shaped(subject, &jti, self.access_lifetime, None);
        let refresh_token = jwt_shaped(subject, &random_uuid(), self.refresh_lifetime, Some(&jti));
        Grant {
            access_token,
            refresh_token,
            jti,
            expires_in: self.access_lifetime.as_secs(),
        }
    }
}

/// A random version-4-shaped UUID.
pub(crate) fn random_uuid() -> String {
    let b: [u8; 16] = rand::rng().random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

/// Builds `header.claims.signature` with readable claims and a random fake signature.
fn jwt_shaped(subject: &str, jti: &str, lifetime: Duration, access_jti: Option<&str>) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = json!({
        "sub": subject,
        "scope": ["aaa"],
        "iat": iat,
        "exp": iat + lifetime.as_secs(),
        "jti": jti,
    });
    if let Some(ati) = access_jti {
        claims["ati"] = json!(ati);
    }
    let signature: [u8; 32] = rand::rng().random();
    format!(
        "{JWT_HEADER}.{}.{}",
        base64url(claims.to_string().as_bytes()),
        base64url(&signature)
    )
}

/// Unpadded base64url, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn store() -> TokenStore {
        TokenStore::new(HOUR, 24 * HOUR)
    }

    #[test]
    fn base64url_matches_the_known_jwt_header() {
        assert_eq!(base64url(br#"{"alg":"RS256","typ":"JWT"}"#), JWT_HEADER);
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn tokens_have_three_parts_and_are_unique() {
        let mut tokens = store();
        let now = Instant::now();
        let a = tokens.login("admin", now);
        let b = tokens.login("admin", now);

        assert_eq!(a.access_token.split('.').count(), 3);
        assert_ne!(a.access_token, b.access_token);
        assert_ne!(a.refresh_token, b.refresh_token);
        assert_eq!(a.expires_in, 3600);
    }

    #[test]
    fn access_token_expires_after_its_lifetime() {
        let mut tokens = store();
        let now = Instant::now();
        let grant = tokens.login("admin", now);
        let bearer = Some(grant.access_token.as_str());

        assert_eq!(tokens.check_access(bearer, now + HOUR / 2), Ok(1));
        assert_eq!(
            tokens.check_access(bearer, now + HOUR),
            Err(Refusal::Expired)
        );
        assert_eq!(tokens.check_access(None, now), Err(Refusal::Missing));
        assert_eq!(tokens.check_access(Some("x"), now), Err(Refusal::Unknown));
    }

    #[test]
    fn refresh_rotates_the_refresh_token_and_accepts_an_expired_bearer() {
        let mut tokens = store();
        let now = Instant::now();
        let first = tokens.login("admin", now);
        let later = now + 2 * HOUR;

        let second = tokens
            .refresh(
                Some(&first.access_token),
                &first.refresh_token,
                "admin",
                later,
            )
            .expect("refresh");
        let again = tokens.refresh(Some(&second.access_token), &first.refresh_token, "a", later);

        assert_eq!(again.map(|_| ()), Err(Refusal::Unknown));
        assert_eq!(
            tokens.check_access(Some(&second.access_token), later),
            Ok(1)
        );
        assert_eq!(tokens.live_sessions(later), 1);
    }

    #[test]
    fn logout_and_revoke_forget_the_session() {
        let mut tokens = store();
        let now = Instant::now();
        let a = tokens.login("admin", now);
        let b = tokens.login("admin", now);

        assert_eq!(tokens.logout(Some(&a.access_token), now), Ok(()));
        assert_eq!(tokens.live_sessions(now), 1);
        tokens.revoke_all();
        assert_eq!(tokens.live_sessions(now), 0);
        let refused = tokens.check_access(Some(&b.access_token), now);
        assert_eq!(refused, Err(Refusal::Unknown));
    }

    #[test]
    fn sessions_end_when_the_refresh_token_expires() {
        let mut tokens = store();
        let now = Instant::now();
        let grant = tokens.login("admin", now);
        let after = now + 24 * HOUR;

        assert_eq!(tokens.live_sessions(after), 0);
        let refused = tokens.refresh(Some(&grant.access_token), &grant.refresh_token, "a", after);
        assert_eq!(refused.map(|_| ()), Err(Refusal::Expired));
    }
}
