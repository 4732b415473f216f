//! Configuration, in layers: built-in defaults < config file < `POD_HARDENER_*`
//! environment (nested with `__`) < command-line flags.
//!
//! Keys are snake_case so that the environment maps onto them one to one:
//! `POD_HARDENER_SERVER__MAX_BODY_BYTES` is `server.max_body_bytes`.

use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::harden::options::{
    DEFAULT_EMPTY_DIR_SIZE_LIMIT, DEFAULT_MEMORY_EMPTY_DIR_SIZE_LIMIT, DEFAULT_SHARED_DIRS,
};
use crate::harden::{Options, RuleMode};

// The admission core owns these; the loader reads them from its layers.
pub use crate::admission::{Mode, OnError};

pub(crate) const ENV_PREFIX: &str = "POD_HARDENER_";

/// Why a configuration did not load. Each message names the layer and key
/// (or the file) so that the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    MissingFile(PathBuf),
    /// Values figment could not read: one `LAYER: key K: problem` each.
    #[error("{}", .0.join("; "))]
    Layers(Vec<String>),
    /// A value of the right type that means nothing (an address, a limit).
    #[error("{0}")]
    Invalid(String),
    #[error("key {key}: not a scope key; the keys are {}", scope_key_names().join(", "))]
    NotAScopeKey { key: String },
    #[error("key {key}: cannot read {text:?}")]
    ScopeValue { key: String, text: String },
    /// An error of a configuration held as text, prefixed by its name.
    #[error("{name}: {error}")]
    Named {
        name: String,
        error: Box<ConfigError>,
    },
    #[error("{0}")]
    Render(#[from] serde_json::Error),
}

/// The oldest TLS version the webhook accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

