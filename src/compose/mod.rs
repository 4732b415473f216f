//! The same hardening for Docker Compose: `read_only: true` and in-memory
//! `tmpfs` mounts instead of `readOnlyRootFilesystem` and emptyDirs.
//!
//! Not every immutable container runs on Kubernetes. This module gives Compose
//! (and Swarm) users the profile catalog the webhook uses, through the same
//! [`Catalog`](crate::profile::Catalog) resolution and the same
//! [`Options`](crate::harden::Options) (rule modes, shared directories), with
//! no I/O of its own:
//!
//! - [`load`] parses one or more Compose files (Compose Specification, or the
//!   version 2.x and 3.x formats), checks the parts hardening reads (errors
//!   name file and line) and merges them in order the way Compose does
//!   ([`merge`]);
//! - [`plan::plan`] decides, per service, the additions and their reasons,
//!   with the webhook's rule kernel (`harden::rules`);
//! - [`render`] writes them as an override file (only the additions, so the
//!   user's file stays untouched), the whole file hardened, a diff, or JSON.
//!
//! Unknown keys pass through untouched and key order is kept.

pub(crate) mod locate;
pub(crate) mod merge;
pub mod mounts;
pub mod plan;
pub mod render;
pub mod resolve;
#[cfg(test)]
mod tests;
mod value;

use serde_yaml::{Mapping, Value};

use locate::{line_of, Step};
pub use resolve::Sources;

pub use plan::{plan, TmpfsSyntax};

/// A problem in one input file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ComposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ComposeError {}

/// Which Compose file format a project is written in, from its `version:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `version: "2"` to `"2.4"`.
    V2(String),
    /// `version: "3"` to `"3.9"`.
    V3(String),
    /// No `version:` (the Compose Specification).
    Spec,
}

impl Format {
    /// The format a file's `version:` names, read without resolving anything
    /// else (Spec when it names none or cannot be read).
    pub fn of(text: &str) -> Format {
        let version =
            crate::yaml::read::value(text)
                .ok()
                .and_then(|doc| match doc.get("version") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
        match version {
            Some(v) if v.starts_with('2') => Format::V2(v),
            Some(v) if v.starts_with('3') => Format::V3(v),
            _ => Format::Spec,
        }
    }

    /// The `version:` to write into an override file: the same as the base,
    /// since Compose implementations compare them.
    pub fn version(&self) -> Option<&str> {
        match self {
            Format::V2(v) | Format::V3(v) => Some(v),
            Format::Spec => None,
        }
    }
}

/// The merged Compose project and what it was read from.
#[derive(Debug, Clone)]
pub struct Project {
    /// The files, in the order given, as they were named.
    pub files: Vec<String>,
    pub format: Format,
    /// All files merged in order; key order is that of the first file that set each key.
    pub document: Mapping,
    /// What Compose would refuse or ignore but hardening can go on without
    /// (a mistyped service key), as `FILE:LINE: message`.
    pub warnings: Vec<String>,
}

impl Project {
    /// The services in file order, with their definitions.
    pub fn services(&self) -> impl Iterator<Item = (&str, &Mapping)> {
        self.document
            .get("services")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_mapping()?)))
    }
}

/// Parses and checks each file (name, text) with the process environment for
/// variables, then merges them in order; see [`load_with`].
pub fn load(files: &[(String, String)]) -> Result<Project, ComposeError> {
    load_with(files, &Sources::process())
}

