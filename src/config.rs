//! Configuration: layered loading and validation.
//!
//! Layers, later ones winning: built-in defaults, the TOML file given by `--config`,
//! `PPDM_EXPORTER_*` environment variables (`__` separates nested keys), and the few
//! command-line flags in [`Overrides`]. [`Config::load`] reports every problem at once,
//! before anything binds a port or connects to PPDM.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider as _};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The default listen address; 9823 is in the exporter range and unused by well-known
/// exporters.
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9823";

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "PPDM_EXPORTER_";

/// The whole configuration of the exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    #[serde(default = "default_listen_address")]
    pub listen_address: SocketAddr,
    /// Path that serves the metrics.
    #[serde(default = "default_telemetry_path")]
    pub telemetry_path: String,
    /// Log filter, in `RUST_LOG` syntax (`info`, `ppdm_exporter=debug`, …).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Log line format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// How many servers may be polled at the same time.
    #[serde(default = "default_max_concurrent_polls")]
    pub max_concurrent_polls: usize,
    /// Whether `POST /-/reload` re-reads the configuration (SIGHUP always does).
    #[serde(default)]
    pub enable_reload_endpoint: bool,
    /// Protection of the HTTP endpoints: TLS, mutual TLS, basic auth.
    #[serde(default)]
    pub web: crate::web::WebConfig,
    /// The PPDM servers to poll.
    #[serde(default)]
    pub servers: Vec<ServerConfig>,
}

/// Format of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One PPDM server, as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Value of the `server` label; defaults to the host of `url`.
    pub name: Option<String>,
    /// Base URL of PPDM, such as `https://ppdm-01.example.com:8443`.
    pub url: String,
    /// User to log in as; a read-only role is enough.
    pub username: String,
    /// Password, inline. Prefer `password_file` or `password_env`.
    pub password: Option<SecretString>,
    /// File holding the password, read again at every login.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Time between two polls.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Time limit of one HTTP request to PPDM.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Storage systems requested per page (1 to 10000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// PEM file of the CA that signed PPDM's certificate, added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Use only to get started; logged as a warning.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// How long a failed server keeps its last good storage series; default 3 intervals.
    #[serde(default, with = "humantime_serde")]
    pub stale_after: Option<Duration>,
    /// Largest response body accepted from PPDM, in bytes.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
}

/// Where a server's password comes from; the secret itself is read at each login.
#[derive(Clone)]
pub enum PasswordSource {
    /// Given inline in the configuration.
    Inline(SecretString),
    /// Read from this file at each login (rotation needs no restart).
    File(PathBuf),
    /// Read from this environment variable.
    Env(String),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline([redacted])"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Env(name) => f.debug_tuple("Env").field(name).finish(),
        }
    }
}

/// Command-line values that override every other layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--listen-address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<SocketAddr>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    /// One line per problem, each naming the key and the value.
    pub problems: Vec<String>,
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        Self {
            problems: error.into_iter().map(|e| describe(&e)).collect(),
        }
    }
}

/// One line for a parse error that never shows a secret: TOML syntax errors lose
/// their source excerpt (the offending line may hold a password), and a value found
/// under a password key is not repeated.
fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;

    let key = error.path.join(".");
    let secret = error.path.iter().any(|part| part.contains("password"));
    let what = match &error.kind {
        Kind::Message(message) => without_source_excerpt(message),
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) if secret => {
            format!("invalid value (not shown), expected {expected}")
        }
        kind => kind.to_string(),
    };
    let source = error
        .metadata
        .as_ref()
        .and_then(|meta| meta.source.as_ref())
        .map(|source| format!(" (in {source})"))
        .unwrap_or_default();
    if key.is_empty() {
        format!("{what}{source}")
    } else {
        format!("{key}: {what}{source}")
    }
}

/// Drops the `N | text` excerpt lines that TOML parse errors carry.
fn without_source_excerpt(message: &str) -> String {
    let is_excerpt = |line: &str| {
        let rest = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
        rest.trim_start().starts_with('|')
    };
    let lines: Vec<&str> = message
        .lines()
        .filter(|line| !line.trim().is_empty() && !is_excerpt(line))
        .collect();
    lines.join("; ")
}

impl ConfigError {
    fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

impl Config {
    /// Loads the layers and validates the result.
    ///
    /// # Errors
    ///
    /// Returns every problem found: unreadable file, unknown key, wrong type, or a value
    /// that fails validation.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let config = Self::extract(file, overrides)?;
        config.validate()?;
        Ok(config)
    }

