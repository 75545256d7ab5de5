//! A simulated PowerProtect Data Manager, for `--demo`, the `ppdm-sim` binary and tests.
//!
//! It serves over HTTPS the four routes the exporter uses (`/api/v2/login`,
//! `/api/v2/token`, `/api/v2/logout`, `/api/v2/storage-systems`) with PPDM's
//! behaviour as described in `API.md`, plus unauthenticated `/sim` routes to
//! steer it (see [`control`]). It shares no code with the exporter: its data is
//! plain JSON built from fixtures or generated, so the exporter cannot agree
//! with it by construction.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use ppdm_exporter::sim::{SimConfig, Simulator};
//!
//! let sim = Simulator::start(SimConfig::default()).await?;
//! println!("PPDM at {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Known limits: `filter` understands only `field eq "value"` clauses joined by
//! `and`, and `orderby` a single field (other forms answer 400); roles, MFA and
//! account locking are not modelled (their statuses can be injected); only the
//! storage-systems resource exists.

mod capacity;
pub mod control;
mod data;
mod faults;
mod fleet;
mod query;
mod routes;
mod server;
mod state;
mod tls;
mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use control::Control;
pub use data::Systems;
pub use faults::{BodyFault, Route};
pub use server::Simulator;

/// How to start a [`Simulator`].
#[derive(Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port (see [`Simulator::addr`]).
    pub listen: SocketAddr,
    /// The only user name that can log in.
    pub username: String,
    /// The simulator's own test credential; never logged nor printed by `Debug`.
    pub password: String,
    /// Lifetime of access tokens, answered as `expires_in` in whole seconds.
    pub access_token_lifetime: Duration,
    /// Lifetime of refresh tokens, renewed by each refresh.
    pub refresh_token_lifetime: Duration,
    /// The storage systems to serve.
    pub systems: Systems,
    /// Where to write the PEM of the generated CA at start, if anywhere.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    /// Listens on 127.0.0.1 with a free port, user `admin` with password
    /// `demo-password`, PPDM's default lifetimes (8 h and 24 h) and a fleet of five
    /// systems from seed 1.
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "admin".to_string(),
            password: "demo-password".to_string(),
            access_token_lifetime: Duration::from_secs(28_800),
            refresh_token_lifetime: Duration::from_secs(24 * 3600),
            systems: Systems::Fleet { count: 5, seed: 1 },
            ca_file: None,
        }
    }
}

/// What the simulator has seen since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Successful logins.
    pub logins: u64,
    /// Logins answered with anything but 200: bad credentials, bad body or an
    /// injected failure.
    pub failed_logins: u64,
    /// Successful token refreshes.
    pub refreshes: u64,
    /// Refreshes answered with anything but 200.
    pub failed_refreshes: u64,
    /// Successful logouts.
    pub logouts: u64,
    /// Sessions whose refresh token has not expired and that were neither logged
    /// out nor revoked.
    pub live_sessions: u64,
    /// Every request of `GET /api/v2/storage-systems`, whatever its answer.
    pub storage_calls: u64,
    /// 401 answers because an access or refresh token was missing, unknown or
    /// expired (login failures are not counted here).
    pub unauthorized: u64,
}