/// Resolves the project the way Compose does: each file parsed with its
/// merge keys expanded and its variables interpolated from `sources`, then
/// checked; the files merged in order; then every `extends` followed.
pub(crate) fn load_with(
    files: &[(String, String)],
    sources: &Sources<'_>,
) -> Result<Project, ComposeError> {
    if files.is_empty() {
        return Err(ComposeError {
            file: "<none>".into(),
            line: 1,
            message: "no Compose file given".into(),
        });
    }
    let mut format = None;
    let mut merged: Option<Mapping> = None;
    let mut warnings = Vec::new();
    for (name, text) in files {
        let (doc, this_format) = parse_with(name, text, sources.env)?;
        warnings.extend(unknown_service_keys(name, text, &doc));
        // The first file that says decides, as Compose does for the base file.
        if format.is_none() || matches!(format, Some(Format::Spec)) {
            format = Some(this_format);
        }
        merged = Some(match merged {
            None => doc,
            Some(base) => merge::merge_files(base, doc),
        });
    }
    let mut document = merged.unwrap_or_default();
    let project_file = &files[0].0;
    if let Some(Value::Mapping(services)) = document.get_mut("services") {
        let parse_other =
            |name: &str, text: &str| parse_with(name, text, sources.env).map(|(doc, _)| doc);
        resolve::resolve_extends(services, project_file, sources, &parse_other).map_err(|e| {
            ComposeError {
                file: project_file.clone(),
                line: 1,
                message: e.to_string(),
            }
        })?;
    }
    Ok(Project {
        files: files.iter().map(|(n, _)| n.clone()).collect(),
        format: format.unwrap_or(Format::Spec),
        document,
        warnings,
    })
}

/// The service keys of the Compose Specification and of the 2.x and 3.x
/// file formats (`x-` extensions aside).
const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Warnings this many per file at most; the rest are counted.
const MAX_KEY_WARNINGS: usize = 20;

/// A warning for each service key Compose does not know, with the known key
/// it most likely meant: `imagee:` is not an image, and the service would be
/// hardened with the defaults while Compose refuses the file.
fn unknown_service_keys(file: &str, text: &str, doc: &Mapping) -> Vec<String> {
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut more = 0;
    for (service, definition) in services {
        let (Some(service), Some(definition)) = (service.as_str(), definition.as_mapping()) else {
            continue;
        };
        for key in definition.keys().filter_map(Value::as_str) {
            if key.starts_with("x-") || SERVICE_KEYS.contains(&key) {
                continue;
            }
            if out.len() == MAX_KEY_WARNINGS {
                more += 1;
                continue;
            }
            let line = line_of(
                text,
                &[Step::Key("services"), Step::Key(service), Step::Key(key)],
            );
            let hint =
                closest_key(key).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
            out.push(format!(
                "{file}:{line}: service {service:?}: unknown key `{key}`{hint}; Compose refuses the file, and hardening ignored the key"
            ));
        }
    }
    if more > 0 {
        out.push(format!("{file}: {more} more unknown service keys"));
    }
    out
}

