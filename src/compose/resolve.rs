//! The project as Compose will run it, resolved in-process: YAML merge keys
//! (`<<: *defaults`), variable interpolation from the shell and the `.env`
//! file, and `extends` (in the same file or another one).
//!
//! Compose resolves each file on its own (anchors, merge keys, then
//! interpolation), merges the `-f` files in order, and only then follows
//! `extends` on the merged services. This module does the per-file and the
//! `extends` steps; [`merge`](super::merge) does the merging. Whatever is read
//! (variables, other files) comes through [`Sources`], so the module stays
//! free of I/O and testable.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value};

use super::merge::merge_service;
use crate::harden::paths::clean_keep_relative;

/// Where variables and `extends` files come from.
pub struct Sources<'a> {
    /// A variable for interpolation: the shell's environment, then `.env`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The text of a file named by `extends: {file: ...}` (a path relative to
    /// the working directory, or absolute).
    pub read: &'a dyn Fn(&str) -> std::io::Result<String>,
}

/// Why merge keys, interpolation or `extends` could not be resolved; the
/// caller ([`super::parse_with`], [`super::load_with`]) adds file and line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("a merge key `<<` lists something that is not a mapping (use `<<: [*a, *b]` with anchors of mappings)")]
    MergeListsNonMapping,
    #[error("a merge key `<<` must name a mapping (`<<: *defaults`) or a list of them")]
    MergeNotMapping,
    /// `${NAME:?why}` (or `${NAME?why}`) with the variable unset.
    #[error("variable {name} is missing: {why}")]
    MissingVariable { name: String, why: String },
    #[error("service {name:?}: `extends` nests deeper than {MAX_EXTENDS_DEPTH} services")]
    TooDeep { name: String },
    /// `chain` is the services being resolved, joined with ` -> `.
    #[error("`extends` goes round in a circle: {chain} -> {name}")]
    Cycle { chain: String, name: String },
    /// `by` is `service "x" extends ` or empty; `whence` the file or this project.
    #[error("{by}{name:?}, which is not a service of {whence}")]
    NotAService {
        by: String,
        name: String,
        whence: String,
    },
    #[error("service {name:?}: `extends` needs `service:`")]
    ExtendsWithoutService { name: String },
    #[error("service {name:?}: `extends.file` must be a path")]
    ExtendsFileNotPath { name: String },
    #[error("service {name:?}: `extends` must be a service name or {{service: NAME, file: PATH}}")]
    ExtendsMalformed { name: String },
    #[error("service {name:?} extends {base:?}, which has `{key}`: Compose does not let such a service be extended")]
    NotExtendable {
        name: String,
        base: String,
        key: &'static str,
    },
    #[error("cannot read {file} (named by `extends`): {source}")]
    ReadOther {
        file: String,
        source: std::io::Error,
    },
    /// A file named by `extends` that does not parse.
    #[error(transparent)]
    Other(Box<super::ComposeError>),
}

impl Sources<'static> {
    /// The process environment and no files: enough for projects without
    /// `extends: {file: ...}`.
    pub fn process() -> Self {
        Sources {
            env: &|name| std::env::var(name).ok(),
            read: &|name| {
                Err(std::io::Error::other(format!(
                    "{name}: reading other files is not enabled"
                )))
            },
        }
    }
}

/// `KEY=VALUE` lines of a `.env` file: blank lines and `#` comments skipped,
/// an `export ` prefix allowed, matching quotes around a value removed.
pub(crate) fn parse_env_file(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let quoted = value.len() >= 2
            && (value.starts_with('"') && value.ends_with('"')
                || value.starts_with('\'') && value.ends_with('\''));
        let value = if quoted {
            &value[1..value.len() - 1]
        } else {
            // An unquoted value ends at ` #`, a comment.
            value.split(" #").next().unwrap_or(value).trim_end()
        };
        out.insert(key.trim().to_string(), value.to_string());
    }
    out
}

/// A mapping's `<<` entries expanded the way YAML 1.1 readers do: the
/// mapping's own keys win, then the merged mappings in the order listed.
/// Nested mappings (and merges inside merged anchors) are expanded first.
pub(crate) fn expand_merge_keys(value: Value) -> Result<Value, ResolveError> {
    Ok(match value {
        Value::Mapping(m) => {
            let mut own = Mapping::new();
            let mut merged: Vec<Mapping> = Vec::new();
            for (k, v) in m {
                let v = expand_merge_keys(v)?;
                if k.as_str() == Some("<<") {
                    match v {
                        Value::Mapping(source) => merged.push(source),
                        Value::Sequence(items) => {
                            for item in items {
                                match item {
                                    Value::Mapping(source) => merged.push(source),
                                    _ => return Err(ResolveError::MergeListsNonMapping),
                                }
                            }
                        }
                        _ => return Err(ResolveError::MergeNotMapping),
                    }
                } else {
                    own.insert(k, v);
                }
            }
            if merged.is_empty() {
                Value::Mapping(own)
            } else {
                let mut out = Mapping::new();
                for source in merged {
                    for (k, v) in source {
                        if !own.contains_key(&k) && !out.contains_key(&k) {
                            out.insert(k, v);
                        }
                    }
                }
                out.extend(own);
                Value::Mapping(out)
            }
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(expand_merge_keys)
                .collect::<Result<_, _>>()?,
        ),
        Value::Tagged(mut t) => {
            t.value = expand_merge_keys(t.value)?;
            Value::Tagged(t)
        }
        other => other,
    })
}

