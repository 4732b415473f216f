//! `compose`: the webhook's hardening for Docker Compose files. Reads the
//! files, hands them to the pure `compose` module, and prints the result.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use crate::cli::EXIT_BAD_INPUT;
use crate::compose::{self, render::Output, TmpfsSyntax};
use crate::harden::Options;
use crate::profile::Catalog;

/// Exit code for a command line that cannot work (an unknown service or profile).
pub const EXIT_USAGE: i32 = 2;

/// A failure and the exit code it deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

fn usage(message: String) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message,
    }
}

fn bad_input(message: String) -> Failure {
    Failure {
        code: EXIT_BAD_INPUT,
        message,
    }
}

/// Reads each file (`-` is stdin) as (name, text).
pub fn read_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, Failure> {
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
                .map_err(|e| bad_input(format!("{name}: cannot read: {e}")))
        })
        .collect()
}

/// `SERVICE=NAME` pairs of `--profile-for`.
pub fn parse_profile_for(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((service, profile)) if !service.is_empty() && !profile.is_empty() => {
                out.insert(service.to_string(), profile.to_string());
            }
            _ => {
                return Err(usage(format!(
                    "--profile-for {pair:?}: expected SERVICE=PROFILE, e.g. --profile-for api=nginx"
                )))
            }
        }
    }
    Ok(out)
}

/// Everything `compose` needs besides the file texts.
pub struct Request<'a> {
    pub catalog: &'a Catalog,
    pub options: &'a Options,
    pub profile_for: &'a [String],
    pub output: Output,
    pub tmpfs_syntax: TmpfsSyntax,
    pub colour: bool,
}

/// Loads, plans and renders; the error carries the exit code.
pub fn run(files: &[(String, String)], request: &Request<'_>) -> Result<String, Failure> {
    let profile_for = parse_profile_for(request.profile_for)?;
    let project = compose::load(files).map_err(|e| bad_input(e.to_string()))?;
    let plan =
        compose::plan(&project, request.catalog, request.options, &profile_for).map_err(usage)?;
    Ok(compose::render::render(
        &project,
        &plan,
        request.output,
        request.tmpfs_syntax,
        request.colour,
    ))
}
