//! `doctor`: why a hardened container broke, and the profile entry that fixes it.
//!
//! A read-only root shows up in a container's output as EROFS errors. This
//! module reads that output (termination messages, logs, events: fetched by
//! `cluster`, or a file), finds every broken write and its path (`parse`),
//! turns paths into the directories to make writable (`suggest`), and writes
//! them as an entry of our profile file format (`edit`). All pure.

pub mod edit;
pub mod parse;
pub(crate) mod suggest;

use std::fmt::Write as _;

use serde::Serialize;

use crate::harden::paths::{clean, is_within};
use crate::profile::image::ImageRef;
use crate::profile::model::{Profile, WritablePath};
use crate::profile::validate::is_dns_label;
use crate::profile::Catalog;
use edit::{Addition, Proposal};
use parse::{find_broken_writes, Finding};
use suggest::directory_for;
/// The directory type of [`edit::Addition`]; the rest of `suggest` is internal.
pub use suggest::Directory;

/// Text to search, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// `termination message`, `previous log`, `events`, a file name, ...
    pub source: String,
    pub text: String,
}

/// One container and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInput {
    pub name: String,
    pub image: String,
    /// The container's `workingDir`, for relative paths and to keep the app's directory.
    pub workdir: Option<String>,
    pub evidence: Vec<Evidence>,
}

/// A broken write, where it was seen, and what doctor makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub finding: Finding,
    pub source: String,
    /// The directory to make writable, when one is suggested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
    /// Why no directory is added for it, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The verdict for one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub container: String,
    pub image: String,
    /// The profile the image resolves to (`defaults` when none).
    pub profile: String,
    pub seen: Vec<Seen>,
    /// The entry to add, when there is something to add.
    #[serde(skip)]
    pub proposal: Option<Proposal>,
}