/// Expands `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
/// `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$VAR` from `lookup`, the
/// way Compose interpolates; `$$` is a literal `$`. The error is the message
/// of a required variable that is missing.
pub(crate) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ResolveError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let expr = &inner[..end];
            let (name, op, arg) = match expr.find([':', '-', '?', '+']) {
                Some(p) => {
                    let (name, tail) = expr.split_at(p);
                    let op_len = if tail.starts_with(':') { 2 } else { 1 }.min(tail.len());
                    (name, &tail[..op_len], &tail[op_len..])
                }
                None => (expr, "", ""),
            };
            let value = lookup(name);
            let set = value.as_deref().is_some_and(|v| !v.is_empty());
            let expanded = match op {
                ":-" if !set => arg.to_string(),
                "-" if value.is_none() => arg.to_string(),
                ":?" | "?" if (op == ":?" && !set) || value.is_none() => {
                    let why = if arg.is_empty() { "is required" } else { arg };
                    return Err(ResolveError::MissingVariable {
                        name: name.to_string(),
                        why: why.to_string(),
                    });
                }
                ":+" => if set { arg } else { "" }.to_string(),
                "+" => if value.is_some() { arg } else { "" }.to_string(),
                _ => value.unwrap_or_default(),
            };
            out.push_str(&expanded);
            rest = &inner[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Every string value (not the keys) of `value` interpolated.
pub(crate) fn interpolate_all(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ResolveError> {
    match value {
        Value::String(s) => *s = interpolate(s, lookup)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate_all(item, lookup)?;
            }
        }
        Value::Mapping(m) => {
            for (_, v) in m.iter_mut() {
                interpolate_all(v, lookup)?;
            }
        }
        Value::Tagged(t) => interpolate_all(&mut t.value, lookup)?,
        _ => {}
    }
    Ok(())
}

/// `$` written back as `$$`, so that a resolved value reads the same when
/// Compose interpolates the written file again.
pub(crate) fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Sequence(items) => items.iter_mut().for_each(escape_dollars),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        Value::Tagged(t) => escape_dollars(&mut t.value),
        _ => {}
    }
}

/// The directory part of a file name (`""` for a bare name).
fn dir_of(file: &str) -> &str {
    file.rsplit_once('/')
        .map_or("", |(d, _)| if d.is_empty() { "/" } else { d })
}

/// `path` relative to the directory `dir` (as given on the command line).
fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') || dir.is_empty() {
        path.to_string()
    } else {
        format!("{dir}/{path}")
    }
}

/// Follows every service's `extends` in the merged `services` of `project_file`
/// (the first `-f` file, whose directory relative paths are resolved from).
/// `parse_other` parses and interpolates another file as [`super::parse`] does.
pub(crate) fn resolve_extends(
    services: &mut Mapping,
    project_file: &str,
    sources: &Sources<'_>,
    parse_other: &dyn Fn(&str, &str) -> Result<Mapping, super::ComposeError>,
) -> Result<(), ResolveError> {
    let mut walk = Extends {
        project_services: services.clone(),
        project_file,
        sources,
        parse_other,
        files: HashMap::new(),
        resolved: HashMap::new(),
    };
    for (name, service) in services.iter_mut() {
        let Value::Mapping(service) = service else {
            continue;
        };
        if !service.contains_key("extends") {
            continue;
        }
        let key = (String::new(), name.as_str().unwrap_or_default().to_string());
        *service = walk.service(key, &mut Vec::new())?;
    }
    Ok(())
}

/// How many services deep `extends` may nest: far beyond any real project,
/// and a bound on the recursion a hostile file can cause.
const MAX_EXTENDS_DEPTH: usize = 64;

/// The state of following `extends`: the files read so far and every
/// service already resolved, so that each is resolved once however many
/// services extend it (linear in the number of services).
struct Extends<'a, 'b> {
    project_services: Mapping,
    project_file: &'a str,
    sources: &'a Sources<'b>,
    parse_other: &'a dyn Fn(&str, &str) -> Result<Mapping, super::ComposeError>,
    files: HashMap<String, Mapping>,
    resolved: HashMap<(String, String), Mapping>,
}

