//! Which participant a client certificate stands for.
//!
//! **Rule.** A verified client certificate (it chains to the hub CA; rustls/webpki checked it at
//! the handshake) stands for every name in its subject's common name (CN) attributes and its
//! subjectAltName dNSName entries. The hub CA issues a DFSP's certificate with CN = its FSP id
//! (`make certs` does); the SAN form is accepted too because modern PKI tooling puts names there,
//! and a certificate with several SAN names serves an operator that runs several DFSPs through
//! one client (the load-test tool). Names compare exactly (FSP ids are case-sensitive). Other
//! name forms (URI, e-mail, IP addresses) are ignored: they are not FSP ids.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// The names a client certificate stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    names: Vec<String>,
}

impl PeerIdentity {
    /// From the leaf of a verified chain; a certificate that does not parse stands for nobody.
    pub fn from_leaf(leaf: &CertificateDer<'_>) -> Self {
        Self {
            names: certificate_names(leaf.as_ref()).unwrap_or_default(),
        }
    }

    pub fn new(names: Vec<String>) -> Self {
        Self { names }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the certificate stands for `name`.
    pub fn is(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

impl std::fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names.join(","))
    }
}

/// Why a certificate's names could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not a DER X.509 certificate: {0}")]
    Parse(String),
}

/// CN attributes of the subject, then subjectAltName dNSNames (see the module documentation).
pub fn certificate_names(der: &[u8]) -> Result<Vec<String>, IdentityError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| IdentityError::Parse(e.to_string()))?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push((*dns).to_owned());
            }
        }
    }
    names.dedup();
    Ok(names)
}