    /// Loads the layers without the semantic checks of [`Config::validate`], for callers
    /// that add servers of their own first (`--demo`).
    ///
    /// # Errors
    ///
    /// Unreadable file, unknown key or wrong type.
    pub fn extract(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                let shown = path.display();
                return Err(ConfigError::one(format!(
                    "config file {shown} does not exist"
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
            .merge(Serialized::defaults(overrides));
        Self::from_layers(&figment)
    }

    /// Extracts the layers, first listing every unknown key at once (serde alone
    /// would stop at the first).
    fn from_layers(figment: &Figment) -> Result<Config, ConfigError> {
        if let Ok(data) = figment.data() {
            let mut problems = Vec::new();
            for dict in data.values() {
                unknown_keys(dict, "", &KNOWN_KEYS, &mut problems);
            }
            if !problems.is_empty() {
                return Err(ConfigError { problems });
            }
        }
        Ok(figment.extract()?)
    }

    /// Checks every value, reporting all problems at once.
    ///
    /// # Errors
    ///
    /// Lists each problem with its key and value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Parses a configuration from TOML text alone (tests, `check`).
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(&Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let config = Self::from_layers(figment)?;
        config.validate()?;
        Ok(config)
    }

    /// Lists every semantic problem of an otherwise well-formed configuration.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(problem) = telemetry_path_problem(&self.telemetry_path) {
            problems.push(format!(
                "telemetry_path: {:?} {problem}",
                self.telemetry_path
            ));
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.push(format!(
                "log_level: {:?} is not a valid filter: {error}",
                self.log_level
            ));
        }
        if self.max_concurrent_polls == 0 {
            problems.push("max_concurrent_polls: 0 must be at least 1".to_owned());
        }
        if self.servers.is_empty() {
            problems.push("servers: at least one [[servers]] entry is needed".to_owned());
        }
        for (index, server) in self.servers.iter().enumerate() {
            server.collect_problems(&format!("servers[{index}]"), &mut problems);
        }
        self.collect_duplicate_names(&mut problems);
        problems.extend(self.web.problems("web"));
        problems
    }

    fn collect_duplicate_names(&self, problems: &mut Vec<String>) {
        let mut seen = std::collections::HashSet::new();
        for (index, server) in self.servers.iter().enumerate() {
            if let Some(name) = server.label()
                && !seen.insert(name.clone())
            {
                problems.push(format!(
                    "servers[{index}].name: {name:?} is used by an earlier server; names must be unique"
                ));
            }
        }
    }
}

impl ServerConfig {
    /// The `server` label: `name`, else the host of `url`.
    pub fn label(&self) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        let url = reqwest::Url::parse(&self.url).ok()?;
        url.host_str().map(str::to_owned)
    }

    /// Where the password comes from; validation guarantees exactly one source.
    pub fn password_source(&self) -> Option<PasswordSource> {
        match (&self.password, &self.password_file, &self.password_env) {
            (Some(secret), None, None) => Some(PasswordSource::Inline(secret.clone())),
            (None, Some(path), None) => Some(PasswordSource::File(path.clone())),
            (None, None, Some(name)) => Some(PasswordSource::Env(name.clone())),
            _ => None,
        }
    }

