//! What decides a review besides the pod: the global mode, the answer for a
//! pod that cannot be processed, the rule options and the skipped namespaces.
//!
//! Owned here rather than by `config` so that the pure admission core does not
//! depend on the loader; `config` builds a `Policy` from its layers.

use serde::{Deserialize, Serialize};

use crate::harden::Options;

/// Global admission mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Patch pods.
    Enforce,
    /// Never patch; warnings and audit annotations say what would change.
    DryRun,
}

/// What to answer for a pod that could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Allow,
    Deny,
}

/// The hot-reloadable part of the configuration: what decides a review.
/// Addresses, TLS, workers and logging need a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub options: Options,
    pub mode: Mode,
    pub on_error: OnError,
    pub skip_namespaces: Vec<String>,
}
