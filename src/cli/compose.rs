//! `compose`: the webhook's hardening for Docker Compose files. Reads the
//! files, the `.env` file and any file an `extends` names, hands them to the
//! pure `compose` module, and prints the result; or lets Compose itself
//! resolve the project (`--resolve-with compose`) and hardens its `config`
//! output.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::CliError;
use crate::compose::{self, render::Output, TmpfsSyntax};
use crate::harden::Options;
use crate::profile::Catalog;

/// Reads each file (`-` is stdin) as (name, text).
pub(crate) fn read_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, CliError> {
    paths
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            let mut text = String::new();
            let read = if p.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map(|_| ())
            } else {
                std::fs::read_to_string(p).map(|t| text = t)
            };
            read.map(|_| (name.clone(), text))
                .map_err(|e| CliError::bad_input(format!("{name}: cannot read: {e}")))
        })
        .collect()
}

/// `SERVICE=NAME` pairs of `--profile-for`.
pub(crate) fn parse_profile_for(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((service, profile)) if !service.is_empty() && !profile.is_empty() => {
                out.insert(service.to_string(), profile.to_string());
            }
            _ => {
                return Err(CliError::usage(format!(
                    "--profile-for {pair:?}: expected SERVICE=PROFILE, e.g. --profile-for api=nginx"
                )))
            }
        }
    }
    Ok(out)
}

/// Who resolves the project (anchors, `extends`, `.env`, interpolation,
/// several `-f` files) before it is hardened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Resolver {
    /// pod-hardener itself, to the Compose specification (no Compose needed).
    #[default]
    Builtin,
    /// `docker compose config` (or `docker-compose config`) from PATH:
    /// exactly what that Compose will run.
    Compose,
}

/// The `.env` file of the project directory (that of the first file), if any.
fn dot_env(files: &[(String, String)]) -> HashMap<String, String> {
    let first = files.first().map_or("-", |(n, _)| n.as_str());
    let dir = if first == "-" {
        Path::new(".")
    } else {
        Path::new(first).parent().unwrap_or(Path::new("."))
    };
    std::fs::read_to_string(dir.join(".env"))
        .map(|t| compose::resolve::parse_env_file(&t))
        .unwrap_or_default()
}

/// The project resolved in-process: the shell's variables over `.env`,
/// `extends` files read from disk.
fn load_builtin(files: &[(String, String)]) -> Result<compose::Project, CliError> {
    let dot_env = dot_env(files);
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| dot_env.get(name).cloned())
    };
    let read = |name: &str| std::fs::read_to_string(name);
    let sources = compose::Sources {
        env: &env,
        read: &read,
    };
    compose::load_with(files, &sources).map_err(|e| CliError::bad_input(e.to_string()))
}

/// `config` of the first Compose on PATH that runs: `docker compose`, then
/// `docker-compose`.
fn compose_config(paths: &[&str]) -> Result<String, CliError> {
    let mut tried = Vec::new();
    for (program, prefix) in [("docker", &["compose"][..]), ("docker-compose", &[][..])] {
        let name = [&[program][..], prefix].concat().join(" ");
        // A docker CLI without the compose plugin fails on any compose command.
        let installed = Command::new(program)
            .args(prefix)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            tried.push(format!("{name}: not installed"));
            continue;
        }
        let mut command = Command::new(program);
        command.args(prefix);
        for p in paths {
            command.args(["-f", p]);
        }
        let output = command
            .arg("config")
            .output()
            .map_err(|e| CliError::bad_input(format!("`{name} config`: {e}")))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            return String::from_utf8(output.stdout).map_err(|_| {
                CliError::bad_input(format!("`{name} config` printed something not UTF-8"))
            });
        }
        return Err(CliError::bad_input(format!(
            "`{name} config` rejected the project:\n{}",
            stderr.trim_end()
        )));
    }
    Err(CliError::usage(format!(
        "--resolve-with compose needs `docker compose` or `docker-compose` on PATH ({})",
        tried.join("; ")
    )))
}

/// The project as Compose's own `config` prints it, with the file names and
/// format version of the user's files (the override is used with those).
fn load_through_compose(files: &[(String, String)]) -> Result<compose::Project, CliError> {
    if files.iter().any(|(n, _)| n == "-") {
        return Err(CliError::usage(
            "--resolve-with compose reads files from disk; stdin (-f -) needs --resolve-with builtin",
        ));
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let resolved = compose_config(&names)?;
    let format = compose::Format::of(&files[0].1);
    let mut project = compose::load(&[("compose config".to_string(), resolved)])
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    project.files = names.iter().map(|n| n.to_string()).collect();
    project.format = format;
    Ok(project)
}

/// Everything `compose` needs besides the file texts.
pub struct Request<'a> {
    pub catalog: &'a Catalog,
    pub options: &'a Options,
    pub profile_for: &'a [String],
    pub output: Output,
    pub tmpfs_syntax: TmpfsSyntax,
    pub colour: bool,
    pub resolver: Resolver,
}

/// Loads, plans and renders; the error carries the exit code.
pub fn run(files: &[(String, String)], request: &Request<'_>) -> Result<String, CliError> {
    let profile_for = parse_profile_for(request.profile_for)?;
    let project = match request.resolver {
        Resolver::Builtin => load_builtin(files)?,
        Resolver::Compose => load_through_compose(files)?,
    };
    for warning in &project.warnings {
        eprintln!("warning: {warning}");
    }
    let plan = compose::plan(&project, request.catalog, request.options, &profile_for)
        .map_err(CliError::usage)?;
    Ok(compose::render::render(
        &project,
        &plan,
        request.output,
        request.tmpfs_syntax,
        request.colour,
    ))
}
