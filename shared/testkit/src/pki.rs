//! A throw-away PKI for TLS tests, generated in memory (rcgen) so tests depend on no files of
//! the repository: a CA, server certificates for loopback, and client certificates with a
//! chosen identity (CN = FSP id), validity period or issuer. [`TempDir`] writes PEM files where a
//! configuration wants paths.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A certificate authority.
pub struct TestCa {
    pub pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// How long test certificates are valid around now.
const DAY: time::Duration = time::Duration::days(1);

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - DAY;
        params.not_after = now + DAY * 365;
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> Pem {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("localhost");
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().expect("DNS name")),
            SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, valid_now())
    }

    /// A client certificate with CN = `cn`, valid now.
    pub fn client(&self, cn: &str) -> Pem {
        self.client_valid(cn, valid_now())
    }

    /// A client certificate with CN = `cn` valid in `[not_before, not_after]`.
    pub fn client_valid(
        &self,
        cn: &str,
        validity: (time::OffsetDateTime, time::OffsetDateTime),
    ) -> Pem {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, validity)
    }

    /// A client certificate for a tool that speaks for several DFSPs: CN = the first name, every
    /// name a SAN DNS name.
    pub fn client_for(&self, names: &[&str]) -> Pem {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(names.first().copied().unwrap_or_default());
        params.subject_alt_names = names
            .iter()
            .map(|n| SanType::DnsName((*n).try_into().expect("DNS name")))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, valid_now())
    }

    /// A client certificate that expired yesterday.
    pub fn expired_client(&self, cn: &str) -> Pem {
        let now = time::OffsetDateTime::now_utc();
        self.client_valid(cn, (now - DAY * 30, now - DAY))
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        (not_before, not_after): (time::OffsetDateTime, time::OffsetDateTime),
    ) -> Pem {
        params.not_before = not_before;
        params.not_after = not_after;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn valid_now() -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (now - DAY, now + DAY * 30)
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(crate::unique_name(prefix));
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` to `name` in the directory (replacing it) and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
