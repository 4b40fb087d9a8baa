//! TLS for ferroloop (docs/fspiop-api.md#client-certificates-mtls): rustls configurations built
//! from PEM files, the identity a client certificate asserts, and configurations that follow their
//! files.
//!
//! - Crypto is rustls' `ring` provider only. reqwest and rustls look for a process-wide default
//!   provider; [`install_crypto_provider`] installs ring as that default, and every process that
//!   builds a reqwest client (the load-test tool, tests) calls it first.
//! - [`server_config`]: the FSPIOP listener's certificate and key and, with a client CA bundle,
//!   required client certificates that chain to it (webpki: signature, validity period, key
//!   usage). A certificate from another CA, an expired one, or none fails the handshake.
//! - [`client_config`]: callbacks' client certificate towards DFSPs and the CA bundle their
//!   server certificates must chain to (the system's roots without one).
//! - [`identity`]: which names a verified client certificate stands for.
//! - [`Reloading`]: a configuration rebuilt when one of its files changes (size or modification
//!   time, polled by [`spawn_reload`]); a rebuild that fails keeps the previous configuration, so
//!   a half-written rotation never takes the listener down.

pub mod identity;
mod reload;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use reload::{Fingerprint, Reloading, spawn_reload};
pub use rustls;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{0}: no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0}: no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoPrivateKey(PathBuf),
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("{0}: no usable CA certificate")]
    NoCa(PathBuf),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider of every ferroloop TLS configuration: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default provider (what reqwest uses). Idempotent: a
/// provider already installed stays.
pub fn install_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The certificates of a PEM file, in order (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey(path.to_owned()),
        other => TlsError::Pem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// A CA bundle: every certificate of the PEM file is a trust anchor.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(load_certs(path)?);
    if added == 0 {
        return Err(TlsError::NoCa(path.to_owned()));
    }
    Ok(roots)
}

/// Files of a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle client certificates must chain to; `None`: no client certificates asked for.
    pub client_ca: Option<PathBuf>,
}

impl ServerFiles {
    /// Every file, for change detection.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        paths
    }
}

/// A server configuration (TLS 1.2 and 1.3, HTTP/1.1 by ALPN). With a client CA, every client
/// must present a certificate that chains to it.
pub fn server_config(files: &ServerFiles) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(load_certs(&files.cert)?, load_key(&files.key)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Files of a TLS client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFiles {
    /// Client certificate chain and key presented to servers that ask for one.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// CA bundle server certificates must chain to; `None`: the system's trust store.
    pub ca: Option<PathBuf>,
}

impl ClientFiles {
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some((cert, key)) = &self.cert_and_key {
            paths.push(cert.clone());
            paths.push(key.clone());
        }
        paths.extend(self.ca.clone());
        paths
    }
}

/// A client configuration: server certificates verified against the CA bundle (or the system's
/// roots), the host name checked, the client certificate presented when asked for.
pub fn client_config(files: &ClientFiles) -> Result<ClientConfig, TlsError> {
    let roots = match &files.ca {
        Some(ca) => load_roots(ca)?,
        None => system_roots(),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match &files.cert_and_key {
        Some((cert, key)) => builder.with_client_auth_cert(load_certs(cert)?, load_key(key)?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// The system's trust store; certificates it cannot parse are skipped (logged).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "system trust store");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    roots
}

#[cfg(test)]
mod tests;
