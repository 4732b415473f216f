//! Image reference normalisation and pattern matching.
//!
//! Profiles name images by their *normalised* repository
//! (`docker.io/library/nginx`), the way the container runtime resolves a short
//! name. Both the pod's image and a profile's pattern go through the same
//! normalisation so that `nginx`, `docker.io/nginx` and
//! `index.docker.io/library/nginx:latest` all meet at one name.

use std::fmt;

/// The default registry of short image names, as the container runtimes use it.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// An image reference split into its parts, the repository normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `registry/path`, e.g. `docker.io/library/nginx` or `localhost:5000/app`.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `algorithm:hex`, when pinned.
    pub digest: Option<String>,
}

/// Why an image reference could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ImageRefError {
    pub reference: String,
    pub reason: &'static str,
}

impl ImageRef {
    /// Parses and normalises a reference the way the container runtime does.
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        let fail = |reason| ImageRefError {
            reference: reference.to_string(),
            reason,
        };
        let trimmed = reference.trim();
        if trimmed.is_empty() {
            return Err(fail("empty"));
        }
        // Bytes where the reference is ASCII (as every valid one is): for
        // ASCII, these two tests are exactly what `char`'s say.
        let has_space = if trimmed.is_ascii() {
            trimmed
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        } else {
            trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if has_space {
            return Err(fail("contains whitespace"));
        }
        let (name_and_tag, digest) = match trimmed.split_once('@') {
            Some((n, d)) => {
                if !is_valid_digest(d) {
                    return Err(fail("digest must look like sha256:<hex>"));
                }
                (n, Some(d.to_string()))
            }
            None => (trimmed, None),
        };
        let (name, tag) = split_tag(name_and_tag);
        if let Some(t) = tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            {
                return Err(fail("tag may hold only letters, digits, '_', '.', '-'"));
            }
        }
        if name.is_empty() || name.split('/').any(str::is_empty) {
            return Err(fail("empty path component"));
        }
        let repository = normalise_repository(name);
        let path = repository.split_once('/').map(|(_, p)| p).unwrap_or("");
        if !path.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        }) {
            return Err(fail(
                "repository path may hold only lowercase letters, digits, '.', '_', '-', '/'",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn is_valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((algo, hex)) => {
            !algo.is_empty()
                && algo
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Splits `name[:tag]`; a colon before the last `/` belongs to a registry port.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

/// `nginx` -> `docker.io/library/nginx`, `bitnami/redis` -> `docker.io/bitnami/redis`,
/// `index.docker.io/x` -> `docker.io/x`; a first component with `.` or `:`, or
/// `localhost`, is a registry and stays.
fn normalise_repository(name: &str) -> String {
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    match (is_registry, rest) {
        (true, Some(rest)) => {
            let registry = if first == "index.docker.io" || first == "registry-1.docker.io" {
                DOCKER_HUB
            } else {
                first
            };
            if registry == DOCKER_HUB && !rest.contains('/') {
                [DOCKER_HUB, "/library/", rest].concat()
            } else {
                [registry, "/", rest].concat()
            }
        }
        (_, None) => [DOCKER_HUB, "/library/", name].concat(),
        (false, Some(_)) => [DOCKER_HUB, "/", name].concat(),
    }
}

/// A profile's `match` entry: a repository glob, optionally a tag glob or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    /// The pattern as written in the file, for explanations.
    pub source: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImagePattern {
    /// Parses a pattern. A repository without `*` is normalised like an image;
    /// one whose first component holds a `*` is taken as written.
    pub fn parse(pattern: &str) -> Result<Self, ImageRefError> {
        let fail = |reason| ImageRefError {
            reference: pattern.to_string(),
            reason,
        };
        let p = pattern.trim();
        if p.is_empty() {
            return Err(fail("empty pattern"));
        }
        if p.chars().any(char::is_whitespace) {
            return Err(fail("contains whitespace"));
        }
        let (rest, digest) = match p.split_once('@') {
            Some((r, d)) => {
                if !is_valid_digest(d) {
                    return Err(fail("digest must look like sha256:<hex>"));
                }
                (r, Some(d.to_string()))
            }
            None => (p, None),
        };
        let (repo, tag) = split_tag(rest);
        if repo.is_empty() || repo.split('/').any(str::is_empty) {
            return Err(fail("empty path component"));
        }
        if tag.is_some_and(str::is_empty) {
            return Err(fail("empty tag after ':'"));
        }
        if repo.contains("**") {
            return Err(fail(
                "'**' is not supported; '*' already matches across '/'",
            ));
        }
        let first = repo.split('/').next().unwrap_or("");
        let repository = if first.contains('*') {
            repo.to_string()
        } else {
            normalise_repository(repo)
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail("repository must be lowercase"));
        }
        Ok(ImagePattern {
            source: pattern.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The normalised repository glob.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn matches(&self, image: &ImageRef) -> bool {
        if !glob_match(&self.repository, &image.repository) {
            return false;
        }
        if let Some(tag_glob) = &self.tag {
            match &image.tag {
                Some(tag) if glob_match(tag_glob, tag) => {}
                _ => return false,
            }
        }
        if let Some(d) = &self.digest {
            if image.digest.as_deref() != Some(d.as_str()) {
                return false;
            }
        }
        true
    }
}

/// Glob with `*` (any run of characters, `/` included) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_the_runtime() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            norm("index.docker.io/library/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(norm("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            norm("localhost:5000/team/app:v1"),
            "localhost:5000/team/app:v1"
        );
        assert_eq!(
            norm("registry.example.com:443/app"),
            "registry.example.com:443/app:latest"
        );
        assert_eq!(
            norm("quay.io/keycloak/keycloak:26.0"),
            "quay.io/keycloak/keycloak:26.0"
        );
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            norm(&format!("nginx@{d}")),
            format!("docker.io/library/nginx@{d}")
        );
        assert_eq!(
            norm(&format!("nginx:1.25@{d}")),
            format!("docker.io/library/nginx:1.25@{d}")
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            " ",
            "nginx:",
            "a//b",
            "Nginx",
            "nginx@sha256:xyz",
            "nginx:a b",
            "/x",
            "ngi\u{0b}nx",
            "nginx\u{7f}",
            "ngi\u{a0}nx",
            "ngi\u{2028}nx",
            "ngi\u{85}nx",
            "caf\u{e9}",
            "nginx:t\u{e9}",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        for (bad, reason) in [
            ("ngi\u{0b}nx", "contains whitespace"),
            ("ngi\u{a0}nx", "contains whitespace"),
            ("ngi\u{85}nx", "contains whitespace"),
        ] {
            assert_eq!(ImageRef::parse(bad).unwrap_err().reason, reason, "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_normalised_repositories() {
        let nginx = ImagePattern::parse("nginx").unwrap();
        assert!(nginx.matches(&ImageRef::parse("nginx:1.25-alpine").unwrap()));
        assert!(nginx.matches(&ImageRef::parse("docker.io/library/nginx").unwrap()));
        assert!(!nginx.matches(&ImageRef::parse("nginxinc/nginx-unprivileged").unwrap()));

        let legacy = ImagePattern::parse("registry.example.com/legacy/*").unwrap();
        assert!(legacy.matches(&ImageRef::parse("registry.example.com/legacy/a/b:1").unwrap()));
        assert!(!legacy.matches(&ImageRef::parse("registry.example.com/other/a").unwrap()));

        let pinned = ImagePattern::parse("docker.io/library/php:*fpm*").unwrap();
        assert!(pinned.matches(&ImageRef::parse("php:8.3-fpm-alpine").unwrap()));
        assert!(!pinned.matches(&ImageRef::parse("php:8.3-apache").unwrap()));

        let any_registry = ImagePattern::parse("*/nginx/nginx-unprivileged").unwrap();
        assert!(any_registry.matches(&ImageRef::parse("ghcr.io/nginx/nginx-unprivileged").unwrap()));

        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let by_digest = ImagePattern::parse(&format!("redis@{d}")).unwrap();
        assert!(by_digest.matches(&ImageRef::parse(&format!("redis:7@{d}")).unwrap()));
        assert!(!by_digest.matches(&ImageRef::parse("redis:7").unwrap()));
    }

    #[test]
    fn glob() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*x*y", "axbxy"));
        assert!(!glob_match("*x*y", "axbxz"));
    }
}