    /// Whether two entries would poll the same way, password included; a reload keeps
    /// the session and data of a server whose entry did not change.
    pub fn same_settings(&self, other: &ServerConfig) -> bool {
        let same_password = match (&self.password, &other.password) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        };
        same_password
            && self.name == other.name
            && self.url == other.url
            && self.username == other.username
            && self.password_file == other.password_file
            && self.password_env == other.password_env
            && self.interval == other.interval
            && self.timeout == other.timeout
            && self.page_size == other.page_size
            && self.ca_file == other.ca_file
            && self.insecure_skip_verify == other.insecure_skip_verify
            && self.stale_after == other.stale_after
            && self.max_response_bytes == other.max_response_bytes
    }

    /// How long the last good data is kept after polls start failing.
    pub fn stale_after(&self) -> Duration {
        self.stale_after.unwrap_or(self.interval * 3)
    }

    fn collect_problems(&self, key: &str, problems: &mut Vec<String>) {
        match reqwest::Url::parse(&self.url) {
            Ok(url) if !matches!(url.scheme(), "https" | "http") => problems.push(format!(
                "{key}.url: {:?} must use https (or http)",
                self.url
            )),
            Ok(url) if url.host_str().is_none() => {
                problems.push(format!("{key}.url: {:?} has no host", self.url));
            }
            Ok(_) => {}
            Err(error) => problems.push(format!("{key}.url: {:?} is not a URL: {error}", self.url)),
        }
        if matches!(&self.name, Some(name) if name.trim().is_empty()) {
            problems.push(format!("{key}.name: must not be empty"));
        }
        if self.username.trim().is_empty() {
            problems.push(format!("{key}.username: must not be empty"));
        }
        self.collect_password_problems(key, problems);
        self.collect_timing_problems(key, problems);
        if !(1..=10_000).contains(&self.page_size) {
            problems.push(format!(
                "{key}.page_size: {} must be between 1 and 10000",
                self.page_size
            ));
        }
        if let Some(path) = &self.ca_file {
            let shown = path.display();
            match std::fs::read(path) {
                Err(error) => problems.push(format!("{key}.ca_file: {shown}: {error}")),
                Ok(pem) if !holds_certificate(&pem) => {
                    problems.push(format!("{key}.ca_file: {shown} holds no PEM certificate"));
                }
                Ok(_) => {}
            }
        }
        if self.max_response_bytes < 1024 {
            problems.push(format!(
                "{key}.max_response_bytes: {} is too small (at least 1024)",
                self.max_response_bytes
            ));
        }
    }

    fn collect_password_problems(&self, key: &str, problems: &mut Vec<String>) {
        let sources = [
            self.password.is_some(),
            self.password_file.is_some(),
            self.password_env.is_some(),
        ];
        match sources.iter().filter(|set| **set).count() {
            0 => problems.push(format!(
                "{key}: no password; set one of password, password_file, password_env"
            )),
            1 => {}
            _ => problems.push(format!(
                "{key}: set only one of password, password_file, password_env"
            )),
        }
        if let Some(path) = &self.password_file
            && !path.is_file()
        {
            let shown = path.display();
            problems.push(format!(
                "{key}.password_file: {shown} is not a readable file"
            ));
        }
        if let Some(name) = &self.password_env {
            if name.starts_with(ENV_PREFIX) {
                problems.push(format!(
                    "{key}.password_env: {name:?} must not start with {ENV_PREFIX}, which is reserved for settings"
                ));
            } else if std::env::var_os(name).is_none() {
                problems.push(format!("{key}.password_env: variable {name:?} is not set"));
            }
        }
    }

    fn collect_timing_problems(&self, key: &str, problems: &mut Vec<String>) {
        if self.interval < Duration::from_secs(1) {
            let shown = humantime::format_duration(self.interval);
            problems.push(format!("{key}.interval: {shown} is shorter than 1s"));
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            let shown = humantime::format_duration(self.timeout);
            problems.push(format!(
                "{key}.timeout: {shown} must be above 0 and at most the interval"
            ));
        }
        if let Some(stale) = self.stale_after
            && stale < self.interval
        {
            let shown = humantime::format_duration(stale);
            problems.push(format!(
                "{key}.stale_after: {shown} is shorter than the interval"
            ));
        }
    }
}

/// The keys a table may hold, and for nested tables the keys below them.
struct Known {
    keys: &'static [&'static str],
    nested: &'static [(&'static str, &'static Known)],
}

const KNOWN_KEYS: Known = Known {
    keys: &[
        "listen_address",
        "telemetry_path",
        "log_level",
        "log_format",
        "max_concurrent_polls",
        "enable_reload_endpoint",
        "web",
        "servers",
    ],
    nested: &[("servers", &SERVER_KEYS), ("web", &WEB_KEYS)],
};

const SERVER_KEYS: Known = Known {
    keys: &[
        "name",
        "url",
        "username",
        "password",
        "password_file",
        "password_env",
        "interval",
        "timeout",
        "page_size",
        "ca_file",
        "insecure_skip_verify",
        "stale_after",
        "max_response_bytes",
    ],
    nested: &[],
};

const WEB_KEYS: Known = Known {
    keys: &["tls_server_config", "basic_auth_users"],
    nested: &[("tls_server_config", &TLS_KEYS)],
};

const TLS_KEYS: Known = Known {
    keys: &[
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
    ],
    nested: &[],
};

