//! The rustls server configuration: certificate files, TLS versions, client verifier.
//!
//! The aws-lc-rs provider is passed explicitly, so no process-wide default provider
//! has to be installed.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion, version};

use super::config::{ClientAuthType, TlsServerConfig, TlsVersion};

/// Builds the server configuration, reading every file anew.
///
/// # Errors
///
/// Fails when a file cannot be read or parsed, the key does not fit the certificate,
/// or a setting is unsupported.
pub(super) fn server_config(tls: &TlsServerConfig) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(protocol_versions(&tls.min_version)?)
        .context("choosing TLS versions")?;
    let builder = match client_verifier(tls, provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };

    let certs = read_certs(&tls.cert_file)?;
    let key = read_key(&tls.key_file)?;
    let mut config = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("{} does not fit its certificate", tls.key_file.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn protocol_versions(
    min: &TlsVersion,
) -> anyhow::Result<&'static [&'static SupportedProtocolVersion]> {
    static FROM_TLS12: [&SupportedProtocolVersion; 2] = [&version::TLS13, &version::TLS12];
    static FROM_TLS13: [&SupportedProtocolVersion; 1] = [&version::TLS13];
    match min {
        TlsVersion::Tls12 => Ok(&FROM_TLS12),
        TlsVersion::Tls13 => Ok(&FROM_TLS13),
        TlsVersion::Unsupported(value) => bail!("min_version {value:?} is not supported"),
    }
}

fn client_verifier(
    tls: &TlsServerConfig,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Option<Arc<dyn ClientCertVerifier>>> {
    let optional = match &tls.client_auth_type {
        ClientAuthType::NoClientCert => return Ok(None),
        ClientAuthType::VerifyClientCertIfGiven => true,
        ClientAuthType::RequireAndVerifyClientCert => false,
        ClientAuthType::Unsupported(value) => bail!("client_auth_type {value:?} is not supported"),
    };
    let path = tls
        .client_ca_file
        .as_deref()
        .context("client_ca_file is required to verify client certificates")?;
    let roots = Arc::new(read_roots(path)?);
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots, provider);
    if optional {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder
        .build()
        .with_context(|| format!("client CA {}", path.display()))?;
    Ok(Some(verifier))
}

/// Reads every certificate of a PEM file; at least one must be there.
pub(super) fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub(super) fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{} holds no readable PEM private key", path.display()))
}

/// Reads the CA certificates that sign client certificates.
pub(super) fn read_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .with_context(|| format!("{} holds an unusable CA certificate", path.display()))?;
    }
    Ok(roots)
}

/// Checks that the private key belongs to the first certificate of the chain.
pub(super) fn check_key_matches(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(), rustls::Error> {
    CertifiedKey::from_der(certs, key, &aws_lc_rs::default_provider()).map(drop)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{} is not readable", path.display()))
}
