//! Meaning checks for profile files, with errors that point at a line.
//!
//! serde gives the line of syntax and type errors; the checks here find the
//! line of the offending value in the source text, so every error a user sees
//! names file, line and what to change.

use std::collections::HashSet;
use std::fmt;

use super::image::ImagePattern;
use super::model::{Defaults, Profile, ProfileSet, WritablePath, API_VERSION, KIND};

/// One problem in a profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub file: String,
    /// 1-based; 0 when the position is unknown.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for ProfileError {}

/// Parses and validates one profile file's text.
pub fn parse_profile_set(file: &str, text: &str) -> Result<ProfileSet, Vec<ProfileError>> {
    let set: ProfileSet = crate::yaml::read::from_str(text).map_err(|e| {
        vec![ProfileError {
            file: file.to_string(),
            line: crate::yaml::read::location(&e).map_or(0, |(line, _)| line),
            message: crate::yaml::read::describe(&e, file),
        }]
    })?;
    let errors = validate(file, text, &set);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// Finds the first line at or after `from` (1-based) whose text holds `needle`.
fn line_of(text: &str, needle: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .unwrap_or(from)
}

/// The line of `name: <name>` (as a list item or not) at or after `from`.
fn name_line(text: &str, name: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let l = l.trim().trim_start_matches("- ").trim();
            l.strip_prefix("name:")
                .map(|v| {
                    v.split('#')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .trim_matches(['"', '\''])
                        == name
                })
                .unwrap_or(false)
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(from)
}

fn validate(file: &str, text: &str, set: &ProfileSet) -> Vec<ProfileError> {
    let mut errors = Vec::new();
    let mut err = |line: usize, message: String| {
        errors.push(ProfileError {
            file: file.to_string(),
            line,
            message,
        })
    };
    check_header(&mut err, text, set);
    if let Some(d) = &set.defaults {
        check_defaults(&mut err, text, d);
    }
    let mut names = HashSet::new();
    let mut cursor = 1;
    for (i, p) in set.profiles.iter().enumerate() {
        let at = name_line(text, &p.name, cursor);
        cursor = at + 1;
        let label = format!("profiles[{i}] ({})", p.name);
        check_profile_name(&mut err, text, at, &label, p, &mut names);
        check_profile_paths(&mut err, text, at, &label, p);
    }
    errors
}

/// `apiVersion` and `kind`.
fn check_header(err: &mut impl FnMut(usize, String), text: &str, set: &ProfileSet) {
    if set.api_version != API_VERSION {
        err(
            line_of(text, "apiVersion", 1),
            format!(
                "apiVersion is {:?}; set it to {API_VERSION:?}",
                set.api_version
            ),
        );
    }
    if set.kind != KIND {
        err(
            line_of(text, "kind", 1),
            format!("kind is {:?}; set it to {KIND:?}", set.kind),
        );
    }
}

/// The `defaults:` section's writable paths and app dirs.
fn check_defaults(err: &mut impl FnMut(usize, String), text: &str, d: &Defaults) {
    let at = line_of(text, "defaults", 1);
    check_paths(err, text, at, "defaults.writablePaths", &d.writable_paths);
    check_app_dirs(err, text, at, "defaults.appDirs", &d.app_dirs);
}

/// App dirs, each a usable mount path; `label` names the list.
fn check_app_dirs(
    err: &mut impl FnMut(usize, String),
    text: &str,
    at: usize,
    label: &str,
    dirs: &[String],
) {
    for dir in dirs {
        if let Some(why) = path_problem(dir) {
            err(line_of(text, dir, at), format!("{label} {dir:?}: {why}"));
        }
    }
}

/// A profile's name (a DNS label, unique among `names`) and its `match` list.
fn check_profile_name(
    err: &mut impl FnMut(usize, String),
    text: &str,
    at: usize,
    label: &str,
    p: &Profile,
    names: &mut HashSet<String>,
) {
    if !is_dns_label(&p.name) {
        err(
            at,
            format!("{label}: name must be a DNS-1123 label (lowercase letters, digits, '-', at most 63)"),
        );
    }
    if !names.insert(p.name.clone()) {
        err(
            at,
            format!("{label}: duplicate profile name; names must be unique"),
        );
    }
    if p.patterns.is_empty() {
        err(
            at,
            format!("{label}: match is empty; list at least one image pattern"),
        );
    }
    for pat in &p.patterns {
        if let Err(e) = ImagePattern::parse(pat) {
            err(
                line_of(text, pat, at),
                format!("{label}: match {pat:?}: {}", e.reason),
            );
        }
    }
}

/// A profile's writable paths, data paths and app dirs.
fn check_profile_paths(
    err: &mut impl FnMut(usize, String),
    text: &str,
    at: usize,
    label: &str,
    p: &Profile,
) {
    check_paths(
        err,
        text,
        at,
        &format!("{label}: writablePaths"),
        &p.writable_paths,
    );
    let mut seen = HashSet::new();
    for d in &p.data_paths {
        if let Some(why) = path_problem(d) {
            err(
                line_of(text, d, at),
                format!("{label}: dataPaths {d:?}: {why}"),
            );
        } else if !seen.insert(d.as_str()) {
            err(
                line_of(text, d, at),
                format!("{label}: dataPaths {d:?} is listed twice"),
            );
        }
    }
    check_app_dirs(err, text, at, &format!("{label}: appDirs"), &p.app_dirs);
}

fn check_paths(
    err: &mut impl FnMut(usize, String),
    text: &str,
    at: usize,
    label: &str,
    paths: &[WritablePath],
) {
    let mut seen = HashSet::new();
    for wp in paths {
        let spec = wp.spec();
        // Looked up only for an error: a search per path made loading the
        // built-in catalog quadratic (two fifths of a `preview`'s start-up).
        let line = || line_of(text, &spec.path, at);
        if let Some(why) = writable_path_problem(&spec.path) {
            err(line(), format!("{label} {:?}: {why}", spec.path));
            continue;
        }
        if !seen.insert(spec.path.clone()) {
            err(
                line(),
                format!("{label} {:?} is listed twice; keep one", spec.path),
            );
        }
        if let Some(size) = &spec.size_limit {
            if !is_quantity(size) {
                err(
                    line_of(text, size, line()),
                    format!(
                        "{label} {:?}: sizeLimit {size:?} is not a Kubernetes quantity (e.g. 64Mi, 1Gi, 500M)",
                        spec.path
                    ),
                );
            }
        }
    }
}

/// Linux refuses longer paths.
pub(crate) const PATH_MAX: usize = 4096;

/// Why a path cannot be a mount path, if it cannot.
pub(crate) fn path_problem(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        return Some("must be absolute (start with '/')");
    }
    if p.len() > 1 && p.ends_with('/') {
        return Some("must not end with '/'");
    }
    if p.split('/').any(|c| c == ".." || c == ".") {
        return Some("must not contain '.' or '..' components");
    }
    if p.contains("//") {
        return Some("must not contain '//'");
    }
    if p.contains(':') {
        return Some("must not contain ':'");
    }
    if p.len() > PATH_MAX {
        return Some("must be at most 4096 bytes (PATH_MAX)");
    }
    if p.chars().any(|c| c.is_control()) {
        return Some("must not contain control characters");
    }
    None
}

