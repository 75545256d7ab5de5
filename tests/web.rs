//! Protection of the HTTP server with a real client on port 0: plain HTTP, HTTPS,
//! minimum TLS version, mutual TLS and basic auth.
//!
//! Every test generates its own CA with rcgen and trusts only that CA.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ppdm_exporter::web::{ClientAuthType, TlsServerConfig, TlsVersion, WebConfig, protect, serve};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use reqwest::{Certificate, Client, ClientBuilder, Identity, StatusCode, tls};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A CA that signs the server and one client, plus a foreign CA with its own client.
struct Pki {
    dir: TempDir,
    ca_pem: String,
    client_pem: String,
    foreign_client_pem: String,
}

impl Pki {
    fn generate() -> Pki {
        let dir = TempDir::new().expect("temporary directory");
        let ca = new_ca("test CA");
        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("server names")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        std::fs::write(dir.path().join("tls.crt"), server.pem()).expect("write cert");
        std::fs::write(dir.path().join("tls.key"), server_key.serialize_pem()).expect("write key");
        std::fs::write(dir.path().join("clients-ca.pem"), ca.pem()).expect("write client CA");
        let foreign = new_ca("foreign CA");
        Pki {
            ca_pem: ca.pem(),
            client_pem: client_identity(&ca),
            foreign_client_pem: client_identity(&foreign),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, min_version: TlsVersion, client_auth_type: ClientAuthType) -> WebConfig {
        let client_ca_file = client_auth_type
            .verifies()
            .then(|| self.path("clients-ca.pem"));
        WebConfig {
            tls_server_config: Some(TlsServerConfig {
                cert_file: self.path("tls.crt"),
                key_file: self.path("tls.key"),
                client_auth_type,
                client_ca_file,
                min_version,
            }),
            ..WebConfig::default()
        }
    }

    /// A client that trusts only the test CA.
    fn client(&self) -> ClientBuilder {
        let ca = Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA PEM");
        Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(10))
    }

