//! The three rules, decided once for every format: secret mounts moved off
//! shared directories ([`secret_mounts`]), a mount of its own for each path
//! the image writes to ([`writable_paths`]), and a read-only root
//! ([`read_only_root`]).
//!
//! Each rule is a function from a small model of one container (its
//! [`Mounts`], the [`WritablePaths`] its profile and annotations ask for, its
//! root setting) and the options to decisions. The pod engine
//! (`harden::plan`) and the Compose planner (`compose::plan`) read their
//! input into this model and turn the decisions into their own output (JSON
//! Patch ops, a Compose override) with their own wording.

pub(crate) mod read_only_root;
pub(crate) mod secret_mounts;
pub(crate) mod writable_paths;

use super::options::RuleMode;
use super::paths::PathIndex;
use crate::profile::model::{SecretMounts, WritablePathSpec};

/// Whether the container can write through a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writable,
    /// Read-only, and what makes it so (`a read-only mount`, ...).
    ReadOnly(&'static str),
    /// Not known to be writable, and why: never counted as writable.
    Unknown(&'static str),
}

impl Access {
    /// Why the container cannot write there; `None` when it can.
    pub(crate) fn blocked_by(self) -> Option<&'static str> {
        match self {
            Access::Writable => None,
            Access::ReadOnly(why) | Access::Unknown(why) => Some(why),
        }
    }
}

/// One mount of the container as the rules see it.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    /// Its index in the adapter's own list of mounts as read; `None` for a
    /// mount the adapter added or one that is not a volume mount (a device).
    pub source: Option<usize>,
    /// The path as written, lexically cleaned (what messages show).
    pub path: String,
    /// What paths are compared by (see `paths`).
    pub key: String,
    pub access: Access,
    /// Holds secret material.
    pub secret: bool,
    /// Mounts one file or subdirectory of its volume (never sees updates).
    pub sub_path: bool,
    /// Memory-backed and emptied when the container stops (a Compose tmpfs).
    pub scratch: bool,
}

/// What an entry of a [`ByPath`] list is compared by.
pub(crate) trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for Mount {
    fn key(&self) -> &str {
        &self.key
    }
}

/// A path the container must be able to write to, from its profile or an
/// annotation, with its comparison key.
#[derive(Debug, Clone)]
pub(crate) struct WritablePath {
    pub spec: WritablePathSpec,
    pub key: String,
}

impl Keyed for WritablePath {
    fn key(&self) -> &str {
        &self.key
    }
}

/// Entries in order with an index of their keys, so that "nearest at or
/// above" and "anything below" cost the path's length, not the count of
/// entries (a hostile pod may have tens of thousands of mounts).
#[derive(Debug)]
pub(crate) struct ByPath<T> {
    list: Vec<T>,
    index: PathIndex,
}

impl<T> Default for ByPath<T> {
    fn default() -> Self {
        ByPath {
            list: Vec::new(),
            index: PathIndex::new(),
        }
    }
}

impl<T: Keyed> ByPath<T> {
    pub(crate) fn push(&mut self, entry: T) {
        self.index.insert(entry.key(), self.list.len());
        self.list.push(entry);
    }

    pub(crate) fn list(&self) -> &[T] {
        &self.list
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.index.contains(key)
    }

    /// Something at `key` or below it.
    pub(crate) fn at_or_below(&self, key: &str) -> bool {
        self.index.contains(key) || self.index.has_below(key)
    }

    /// Something strictly below `key`.
    pub(crate) fn below(&self, key: &str) -> bool {
        self.index.has_below(key)
    }
}

/// A container's mounts.
pub(crate) type Mounts = ByPath<Mount>;

/// The container's writable paths, in order.
pub(crate) type WritablePaths = ByPath<WritablePath>;

impl Mounts {
    /// Mount `id` now sits at `path` (with comparison key `key`).
    pub(crate) fn relocate(&mut self, id: usize, path: String, key: String) {
        self.index.remove(&self.list[id].key, id);
        self.index.insert(&key, id);
        self.list[id].path = path;
        self.list[id].key = key;
    }

    /// The nearest mount at or above `key`: `Ok(())` when one there is
    /// writable, else where it is and why it is not. `Err(None)`: no mount.
    pub(crate) fn coverage<'s>(
        &'s self,
        key: &'s str,
    ) -> Result<(), Option<(&'s str, &'static str)>> {
        let Some((at, ids)) = self.index.nearest(key) else {
            return Err(None);
        };
        if ids.iter().any(|&i| self.list[i].access == Access::Writable) {
            return Ok(());
        }
        let why = self.list[ids[0]].access.blocked_by();
        Err(Some((at, why.unwrap_or(""))))
    }
}

/// The secret-mounts rule's mode for one container: the configuration's and
/// the profile's `secretMounts`, the more lenient one winning (`off` over
/// `warn` over `enforce`), since either may know the image needs it.
pub(crate) fn secret_mode(configured: RuleMode, profile: Option<SecretMounts>) -> RuleMode {
    match (configured, profile) {
        (_, Some(SecretMounts::Off)) | (RuleMode::Off, _) => RuleMode::Off,
        (_, Some(SecretMounts::Warn)) | (RuleMode::Warn, _) => RuleMode::Warn,
        _ => RuleMode::Enforce,
    }
}
