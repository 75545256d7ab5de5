//! Protection of the HTTP endpoints: TLS, mutual TLS and basic auth.
//!
//! The settings follow the Prometheus exporter-toolkit web configuration file, with
//! the same key names, but live under the `[web]` table of the exporter's TOML file:
//!
//! ```toml
//! [web.tls_server_config]
//! cert_file = "/etc/ppdm-exporter/tls.crt"
//! key_file = "/etc/ppdm-exporter/tls.key"
//! min_version = "TLS12"                             # or TLS13
//! client_auth_type = "RequireAndVerifyClientCert"   # optional
//! client_ca_file = "/etc/ppdm-exporter/clients-ca.pem"
//!
//! [web.basic_auth_users]
//! prometheus = "$2y$10$..."                         # bcrypt hash
//! ```
//!
//! [`WebConfig::problems`] checks the settings before a port is bound, [`protect`]
//! adds basic auth to a router and [`serve`] runs it over HTTP or HTTPS.
//!
//! Known limits:
//!
//! - Certificates, keys and the client CA are read once, when [`serve`] starts;
//!   files replaced on disk take effect only when `serve` is called again (restart).
//! - Of exporter-toolkit's keys only those above are understood. `max_version`,
//!   `cipher_suites`, `curve_preferences`, `client_allowed_sans`, inline `cert`/`key`
//!   and `http_server_config` are rejected as unknown keys, and the client auth types
//!   `RequestClientCert` and `RequireAnyClientCert` (which skip verification) are
//!   reported as unsupported.
//! - TLS 1.0 and 1.1 are not available (rustls implements neither).
//! - Basic auth over plain HTTP is allowed, as in exporter-toolkit, but logged as a
//!   warning: the password then crosses the network in clear text.

mod auth;
mod config;
mod serve;
mod tls;

pub use auth::{PROBE_PATHS, REALM, protect};
pub use config::{ClientAuthType, TlsServerConfig, TlsVersion, WebConfig};
pub use serve::{TLS_SHUTDOWN_GRACE, serve};
