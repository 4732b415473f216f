//! Throw-away certificates: a private CA and a serving certificate signed by
//! it. Both `serve --self-signed` (a local webhook with no set-up) and
//! `pod-hardener certs` (the self-signed install overlay) need the same pair,
//! so it is made in one place, apart from the server that serves it.
//!
//! The certificates are short-lived on purpose (the serving certificate a
//! year by default, the CA a little longer): whoever installs without
//! cert-manager re-runs `pod-hardener certs` to rotate, and the webhook picks
//! the new pair up from its mounted Secret without a restart.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

/// Why a certificate or its files could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("a certificate needs at least one DNS name or IP address")]
    NoNames,
    #[error("--days must be at least 1")]
    NoDays,
    #[error("{0:?} is neither a DNS name nor an IP address")]
    NotAName(String),
    #[error("{name:?}: {error}")]
    BadName { name: String, error: rcgen::Error },
    #[error("cannot make a certificate: {0}")]
    Certificate(rcgen::Error),
    #[error("cannot make a key: {0}")]
    Key(rcgen::Error),
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a directory (a symlink?): refusing to write a private key there", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: owned by uid {owner}, not by this process (uid {me}): refusing to write a private key there; remove it or choose server.self_signed_dir", .dir.display())]
    NotOurs { dir: PathBuf, owner: u32, me: u32 },
}

impl CertError {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> CertError + Copy + '_ {
        move |error| CertError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// What the serving certificate is for.
#[derive(Debug, Clone)]
pub struct Request {
    /// DNS names and IP addresses, in the order they go into the SAN list.
    pub names: Vec<String>,
    /// Validity of the serving certificate, in days (the CA gets 30 more).
    pub days: u32,
}

/// A CA and a leaf, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Pair {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Where [`write`] put the files.
#[derive(Debug, Clone)]
pub struct Written {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The names a Service-fronted webhook is reached by: `svc`, `svc.ns`,
/// `svc.ns.svc` and `svc.ns.svc.cluster.local` (the API server uses
/// `svc.ns.svc`).
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// The names a webhook on this host is reached by. An API server built with
/// Go 1.15+ ignores the common name, so 127.0.0.1 must be a SAN.
pub fn local_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

/// Makes a fresh CA and a serving certificate for `request.names`.
pub fn make(request: &Request) -> Result<Pair, CertError> {
    let fail = CertError::Certificate;
    if request.names.is_empty() {
        return Err(CertError::NoNames);
    }
    if request.days == 0 {
        return Err(CertError::NoDays);
    }
    // A little slack before now: the API server's clock may be behind ours.
    let now = OffsetDateTime::now_utc();
    let not_before = now - Duration::hours(1);
    let leaf_until = now + Duration::days(i64::from(request.days));

    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pod-hardener CA");
    ca_params.not_before = not_before;
    ca_params.not_after = leaf_until + Duration::days(30);
    let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(fail)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    for name in &request.names {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) if is_dns_name(name) => {
                rcgen::SanType::DnsName(name.clone().try_into().map_err(|error| {
                    CertError::BadName {
                        name: name.clone(),
                        error,
                    }
                })?)
            }
            Err(_) => return Err(CertError::NotAName(name.clone())),
        };
        leaf_params.subject_alt_names.push(san);
    }
    leaf_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        request.names.first().cloned().unwrap_or_default(),
    );
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = not_before;
    leaf_params.not_after = leaf_until;
    let leaf_key = rcgen::KeyPair::generate().map_err(fail)?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(fail)?;
    Ok(Pair {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// A bare ECDSA P-256 key pair as (private PKCS#8 PEM, public SPKI PEM):
/// what a test control plane signs service-account tokens with.
pub fn signing_key() -> Result<(String, String), CertError> {
    let key = rcgen::KeyPair::generate().map_err(CertError::Key)?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// Letters, digits, `-` and `.` (a leading `*.` for a wildcard), no empty
/// label, at most 253 characters: what a TLS client will match against.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` into `dir` (created if needed),
/// the key readable by its owner only. Each file is written beside its final
/// name and renamed, so a watcher never sees half a file.
pub fn write(dir: &Path, pair: &Pair) -> Result<Written, CertError> {
    std::fs::create_dir_all(dir).map_err(CertError::io(dir))?;
    let written = Written {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        ca: dir.join("ca.crt"),
    };
    write_atomically(&written.ca, &pair.ca_pem, false)?;
    write_atomically(&written.key, &pair.key_pem, true)?;
    write_atomically(&written.cert, &pair.cert_pem, false)?;
    Ok(written)
}

/// A private file is created 0600, so the key is never readable by others,
/// not even between its first byte and a later chmod. `create_new` also
/// refuses to follow a symlink planted where the temporary file goes.
fn write_atomically(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    use std::io::Write;
    let fail = CertError::io(path);
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Makes `dir` a directory only this user can enter (0700), creating it if
/// needed. An existing one must be a real directory owned by this user (a
/// shared /tmp lets anyone create the name first); its mode is tightened.
#[cfg(unix)]
pub(crate) fn private_dir(dir: &Path) -> Result<(), CertError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let fail = CertError::io(dir);
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail),
        Err(e) => Err(fail(e)),
        Ok(m) if !m.file_type().is_dir() => Err(CertError::NotADirectory(dir.to_path_buf())),
        Ok(m) => {
            // /proc/self belongs to the process's effective user.
            let me = std::fs::metadata("/proc/self").map_err(fail)?.uid();
            if m.uid() != me {
                return Err(CertError::NotOurs {
                    dir: dir.to_path_buf(),
                    owner: m.uid(),
                    me,
                });
            }
            if m.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(fail)?;
            }
            Ok(())
        }
    }
}

