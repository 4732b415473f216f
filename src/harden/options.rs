//! What the engine is told to do: rule modes and policy switches.
//!
//! The server and the CLI build these from the configuration; the engine only
//! reads them.

use serde::{Deserialize, Serialize};

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
    pub shared_dirs: Vec<String>,
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
