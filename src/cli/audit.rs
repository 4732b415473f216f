//! `audit`: lists the cluster's workloads and reports what enforcement would
//! change, with the profiles and configuration the webhook would use.

use std::path::PathBuf;

use crate::audit::policyreport;
use crate::audit::render::{render, Format};
use crate::audit::{audit, Policy};
use crate::cli::{catalog_of, read_profile_files, CliError};
use crate::cluster::{list_workloads, webhook_settings, CONFIG_KEY, CONFIG_MAP};
use crate::config::Config;

/// Exit code when the report is printed but some lists failed.
pub const EXIT_PARTIAL: i32 = 3;
/// Exit code when the cluster cannot be reached or the configuration is invalid.
pub(crate) const EXIT_CLUSTER: i32 = 2;

/// What `audit` was asked.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    /// `None`: all namespaces.
    pub namespace: Option<String>,
    pub selector: Option<String>,
    pub profile_files: Vec<PathBuf>,
    pub no_builtin_profiles: bool,
    pub config: Option<PathBuf>,
    /// Read the webhook's ConfigMaps from this namespace.
    pub from_cluster: Option<String>,
    pub output: Format,
    pub quiet: bool,
}

/// Orders the profile files of the webhook's ConfigMap as the webhook reads
/// them: first those its configuration names (`profiles.files`, by file
/// name), in that order, then the other keys in key order.
pub(crate) fn order_profiles(
    files: Vec<(String, String)>,
    configured: &[PathBuf],
) -> Vec<(String, String)> {
    let key = |name: &str| name.rsplit('/').next().unwrap_or(name).to_string();
    let mut rest = files;
    let mut out = Vec::new();
    for path in configured {
        let Some(base) = path.file_name().and_then(|b| b.to_str()) else {
            continue;
        };
        if let Some(i) = rest.iter().position(|(name, _)| key(name) == base) {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

/// Runs the audit with the client `KUBECONFIG` or the pod's service account gives.
pub async fn run(args: &AuditArgs) -> Result<(String, i32), CliError> {
    let client = kube::Client::try_default().await.map_err(|e| {
        CliError::new(
            EXIT_CLUSTER,
            format!("cannot reach the cluster: {e} (set KUBECONFIG, or run inside a pod)"),
        )
    })?;
    run_with(&client, args).await
}

/// Runs the audit through `client`; the rendered report and exit code, or
/// an exit code and message. A report whose lists partly failed comes back as
/// `Ok` with `EXIT_PARTIAL`.
pub async fn run_with(client: &kube::Client, args: &AuditArgs) -> Result<(String, i32), CliError> {
    let mut progress = |m: &str| {
        if !args.quiet {
            eprintln!("audit: {m}");
        }
    };
    let mut files = read_profile_files(&args.profile_files)?;
    let config: Config = match &args.from_cluster {
        Some(ns) => {
            let settings = webhook_settings(client, ns)
                .await
                .map_err(|e| CliError::new(EXIT_CLUSTER, e))?;
            for note in &settings.notes {
                progress(note);
            }
            let config = match &settings.config {
                Some(text) => crate::config::load_text(
                    &format!("ConfigMap {ns}/{CONFIG_MAP} key {CONFIG_KEY}"),
                    text,
                )
                .map_err(|e| CliError::new(EXIT_CLUSTER, e))?,
                None => Config::default(),
            };
            files.extend(order_profiles(settings.profiles, &config.profiles.files));
            config
        }
        None => {
            let config = crate::config::load(args.config.as_deref(), serde_json::json!({}))
                .map_err(|e| CliError::new(EXIT_CLUSTER, e))?;
            files.extend(read_profile_files(&config.profiles.files)?);
            config
        }
    };
    let catalog = catalog_of(&files, config.profiles.builtin && !args.no_builtin_profiles)?;
    let listing = list_workloads(
        client,
        args.namespace.as_deref(),
        args.selector.as_deref(),
        &mut progress,
    )
    .await;
    let options = config.options();
    let policy = Policy {
        catalog: &catalog,
        options: &options,
        skip_namespaces: &config.skip_namespaces,
    };
    let failed = !listing.errors.is_empty();
    let report = audit(&listing.objects, &policy, listing.errors);
    let code = if failed { EXIT_PARTIAL } else { 0 };
    let text = match args.output {
        // The reports say which rules the configuration switched off.
        Format::PolicyReport => policyreport::render(&report, &options, policyreport::unix_now()),
        format => render(&report, format),
    };
    Ok((text, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_profile_files_come_first() {
        let files = vec![
            (
                "ph/pod-hardener-profiles/a.yaml".to_string(),
                "a".to_string(),
            ),
            (
                "ph/pod-hardener-profiles/b.yaml".to_string(),
                "b".to_string(),
            ),
            (
                "ph/pod-hardener-profiles/c.yaml".to_string(),
                "c".to_string(),
            ),
        ];
        let configured = [
            PathBuf::from("/etc/pod-hardener/profiles/c.yaml"),
            PathBuf::from("/etc/pod-hardener/profiles/missing.yaml"),
            PathBuf::from("/etc/pod-hardener/profiles/a.yaml"),
        ];
        let order: Vec<String> = order_profiles(files.clone(), &configured)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(order, ["c", "a", "b"]);
        let order: Vec<String> = order_profiles(files, &[])
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }
}
