//! `profiles check|list|explain`: the profile tuning loop.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::profile::{parse_profile_set, Catalog, ImageRef, WritablePath};

/// `profiles check FILE...`: every error of every file, exit 1 if any.
pub fn check(files: &[PathBuf]) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    for f in files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "{name}: cannot read: {e}");
            }
            Ok(text) => match parse_profile_set(&name, &text) {
                Ok(set) => {
                    let _ = writeln!(out, "{name}: ok ({} profiles)", set.profiles.len());
                }
                Err(errors) => {
                    ok = false;
                    for e in errors {
                        let _ = writeln!(out, "{e}");
                    }
                }
            },
        }
    }
    (out, ok)
}

fn describe_path(w: &WritablePath) -> String {
    let s = w.spec();
    let mut extras = Vec::new();
    if s.medium.is_some() {
        extras.push("Memory".to_string());
    }
    if let Some(l) = &s.size_limit {
        extras.push(l.clone());
    }
    if s.seed {
        extras.push("seed".into());
    }
    if extras.is_empty() {
        s.path
    } else {
        format!("{} ({})", s.path, extras.join(", "))
    }
}

/// `profiles list`: one line per profile, in matching order.
pub fn list(catalog: &Catalog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<12} {:<48} WRITABLE PATHS",
        "NAME", "SOURCE", "MATCH"
    );
    for lp in catalog.profiles() {
        let p = &lp.profile;
        let mut paths: Vec<String> = p.writable_paths.iter().map(describe_path).collect();
        if p.read_only_root_filesystem == Some(false) {
            paths.push("(writable root)".into());
        }
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:<48} {}",
            p.name,
            lp.source,
            p.patterns.join(","),
            paths.join(" ")
        );
    }
    let defaults: Vec<String> = catalog
        .defaults()
        .writable_paths
        .iter()
        .map(describe_path)
        .collect();
    let _ = writeln!(
        out,
        "{:<22} {:<12} {:<48} {}",
        "(defaults)",
        "",
        "any other image",
        defaults.join(" ")
    );
    out
}

/// `profiles explain IMAGE`: the normalised reference, the profile and why.
pub fn explain(catalog: &Catalog, image: &str) -> Result<String, String> {
    let parsed = ImageRef::parse(image).map_err(|e| e.to_string())?;
    let r = catalog.resolve(image);
    let mut out = String::new();
    let _ = writeln!(out, "image:       {image}");
    let _ = writeln!(out, "normalised:  {parsed}");
    match (r.profile, r.pattern) {
        (Some(lp), Some(pat)) => {
            let _ = writeln!(out, "profile:     {} (from {})", lp.profile.name, lp.source);
            let _ = writeln!(
                out,
                "matched by:  {:?} (repository glob {}), the first matching pattern in order",
                pat.source,
                pat.repository()
            );
            if let Some(d) = &lp.profile.description {
                let _ = writeln!(out, "about:       {d}");
            }
        }
        _ => {
            let _ = writeln!(out, "profile:     none matched; the defaults apply");
        }
    }
    let _ = writeln!(
        out,
        "read-only root: {}",
        if r.read_only_root() {
            "yes"
        } else {
            "no (profile keeps a writable root)"
        }
    );
    let _ = writeln!(out, "writable paths (one emptyDir each):");
    for w in r.writable_paths() {
        let _ = writeln!(out, "  - {}", describe_path(w));
    }
    if !r.data_paths().is_empty() {
        let _ = writeln!(out, "data paths (need a persistent volume):");
        for d in r.data_paths() {
            let _ = writeln!(out, "  - {d}");
        }
    }
    if !r.app_dirs().is_empty() {
        let _ = writeln!(
            out,
            "application dirs (secrets moved off): {}",
            r.app_dirs().join(", ")
        );
    }
    Ok(out)
}
