//! What a service already mounts, read from its `volumes` (short
//! `SOURCE:TARGET:MODE` and long syntax) and `tmpfs`, so that a writable path
//! already covered gets nothing new; and the Compose spelling of tmpfs sizes.

use serde_yaml::Value;

use super::value::as_list;
use crate::harden::paths::clean_keep_relative as clean;

/// What backs a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MountKind {
    /// A host path (`./conf:/etc/app`, `type: bind`).
    Bind,
    /// A named volume (`data:/var/lib/mysql`, `type: volume` with a source).
    Volume,
    /// An anonymous volume (`/var/lib/mysql`, `type: volume` without source).
    Anonymous,
    Tmpfs,
    /// Anything else (`npipe`, `cluster`, ...).
    Other,
}

/// One existing mount of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

/// A host path rather than a volume name: Compose's own test.
fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || source.contains('/')
}

/// One `volumes` entry; the error says what is wrong with it.
/// Why a `volumes` entry is not one Compose accepts.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MountError {
    #[error("`target` must be a container path")]
    TargetNotPath,
    #[error("long syntax needs `target` (the container path)")]
    NoTarget,
    #[error("`source` must be a string")]
    SourceNotString,
    #[error("`read_only` must be true or false")]
    ReadOnlyNotBool,
    #[error("must be SOURCE:TARGET[:MODE] or a mapping with `target`")]
    Malformed,
    #[error("{text:?} has too many `:` (SOURCE:TARGET:MODE)")]
    TooManyColons { text: String },
    #[error("{text:?}: the container path {target:?} must be absolute")]
    RelativeTarget { text: String, target: String },
}

pub(crate) fn parse_volume(entry: &Value) -> Result<Mount, MountError> {
    match entry {
        Value::String(s) => parse_short(s),
        Value::Mapping(m) => {
            let target = match m.get("target") {
                Some(Value::String(t)) if !t.is_empty() => t,
                Some(_) => return Err(MountError::TargetNotPath),
                None => return Err(MountError::NoTarget),
            };
            let source = match m.get("source") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(MountError::SourceNotString),
            };
            let kind = match m.get("type").and_then(Value::as_str) {
                Some("bind") => MountKind::Bind,
                Some("volume") | None if source.is_some() => MountKind::Volume,
                Some("volume") | None => MountKind::Anonymous,
                Some("tmpfs") => MountKind::Tmpfs,
                Some(_) => MountKind::Other,
            };
            let read_only = match m.get("read_only") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(MountError::ReadOnlyNotBool),
            };
            Ok(Mount {
                kind,
                source,
                target: clean(target),
                read_only,
            })
        }
        _ => Err(MountError::Malformed),
    }
}

/// `TARGET`, `SOURCE:TARGET` or `SOURCE:TARGET:MODE`.
fn parse_short(text: &str) -> Result<Mount, MountError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode] => (Some(*source), *target, *mode),
        _ => {
            return Err(MountError::TooManyColons {
                text: text.to_string(),
            })
        }
    };
    if !target.starts_with('/') {
        return Err(MountError::RelativeTarget {
            text: text.to_string(),
            target: target.to_string(),
        });
    }
    let kind = match source {
        None => MountKind::Anonymous,
        Some(s) if is_host_path(s) => MountKind::Bind,
        Some(_) => MountKind::Volume,
    };
    Ok(Mount {
        kind,
        source: source.map(str::to_string),
        target: clean(target),
        read_only: mode.split(',').any(|o| o == "ro"),
    })
}

/// The container path of a `volumes` (or `devices`) entry, for merging.
pub(crate) fn target_of(entry: &Value) -> Option<String> {
    match entry {
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(clean),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let t = if parts.len() == 1 { parts[0] } else { parts[1] };
            Some(clean(t))
        }
        _ => None,
    }
}

/// A `tmpfs` entry (`/run` or `/tmp:size=64m,mode=1777`).
pub(crate) fn parse_tmpfs(entry: &str) -> Mount {
    let (path, options) = entry.split_once(':').unwrap_or((entry, ""));
    Mount {
        kind: MountKind::Tmpfs,
        source: None,
        target: clean(path),
        read_only: options.split(',').any(|o| o == "ro"),
    }
}

/// Every mount of a service: `volumes` then `tmpfs`. Entries that do not parse
/// were rejected by `parse` already and are skipped.
pub(crate) fn service_mounts(service: &serde_yaml::Mapping) -> Vec<Mount> {
    let mut out: Vec<Mount> = service
        .get("volumes")
        .map(as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| parse_volume(v).ok())
        .collect();
    for t in service.get("tmpfs").map(as_list).unwrap_or_default() {
        if let Some(s) = t.as_str() {
            out.push(parse_tmpfs(s));
        }
    }
    out
}

/// A Kubernetes quantity (a profile's `sizeLimit`) as a tmpfs size: the short
/// syntax option (`64m`, kernel units, 1024-based) and the byte count that the
/// long syntax's `tmpfs.size` takes. Decimal exponents (`1e3`, `5E6`) count as
/// Kubernetes reads them. `None` for what is not a byte quantity (`500m` is
/// half a byte) or does not fit.
pub(crate) fn tmpfs_size(quantity: &str) -> Option<(String, u64)> {
    let end = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(end);
    let binary = |shift: u32| 1u64 << shift;
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .filter(|e| !e.is_empty())
        .and_then(|e| e.parse::<i32>().ok());
    let (factor, kernel_unit) = match (suffix, exponent) {
        (_, Some(exp)) if (0..=18).contains(&exp) => (10u64.pow(exp as u32), None),
        (_, Some(_)) => return None,
        ("", _) => (1, None),
        ("Ki", _) => (binary(10), Some('k')),
        ("Mi", _) => (binary(20), Some('m')),
        ("Gi", _) => (binary(30), Some('g')),
        ("Ti", _) => (binary(40), None),
        ("Pi", _) => (binary(50), None),
        ("Ei", _) => (binary(60), None),
        ("k", _) => (1_000, None),
        ("M", _) => (1_000_000, None),
        ("G", _) => (1_000_000_000, None),
        ("T", _) => (1_000_000_000_000, None),
        ("P", _) => (1_000_000_000_000_000, None),
        ("E", _) => (1_000_000_000_000_000_000, None),
        _ => return None,
    };
    let bytes = if let Ok(whole) = number.parse::<u64>() {
        whole.checked_mul(factor)?
    } else {
        let f: f64 = number.parse().ok()?;
        let bytes = (f * factor as f64).ceil();
        if bytes.is_nan() || bytes >= u64::MAX as f64 {
            return None;
        }
        bytes as u64
    };
    if bytes == 0 {
        return None;
    }
    let short = match (kernel_unit, number.parse::<u64>()) {
        (Some(unit), Ok(n)) => format!("{n}{unit}"),
        _ => bytes.to_string(),
    };
    Some((short, bytes))
}

/// A file or directory name that suggests secret material (keys, passwords,
/// tokens, `.env` files), for bind mounts, which carry no type to tell.
pub(crate) fn looks_secret(path: &str) -> bool {
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    const WORDS: [&str; 9] = [
        "secret",
        "password",
        "passwd",
        "credential",
        "token",
        "htpasswd",
        "id_rsa",
        "id_ed25519",
        "private",
    ];
    const EXTENSIONS: [&str; 8] = [
        ".key",
        ".pem",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".env",
        ".kdbx",
    ];
    name == ".env"
        || WORDS.iter().any(|w| name.contains(w))
        || EXTENSIONS.iter().any(|e| name.ends_with(e))
}