/// Accepts "1.3" and also 1.3: YAML and the environment layer read an
/// unquoted version as a number.
impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Number(f64),
        }
        let text = match Written::deserialize(d)? {
            Written::Text(t) => t,
            Written::Number(n) => n.to_string(),
        };
        match text.as_str() {
            "1.2" => Ok(TlsVersion::V1_2),
            "1.3" => Ok(TlsVersion::V1_3),
            other => Err(serde::de::Error::custom(format!(
                "TLS version {other:?}: use \"1.2\" or \"1.3\""
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub read_only_root: RuleMode,
    pub writable_paths: RuleMode,
    pub secret_mounts: RuleMode,
}

/// The `sizeLimit` of each emptyDir the webhook adds whose profile path sets
/// none; `null` leaves it unbounded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyDirsConfig {
    /// Disk-backed emptyDirs.
    pub size_limit: Option<String>,
    /// Memory-backed (`medium: Memory`) emptyDirs.
    pub memory_size_limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesConfig {
    /// User profile files, tried in order before the built-in catalog.
    pub files: Vec<PathBuf>,
    /// Append the built-in catalog.
    pub builtin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTPS address of the webhook.
    pub address: String,
    /// Plain-HTTP address of `/metrics`.
    pub metrics_address: String,
    pub workers: usize,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Make a throw-away CA and certificate instead of reading files.
    pub self_signed: bool,
    /// Where `self_signed` writes the CA bundle, certificate and key.
    pub self_signed_dir: PathBuf,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// Time a review may take once its body is read, in milliseconds; past
    /// it the pod is answered per `on_error` (allowed unchanged, with a warning).
    pub review_budget_ms: u64,
    /// Time allowed to read a request's headers, and again its body (then 408), in milliseconds.
    pub request_timeout_ms: u64,
    /// Time allowed for the TLS handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Time in-flight reviews get to finish on SIGTERM, in seconds.
    pub shutdown_timeout_s: u64,
    /// On SIGTERM, time spent not ready (still serving) before the listener
    /// closes, so that endpoints drop the pod first; in milliseconds.
    pub shutdown_delay_ms: u64,
    /// Concurrent connections per worker.
    pub max_connections: usize,
    /// A connection (HTTP/1.1 or HTTP/2) with no request for this long is closed, in seconds.
    pub idle_timeout_s: u64,
    /// Reviews one connection may carry at once; more get 503.
    pub max_streams_per_connection: usize,
    /// Request-body bytes held in memory by all connections together; a body
    /// waits for room (within request_timeout_ms) beyond it.
    pub max_body_bytes_in_flight: usize,
    /// The oldest TLS version accepted: "1.2" or "1.3".
    pub min_tls_version: TlsVersion,
    /// PEM bundle of the CAs whose client certificates may send reviews; when
    /// set, review paths without a verified client certificate get 401.
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `pod_hardener=debug`.
    pub level: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    pub on_error: OnError,
    pub rules: Rules,
    /// Replace an explicit `readOnlyRootFilesystem: false` instead of warning.
    pub override_explicit_false: bool,
    /// Directories a secret must not be mounted onto.
    pub shared_directories: Vec<String>,
    /// Namespaces whose pods are never changed.
    pub skip_namespaces: Vec<String>,
    /// Honour `pod-hardener.dev/skip` and `pod-hardener.dev/skip-containers`.
    pub allow_opt_out: bool,
    /// Honour `pod-hardener.dev/writable-paths.<c>` and `pod-hardener.dev/profile.<c>`.
    pub allow_annotation_tuning: bool,
    pub empty_dirs: EmptyDirsConfig,
    pub profiles: ProfilesConfig,
    pub server: ServerConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Enforce,
            on_error: OnError::Allow,
            rules: Rules {
                read_only_root: RuleMode::Enforce,
                writable_paths: RuleMode::Enforce,
                secret_mounts: RuleMode::Enforce,
            },
            override_explicit_false: false,
            shared_directories: DEFAULT_SHARED_DIRS.iter().map(|s| s.to_string()).collect(),
            skip_namespaces: vec!["kube-system".into()],
            allow_opt_out: true,
            allow_annotation_tuning: true,
            empty_dirs: EmptyDirsConfig {
                size_limit: Some(DEFAULT_EMPTY_DIR_SIZE_LIMIT.into()),
                memory_size_limit: Some(DEFAULT_MEMORY_EMPTY_DIR_SIZE_LIMIT.into()),
            },
            profiles: ProfilesConfig {
                files: Vec::new(),
                builtin: true,
            },
            server: ServerConfig {
                address: "0.0.0.0:8443".into(),
                metrics_address: "0.0.0.0:9090".into(),
                workers: 2,
                cert_file: None,
                key_file: None,
                self_signed: false,
                self_signed_dir: std::env::temp_dir().join("pod-hardener-self-signed"),
                // The API server reads at most 3 MiB of a request body.
                max_body_bytes: 3 * 1024 * 1024,
                review_budget_ms: 1_000,
                request_timeout_ms: 5_000,
                handshake_timeout_ms: 3_000,
                shutdown_timeout_s: 25,
                shutdown_delay_ms: 3_000,
                max_connections: 256,
                idle_timeout_s: 120,
                max_streams_per_connection: 32,
                max_body_bytes_in_flight: 16 * 1024 * 1024,
                min_tls_version: TlsVersion::V1_2,
                client_ca_file: None,
            },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
        }
    }
}

impl Config {
    /// The engine's options from this configuration.
    pub fn options(&self) -> Options {
        Options {
            read_only_root: self.rules.read_only_root,
            writable_paths: self.rules.writable_paths,
            secret_mounts: self.rules.secret_mounts,
            override_explicit_false: self.override_explicit_false,
            shared_dirs: self.shared_directories.iter().cloned().collect(),
            allow_opt_out: self.allow_opt_out,
            allow_annotation_tuning: self.allow_annotation_tuning,
            empty_dir_size_limit: self.empty_dirs.size_limit.clone(),
            memory_empty_dir_size_limit: self.empty_dirs.memory_size_limit.clone(),
        }
    }

    /// The part of the configuration that decides a review (hot-reloadable).
    pub fn policy(&self) -> crate::admission::Policy {
        crate::admission::Policy {
            options: self.options(),
            mode: self.mode,
            on_error: self.on_error,
            skip_namespaces: self.skip_namespaces.clone(),
        }
    }

    /// Meaning checks figment cannot do.
    fn check(&self) -> Result<(), ConfigError> {
        self.problem()
            .map_or(Ok(()), |p| Err(ConfigError::Invalid(p)))
    }

    /// The first thing [`Config::check`] refuses, as its message.
    fn problem(&self) -> Option<String> {
        for (name, addr) in [
            ("server.address", &self.server.address),
            ("server.metrics_address", &self.server.metrics_address),
        ] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Some(format!(
                    "{name} {addr:?} is not HOST:PORT (e.g. 0.0.0.0:8443)"
                ));
            }
        }
        if self.server.workers == 0 {
            return Some("server.workers must be at least 1".into());
        }
        if self.server.max_body_bytes < 1024 {
            return Some("server.max_body_bytes must be at least 1024".into());
        }
        if !(10..=10_000).contains(&self.server.review_budget_ms) {
            return Some("server.review_budget_ms must be between 10 and 10000 (the API server waits at most 30 s, 10 s by default)".into());
        }
        if self.server.max_body_bytes_in_flight < self.server.max_body_bytes {
            return Some(format!(
                "server.max_body_bytes_in_flight ({}) must be at least server.max_body_bytes ({}), or no body of the largest allowed size could ever be read",
                self.server.max_body_bytes_in_flight, self.server.max_body_bytes
            ));
        }
        for (name, value) in [
            ("server.idle_timeout_s", self.server.idle_timeout_s as usize),
            (
                "server.max_streams_per_connection",
                self.server.max_streams_per_connection,
            ),
            ("server.max_connections", self.server.max_connections),
        ] {
            if value == 0 {
                return Some(format!("{name} must be at least 1"));
            }
        }
        if self.server.cert_file.is_some() != self.server.key_file.is_some() {
            return Some(
                "server.cert_file and server.key_file go together: set both or neither".into(),
            );
        }
        for (key, limit) in [
            ("empty_dirs.size_limit", &self.empty_dirs.size_limit),
            (
                "empty_dirs.memory_size_limit",
                &self.empty_dirs.memory_size_limit,
            ),
        ] {
            if let Some(q) = limit
                .as_deref()
                .filter(|q| !crate::profile::validate::is_quantity(q))
            {
                return Some(format!(
                    "{key} {q:?} is not a Kubernetes quantity (e.g. 64Mi, 1Gi), or null for no limit"
                ));
            }
        }
        for d in &self.shared_directories {
            if let Some(why) = crate::profile::validate::path_problem(d) {
                return Some(format!("shared_directories {d:?}: {why}"));
            }
        }
        None
    }
}

