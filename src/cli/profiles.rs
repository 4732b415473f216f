//! `profiles check|list|explain`: the profile tuning loop.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::cli::CliError;
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
/// Width of the MATCH column of `profiles list`.
const MATCH_WIDTH: usize = 48;

/// A pattern cut to the MATCH column, with `...` where it was cut.
fn fit(pattern: &str) -> String {
    if pattern.chars().count() <= MATCH_WIDTH {
        return pattern.to_string();
    }
    let head: String = pattern.chars().take(MATCH_WIDTH - 3).collect();
    format!("{head}...")
}

/// `profiles list`: the matching order. For a terminal (`wrap`), one pattern
/// per line, each cut to the column, so that rows stay readable; otherwise
/// one line per profile with every pattern whole, for scripts.
pub fn list(catalog: &Catalog, wrap: bool) -> String {
    let mut out = String::new();
    let mut row = |name: &str, source: &str, patterns: &[String], paths: &str| {
        let first = if wrap {
            patterns.first().map(|p| fit(p)).unwrap_or_default()
        } else {
            patterns.join(",")
        };
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:<w$} {}",
            name,
            source,
            first,
            paths,
            w = MATCH_WIDTH
        );
        if wrap {
            for p in patterns.iter().skip(1) {
                let _ = writeln!(out, "{:<22} {:<12} {}", "", "", fit(p));
            }
        }
    };
    row("NAME", "SOURCE", &["MATCH".to_string()], "WRITABLE PATHS");
    for lp in catalog.profiles() {
        let p = &lp.profile;
        let mut paths: Vec<String> = p.writable_paths.iter().map(describe_path).collect();
        if p.read_only_root_filesystem == Some(false) {
            paths.push("(writable root)".into());
        }
        row(&p.name, &lp.source, &p.patterns, &paths.join(" "));
    }
    let defaults: Vec<String> = catalog
        .defaults()
        .writable_paths
        .iter()
        .map(describe_path)
        .collect();
    row(
        "(defaults)",
        "",
        &["any other image".to_string()],
        &defaults.join(" "),
    );
    out.lines()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect()
}

/// `profiles explain IMAGE`: the normalised reference, the profile and why.
pub fn explain(catalog: &Catalog, image: &str) -> Result<String, CliError> {
    let parsed = ImageRef::parse(image).map_err(CliError::bad_input)?;
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

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn on_a_terminal_each_pattern_has_its_own_line_within_the_column() {
        let c = Catalog::builtin();
        let wrapped = list(&c, true);
        let limit = 22 + 1 + 12 + 1 + MATCH_WIDTH;
        for line in wrapped.lines() {
            // continuation lines hold one pattern and nothing after it
            if line.starts_with(' ') {
                assert!(line.chars().count() <= limit, "{line}");
            }
        }
        let unprivileged: Vec<&str> = wrapped
            .lines()
            .skip_while(|l| !l.starts_with("nginx-unprivileged "))
            .take_while(|l| l.starts_with("nginx-unprivileged ") || l.starts_with(' '))
            .collect();
        let patterns = c
            .by_name("nginx-unprivileged")
            .unwrap()
            .profile
            .unwrap()
            .profile
            .patterns
            .len();
        assert_eq!(unprivileged.len(), patterns, "{wrapped}");
        assert!(unprivileged[0].ends_with(" /tmp"), "{}", unprivileged[0]);
        assert_eq!(fit(&"x".repeat(60)), format!("{}...", "x".repeat(45)));

        // For scripts: one line per profile, patterns whole.
        let plain = list(&c, false);
        assert_eq!(plain.lines().count(), c.profiles().len() + 2);
        assert!(plain
            .contains("docker.io/nginxinc/nginx-unprivileged,ghcr.io/nginx/nginx-unprivileged"));
    }
}