/// Why a path cannot be a writable path (an emptyDir's mount), if it cannot:
/// any mount path problem, and `/` (the runtime refuses a volume over the
/// root, and it would hide the whole image).
pub(crate) fn writable_path_problem(p: &str) -> Option<&'static str> {
    if p == "/" {
        return Some("an emptyDir at / would hide the whole image");
    }
    path_problem(p)
}

/// RFC 1123 label: what Kubernetes demands of volume and container names.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
pub(crate) fn is_quantity(s: &str) -> bool {
    const SUFFIXES: [&str; 14] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P",
    ];
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let valid_number = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let valid_suffix = suffix.is_empty()
        || SUFFIXES.contains(&suffix)
        || suffix == "E"
        || (suffix.len() > 1
            && (suffix.starts_with('e') || suffix.starts_with('E'))
            && suffix[1..]
                .trim_start_matches(['+', '-'])
                .chars()
                .all(|c| c.is_ascii_digit())
            && !suffix[1..].trim_start_matches(['+', '-']).is_empty());
    valid_number && valid_suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["64Mi", "1Gi", "500M", "1", "0.5Gi", "1e3", "100m"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Mi", "64MB", "1.2.3", "-1", "64 Mi", "1e"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths:\n      - /tmp\n      - relative/dir\n      - path: /cache\n        sizeLimit: lots\n";
        let errs = parse_profile_set("p.yaml", text).unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("p.yaml:8: "), "{shown:?}");
        assert!(shown[0].contains("must be absolute"));
        assert!(shown[1].starts_with("p.yaml:10: "), "{shown:?}");
        assert!(shown[1].contains("not a Kubernetes quantity"));
    }

    #[test]
    fn root_is_refused_as_a_writable_path() {
        // Issue 17.9: an emptyDir at / is refused by the runtime and would
        // hide the image. `/` stays fine as a data path or app dir.
        let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths: [/tmp, /]\n    appDirs: [/]\n";
        let errs = parse_profile_set("p.yaml", text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 6);
        assert!(
            errs[0].message.contains("would hide the whole image"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_line() {
        let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writeablePaths: [/tmp]\n";
        let errs = parse_profile_set("p.yaml", text).unwrap_err();
        assert_eq!(errs[0].line, 6, "{}", errs[0]);
        assert!(errs[0].message.contains("writeablePaths"), "{}", errs[0]);
    }

    #[test]
    fn duplicates_and_bad_patterns() {
        let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [\"Nginx\"]\n    writablePaths: [/tmp, /tmp]\n  - name: a\n    match: [redis]\n";
        let errs = parse_profile_set("p.yaml", text).unwrap_err();
        let all = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            all.contains("p.yaml:5: profiles[0] (a): match \"Nginx\""),
            "{all}"
        );
        assert!(
            all.contains("p.yaml:6: profiles[0] (a): writablePaths \"/tmp\" is listed twice"),
            "{all}"
        );
        assert!(
            all.contains("p.yaml:7: profiles[1] (a): duplicate profile name"),
            "{all}"
        );
    }
}
