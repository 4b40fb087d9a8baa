use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{CertificateParams, DnType, KeyPair, SanType};

use super::*;
use crate::identity::{PeerIdentity, certificate_names};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("ferroloop-tls-{nanos}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn self_signed(cn: &str, sans: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .subject_alt_names
        .push(SanType::URI("spiffe://hub/ignored".try_into().unwrap()));
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn identity_is_the_common_name_and_the_dns_names() {
    let (cert, _) = self_signed("payerfsp", &["payerfsp2", "other"]);
    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    assert_eq!(
        certificate_names(der.as_ref()).unwrap(),
        ["payerfsp", "payerfsp2", "other"]
    );
    let identity = PeerIdentity::from_leaf(&der);
    assert!(identity.is("payerfsp") && identity.is("other"));
    assert!(!identity.is("PAYERFSP") && !identity.is("spiffe://hub/ignored"));
    assert!(certificate_names(b"not der").is_err());
    assert!(
        PeerIdentity::from_leaf(&CertificateDer::from(vec![1, 2, 3]))
            .names()
            .is_empty()
    );
}

#[test]
fn configurations_build_from_pem_files_and_say_what_is_wrong() {
    let dir = Dir::new();
    let (cert, key) = self_signed("localhost", &["localhost"]);
    let files = ServerFiles {
        cert: dir.write("tls.crt", &cert),
        key: dir.write("tls.key", &key),
        client_ca: Some(dir.write("ca.crt", &cert)),
    };
    let config = server_config(&files).unwrap();
    assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    client_config(&ClientFiles {
        cert_and_key: Some((files.cert.clone(), files.key.clone())),
        ca: files.client_ca.clone(),
    })
    .unwrap();
    client_config(&ClientFiles::default()).unwrap();

    let broken = ServerFiles {
        key: dir.write("cert-as-key", &cert),
        ..files.clone()
    };
    assert!(matches!(
        server_config(&broken),
        Err(TlsError::NoPrivateKey(_))
    ));
    let broken = ServerFiles {
        cert: dir.write("key-as-cert", &key),
        ..files.clone()
    };
    assert!(matches!(
        server_config(&broken),
        Err(TlsError::NoCertificate(_))
    ));
    let missing = ServerFiles {
        client_ca: Some(dir.0.join("absent")),
        ..files.clone()
    };
    assert!(matches!(
        server_config(&missing),
        Err(TlsError::Read { .. })
    ));
    // A key that is not the certificate's.
    let (_, other_key) = self_signed("localhost", &[]);
    let mismatched = ServerFiles {
        key: dir.write("other.key", &other_key),
        ..files
    };
    assert!(server_config(&mismatched).is_err());
}

#[test]
fn a_change_rebuilds_and_a_broken_change_keeps_the_current_value() {
    let dir = Dir::new();
    let path = dir.write("value", "one");
    let read = {
        let path = path.clone();
        move || {
            let text = std::fs::read_to_string(&path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            })?;
            if text.starts_with("bad") {
                return Err(TlsError::NoCa(path.clone()));
            }
            Ok(text)
        }
    };
    let reloading = Arc::new(Reloading::new("test", vec![path.clone()], read).unwrap());
    let generation = reloading.subscribe();
    assert_eq!(*reloading.current(), "one");
    assert!(!reloading.refresh(), "unchanged files are not re-read");

    std::fs::write(&path, "two, longer").unwrap();
    assert!(reloading.refresh());
    assert_eq!(*reloading.current(), "two, longer");
    assert_eq!(*generation.borrow(), 1);

    std::fs::write(&path, "bad content").unwrap();
    assert!(!reloading.refresh());
    assert_eq!(*reloading.current(), "two, longer", "kept");
    std::fs::write(&path, "three").unwrap();
    assert!(reloading.refresh());
    assert_eq!(*reloading.current(), "three");
    assert_eq!(*generation.borrow(), 2);
}
