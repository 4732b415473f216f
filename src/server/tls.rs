//! Certificates: loaded from PEM files, swapped in place through a
//! `ResolvesServerCert`, and made up on the spot for `--self-signed`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate in force; readers never wait long, a reload swaps one `Arc`.
#[derive(Debug)]
pub struct CertStore {
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

/// A certificate chain and key, parsed and checked to belong together.
pub struct LoadedPair {
    pub key: CertifiedKey,
    /// notAfter of the leaf, Unix seconds.
    pub not_after: i64,
}

/// Parses a PEM chain and key; any problem is an error that names the file.
pub fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<LoadedPair, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_name}: not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_name}: no CERTIFICATE block found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("{key_name}: not a PEM private key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{key_name}: unsupported private key: {e}"))?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&certs[0])
        .map_err(|e| format!("{cert_name}: cannot parse the certificate: {e}"))?;
    let not_after = leaf.validity().not_after.timestamp();
    let key = CertifiedKey::new(certs, signer);
    key.keys_match()
        .map_err(|e| format!("{cert_name} and {key_name} do not belong together: {e}"))?;
    Ok(LoadedPair { key, not_after })
}

/// Reads and parses the pair from files.
pub fn load_pair(cert: &Path, key: &Path) -> Result<(LoadedPair, Vec<u8>), String> {
    let c = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let k = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
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

/// A CA and a leaf for 127.0.0.1, localhost and `extra_names`, valid for 30
/// days, written as `ca.crt`, `tls.crt` and `tls.key` into `dir`. Returns
/// (cert path, key path, CA path).
pub fn write_self_signed(
    dir: &Path,
    extra_names: &[String],
) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let mut names = crate::certs::local_names();
    names.extend(extra_names.iter().cloned());
    let pair = crate::certs::make(&crate::certs::Request { names, days: 30 })?;
    let written = crate::certs::write(dir, &pair)?;
    Ok((written.cert, written.key, written.ca))
}

/// TLS 1.2 and 1.3 only, certificates from the store.
pub fn server_config(store: Arc<CertStore>) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(store)
}