/// The configuration file's format for figment: read by `yaml::read`, the
/// project's one YAML reader (serde-saphyr under its budgets), not by
/// figment's own serde_yaml-based provider.
struct Yaml;

impl Format for Yaml {
    type Error = crate::yaml::read::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Self::Error> {
        crate::yaml::read::from_str(text)
    }
}

/// The layered figment, for loading and for `config print`'s provenance.
pub(crate) fn figment(file: Option<&std::path::Path>, flags: serde_json::Value) -> Figment {
    let mut f = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        f = f.merge(Yaml::file_exact(path));
    }
    let known = top_level_keys();
    f.merge(Env::prefixed(ENV_PREFIX).split("__").filter(move |k| {
        // Keys are not lowercased yet when filters run.
        let top = k.as_str().split('.').next().unwrap_or("");
        known.iter().any(|t| t.eq_ignore_ascii_case(top))
    }))
    .merge(Serialized::defaults(flags))
}

fn top_level_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Loads and checks the configuration; the error names the layer and key.
pub fn load(
    file: Option<&std::path::Path>,
    flags: serde_json::Value,
) -> Result<Config, ConfigError> {
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::MissingFile(path.to_path_buf()));
        }
    }
    let config: Config = figment(file, flags).extract().map_err(|e| {
        let text = file.and_then(|p| std::fs::read_to_string(p).ok());
        layers_error(e, text.as_deref())
    })?;
    config.check()?;
    Ok(config)
}

/// Every error figment found, each described by [`describe_error`].
fn layers_error(e: figment::Error, file_text: Option<&str>) -> ConfigError {
    ConfigError::Layers(
        e.into_iter()
            .map(|e| describe_error(&e, file_text))
            .collect(),
    )
}

/// One configuration error as `FILE:LINE: key K: what is wrong; the fix`,
/// without figment's nested backticks or its `default.` profile prefix.
fn describe_error(e: &figment::Error, file_text: Option<&str>) -> String {
    use figment::error::Kind;
    let path: Vec<&str> = e
        .path
        .iter()
        .map(String::as_str)
        .skip_while(|p| *p == "default")
        .collect();
    let mut path = path;
    // figment's path of an unknown field may or may not end with the field
    // itself; the line to show is the field's own.
    if let Kind::UnknownField(found, _) = &e.kind {
        if path.last() != Some(&found.as_str()) {
            path.push(found);
        }
    }
    let key = path.join(".");
    let one_of = |expected: &[&str]| expected.join(", ");
    let what = match &e.kind {
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value {found:?}; use one of: {}", one_of(expected))
        }
        Kind::UnknownField(found, expected) => {
            format!(
                "unknown key {found:?}; the keys here are: {}",
                one_of(expected)
            )
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::MissingField(name) => format!("missing key {name:?}"),
        other => other.to_string().replace('`', ""),
    };
    let source = e.metadata.as_ref().and_then(|m| match &m.source {
        Some(figment::Source::File(f)) => Some(f.display().to_string()),
        _ => None,
    });
    if let (Some(file), Some(text), true) = (&source, file_text, path.is_empty()) {
        if let Some(error) = not_yaml(file, text) {
            return error;
        }
    }
    match source {
        Some(file) => {
            let line = file_text
                .filter(|_| !path.is_empty())
                .and_then(|t| key_line(t, &path));
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            format!("{file}{at}: key {key}: {what}")
        }
        None => {
            let from = e
                .metadata
                .as_ref()
                .map(|m| m.name.replace('`', ""))
                .unwrap_or_else(|| "configuration".into());
            format!("{from}: key {key}: {what}")
        }
    }
}

