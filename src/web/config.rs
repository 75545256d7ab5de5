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

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$abcdefghijklmnopqrstuuJ3hx3DPmTRj6Y/4XJL9F8ZyoLMHt2ta";

    fn parse(text: &str) -> Result<WebConfig, String> {
        use figment::providers::{Format as _, Toml};
        let figment = figment::Figment::from(Toml::string(text));
        figment.extract().map_err(|error| error.to_string())
    }

    #[test]
    fn the_documented_example_parses() {
        let web = parse(&format!(
            r#"
            [tls_server_config]
            cert_file = "/etc/ppdm-exporter/tls.crt"
            key_file = "/etc/ppdm-exporter/tls.key"
            min_version = "TLS13"
            client_auth_type = "RequireAndVerifyClientCert"
            client_ca_file = "/etc/ppdm-exporter/clients-ca.pem"
            [basic_auth_users]
            prometheus = "{HASH}"
            "#
        ))
        .expect("valid settings");

        let tls = web.tls_server_config.expect("TLS settings");
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(
            tls.client_auth_type,
            ClientAuthType::RequireAndVerifyClientCert
        );
        assert_eq!(web.basic_auth_users["prometheus"], HASH);
    }

    #[test]
    fn no_settings_mean_plain_http_without_auth() {
        let web = parse("").expect("empty settings");

        assert!(web.tls_server_config.is_none());
        assert!(web.basic_auth_users.is_empty());
        assert!(web.problems("web").is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error =
            parse("[tls_server_config]\ncert_file = \"a\"\nkey_file = \"b\"\ncipher_suites = []")
                .expect_err("cipher_suites is not supported");

        assert!(error.contains("cipher_suites"), "{error}");
    }

    #[test]
    fn debug_shows_user_names_but_not_hashes() {
        let mut web = WebConfig::default();
        web.basic_auth_users
            .insert("prometheus".to_owned(), HASH.to_owned());

        let shown = format!("{web:?}");

        assert!(shown.contains("prometheus"), "{shown}");
        assert!(!shown.contains("$2y$"), "{shown}");
        assert!(!shown.contains(&HASH[7..]), "{shown}");
    }

    #[test]
    fn problems_reports_every_problem_at_once() {
        let mut web = WebConfig {
            tls_server_config: Some(TlsServerConfig {
                cert_file: PathBuf::from("/nonexistent/tls.crt"),
                key_file: PathBuf::from("/nonexistent/tls.key"),
                client_auth_type: ClientAuthType::from("RequireAnyClientCert".to_owned()),
                client_ca_file: None,
                min_version: TlsVersion::from("TLS11".to_owned()),
            }),
            basic_auth_users: BTreeMap::new(),
        };
        let users = &mut web.basic_auth_users;
        users.insert("plain".to_owned(), "hunter2".to_owned());
        users.insert("a:b".to_owned(), HASH.to_owned());

        let problems = web.problems("web");

        let expected = [
            "web.tls_server_config.cert_file: /nonexistent/tls.crt is not readable",
            "web.tls_server_config.key_file: /nonexistent/tls.key is not readable",
            "web.tls_server_config.min_version: \"TLS11\" is not supported",
            "web.tls_server_config.client_auth_type: \"RequireAnyClientCert\" is not supported",
            "web.basic_auth_users: user \"a:b\" must be non-empty and contain no colon",
            "web.basic_auth_users.plain: the value is not a bcrypt hash",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(
                problem.starts_with(start),
                "{problem:?} should start with {start:?}"
            );
        }
        assert!(
            !problems.iter().any(|p| p.contains("hunter2")),
            "{problems:#?}"
        );
    }

    #[test]
    fn verifying_client_certificates_needs_a_client_ca() {
        let tls = TlsServerConfig {
            cert_file: PathBuf::from("/nonexistent/tls.crt"),
            key_file: PathBuf::from("/nonexistent/tls.key"),
            client_auth_type: ClientAuthType::VerifyClientCertIfGiven,
            client_ca_file: None,
            min_version: TlsVersion::Tls12,
        };
        let mut problems = Vec::new();

        tls.collect_client_auth_problems("tls", &mut problems);

        assert_eq!(
            problems,
            ["tls.client_ca_file: required when client_auth_type is VerifyClientCertIfGiven"]
        );
    }

    #[test]
    fn a_client_ca_without_client_auth_is_reported() {
        let tls = TlsServerConfig {
            cert_file: PathBuf::from("/nonexistent/tls.crt"),
            key_file: PathBuf::from("/nonexistent/tls.key"),
            client_auth_type: ClientAuthType::NoClientCert,
            client_ca_file: Some(PathBuf::from("/etc/ca.pem")),
            min_version: TlsVersion::Tls12,
        };
        let mut problems = Vec::new();

        tls.collect_client_auth_problems("tls", &mut problems);

        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("client_auth_type is NoClientCert"));
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_prefix_cost_and_length() {
        assert!(looks_like_bcrypt(HASH));
        assert!(looks_like_bcrypt(&HASH.replacen("$2y$", "$2b$", 1)));
        assert!(looks_like_bcrypt(&HASH.replacen("$2y$", "$2a$", 1)));
        assert!(!looks_like_bcrypt(&HASH.replacen("$2y$", "$2x$", 1)));
        assert!(!looks_like_bcrypt(&HASH.replacen("$04$", "$03$", 1)));
        assert!(!looks_like_bcrypt(&HASH.replacen("$04$", "$32$", 1)));
        assert!(!looks_like_bcrypt(&HASH[..59]));
        assert!(!looks_like_bcrypt("hunter2"));
    }
}