/// The known service key within two edits of `key`, if one is.
fn closest_key(key: &str) -> Option<&'static str> {
    // Bounded: the distance below is quadratic in the key's length.
    if key.len() > 40 {
        return None;
    }
    SERVICE_KEYS
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Parses one file: anchors and merge keys expanded, every value
/// interpolated from `env`, then the keys hardening reads checked (so a
/// volume written `data:${LOGS}` is checked as Compose will see it).
pub(crate) fn parse_with(
    name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Mapping, Format), ComposeError> {
    let err = |line: usize, message: String| ComposeError {
        file: name.to_string(),
        line,
        message,
    };
    let value: Value = crate::yaml::read::value(text).map_err(|e| {
        let line = crate::yaml::read::location(&e).map_or(1, |(line, _)| line);
        err(
            line,
            format!("not valid YAML: {}", crate::yaml::read::describe(&e, name)),
        )
    })?;
    let mut value =
        resolve::expand_merge_keys(value).map_err(|e| err(line_of_merge(text), e.to_string()))?;
    resolve::interpolate_all(&mut value, env).map_err(|e| {
        // The missing variable's first mention locates it.
        let line = match &e {
            resolve::ResolveError::MissingVariable { name, .. } => text
                .lines()
                .position(|l| l.contains(&format!("${{{name}")))
                .map_or(1, |i| i + 1),
            _ => 1,
        };
        err(line, e.to_string())
    })?;
    let doc = match value {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(err(
                1,
                "empty file; a Compose file needs at least `services:`".into(),
            ))
        }
        _ => {
            return Err(err(
                1,
                "a Compose file is a mapping with `services:` at the top".into(),
            ))
        }
    };
    let at = |path: &[Step<'_>]| line_of(text, path);
    let format = match doc.get("version") {
        None | Some(Value::Null) => Format::Spec,
        Some(v) => {
            let version = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(err(
                        at(&[Step::Key("version")]),
                        "`version` must be a string such as \"3.8\"".into(),
                    ))
                }
            };
            match version.split('.').next() {
                Some("2") => Format::V2(version),
                Some("3") => Format::V3(version),
                Some("1") => return Err(err(
                    at(&[Step::Key("version")]),
                    "version 1 files are not supported: put the services under `services:` and set version \"2\" or remove `version`".into(),
                )),
                _ => return Err(err(
                    at(&[Step::Key("version")]),
                    format!("unknown Compose file version {version:?}: use \"2.x\", \"3.x\" or leave `version` out (Compose Specification)"),
                )),
            }
        }
    };
    let services = match doc.get("services") {
        None => {
            // A version 1 file has its services at the top level.
            let legacy = doc.iter().find(|(_, v)| {
                v.as_mapping()
                    .is_some_and(|m| m.contains_key("image") || m.contains_key("build"))
            });
            if let Some((k, _)) = legacy {
                let key = k.as_str().unwrap_or("");
                return Err(err(
                    at(&[Step::Key(key)]),
                    format!("{key:?} looks like a service outside `services:` (the version 1 format, not supported): move it under `services:`"),
                ));
            }
            return Ok((doc, format));
        }
        Some(Value::Null) => return Ok((doc, format)),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(err(
                at(&[Step::Key("services")]),
                "`services` must be a mapping of service names to definitions".into(),
            ))
        }
    };
    for (key, service) in services {
        let Some(name) = key.as_str() else {
            return Err(err(
                at(&[Step::Key("services")]),
                format!("service name {key:?} must be a string"),
            ));
        };
        let here = |rest: &[Step<'_>]| {
            let mut path = vec![Step::Key("services"), Step::Key(name)];
            path.extend_from_slice(rest);
            at(&path)
        };
        let Some(service) = service.as_mapping() else {
            return Err(err(
                here(&[]),
                format!("service {name:?} must be a mapping (image:, volumes:, ...)"),
            ));
        };
        check_service(name, service, &here).map_err(|(line, message)| err(line, message))?;
    }
    Ok((doc, format))
}

/// Type checks of the keys hardening reads; `here` locates a path inside the service.
fn check_service(
    name: &str,
    service: &Mapping,
    here: &dyn Fn(&[Step<'_>]) -> usize,
) -> Result<(), (usize, String)> {
    use Step::{Index, Key};
    if let Some(v) = service.get("image") {
        if !v.is_string() {
            return Err((
                here(&[Key("image")]),
                format!("service {name:?}: `image` must be a string such as nginx:1.27"),
            ));
        }
    }
    if let Some(v) = service.get("read_only") {
        if !v.is_bool() {
            return Err((
                here(&[Key("read_only")]),
                format!(
                    "service {name:?}: `read_only` must be true or false, not {}",
                    show(v)
                ),
            ));
        }
    }
    match service.get("tmpfs") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Sequence(items)) => {
            if let Some(i) = items.iter().position(|v| !v.is_string()) {
                return Err((
                    here(&[Key("tmpfs"), Index(i)]),
                    format!("service {name:?}: a `tmpfs` entry must be a path string such as /tmp:size=64m"),
                ));
            }
        }
        Some(_) => {
            return Err((
                here(&[Key("tmpfs")]),
                format!("service {name:?}: `tmpfs` must be a path or a list of paths"),
            ))
        }
    }
    match service.get("volumes") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Err(why) = mounts::parse_volume(item) {
                    let line = match item {
                        Value::Mapping(m) if m.contains_key("target") => {
                            here(&[Key("volumes"), Index(i), Key("target")])
                        }
                        _ => here(&[Key("volumes"), Index(i)]),
                    };
                    return Err((line, format!("service {name:?}: volume {}: {why}", i + 1)));
                }
            }
        }
        Some(_) => {
            return Err((
                here(&[Key("volumes")]),
                format!("service {name:?}: `volumes` must be a list"),
            ))
        }
    }
    Ok(())
}

/// The line of the first merge key, for an error about one.
fn line_of_merge(text: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with("<<"))
        .map_or(1, |i| i + 1)
}

/// A short rendering of a value for messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}