/// Adds a problem for each key of `dict` (and of its known nested tables and lists of
/// tables) that `known` does not list.
fn unknown_keys(
    dict: &figment::value::Dict,
    prefix: &str,
    known: &Known,
    problems: &mut Vec<String>,
) {
    use figment::value::Value;

    for (key, value) in dict {
        let path = format!("{prefix}{key}");
        if !known.keys.contains(&key.as_str()) {
            problems.push(format!("{path}: unknown key"));
            continue;
        }
        let Some((_, inner)) = known.nested.iter().find(|(name, _)| name == key) else {
            continue;
        };
        match value {
            Value::Dict(_, table) => unknown_keys(table, &format!("{path}."), inner, problems),
            Value::Array(_, items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Dict(_, table) = item {
                        unknown_keys(table, &format!("{path}[{index}]."), inner, problems);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Why a telemetry path cannot be served, if it cannot.
fn telemetry_path_problem(path: &str) -> Option<&'static str> {
    const RESERVED: [&str; 4] = ["/", "/-/healthy", "/-/ready", "/-/reload"];
    if !path.starts_with('/') || path.len() < 2 {
        Some("must start with / and name a path")
    } else if RESERVED.contains(&path) {
        Some("is used by another endpoint")
    } else if path.contains(['?', '#', '{', '}', '*', ':', ' ']) || path.contains("//") {
        Some("may hold only plain path segments (no ? # { } * : spaces or //)")
    } else {
        None
    }
}

fn holds_certificate(pem: &[u8]) -> bool {
    reqwest::Certificate::from_pem_bundle(pem).is_ok_and(|certs| !certs.is_empty())
}

/// [`DEFAULT_LISTEN_ADDRESS`], parsed.
pub fn default_listen_address() -> SocketAddr {
    DEFAULT_LISTEN_ADDRESS
        .parse()
        .expect("the default listen address is a valid socket address")
}

fn default_telemetry_path() -> String {
    "/metrics".to_owned()
}

fn default_log_level() -> String {
    "info".to_owned()
}

fn default_max_concurrent_polls() -> usize {
    8
}

fn default_interval() -> Duration {
    Duration::from_secs(300)
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_page_size() -> u32 {
    100
}

fn default_max_response_bytes() -> u64 {
    64 * 1024 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[servers]]
        url = "https://ppdm-01.example.com:8443"
        username = "svc"
        password = "s3cret-value"
    "#;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let config = Config::from_toml(MINIMAL).expect("valid");
        let server = &config.servers[0];

        assert_eq!(config.listen_address.to_string(), "0.0.0.0:9823");
        assert_eq!(config.telemetry_path, "/metrics");
        assert_eq!(server.label().as_deref(), Some("ppdm-01.example.com"));
        assert_eq!(server.interval, Duration::from_secs(300));
        assert_eq!(server.stale_after(), Duration::from_secs(900));
        assert_eq!(server.page_size, 100);
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_key_and_value() {
        let text = r#"
            telemetry_path = "metrics"
            [[servers]]
            url = "ftp://ppdm"
            username = ""
            interval = "500ms"
            page_size = 20000
        "#;
        let problems = Config::from_toml(text).expect_err("invalid").problems;

        let joined = problems.join("\n");
        assert!(joined.contains("telemetry_path: \"metrics\""), "{joined}");
        assert!(
            joined.contains("servers[0].url: \"ftp://ppdm\""),
            "{joined}"
        );
        assert!(joined.contains("servers[0].username"), "{joined}");
        assert!(joined.contains("servers[0]: no password"), "{joined}");
        assert!(joined.contains("servers[0].interval: 500ms"), "{joined}");
        assert!(joined.contains("servers[0].page_size: 20000"), "{joined}");
        assert_eq!(problems.len(), 7, "{joined}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = format!("{MINIMAL}\nintervall = \"1m\"");
        let error = Config::from_toml(&text).expect_err("unknown key");

        assert!(error.to_string().contains("intervall"), "{error}");
    }

    #[test]
    fn duplicate_server_names_are_rejected() {
        let text = format!("{MINIMAL}\n{MINIMAL}");
        let error = Config::from_toml(&text).expect_err("duplicate");

        assert!(
            error
                .to_string()
                .contains("servers[1].name: \"ppdm-01.example.com\"")
        );
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let config = Config::from_toml(MINIMAL).expect("valid");
        let source = config.servers[0].password_source().expect("one source");

        assert!(!format!("{config:?}").contains("s3cret-value"));
        assert!(!format!("{source:?}").contains("s3cret-value"));
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure type")]
    fn layers_apply_in_order_file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ppdm.toml",
                &format!("log_level = \"debug\"\nlisten_address = \"127.0.0.1:1\"\n{MINIMAL}"),
            )?;
            jail.set_env("PPDM_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:2");
            jail.set_env("PPDM_EXPORTER_TELEMETRY_PATH", "/scrape");
            jail.set_env("PPDM_EXPORTER_CONFIG", "ppdm.toml");
            let flags = Overrides {
                listen_address: Some("127.0.0.1:3".parse().expect("address")),
                ..Overrides::default()
            };

            let config = Config::load(Some(Path::new("ppdm.toml")), &flags).expect("valid");

            assert_eq!(config.log_level, "debug", "from the file");
            assert_eq!(config.telemetry_path, "/scrape", "from the environment");
            assert_eq!(
                config.listen_address.to_string(),
                "127.0.0.1:3",
                "from the flags"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure type")]
    fn password_can_come_from_a_named_environment_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PPDM_01_PASSWORD", "from-the-environment");
            let text = MINIMAL.replace(
                "password = \"s3cret-value\"",
                "password_env = \"PPDM_01_PASSWORD\"",
            );
            let config = Config::from_toml(&text).expect("valid");
            let source = config.servers[0].password_source().expect("one source");

            let password = source.read().expect("readable");

            assert_eq!(password.expose_secret(), "from-the-environment");
            Ok(())
        });
    }

    #[test]
    fn unset_or_reserved_password_variables_are_reported() {
        let unset = MINIMAL.replace(
            "password = \"s3cret-value\"",
            "password_env = \"PPDM_NOT_SET_ANYWHERE_42\"",
        );
        let reserved = MINIMAL.replace(
            "password = \"s3cret-value\"",
            "password_env = \"PPDM_EXPORTER_PW\"",
        );

        let unset = Config::from_toml(&unset).expect_err("unset").to_string();
        let reserved = Config::from_toml(&reserved)
            .expect_err("reserved")
            .to_string();

        assert!(
            unset.contains("variable \"PPDM_NOT_SET_ANYWHERE_42\" is not set"),
            "{unset}"
        );
        assert!(
            reserved.contains("must not start with PPDM_EXPORTER_"),
            "{reserved}"
        );
    }

    #[test]
    fn parse_errors_never_repeat_a_password() {
        let syntax = MINIMAL.replace("s3cret-value", "Pa\\ss-Top-Secret");
        let number = MINIMAL.replace("\"s3cret-value\"", "90817263");

        let syntax = Config::from_toml(&syntax)
            .expect_err("bad escape")
            .to_string();
        let number = Config::from_toml(&number)
            .expect_err("not a string")
            .to_string();

        assert!(syntax.contains("TOML parse error at line"), "{syntax}");
        assert!(!syntax.contains("Top-Secret"), "{syntax}");
        assert!(
            number.contains("servers.0.password: invalid value (not shown)"),
            "{number}"
        );
        assert!(!number.contains("90817263"), "{number}");
    }

    #[test]
    fn telemetry_paths_that_cannot_be_served_are_rejected() {
        for bad in [
            "metrics",
            "/",
            "/-/healthy",
            "/-/reload",
            "/:metrics",
            "/metrics{",
            "/m/*x",
            "/m?x",
        ] {
            let text = format!("telemetry_path = {bad:?}\n{MINIMAL}");
            let error = Config::from_toml(&text).expect_err(bad).to_string();

            assert!(
                error.contains(&format!("telemetry_path: {bad:?}")),
                "{error}"
            );
        }
        let fine = format!("telemetry_path = \"/ppdm/metrics\"\n{MINIMAL}");
        assert!(Config::from_toml(&fine).is_ok());
    }

    #[test]
    fn every_unknown_key_is_reported_at_once() {
        let text = format!(
            "foo = 1\nlisten_adress = \"x\"\n[web]\nbasic_auth = 1\n{MINIMAL}intervall = \"1m\"\n"
        );

        let problems = Config::from_toml(&text).expect_err("unknown keys").problems;

        assert_eq!(
            problems,
            [
                "foo: unknown key",
                "listen_adress: unknown key",
                "servers[0].intervall: unknown key",
                "web.basic_auth: unknown key",
            ]
        );
    }

    #[test]
    fn a_file_using_every_documented_key_is_accepted() {
        let text = r#"
            listen_address = "127.0.0.1:9823"
            telemetry_path = "/metrics"
            log_level = "info"
            log_format = "json"
            max_concurrent_polls = 4
            enable_reload_endpoint = true
            [web]
            basic_auth_users = {}
            [[servers]]
            name = "ppdm-01"
            url = "https://ppdm-01.example.com:8443"
            username = "svc"
            password = "p"
            interval = "5m"
            timeout = "30s"
            page_size = 100
            insecure_skip_verify = true
            stale_after = "15m"
            max_response_bytes = 1048576
        "#;

        assert!(
            Config::from_toml(text).is_ok(),
            "{:?}",
            Config::from_toml(text).err()
        );
    }
}
