//! Certificates: loaded from PEM files, swapped in place through a
//! `ResolvesServerCert`, and made up on the spot for `--self-signed`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::ServeError;

/// The certificate in force; readers never wait long, a reload swaps one `Arc`.
#[derive(Debug)]
pub(crate) struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> Self {
        CertStore {
            current: RwLock::new(Arc::new(key)),
        }
    }

    pub fn swap(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A certificate chain and key, parsed, checked to belong together and to be
/// valid now (an expired or not-yet-valid one is refused, so a reload keeps
/// the pair in force).
pub(crate) struct LoadedPair {
    pub key: CertifiedKey,
    /// notAfter of the leaf, Unix seconds.
    pub not_after: i64,
}

/// Parses a PEM chain and key; any problem is an error that names the file.
pub(crate) fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<LoadedPair, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|source| ServeError::NotPemChain {
            file: cert_name.to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServeError::NoCertificateBlock {
            file: cert_name.to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| ServeError::NotPemKey {
        file: key_name.to_string(),
        source,
    })?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|source| {
        ServeError::UnsupportedKey {
            file: key_name.to_string(),
            source,
        }
    })?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&certs[0]).map_err(|e| {
        ServeError::UnparsableCertificate {
            file: cert_name.to_string(),
            detail: e.to_string(),
        }
    })?;
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now > not_after {
        return Err(ServeError::Expired {
            file: cert_name.to_string(),
            not_after: leaf.validity().not_after.to_string(),
        });
    }
    if now < not_before {
        return Err(ServeError::NotYetValid {
            file: cert_name.to_string(),
            not_before: leaf.validity().not_before.to_string(),
        });
    }
    let key = CertifiedKey::new(certs, signer);
    key.keys_match().map_err(|source| ServeError::KeyMismatch {
        cert: cert_name.to_string(),
        key: key_name.to_string(),
        source,
    })?;
    Ok(LoadedPair { key, not_after })
}

/// Reads and parses the pair from files.
pub(crate) fn load_pair(cert: &Path, key: &Path) -> Result<(LoadedPair, Vec<u8>), ServeError> {
    let c = read(cert)?;
    let k = read(key)?;
    let pair = parse_pair(
        &c,
        &k,
        &cert.display().to_string(),
        &key.display().to_string(),
    )?;
    let mut fingerprint = c;
    fingerprint.extend_from_slice(&k);
    Ok((pair, fingerprint))
}

fn read(path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A CA and a leaf for 127.0.0.1, localhost and `extra_names`, valid for 30
/// days, written as `ca.crt`, `tls.crt` and `tls.key` into `dir`, a private
/// directory (0700, ours; see [`crate::certs::private_dir`]). Returns
/// (cert path, key path, CA path).
pub fn write_self_signed(
    dir: &Path,
    extra_names: &[String],
) -> Result<(PathBuf, PathBuf, PathBuf), ServeError> {
    crate::certs::private_dir(dir)?;
    let mut names = crate::certs::local_names();
    names.extend(extra_names.iter().cloned());
    let pair = crate::certs::make(&crate::certs::Request { names, days: 30 })?;
    let written = crate::certs::write(dir, &pair)?;
    Ok((written.cert, written.key, written.ca))
}

/// TLS 1.3, and 1.2 unless `min_version` is 1.3; certificates from the store.
/// With `client_ca` (PEM bundle), a client certificate is verified against it
/// when one is presented; [`ClientIdentity`] records the outcome per
/// connection and the review paths require it (health probes come without).
pub(crate) fn server_config(
    store: Arc<CertStore>,
    min_version: crate::config::TlsVersion,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
        crate::config::TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        crate::config::TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(ServeError::TlsVersions)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(file) => {
            let pem = read(file)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|source| ServeError::NotPemBundle {
                    file: file.to_path_buf(),
                    source,
                })?;
                roots.add(cert).map_err(|source| ServeError::UnusableCa {
                    file: file.to_path_buf(),
                    source,
                })?;
            }
            if roots.is_empty() {
                return Err(ServeError::NoCertificateBlock {
                    file: file.display().to_string(),
                });
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|source| ServeError::ClientVerifier {
                        file: file.to_path_buf(),
                        source,
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(builder.with_cert_resolver(store))
}

/// Whether the connection's client presented a certificate the trust bundle
/// verified (rustls refuses the handshake when one is presented and fails).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIdentity {
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair valid from `from` to `until` (offsets from now).
    fn pair_valid(from: time::Duration, until: time::Duration) -> (String, String) {
        let now = time::OffsetDateTime::now_utc();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = now + from;
        params.not_after = now + until;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn expired_and_not_yet_valid_certificates_are_refused() {
        let day = time::Duration::days(1);
        let (c, k) = pair_valid(-day * 10, -day);
        let e = parse_pair(c.as_bytes(), k.as_bytes(), "old.crt", "old.key")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("old.crt") && e.contains("expired"), "{e}");
        let (c, k) = pair_valid(day, day * 10);
        let e = parse_pair(c.as_bytes(), k.as_bytes(), "new.crt", "new.key")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not valid before"), "{e}");
        let (c, k) = pair_valid(-day, day);
        let ok = parse_pair(c.as_bytes(), k.as_bytes(), "good.crt", "good.key").unwrap();
        assert!(ok.not_after > time::OffsetDateTime::now_utc().unix_timestamp());
    }
}
