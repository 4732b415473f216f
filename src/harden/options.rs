//! What the engine is told to do: rule modes and policy switches.
//!
//! The server and the CLI build these from the configuration; the engine only
//! reads them.

use serde::{Deserialize, Serialize};

use super::paths::key;
use crate::hashing::HashSet;

/// How one rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleMode {
    /// Patch the pod.
    #[default]
    Enforce,
    /// Patch nothing; say what would change.
    Warn,
    /// Do nothing.
    Off,
}

/// The directories a secret must never be mounted onto, because other files
/// live there: application, temporary and system directories.
pub(crate) const DEFAULT_SHARED_DIRS: [&str; 16] = [
    "/",
    "/app",
    "/bin",
    "/etc",
    "/home",
    "/lib",
    "/opt",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/tmp",
    "/usr",
    "/var",
    "/var/run",
    "/workspace",
];

/// The `sizeLimit` of an added disk-backed emptyDir whose profile path sets
/// none: an unbounded one lets one container fill the node's disk.
pub(crate) const DEFAULT_EMPTY_DIR_SIZE_LIMIT: &str = "1Gi";
/// The same for a memory-backed (`medium: Memory`) emptyDir: its tmpfs pages
/// count against the container's memory limit.
pub(crate) const DEFAULT_MEMORY_EMPTY_DIR_SIZE_LIMIT: &str = "64Mi";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub read_only_root: RuleMode,
    pub writable_paths: RuleMode,
    pub secret_mounts: RuleMode,
    /// Replace an explicit `readOnlyRootFilesystem: false` instead of warning.
    pub override_explicit_false: bool,
    pub shared_dirs: SharedDirs,
    /// Honour `pod-hardener.dev/skip` and `skip-containers`.
    pub allow_opt_out: bool,
    /// Honour `pod-hardener.dev/writable-paths.<c>` and `profile.<c>`.
    pub allow_annotation_tuning: bool,
    /// `sizeLimit` of added disk-backed emptyDirs without their own (`None`: unbounded).
    pub empty_dir_size_limit: Option<String>,
    /// `sizeLimit` of added memory-backed emptyDirs without their own (`None`: unbounded).
    pub memory_empty_dir_size_limit: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            read_only_root: RuleMode::Enforce,
            writable_paths: RuleMode::Enforce,
            secret_mounts: RuleMode::Enforce,
            override_explicit_false: false,
            shared_dirs: DEFAULT_SHARED_DIRS.iter().map(|s| s.to_string()).collect(),
            allow_opt_out: true,
            allow_annotation_tuning: true,
            empty_dir_size_limit: Some(DEFAULT_EMPTY_DIR_SIZE_LIMIT.into()),
            memory_empty_dir_size_limit: Some(DEFAULT_MEMORY_EMPTY_DIR_SIZE_LIMIT.into()),
        }
    }
}

/// The configured shared directories, as written and as the pod engine's
/// comparison keys: the keys are made once, with the options, and not again
/// for every pod with a secret mount.
#[derive(Clone)]
pub struct SharedDirs {
    listed: Vec<String>,
    keys: HashSet<String>,
}

impl SharedDirs {
    /// The directories as configured.
    pub fn listed(&self) -> &[String] {
        &self.listed
    }

    /// Their keys (`crate::harden::paths::key`).
    pub(crate) fn keys(&self) -> &HashSet<String> {
        &self.keys
    }
}

impl FromIterator<String> for SharedDirs {
    fn from_iter<I: IntoIterator<Item = String>>(dirs: I) -> Self {
        let listed: Vec<String> = dirs.into_iter().collect();
        let keys = listed.iter().map(|d| key(d).into_owned()).collect();
        SharedDirs { listed, keys }
    }
}

/// Two lists are the same configuration when they list the same directories;
/// the keys follow from them.
impl PartialEq for SharedDirs {
    fn eq(&self, other: &Self) -> bool {
        self.listed == other.listed
    }
}

impl Eq for SharedDirs {}

/// Printed as the list it was configured as.
impl std::fmt::Debug for SharedDirs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.listed).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_dirs_are_keyed_once_as_the_engine_keys_paths() {
        let dirs: SharedDirs = ["/var/run/", "/srv//app", "/etc"]
            .into_iter()
            .map(String::from)
            .collect();
        let expected: HashSet<String> = dirs.listed().iter().map(|d| key(d).into_owned()).collect();
        assert_eq!(dirs.keys(), &expected);
        assert!(dirs.keys().contains("/run"), "{:?}", dirs.keys());
        assert!(dirs.keys().contains("/srv/app"), "{:?}", dirs.keys());
        assert_eq!(format!("{dirs:?}"), r#"["/var/run/", "/srv//app", "/etc"]"#);
    }
}
