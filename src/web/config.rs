//! The `[web]` settings and their validation.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;

use serde::Deserialize;

use super::tls;

/// How the HTTP server is protected; the default is plain HTTP without auth.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve HTTPS with this certificate instead of plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// Users allowed in, each mapped to the bcrypt hash of their password (`$2y$`,
    /// `$2b$` or `$2a$`, as `htpasswd -nBC 10 USER` prints). Empty: no auth.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// The HTTPS settings, under `[web.tls_server_config]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM file with the server certificate, followed by any intermediates.
    pub cert_file: PathBuf,
    /// PEM file with the private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Whether clients must present a certificate signed by `client_ca_file`.
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    /// PEM file with the CA certificates that sign client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// Oldest TLS version accepted.
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// Client certificate policy, named as in exporter-toolkit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum ClientAuthType {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// A client certificate is optional, but verified against the client CA if sent.
    VerifyClientCertIfGiven,
    /// Every client must present a certificate signed by the client CA.
    RequireAndVerifyClientCert,
    /// Any other value, kept so that [`WebConfig::problems`] can name it.
    Unsupported(String),
}

/// Oldest accepted TLS version, named as in exporter-toolkit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (`TLS12`).
    #[default]
    Tls12,
    /// TLS 1.3 only (`TLS13`).
    Tls13,
    /// Any other value, kept so that [`WebConfig::problems`] can name it.
    Unsupported(String),
}

impl From<String> for ClientAuthType {
    fn from(value: String) -> Self {
        match value.as_str() {
            "NoClientCert" => Self::NoClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            _ => Self::Unsupported(value),
        }
    }
}

impl ClientAuthType {
    /// Whether client certificates are verified against `client_ca_file`.
    pub fn verifies(&self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

impl fmt::Display for ClientAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoClientCert => f.write_str("NoClientCert"),
            Self::VerifyClientCertIfGiven => f.write_str("VerifyClientCertIfGiven"),
            Self::RequireAndVerifyClientCert => f.write_str("RequireAndVerifyClientCert"),
            Self::Unsupported(value) => f.write_str(value),
        }
    }
}

impl From<String> for TlsVersion {
    fn from(value: String) -> Self {
        match value.as_str() {
            "TLS12" => Self::Tls12,
            "TLS13" => Self::Tls13,
            _ => Self::Unsupported(value),
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tls12 => f.write_str("TLS12"),
            Self::Tls13 => f.write_str("TLS13"),
            Self::Unsupported(value) => f.write_str(value),
        }
    }
}

/// Shows the user names only: a hash is not a secret, but it is an offline
/// guessing target and has no business in logs.
impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: BTreeMap<&str, &str> = self
            .basic_auth_users
            .keys()
            .map(|user| (user.as_str(), "[redacted]"))
            .collect();
        f.debug_struct("WebConfig")
            .field("tls_server_config", &self.tls_server_config)
            .field("basic_auth_users", &users)
            .finish()
    }
}

impl WebConfig {
    /// Lists every problem of these settings at once, each line naming the key (under
    /// `key_prefix`, such as `web`) and the offending value. Hashes are never quoted.
    ///
    /// Reads the certificate, key and CA files, checks that they parse and that the
    /// key belongs to the certificate.
    pub fn problems(&self, key_prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(tls) = &self.tls_server_config {
            tls.collect_problems(&join(key_prefix, "tls_server_config"), &mut problems);
        }
        let users_key = join(key_prefix, "basic_auth_users");
        for (user, hash) in &self.basic_auth_users {
            collect_user_problems(&users_key, user, hash, &mut problems);
        }
        problems
    }
}

impl TlsServerConfig {
    fn collect_problems(&self, key: &str, problems: &mut Vec<String>) {
        let certs = tls::read_certs(&self.cert_file)
            .map_err(|error| problems.push(format!("{key}.cert_file: {error:#}")));
        let private_key = tls::read_key(&self.key_file)
            .map_err(|error| problems.push(format!("{key}.key_file: {error:#}")));
        if let (Ok(certs), Ok(private_key)) = (certs, private_key)
            && let Err(error) = tls::check_key_matches(certs, private_key)
        {
            let (key_file, cert_file) = (self.key_file.display(), self.cert_file.display());
            problems.push(format!(
                "{key}.key_file: {key_file} does not fit the certificate in {cert_file}: {error}"
            ));
        }
        if let TlsVersion::Unsupported(value) = &self.min_version {
            problems.push(format!(
                "{key}.min_version: {value:?} is not supported; use TLS12 or TLS13"
            ));
        }
        self.collect_client_auth_problems(key, problems);
    }

    fn collect_client_auth_problems(&self, key: &str, problems: &mut Vec<String>) {
        let auth = &self.client_auth_type;
        if let ClientAuthType::Unsupported(value) = auth {
            problems.push(format!(
                "{key}.client_auth_type: {value:?} is not supported; use NoClientCert, \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ));
        }
        match &self.client_ca_file {
            None if auth.verifies() => problems.push(format!(
                "{key}.client_ca_file: required when client_auth_type is {auth}"
            )),
            Some(path) if *auth == ClientAuthType::NoClientCert => problems.push(format!(
                "{key}.client_ca_file: {} is set but client_auth_type is NoClientCert, \
                 so client certificates would not be checked",
                path.display()
            )),
            Some(path) => {
                if let Err(error) = tls::read_roots(path) {
                    problems.push(format!("{key}.client_ca_file: {error:#}"));
                }
            }
            None => {}
        }
    }
}

fn collect_user_problems(key: &str, user: &str, hash: &str, problems: &mut Vec<String>) {
    if user.is_empty() || user.contains(':') {
        problems.push(format!(
            "{key}: user {user:?} must be non-empty and contain no colon"
        ));
    }
    if !looks_like_bcrypt(hash) {
        problems.push(format!(
            "{key}.{user}: the value is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, \
             60 characters); store the output of `htpasswd -nBC 10 {user}`, not a password"
        ));
    }
}

/// Whether `hash` is a well-formed bcrypt hash of a version Go and htpasswd produce.
pub(super) fn looks_like_bcrypt(hash: &str) -> bool {
    let prefix_ok = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix));
    let parsed = bcrypt::HashParts::from_str(hash);
    prefix_ok && parsed.is_ok_and(|parts| (4..=31).contains(&parts.get_cost()))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}