impl Extends<'_, '_> {
    /// The service `(file, name)` (file `""` for the project's own services)
    /// with its `extends` followed; `chain` holds the services being
    /// resolved, to detect cycles.
    fn service(
        &mut self,
        key: (String, String),
        chain: &mut Vec<(String, String)>,
    ) -> Result<Mapping, ResolveError> {
        if let Some(done) = self.resolved.get(&key) {
            return Ok(done.clone());
        }
        let (file, name) = &key;
        if chain.len() >= MAX_EXTENDS_DEPTH {
            return Err(ResolveError::TooDeep { name: name.clone() });
        }
        if chain.contains(&key) {
            let names: Vec<&str> = chain.iter().map(|(_, s)| s.as_str()).collect();
            return Err(ResolveError::Cycle {
                chain: names.join(" -> "),
                name: name.clone(),
            });
        }
        let found = if file.is_empty() {
            self.project_services.get(name.as_str()).cloned()
        } else {
            self.other_file(file)?
                .get("services")
                .and_then(|s| s.get(name.as_str()))
                .cloned()
        };
        let Some(Value::Mapping(mut service)) = found else {
            let whence = if file.is_empty() {
                "this project"
            } else {
                file
            };
            let by = chain
                .last()
                .map_or(String::new(), |(_, s)| format!("service {s:?} extends "));
            return Err(ResolveError::NotAService {
                by,
                name: name.clone(),
                whence: whence.to_string(),
            });
        };
        let Some(extends) = service.remove("extends") else {
            self.resolved.insert(key.clone(), service.clone());
            return Ok(service);
        };
        let (other_file, base_name) = match &extends {
            Value::String(s) => (None, s.clone()),
            Value::Mapping(m) => {
                let base = m
                    .get("service")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ResolveError::ExtendsWithoutService { name: name.clone() })?;
                let other = match m.get("file") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(f)) => Some(f.clone()),
                    Some(_) => return Err(ResolveError::ExtendsFileNotPath { name: name.clone() }),
                };
                (other, base.to_string())
            }
            _ => return Err(ResolveError::ExtendsMalformed { name: name.clone() }),
        };
        // The file the base service lives in, named relative to the working directory.
        let base_file = match other_file {
            Some(f) => {
                let from = if file.is_empty() {
                    self.project_file
                } else {
                    file
                };
                clean_keep_relative(&join(dir_of(from), &f))
            }
            None => file.clone(),
        };
        chain.push(key.clone());
        let mut base = self.service((base_file.clone(), base_name.clone()), chain)?;
        chain.pop();
        for forbidden in ["links", "volumes_from", "depends_on"] {
            if base.contains_key(forbidden) {
                return Err(ResolveError::NotExtendable {
                    name: name.clone(),
                    base: base_name,
                    key: forbidden,
                });
            }
        }
        if base_file != *file {
            let to = if file.is_empty() {
                self.project_file
            } else {
                file
            };
            rebase_paths(&mut base, &base_file, to);
        }
        let merged = merge_service(base, service);
        self.resolved.insert(key, merged.clone());
        Ok(merged)
    }

    /// Another file's document, read and parsed once.
    fn other_file(&mut self, file: &str) -> Result<&Mapping, ResolveError> {
        if !self.files.contains_key(file) {
            let text = (self.sources.read)(file).map_err(|source| ResolveError::ReadOther {
                file: file.to_string(),
                source,
            })?;
            let doc =
                (self.parse_other)(file, &text).map_err(|e| ResolveError::Other(Box::new(e)))?;
            self.files.insert(file.to_string(), doc);
        }
        Ok(&self.files[file])
    }
}

/// Relative host paths of a service from another file (bind mount sources,
/// build contexts, env files) rewritten relative to the project's directory,
/// as Compose resolves them against the file they are written in.
fn rebase_paths(service: &mut Mapping, from_file: &str, project_file: &str) {
    let from_dir = dir_of(from_file);
    let project_dir = dir_of(project_file);
    if from_dir == project_dir {
        return;
    }
    let rebase = |p: &str| -> String {
        if !p.starts_with('.') {
            return p.to_string();
        }
        let absolute_from = join(from_dir, p);
        let cleaned = clean_keep_relative(&absolute_from);
        // Relative to the project directory when it is a prefix; otherwise as
        // seen from the working directory, which is where Compose runs.
        match cleaned.strip_prefix(&format!("{project_dir}/")) {
            Some(rest) if !project_dir.is_empty() => format!("./{rest}"),
            _ if project_dir.is_empty() && !cleaned.starts_with('/') => format!("./{cleaned}"),
            _ => cleaned,
        }
    };
    if let Some(Value::Sequence(volumes)) = service.get_mut("volumes") {
        for v in volumes {
            match v {
                Value::String(s) => {
                    if let Some((source, rest)) = s.split_once(':') {
                        if source.starts_with('.') {
                            *s = format!("{}:{rest}", rebase(source));
                        }
                    }
                }
                Value::Mapping(m) => {
                    if let Some(Value::String(source)) = m.get_mut("source") {
                        *source = rebase(source);
                    }
                }
                _ => {}
            }
        }
    }
    match service.get_mut("build") {
        Some(Value::String(context)) => *context = rebase(context),
        Some(Value::Mapping(b)) => {
            if let Some(Value::String(context)) = b.get_mut("context") {
                *context = rebase(context);
            }
        }
        _ => {}
    }
    match service.get_mut("env_file") {
        Some(Value::String(f)) => *f = rebase(f),
        Some(Value::Sequence(files)) => {
            for f in files {
                if let Value::String(s) = f {
                    *s = rebase(s);
                }
            }
        }
        _ => {}
    }
}
