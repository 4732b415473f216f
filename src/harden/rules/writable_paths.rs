//! Rule 2: every path the container must write to gets a mount of its own
//! (an emptyDir, a tmpfs), unless a writable mount already covers it.

use super::{Access, Mounts};
use crate::harden::options::RuleMode;
use crate::harden::paths::is_within;

/// How mounts nest: which mounts at or above a path decide whether it is
/// writable. The formats differ here, and each adapter names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nesting {
    /// The deepest mount at or above the path decides (as the runtime sees
    /// it: a read-only volume inside a writable one hides it), and no mount
    /// is added inside a read-only one, where its mount point could not be
    /// created.
    Nearest,
    /// Any writable mount at or above covers the path; a mount exactly there
    /// that is not writable keeps it read-only; under a read-only mount, the
    /// path still gets its own, with a note that the mount point must exist.
    AnyWritable,
}

/// What one writable path needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A writable mount covers it already.
    Covered,
    /// It stays read-only: `why` is at `at` (the path itself or a directory above).
    Blocked { at: String, why: &'static str },
    /// Warn mode: it would get a mount.
    WouldAdd { under: Option<String> },
    /// Add a mount there. `under`: a read-only mount above it, in which the
    /// runtime must find the mount point.
    Add { under: Option<String> },
}

/// The decision for the path with key `key`, over the mounts so far (the
/// adapter pushes each mount it adds, so a later path inside it is covered).
pub(crate) fn decide(mounts: &Mounts, key: &str, mode: RuleMode, nesting: Nesting) -> Decision {
    let under = match nesting {
        Nesting::Nearest => match mounts.coverage(key) {
            Ok(()) => return Decision::Covered,
            Err(Some((at, why))) => {
                return Decision::Blocked {
                    at: at.to_string(),
                    why,
                }
            }
            Err(None) => None,
        },
        Nesting::AnyWritable => {
            let list = mounts.list();
            if list
                .iter()
                .any(|m| m.access == Access::Writable && is_within(key, &m.key))
            {
                return Decision::Covered;
            }
            if let Some(m) = list.iter().find(|m| m.key == key) {
                return Decision::Blocked {
                    at: m.path.clone(),
                    why: m.access.blocked_by().unwrap_or(""),
                };
            }
            list.iter()
                .find(|m| matches!(m.access, Access::ReadOnly(_)) && is_within(key, &m.key))
                .map(|m| m.path.clone())
        }
    };
    match mode {
        RuleMode::Warn => Decision::WouldAdd { under },
        _ => Decision::Add { under },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harden::rules::Mount;

    fn mounts(list: &[(&str, Access)]) -> Mounts {
        let mut out = Mounts::default();
        for (path, access) in list {
            out.push(Mount {
                source: None,
                path: path.to_string(),
                key: path.to_string(),
                access: *access,
                secret: false,
                sub_path: false,
                scratch: false,
            });
        }
        out
    }

    #[test]
    fn the_formats_nest_mounts_their_own_way() {
        let ro = Access::ReadOnly("a read-only mount");
        // A read-only volume inside a writable one.
        let m = mounts(&[("/var", Access::Writable), ("/var/cache", ro)]);
        let key = "/var/cache/nginx";
        let enforce = RuleMode::Enforce;
        assert_eq!(
            decide(&m, key, enforce, Nesting::Nearest),
            Decision::Blocked {
                at: "/var/cache".into(),
                why: "a read-only mount"
            }
        );
        assert_eq!(
            decide(&m, key, enforce, Nesting::AnyWritable),
            Decision::Covered
        );
        // Under a read-only mount alone.
        let m = mounts(&[("/etc", ro)]);
        assert!(matches!(
            decide(&m, "/etc/app", enforce, Nesting::Nearest),
            Decision::Blocked { .. }
        ));
        assert_eq!(
            decide(&m, "/etc/app", RuleMode::Warn, Nesting::AnyWritable),
            Decision::WouldAdd {
                under: Some("/etc".into())
            }
        );
        // A mount of an unknown kind exactly there blocks both.
        let m = mounts(&[("/data", Access::Unknown("unknown"))]);
        for nesting in [Nesting::Nearest, Nesting::AnyWritable] {
            assert!(matches!(
                decide(&m, "/data", enforce, nesting),
                Decision::Blocked { .. }
            ));
        }
        assert_eq!(
            decide(&Mounts::default(), "/tmp", enforce, Nesting::Nearest),
            Decision::Add { under: None }
        );
    }
}
