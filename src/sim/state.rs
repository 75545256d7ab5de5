//! The state shared by the routes, the control handle and the simulator itself.
//!
//! Each part sits behind its own `std` mutex, held only for short, synchronous
//! work and never across an `.await`. A poisoned lock is taken over: the data is
//! test state, and a panicking test must not turn every later request into a panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::Counters;
use super::data::DataStore;
use super::faults::Faults;
use super::tokens::TokenStore;

/// Everything a request may read or change.
pub(crate) struct Shared {
    username: Mutex<String>,
    password: Mutex<SecretString>,
    pub tokens: Mutex<TokenStore>,
    pub data: Mutex<DataStore>,
    pub faults: Mutex<Faults>,
    counters: Mutex<Counters>,
}

impl Shared {
    pub fn new(username: String, password: String, tokens: TokenStore, data: DataStore) -> Self {
        Shared {
            username: Mutex::new(username),
            password: Mutex::new(SecretString::from(password)),
            tokens: Mutex::new(tokens),
            data: Mutex::new(data),
            faults: Mutex::new(Faults::default()),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The user name tokens are issued to.
    pub fn username(&self) -> String {
        lock(&self.username).clone()
    }

    /// Whether these credentials are the configured ones.
    pub fn accepts(&self, username: &str, password: &str) -> bool {
        let password_ok = lock(&self.password).expose_secret() == password;
        password_ok && *lock(&self.username) == username
    }

    pub fn set_password(&self, password: String) {
        *lock(&self.password) = SecretString::from(password);
    }

    /// Updates the counters.
    pub fn count(&self, update: impl FnOnce(&mut Counters)) {
        update(&mut lock(&self.counters));
    }

    /// The counters, with live sessions counted now.
    pub fn counters(&self) -> Counters {
        let live_sessions = lock(&self.tokens).live_sessions(Instant::now());
        Counters {
            live_sessions,
            ..*lock(&self.counters)
        }
    }
}

/// Locks a mutex, taking over the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
