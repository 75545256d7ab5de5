//! The simulator's certificates: a throwaway root CA and a server certificate it signs.
//!
//! A fresh PPDM serves a certificate issued by its own internal root, so the
//! simulator does the same: clients must either trust [`Pki::ca_pem`] or skip
//! verification, exactly as against a real installation. Both keys live only in
//! memory and change on every start of the simulator.

use std::sync::Arc;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Common name of the generated root, shaped like PPDM's `PPDM Root CA ID-<uuid>`.
const CA_COMMON_NAME: &str = "Simulated PPDM Root CA";

/// Names the server certificate is valid for: users reach PPDM by IP as often as by name.
const SERVER_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// The generated CA and the TLS configuration of the server it signed.
pub(crate) struct Pki {
    /// PEM of the root CA; what clients must trust.
    pub ca_pem: String,
    /// rustls server configuration holding the leaf certificate and its key.
    pub server: RustlsConfig,
}

impl Pki {
    /// Generates a new root CA and a server certificate for [`SERVER_NAMES`].
    ///
    /// # Errors
    ///
    /// Fails when key generation, signing or the rustls configuration fails.
    pub fn generate() -> anyhow::Result<Pki> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let ca = CertifiedIssuer::self_signed(ca_params(), ca_key).context("signing the CA")?;

        let leaf_key = KeyPair::generate().context("generating the server key")?;
        let leaf = leaf_params()?
            .signed_by(&leaf_key, &ca)
            .context("signing the server certificate")?;

        let chain = vec![leaf.der().clone(), ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = RustlsConfig::from_config(Arc::new(server_config(chain, key)?));
        Ok(Pki {
            ca_pem: ca.pem(),
            server,
        })
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    name.push(DnType::OrganizationName, "ppdm-exporter simulator");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn leaf_params() -> anyhow::Result<CertificateParams> {
    let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).context("server certificate names")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Simulated PPDM");
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Builds the rustls configuration with an explicit aws-lc-rs provider, so no
/// process-wide default provider has to be installed.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("loading the server certificate")?;
    // HTTP/1.1 only, so that a connection dropped mid-body is a dropped connection
    // and not a reset HTTP/2 stream.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_is_pem_and_differs_between_starts() {
        let first = Pki::generate().expect("pki");
        let second = Pki::generate().expect("pki");

        assert!(first.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(first.ca_pem, second.ca_pem);
    }
}
