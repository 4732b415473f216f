//! `doctor`: reads a broken pod (or a log file), finds the writes its
//! read-only root refused, and prints or writes the profile entry that fixes it.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::cli::CliError;
use crate::doctor::edit::apply;
use crate::doctor::{diagnose, merged_proposals, render, ContainerInput, Diagnosis, Evidence};
use crate::profile::Catalog;

/// Exit code when the cluster cannot be read.
pub(crate) const EXIT_CLUSTER: i32 = 2;

/// Where the evidence comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A pod in the cluster.
    Pod {
        name: String,
        namespace: Option<String>,
    },
    /// A log file (`-` for stdin) of a container running `image`.
    Logs { file: PathBuf, image: String },
}

/// What `doctor` was asked.
#[derive(Debug, Clone)]
pub struct DoctorArgs {
    pub source: Source,
    /// Only this container.
    pub container: Option<String>,
    /// The container's working directory, for relative paths (offline; a pod's
    /// containers carry their own `workingDir`).
    pub workdir: Option<String>,
    pub profile_files: Vec<PathBuf>,
    pub no_builtin_profiles: bool,
    /// Put the suggested entries into this profile file.
    pub write: Option<PathBuf>,
    pub json: bool,
}

fn read_text(path: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::bad_input(format!("stdin: {e}")))?;
        return Ok(text);
    }
    // Logs are not always UTF-8: keep what can be read.
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| CliError::bad_input(format!("{}: cannot read: {e}", path.display())))
}

/// The profile files to match against: the file to write first (so that an
/// entry doctor wrote before is extended), then `--profiles`.
fn catalog(args: &DoctorArgs) -> Result<Catalog, CliError> {
    let mut files = Vec::new();
    if let Some(w) = &args.write {
        if w.exists() && !args.profile_files.contains(w) {
            files.push(w.clone());
        }
    }
    files.extend(args.profile_files.iter().cloned());
    super::load_catalog(&files, !args.no_builtin_profiles)
}

/// The evidence, from the cluster or the file; and a subject line and notes.
async fn gather(
    client: Option<&kube::Client>,
    args: &DoctorArgs,
) -> Result<(String, Vec<ContainerInput>, Vec<String>), CliError> {
    match &args.source {
        Source::Logs { file, image } => {
            let text = read_text(file)?;
            // Offline there is no pod: without --container, the image names it.
            let name = args.container.clone().unwrap_or_else(|| image.clone());
            let source = if file.as_os_str() == "-" {
                "stdin".to_string()
            } else {
                file.display().to_string()
            };
            Ok((
                format!("{source} (image {image})"),
                vec![ContainerInput {
                    name,
                    image: image.clone(),
                    workdir: args.workdir.clone(),
                    evidence: vec![Evidence { source, text }],
                }],
                Vec::new(),
            ))
        }
        Source::Pod { name, namespace } => {
            let client = match client {
                Some(c) => c.clone(),
                None => kube::Client::try_default().await.map_err(|e| {
                    CliError::new(
                        EXIT_CLUSTER,
                        format!("cannot reach the cluster: {e} (set KUBECONFIG, or use --logs FILE --image IMAGE)"),
                    )
                })?,
            };
            let ns = namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string());
            let found = crate::cluster::pod_evidence(&client, &ns, name)
                .await
                .map_err(|e| CliError::new(EXIT_CLUSTER, e))?;
            let mut containers = found.containers;
            if let Some(only) = &args.container {
                if !containers.iter().any(|c| &c.name == only) {
                    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
                    return Err(CliError::bad_input(format!(
                        "pod {ns}/{name} has no container {only:?} (it has {})",
                        names.join(", ")
                    )));
                }
                containers.retain(|c| &c.name == only);
            }
            if let Some(wd) = &args.workdir {
                for c in containers.iter_mut().filter(|c| c.workdir.is_none()) {
                    c.workdir = Some(wd.clone());
                }
            }
            Ok((format!("pod {ns}/{name}"), containers, found.notes))
        }
    }
}

/// Runs doctor: the report to print, or an exit code and message.
pub async fn run(args: &DoctorArgs) -> Result<String, CliError> {
    run_with(None, args).await
}

/// Runs doctor through `client` (`None`: the one `KUBECONFIG` or the pod's
/// service account gives, made only when a pod is to be read).
pub async fn run_with(
    client: Option<&kube::Client>,
    args: &DoctorArgs,
) -> Result<String, CliError> {
    let catalog = catalog(args)?;
    let (subject, containers, notes) = gather(client, args).await?;
    for n in &notes {
        eprintln!("doctor: {n}");
    }
    let diagnoses: Vec<Diagnosis> = containers.iter().map(|c| diagnose(c, &catalog)).collect();
    let mut out = if args.json {
        let profiles: Vec<String> = merged_proposals(&diagnoses)
            .iter()
            .map(crate::doctor::edit::render_file)
            .collect();
        let mut s = serde_json::to_string_pretty(&serde_json::json!({
            "subject": subject,
            "containers": diagnoses,
            "profileFiles": profiles,
        }))
        .expect("serialises");
        s.push('\n');
        s
    } else {
        render(&subject, &diagnoses)
    };
    if let Some(path) = &args.write {
        let proposals = merged_proposals(&diagnoses);
        if proposals.is_empty() {
            eprintln!("doctor: nothing to add; {} left as it is", path.display());
        } else {
            let name = path.display().to_string();
            let mut text = if path.exists() {
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::bad_input(format!("{name}: cannot read: {e}")))?
            } else {
                String::new()
            };
            for p in &proposals {
                text = apply(&text, &name, p).map_err(CliError::bad_input)?;
            }
            std::fs::write(path, &text)
                .map_err(|e| CliError::bad_input(format!("{name}: cannot write: {e}")))?;
            let added: usize = proposals.iter().map(|p| p.additions.len()).sum();
            let line = format!(
                "wrote {added} path(s) into profile(s) {} of {name}; check it with: pod-hardener profiles check {name}",
                proposals.iter().map(|p| p.profile.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            if args.json {
                eprintln!("doctor: {line}");
            } else {
                out.push_str(&format!("# {line}\n"));
            }
        }
    }
    Ok(out)
}