/// Why `text` is not YAML at all, as `NAME:LINE:COLUMN: what` and the
/// source around it; `None` when it is YAML.
fn not_yaml(name: &str, text: &str) -> Option<String> {
    let err = crate::yaml::read::from_str::<serde::de::IgnoredAny>(text).err()?;
    let at = crate::yaml::read::location(&err)
        .map(|(line, column)| format!(":{line}:{column}"))
        .unwrap_or_default();
    Some(format!(
        "{name}{at}: {}",
        crate::yaml::read::describe(&err, name)
    ))
}

/// The 1-based line of a nested block-style YAML key (`server:` then
/// `  workers:`), found by indentation; `None` when it is not written that way.
fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent_indent.is_some_and(|p| indent <= p) {
            return None; // left the parent's block without finding the key
        }
        let key = trimmed
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if trimmed.contains(':') && key == path[depth] {
            if depth + 1 == path.len() {
                return Some(n + 1);
            }
            depth += 1;
            parent_indent = Some(indent);
        }
    }
    None
}

/// Loads a configuration held as text (the webhook's ConfigMap) over the
/// built-in defaults, as the webhook reads it; `name` names it in errors.
pub fn load_text(name: &str, text: &str) -> Result<Config, ConfigError> {
    let named = |error| ConfigError::Named {
        name: name.to_string(),
        error: Box::new(error),
    };
    // Only a text that fails is read again, to say where it is not YAML.
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Yaml::string(text))
        .extract()
        .map_err(|e| match not_yaml(name, text) {
            Some(error) => ConfigError::Invalid(error),
            None => named(layers_error(e, Some(text))),
        })?;
    config.check().map_err(named)?;
    Ok(config)
}

/// The keys of the ConfigMap `pod-hardener-scope` and the configuration key
/// each sets: the Deployment passes them as `POD_HARDENER_*` variables
/// (manifests/base/scope-env.yaml) and the backstop policy reads them too.
const SCOPE_KEYS: [(&str, &str); 5] = [
    ("mode", "mode"),
    ("skip_namespaces", "skip_namespaces"),
    ("allow_opt_out", "allow_opt_out"),
    ("read_only_root", "rules.read_only_root"),
    ("override_explicit_false", "override_explicit_false"),
];

fn scope_key_names() -> Vec<&'static str> {
    SCOPE_KEYS.iter().map(|(k, _)| *k).collect()
}

/// Loads the scope ConfigMap's data over the built-in defaults, each value
/// read the way the environment layer reads a variable (`"[a,b]"` a list,
/// `"true"` a boolean); an unknown key is an error, as neither the webhook
/// nor the backstop would read it.
pub(crate) fn load_scope<'a>(
    data: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    for (key, text) in data {
        let Some((_, path)) = SCOPE_KEYS.iter().find(|(k, _)| *k == key) else {
            return Err(ConfigError::NotAScopeKey {
                key: key.to_string(),
            });
        };
        let value: figment::value::Value = text.parse().map_err(|_| ConfigError::ScopeValue {
            key: key.to_string(),
            text: text.to_string(),
        })?;
        figment = figment.merge(Serialized::default(path, value));
    }
    let config: Config = figment.extract().map_err(|e| layers_error(e, None))?;
    config.check()?;
    Ok(config)
}