/// A profile name for an image that matched none: its last path component.
fn new_profile_name(repository: &str, catalog: &Catalog) -> String {
    let last = repository.rsplit('/').next().unwrap_or("app");
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').chars().take(56).collect();
    if !is_dns_label(&name) {
        name = "app".into();
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while catalog.by_name(&candidate).is_some() {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

/// Reads a container's evidence and proposes the profile entry that fixes it.
pub fn diagnose(input: &ContainerInput, catalog: &Catalog) -> Diagnosis {
    let resolution = catalog.resolve(&input.image);
    let mut keep: Vec<String> = resolution.app_dirs().to_vec();
    if let Some(wd) = &input.workdir {
        keep.push(clean(wd));
    }
    let writable: Vec<String> = resolution
        .writable_paths()
        .iter()
        .map(|w| w.path().to_string())
        .collect();
    let mut seen = Vec::new();
    // A crash loop repeats the same line; report each (path, line) once.
    let mut reported = std::collections::HashSet::new();
    for ev in &input.evidence {
        for finding in find_broken_writes(&ev.text) {
            if !reported.insert((finding.path.clone(), finding.line.clone())) {
                continue;
            }
            let (directory, note) = match directory_for(&finding, input.workdir.as_deref(), &keep) {
                Ok(d) => {
                    if let Some(w) = writable.iter().find(|w| is_within(&d.path, w)) {
                        let note = format!(
                            "already writable in profile {}: {w} (was the pod created before the webhook, or is it skipped?)",
                            resolution.name()
                        );
                        (None, Some(note))
                    } else if let Some(dp) = resolution
                        .data_paths()
                        .iter()
                        .find(|p| is_within(&d.path, p))
                    {
                        let note = format!(
                            "{dp} is a data path of profile {}: give it a PersistentVolume",
                            resolution.name()
                        );
                        (None, Some(note))
                    } else {
                        (Some(d), None)
                    }
                }
                Err(why) => (None, Some(why.to_string())),
            };
            seen.push(Seen {
                finding,
                source: ev.source.clone(),
                directory,
                note,
            });
        }
    }

    // One addition per directory; a directory inside another suggested one is covered by it.
    let mut additions: Vec<Addition> = Vec::new();
    for s in &seen {
        let Some(d) = &s.directory else { continue };
        if let Some(a) = additions.iter_mut().find(|a| a.directory.path == d.path) {
            a.directory.seed |= d.seed;
            continue;
        }
        additions.push(Addition {
            directory: d.clone(),
            because: s.finding.line.clone(),
        });
    }
    let all: Vec<String> = additions.iter().map(|a| a.directory.path.clone()).collect();
    additions.retain(|a| {
        !all.iter()
            .any(|o| o != &a.directory.path && is_within(&a.directory.path, o))
    });

    let proposal = if additions.is_empty() {
        None
    } else {
        match resolution.profile {
            Some(lp) => Some(Proposal {
                profile: lp.profile.clone(),
                extends: Some(lp.source.clone()),
                additions,
            }),
            None => ImageRef::parse(&input.image).ok().map(|img| Proposal {
                profile: Profile {
                    name: new_profile_name(&img.repository, catalog),
                    description: None,
                    patterns: vec![img.repository.clone()],
                    writable_paths: resolution.defaults.writable_paths.clone(),
                    data_paths: Vec::new(),
                    read_only_root_filesystem: None,
                    secret_mounts: None,
                    app_dirs: Vec::new(),
                },
                extends: None,
                additions,
            }),
        }
    };
    Diagnosis {
        container: input.name.clone(),
        image: input.image.clone(),
        profile: resolution.name().to_string(),
        seen,
        proposal,
    }
}

/// Merges the proposals of containers that share a profile, so that one entry
/// carries all their additions.
pub fn merged_proposals(diagnoses: &[Diagnosis]) -> Vec<Proposal> {
    let mut out: Vec<Proposal> = Vec::new();
    for p in diagnoses.iter().filter_map(|d| d.proposal.as_ref()) {
        match out.iter_mut().find(|o| o.profile.name == p.profile.name) {
            Some(o) => {
                for a in &p.additions {
                    if !o
                        .additions
                        .iter()
                        .any(|b| is_within(&a.directory.path, &b.directory.path))
                    {
                        o.additions.push(a.clone());
                    }
                }
                for pat in &p.profile.patterns {
                    if !o.profile.patterns.contains(pat) {
                        o.profile.patterns.push(pat.clone());
                    }
                }
            }
            None => out.push(p.clone()),
        }
    }
    out
}

/// The human report: what broke in each container, and the entries to add.
pub fn render(subject: &str, diagnoses: &[Diagnosis]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# doctor: {subject}");
    for d in diagnoses {
        if d.container == d.image {
            // Offline, with no --container: the image is all there is to name.
            let _ = writeln!(out, "#\n# image {} (profile {}):", d.image, d.profile);
        } else {
            let _ = writeln!(
                out,
                "#\n# container {:?} (image {}, profile {}):",
                d.container, d.image, d.profile
            );
        }
        if d.seen.is_empty() {
            let _ = writeln!(out, "#   no read-only filesystem errors found");
        }
        for s in &d.seen {
            let what = s.finding.path.as_deref().unwrap_or("(no path)");
            let verdict = match (&s.directory, &s.note) {
                (Some(dir), _) if dir.seed => format!("add {} (seeded)", dir.path),
                (Some(dir), _) => format!("add {}", dir.path),
                (None, Some(note)) => note.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "#   {what} [{}, {}]: {verdict}",
                s.finding.form, s.source
            );
            let _ = writeln!(out, "#     {}", edit_line(&s.finding.line));
        }
    }
    let proposals = merged_proposals(diagnoses);
    if proposals.is_empty() {
        let _ = writeln!(out, "#\n# nothing to add to a profile");
    }
    for p in proposals {
        out.push_str("---\n");
        out.push_str(&edit::render_file(&p));
    }
    out
}

fn edit_line(line: &str) -> String {
    if line.chars().count() > 160 {
        format!("{}...", line.chars().take(157).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The paths of a writable-path list, for tests and messages.
pub fn paths(list: &[WritablePath]) -> Vec<&str> {
    list.iter().map(WritablePath::path).collect()
}

#[cfg(test)]
mod tests;