    fn client_with(&self, identity_pem: &str) -> Client {
        let identity = Identity::from_pem(identity_pem.as_bytes()).expect("identity PEM");
        self.client()
            .identity(identity)
            .build()
            .expect("HTTPS client")
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// Certificate and key of a client signed by `ca`, as one PEM.
fn client_identity(ca: &CertifiedIssuer<'static, KeyPair>) -> String {
    let key = KeyPair::generate().expect("client key");
    let mut params = CertificateParams::new(vec!["prometheus".to_owned()]).expect("client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, ca).expect("client certificate");
    format!("{}{}", cert.pem(), key.serialize_pem())
}

/// A server running [`serve`] on port 0 with a tiny router.
struct Running {
    port: u16,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(web: WebConfig) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let router = protect(tiny_router(), &web);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { serve(listener, router, &web, token).await });
        Running {
            port,
            shutdown,
            task,
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        let result = ended.expect("server stops after shutdown").expect("task");
        result.expect("server ends without error");
    }
}

fn tiny_router() -> Router {
    Router::new()
        .route("/metrics", get(|| async { "ppdm_up 1\n" }))
        .route("/-/healthy", get(|| async { "OK\n" }))
}

async fn status(client: &Client, url: &str) -> reqwest::Result<StatusCode> {
    client
        .get(url)
        .send()
        .await
        .map(|response| response.status())
}

#[tokio::test]
async fn plain_http_serves_metrics_without_tls_or_auth() {
    let server = Running::start(WebConfig::default()).await;

    let response = reqwest::get(server.url("http", "/metrics"))
        .await
        .expect("plain request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "ppdm_up 1\n");

    server.stop().await;
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plain_http() {
    let pki = Pki::generate();
    let server = Running::start(pki.tls(TlsVersion::Tls12, ClientAuthType::NoClientCert)).await;
    let client = pki.client().build().expect("client");

    let https = status(&client, &server.url("https", "/metrics")).await;
    assert_eq!(https.expect("HTTPS request"), StatusCode::OK);
    let http = status(&client, &server.url("http", "/metrics")).await;
    assert!(http.is_err(), "plain HTTP got an answer: {http:?}");

    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let pki = Pki::generate();
    let other = Pki::generate();
    let server = Running::start(pki.tls(TlsVersion::Tls12, ClientAuthType::NoClientCert)).await;
    let client = other.client().build().expect("client");

    let result = status(&client, &server.url("https", "/metrics")).await;
    assert!(
        result.is_err(),
        "untrusted certificate accepted: {result:?}"
    );

    server.stop().await;
}

#[tokio::test]
async fn tls13_minimum_refuses_a_tls12_only_client() {
    let pki = Pki::generate();
    let server = Running::start(pki.tls(TlsVersion::Tls13, ClientAuthType::NoClientCert)).await;
    let tls12_only = pki.client().tls_version_max(tls::Version::TLS_1_2);
    let tls12_only = tls12_only.build().expect("client");
    let modern = pki.client().build().expect("client");

    let old = status(&tls12_only, &server.url("https", "/metrics")).await;
    assert!(old.is_err(), "TLS 1.2 client served: {old:?}");
    let new = status(&modern, &server.url("https", "/metrics")).await;
    assert_eq!(new.expect("TLS 1.3 request"), StatusCode::OK);

    server.stop().await;
}

#[tokio::test]
async fn tls12_minimum_still_serves_a_tls12_only_client() {
    let pki = Pki::generate();
    let server = Running::start(pki.tls(TlsVersion::Tls12, ClientAuthType::NoClientCert)).await;
    let tls12_only = pki.client().tls_version_max(tls::Version::TLS_1_2);
    let tls12_only = tls12_only.build().expect("client");

    let result = status(&tls12_only, &server.url("https", "/metrics")).await;
    assert_eq!(result.expect("TLS 1.2 request"), StatusCode::OK);

    server.stop().await;
}

#[tokio::test]
async fn required_client_certificate_must_come_from_the_client_ca() {
    let pki = Pki::generate();
    let web = pki.tls(
        TlsVersion::Tls12,
        ClientAuthType::RequireAndVerifyClientCert,
    );
    let server = Running::start(web).await;
    let url = server.url("https", "/metrics");

    let anonymous = pki.client().build().expect("client");
    let without = status(&anonymous, &url).await;
    assert!(
        without.is_err(),
        "no client certificate accepted: {without:?}"
    );
    let foreign = status(&pki.client_with(&pki.foreign_client_pem), &url).await;
    assert!(
        foreign.is_err(),
        "foreign client certificate accepted: {foreign:?}"
    );
    let right = status(&pki.client_with(&pki.client_pem), &url).await;
    assert_eq!(
        right.expect("request with client certificate"),
        StatusCode::OK
    );

    server.stop().await;
}

#[tokio::test]
async fn optional_client_certificate_is_verified_when_given() {
    let pki = Pki::generate();
    let web = pki.tls(TlsVersion::Tls12, ClientAuthType::VerifyClientCertIfGiven);
    let server = Running::start(web).await;
    let url = server.url("https", "/metrics");

    let anonymous = pki.client().build().expect("client");
    let without = status(&anonymous, &url).await;
    assert_eq!(
        without.expect("request without certificate"),
        StatusCode::OK
    );
    let foreign = status(&pki.client_with(&pki.foreign_client_pem), &url).await;
    assert!(
        foreign.is_err(),
        "foreign client certificate accepted: {foreign:?}"
    );
    let right = status(&pki.client_with(&pki.client_pem), &url).await;
    assert_eq!(
        right.expect("request with client certificate"),
        StatusCode::OK
    );

    server.stop().await;
}

fn with_users(mut web: WebConfig) -> WebConfig {
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let hash_2y = bcrypt::hash_with_result("other pass", 4)
        .expect("hash")
        .format_for_version(bcrypt::Version::TwoY);
    web.basic_auth_users.insert("prometheus".to_owned(), hash);
    web.basic_auth_users.insert("grafana".to_owned(), hash_2y);
    web
}

#[tokio::test]
async fn basic_auth_lets_in_only_a_known_user_with_the_right_password() {
    let server = Running::start(with_users(WebConfig::default())).await;
    let client = Client::new();
    let url = server.url("http", "/metrics");
    let with = |user: &str, password: &str| client.get(&url).basic_auth(user, Some(password));

    let missing = client.get(&url).send().await.expect("request");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let challenge = missing
        .headers()
        .get("www-authenticate")
        .expect("challenge");
    assert_eq!(challenge, r#"Basic realm="ppdm-exporter""#);
    let wrong = with("prometheus", "guess").send().await.expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let unknown = with("nobody", "s3cret").send().await.expect("request");
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let right = with("prometheus", "s3cret").send().await.expect("request");
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.text().await.expect("body"), "ppdm_up 1\n");
    let again = with("prometheus", "s3cret").send().await.expect("request");
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "cached credentials still work"
    );
    let y_hash = with("grafana", "other pass").send().await.expect("request");
    assert_eq!(
        y_hash.status(),
        StatusCode::OK,
        "$2y$ hashes are understood"
    );

    server.stop().await;
}

#[tokio::test]
async fn health_probe_needs_no_credentials_but_other_paths_do() {
    let server = Running::start(with_users(WebConfig::default())).await;
    let client = Client::new();

    let healthy = status(&client, &server.url("http", "/-/healthy")).await;
    assert_eq!(healthy.expect("probe"), StatusCode::OK);
    let unknown_path = status(&client, &server.url("http", "/nothing")).await;
    assert_eq!(unknown_path.expect("request"), StatusCode::UNAUTHORIZED);

    server.stop().await;
}

#[tokio::test]
async fn basic_auth_and_mutual_tls_combine() {
    let pki = Pki::generate();
    let web = pki.tls(
        TlsVersion::Tls13,
        ClientAuthType::RequireAndVerifyClientCert,
    );
    let server = Running::start(with_users(web)).await;
    let client = pki.client_with(&pki.client_pem);
    let url = server.url("https", "/metrics");

    let anonymous = status(&client, &url).await;
    assert_eq!(anonymous.expect("request"), StatusCode::UNAUTHORIZED);
    let response = client
        .get(&url)
        .basic_auth("prometheus", Some("s3cret"))
        .send();
    assert_eq!(response.await.expect("request").status(), StatusCode::OK);

    server.stop().await;
}

#[tokio::test]
async fn serve_fails_when_the_key_does_not_fit_the_certificate() {
    let pki = Pki::generate();
    let other = Pki::generate();
    let mut web = pki.tls(TlsVersion::Tls12, ClientAuthType::NoClientCert);
    if let Some(tls) = web.tls_server_config.as_mut() {
        tls.key_file = other.path("tls.key");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");

    let result = serve(listener, tiny_router(), &web, CancellationToken::new()).await;
    let error = format!("{:#}", result.expect_err("mismatched key refused"));
    assert!(error.contains("tls.key"), "{error}");
}

#[test]
fn problems_names_a_key_that_does_not_fit_the_certificate() {
    let pki = Pki::generate();
    let other = Pki::generate();
    let mut web = pki.tls(TlsVersion::Tls12, ClientAuthType::VerifyClientCertIfGiven);
    assert_eq!(web.problems("web"), Vec::<String>::new());
    if let Some(tls) = web.tls_server_config.as_mut() {
        tls.key_file = other.path("tls.key");
    }

    let problems = web.problems("web");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("web.tls_server_config.key_file: ")
            && problems[0].contains("does not fit the certificate"),
        "{problems:?}"
    );
}

#[test]
fn problems_names_files_that_are_not_pem() {
    let pki = Pki::generate();
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let mut web = pki.tls(
        TlsVersion::Tls12,
        ClientAuthType::RequireAndVerifyClientCert,
    );
    if let Some(tls) = web.tls_server_config.as_mut() {
        tls.cert_file.clone_from(&garbage);
        tls.key_file.clone_from(&garbage);
        tls.client_ca_file = Some(garbage);
    }

    let problems = web.problems("web");
    let keys: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "web.tls_server_config.cert_file",
            "web.tls_server_config.key_file",
            "web.tls_server_config.client_ca_file",
        ],
        "{problems:?}"
    );
    assert!(
        problems.iter().all(|p| p.contains("garbage.pem")),
        "{problems:?}"
    );
}
