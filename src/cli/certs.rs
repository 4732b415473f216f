//! `pod-hardener certs`: the certificates of a self-signed install, written
//! where the `self-signed` kustomize overlay picks them up.

use std::path::Path;

use crate::certs;
use crate::cli::CliError;

/// What to make.
pub struct CertsRequest<'a> {
    pub out_dir: &'a Path,
    pub service: &'a str,
    pub namespace: &'a str,
    pub extra_names: &'a [String],
    pub local: bool,
    pub days: u32,
    pub webhooks: usize,
}

/// Writes `ca.crt`, `tls.crt`, `tls.key`, `webhook-ca-bundle.yaml` (the
/// mutating webhook's entries) and `config-webhook-ca-bundle.yaml` (the one
/// entry of the ConfigMap-validating webhook); returns a report of what was
/// written for whom.
/// Every failure is bad input (names, days, the directory).
pub fn run(request: &CertsRequest<'_>) -> Result<String, CliError> {
    let mut names = certs::service_names(request.service, request.namespace);
    if request.local {
        names.extend(certs::local_names());
    }
    for name in request.extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let pair = certs::make(&certs::Request {
        names: names.clone(),
        days: request.days,
    })
    .map_err(CliError::bad_input)?;
    let written = certs::write(request.out_dir, &pair).map_err(CliError::bad_input)?;
    let patch_path = request.out_dir.join("webhook-ca-bundle.yaml");
    std::fs::write(
        &patch_path,
        certs::ca_bundle_patch(&pair.ca_pem, request.webhooks),
    )
    .map_err(|e| CliError::bad_input(format!("{}: {e}", patch_path.display())))?;
    let config_patch_path = request.out_dir.join("config-webhook-ca-bundle.yaml");
    std::fs::write(&config_patch_path, certs::ca_bundle_patch(&pair.ca_pem, 1))
        .map_err(|e| CliError::bad_input(format!("{}: {e}", config_patch_path.display())))?;
    Ok(format!(
        "wrote {}, {}, {}, {} and {}\n  names: {}\n  valid for {} days; run this again to rotate\n",
        written.ca.display(),
        written.cert.display(),
        written.key.display(),
        patch_path.display(),
        config_patch_path.display(),
        names.join(", "),
        request.days
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_four_files_with_matching_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let report = run(&CertsRequest {
            out_dir: dir.path(),
            service: "web",
            namespace: "sys",
            extra_names: &["10.0.0.1".into()],
            local: false,
            days: 5,
            webhooks: 2,
        })
        .unwrap();
        assert!(report.contains("web.sys.svc"), "{report}");
        assert!(report.contains("10.0.0.1"), "{report}");
        let ca = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
        let patch = std::fs::read_to_string(dir.path().join("webhook-ca-bundle.yaml")).unwrap();
        use base64::Engine;
        let bundle = base64::engine::general_purpose::STANDARD.encode(&ca);
        assert_eq!(patch.matches(&bundle).count(), 2);
        let config_patch =
            std::fs::read_to_string(dir.path().join("config-webhook-ca-bundle.yaml")).unwrap();
        assert_eq!(config_patch.matches(&bundle).count(), 1);
        let pair = crate::server::tls::parse_pair(
            std::fs::read(dir.path().join("tls.crt"))
                .unwrap()
                .as_slice(),
            std::fs::read(dir.path().join("tls.key"))
                .unwrap()
                .as_slice(),
            "tls.crt",
            "tls.key",
        );
        assert!(pair.is_ok(), "the pair loads as the server would load it");
    }
}