#[cfg(not(unix))]
pub(crate) fn private_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(CertError::io(dir))
}

/// A kustomize JSON 6902 patch that puts the CA bundle into the first
/// `webhooks` entries of a webhook configuration.
pub fn ca_bundle_patch(ca_pem: &str, webhooks: usize) -> String {
    use base64::Engine;
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut out = String::from(
        "# Made by `pod-hardener certs`: the CA bundle of the webhook's certificate.\n",
    );
    for i in 0..webhooks {
        out.push_str(&format!(
            "- op: add\n  path: /webhooks/{i}/clientConfig/caBundle\n  value: {bundle}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use x509_parser::prelude::*;

    fn der(pem: &str) -> Vec<u8> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        p.contents
    }

    #[test]
    fn leaf_names_validity_and_issuer() {
        let pair = make(&Request {
            names: vec!["svc.ns.svc".into(), "127.0.0.1".into()],
            days: 10,
        })
        .unwrap();
        let leaf_der = der(&pair.cert_pem);
        let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
        let ca_der = der(&pair.ca_pem);
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        let sans: Vec<String> = leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sans,
            vec!["svc.ns.svc".to_string(), "[127, 0, 0, 1]".into()]
        );
        let days = (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp())
            / 86_400;
        assert_eq!(days, 10, "10 days plus the hour of slack");
        assert_eq!(leaf.issuer(), ca.subject());
        // The chain verifies as a TLS client would verify it, for that name.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der.clone().into()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        let name = rustls_pki_types::ServerName::try_from("svc.ns.svc").unwrap();
        let verified = verifier.verify_server_cert(
            &leaf_der.clone().into(),
            &[],
            &name,
            &[],
            rustls_pki_types::UnixTime::now(),
        );
        assert!(verified.is_ok(), "{verified:?}");
        let other = rustls_pki_types::ServerName::try_from("other.ns.svc").unwrap();
        assert!(verifier
            .verify_server_cert(
                &leaf_der.clone().into(),
                &[],
                &other,
                &[],
                rustls_pki_types::UnixTime::now()
            )
            .is_err());
        assert!(ca.is_ca());
        assert!(!leaf.is_ca());
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(make(&Request {
            names: vec![],
            days: 1
        })
        .is_err());
        assert!(make(&Request {
            names: vec!["a".into()],
            days: 0
        })
        .is_err());
        let e = make(&Request {
            names: vec!["not a name".into()],
            days: 1,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a name"), "{e}");
    }

    #[test]
    fn patch_has_one_op_per_webhook_with_the_bundle() {
        let patch = ca_bundle_patch("PEM", 2);
        let ops: serde_json::Value = serde_yaml::from_str(&patch).unwrap();
        let ops = ops.as_array().unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1]["path"], "/webhooks/1/clientConfig/caBundle");
        assert_eq!(ops[0]["value"], "UEVN");
    }

    #[test]
    fn written_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let pair = make(&Request {
            names: local_names(),
            days: 1,
        })
        .unwrap();
        let w = write(dir.path(), &pair).unwrap();
        assert_eq!(std::fs::read_to_string(&w.ca).unwrap(), pair.ca_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&w.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_dir_is_0700_and_refuses_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        private_dir(&fresh).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700, "an existing directory is tightened");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let e = private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        // A symlink planted where the key's temporary file goes is not followed.
        let target = root.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, fresh.join("tls.tmp")).unwrap();
        let pair = make(&Request {
            names: local_names(),
            days: 1,
        })
        .unwrap();
        write(&fresh, &pair).unwrap();
        assert!(!target.exists(), "the write followed a planted symlink");
        assert_eq!(mode(&fresh.join("tls.key")), 0o600);
    }
}
