//! The HTTP transport to one PPDM server: TLS trust, timeouts, size-capped bodies.
//!
//! [`Client`] knows nothing of tokens; [`super::Session`] passes the bearer token in
//! and decides what to do with a 401.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use super::error::PpdmError;
use crate::config::ServerConfig;

/// A configured HTTP client for one PPDM server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    max_body: u64,
    timeout: Duration,
}

/// HTTP clients by trust settings (`ca_file`, `insecure_skip_verify`), shared by the
/// servers that have the same. A CA file is read when its first client is built.
#[derive(Debug, Default)]
pub struct HttpClients {
    by_trust: Mutex<HashMap<(Option<PathBuf>, bool), reqwest::Client>>,
}

impl HttpClients {
    fn get(&self, server: &ServerConfig) -> Result<reqwest::Client, BuildError> {
        let key = (server.ca_file.clone(), server.insecure_skip_verify);
        let mut clients = self.by_trust.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = build_http(server)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// An HTTP client with the trust settings of `server`; timeouts are set per request.
fn build_http(server: &ServerConfig) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ppdm-exporter/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(2);
    if let Some(path) = &server.ca_file {
        builder = builder.tls_certs_only(read_ca(path)?);
    }
    if server.insecure_skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(BuildError::Http)
}

/// Longest wait for a TCP connection; a server's `timeout` bounds the whole request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer whose status was read and whose body was collected within the cap.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The CA file could not be read.
    #[error("cannot read ca_file {path}")]
    CaFile {
        /// The file named in the configuration.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("ca_file {path} holds no PEM certificate")]
    CaPem {
        /// The file named in the configuration.
        path: String,
    },
    /// The URL is not usable as a base.
    #[error("url {0:?} cannot be a base URL")]
    Url(String),
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

impl Client {
    /// Builds the client for a server.
    ///
    /// With `ca_file`, only the certificates in that file are trusted; without it, the
    /// system's roots are.
    ///
    /// # Errors
    ///
    /// Fails when the CA file is unreadable or empty, or the URL cannot be a base.
    pub fn new(server: &ServerConfig) -> Result<Client, BuildError> {
        Client::shared(server, &HttpClients::default())
    }

    /// As [`Client::new`], reusing from `clients` the HTTP client of any server with
    /// the same trust settings (each costs about 200 KB of memory).
    ///
    /// # Errors
    ///
    /// As [`Client::new`].
    pub fn shared(server: &ServerConfig, clients: &HttpClients) -> Result<Client, BuildError> {
        let base = base_url(&server.url).ok_or_else(|| BuildError::Url(server.url.clone()))?;
        Ok(Client {
            http: clients.get(server)?,
            base,
            max_body: server.max_response_bytes,
            timeout: server.timeout,
        })
    }

    /// Sends a request and collects the answer, whatever its status.
    ///
    /// # Errors
    ///
    /// Transport failures and bodies larger than the cap.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        bearer: Option<&SecretString>,
        json: Option<Vec<u8>>,
    ) -> Result<Answer, PpdmError> {
        let url = self.url(path_and_query)?;
        let mut request = self.http.request(method, url).timeout(self.timeout);
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = json {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(PpdmError::from_transport)?;
        let status = response.status();
        let body = self.collect(response, path_and_query).await?;
        Ok(Answer { status, body })
    }

    fn url(&self, path_and_query: &str) -> Result<Url, PpdmError> {
        self.base
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|_| PpdmError::Status {
                status: StatusCode::BAD_REQUEST,
                path: path_and_query.to_owned(),
            })
    }

    async fn collect(
        &self,
        mut response: reqwest::Response,
        path: &str,
    ) -> Result<Bytes, PpdmError> {
        let too_large = || PpdmError::TooLarge {
            path: path_only(path).to_owned(),
            limit: self.max_body,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(PpdmError::from_transport)? {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// The configured URL as a base that keeps any path prefix (a PPDM behind a reverse
/// proxy at `https://proxy/ppdm/`): API paths are joined below it.
fn base_url(text: &str) -> Option<Url> {
    let mut url = Url::parse(text)
        .ok()
        .filter(|url| !url.cannot_be_a_base())?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Some(url)
}

/// The path of a path-and-query, for error messages.
pub fn path_only(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or(path_and_query)
}

fn read_ca(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, BuildError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| BuildError::CaFile {
        path: shown.clone(),
        source,
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(BuildError::CaPem { path: shown }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, insecure: bool) -> ServerConfig {
        let text = format!(
            "[[servers]]\nurl = \"{url}\"\nusername = \"u\"\npassword = \"p\"\ninsecure_skip_verify = {insecure}"
        );
        let config = crate::config::Config::from_toml(&text).expect("valid");
        config.servers[0].clone()
    }

    #[test]
    fn servers_with_the_same_trust_share_one_http_client() {
        let clients = HttpClients::default();

        Client::shared(&server("https://a:8443", false), &clients).expect("a");
        Client::shared(&server("https://b:8443", false), &clients).expect("b");
        Client::shared(&server("https://c:8443", true), &clients).expect("c");

        assert_eq!(clients.by_trust.lock().expect("lock").len(), 2);
    }

    #[test]
    fn api_paths_are_joined_below_a_path_prefix() {
        let join = |base: &str| {
            let base = base_url(base).expect("base");
            base.join("api/v2/login").expect("joined").to_string()
        };

        assert_eq!(join("https://ppdm:8443"), "https://ppdm:8443/api/v2/login");
        assert_eq!(
            join("https://proxy/ppdm"),
            "https://proxy/ppdm/api/v2/login"
        );
        assert_eq!(
            join("https://proxy/ppdm/"),
            "https://proxy/ppdm/api/v2/login"
        );
        assert_eq!(
            join("https://[::1]:8443/"),
            "https://[::1]:8443/api/v2/login"
        );
    }
}