/// Every leaf key of the effective configuration, its value, and the layer it came from.
pub fn provenance(
    file: Option<&std::path::Path>,
    flags: serde_json::Value,
) -> Result<Vec<(String, String, String)>, ConfigError> {
    let fig = figment(file, flags.clone());
    let config = load(file, flags)?;
    let value = serde_json::to_value(&config)?;
    let mut leaves = Vec::new();
    flatten("", &value, &mut leaves);
    Ok(leaves
        .into_iter()
        .map(|(key, v)| {
            let origin = fig
                .find_metadata(&key)
                .map(|m| match &m.source {
                    // The defaults layer is a Rust value: its "source" is a line
                    // of this file, which means nothing to an operator.
                    // Two layers are Rust values: the defaults (a `Config`) and
                    // the flags (a JSON value).
                    Some(figment::Source::Code(_)) if m.name.ends_with("Config") => {
                        "built-in default".to_string()
                    }
                    Some(figment::Source::Code(_)) => "command-line flag".to_string(),
                    Some(src) => format!("{} ({src})", m.name.replace('`', "")),
                    None => m.name.replace('`', ""),
                })
                .unwrap_or_else(|| "built-in default".into());
            (key, v, origin)
        })
        .collect())
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its own error type
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.yaml",
                "mode: dry-run\nserver:\n  workers: 3\n  address: 127.0.0.1:1\n",
            )?;
            jail.set_env("POD_HARDENER_SERVER__WORKERS", "5");
            jail.set_env("POD_HARDENER_CACHE", "/elsewhere"); // not ours: ignored
            let c = load(
                Some("c.yaml".as_ref()),
                serde_json::json!({"server": {"address": "127.0.0.1:2"}}),
            )
            .unwrap();
            assert_eq!(c.mode, Mode::DryRun);
            assert_eq!(c.server.workers, 5);
            assert_eq!(c.server.address, "127.0.0.1:2");
            let p = provenance(Some("c.yaml".as_ref()), serde_json::json!({})).unwrap();
            let origin = |k: &str| p.iter().find(|(key, _, _)| key == k).unwrap().2.clone();
            assert!(origin("mode").contains("YAML"), "{}", origin("mode"));
            assert_eq!(origin("rules.read_only_root"), "built-in default");
            assert!(
                origin("server.workers").contains("environment"),
                "{}",
                origin("server.workers")
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file("c.yaml", "rules:\n  read_only_root: sometimes\n")?;
            let e = load(Some("c.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("c.yaml:2: key rules.read_only_root") && e.contains("sometimes"),
                "{e}"
            );
            assert!(!e.contains("``") && !e.contains("default."), "{e}");
            // Not YAML: the place and the source around it, not "key : ...".
            jail.create_file("b.yaml", "server:\n  workers: 2\n  address: [unclosed\n")?;
            let e = load(Some("b.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(e.contains("b.yaml:3:12: unclosed bracket"), "{e}");
            assert!(
                e.contains("3 |   address: [unclosed") && !e.contains("key :"),
                "{e}"
            );
            // Aliases replayed past the reader's budget: refused, not expanded.
            let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
            for (n, prev) in ["b", "c", "d", "e", "f", "g"]
                .iter()
                .zip(["a", "b", "c", "d", "e", "f"])
            {
                bomb.push_str(&format!(
                    "{n}: &{n} [{}]\n",
                    vec![format!("*{prev}"); 10].join(", ")
                ));
            }
            jail.create_file("bomb.yaml", &bomb)?;
            let e = load(Some("bomb.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("bomb.yaml:") && e.contains("alias replay limit"),
                "{e}"
            );
            jail.create_file("d.yaml", "servr: {}\n")?;
            let e = load(Some("d.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("d.yaml:1: key servr") && e.contains("unknown key"),
                "{e}"
            );
            jail.create_file(
                "f.yaml",
                "mode: enforce\nserver:\n  # a comment\n  workerz: 3\n",
            )?;
            let e = load(Some("f.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(e.contains("f.yaml:4: key server.workerz"), "{e}");
            jail.create_file("e.yaml", "server: {address: nowhere}\n")?;
            let e = load(Some("e.yaml".as_ref()), serde_json::json!({}))
                .unwrap_err()
                .to_string();
            assert!(e.contains("server.address"), "{e}");
            Ok(())
        });
    }
}

#[cfg(test)]
mod documented {
    /// The documented file in config/ states exactly the built-in defaults.
    #[test]
    fn shipped_config_file_matches_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pod-hardener.yaml");
        let loaded = super::load(Some(&path), serde_json::json!({})).unwrap();
        assert_eq!(loaded, super::Config::default());
    }

    #[test]
    fn empty_dir_size_limits_are_quantities_or_null() {
        let options = super::load_text(
            "c",
            "empty_dirs: {size_limit: 500Mi, memory_size_limit: null}",
        )
        .unwrap()
        .options();
        assert_eq!(options.empty_dir_size_limit.as_deref(), Some("500Mi"));
        assert_eq!(options.memory_empty_dir_size_limit, None);
        let e = super::load_text("config.yaml", "server: [x\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("config.yaml:1:9: unclosed bracket"), "{e}");
        let e = super::load_text("c", "empty_dirs: {size_limit: lots}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("empty_dirs.size_limit \"lots\" is not a Kubernetes quantity"),
            "{e}"
        );
    }
}
