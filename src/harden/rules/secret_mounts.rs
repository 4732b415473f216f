//! Rule 1: a secret mounted onto a shared directory (one where other files
//! live: `/app`, `/etc`, the working directory, a writable path, a directory
//! with other mounts under it) belongs in a directory of its own,
//! `<dir>/secrets` or the first free `<dir>/secrets-<n>`.

use crate::hashing::{HashMap, HashSet};

use super::{Mounts, WritablePaths};

/// Where a secret may not sit, for one container (all comparison keys).
pub(crate) struct Places<'a> {
    /// The configured shared directories.
    pub shared: &'a HashSet<String>,
    /// The container's own: working directory, app dirs, writable paths.
    pub own: &'a HashSet<String>,
    /// Writable paths that count as mounts: one below a secret's directory
    /// nests it, and a destination must have none at or under it.
    pub writable: &'a WritablePaths,
}

impl Places<'_> {
    fn is_shared(&self, key: &str) -> bool {
        self.shared.contains(key) || self.own.contains(key)
    }
}

/// Which directories a moved secret may land in. The formats differ here,
/// and each adapter names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// One that satisfies the rule, so that a second pass leaves it: not
    /// shared, nothing mounted or wanted writable at it or under it.
    Free,
    /// One where nothing is mounted.
    Unmounted,
}

/// What becomes of one secret mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A `subPath` mount: it never sees rotated values, and stays.
    SubPath,
    /// Where it is, it harms nothing.
    Stays,
    /// It belongs at `to`: it sits on a shared directory (`on_shared`), or
    /// on one with other mounts under it (`nested`), or both.
    Move {
        to: String,
        on_shared: bool,
        nested: bool,
    },
}

/// The decision for one secret mount.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    /// Its index in the model's mounts.
    pub id: usize,
    /// Its path before the rule ran.
    pub from: String,
    pub placement: Placement,
}

/// Decides every secret mount, in the model's order. With `relocate`, a
/// moved mount is moved in the model too, so that the next one does not land
/// on it. `key_of` gives the comparison key of a destination path.
pub(crate) fn decide(
    mounts: &mut Mounts,
    places: &Places<'_>,
    destination: Destination,
    relocate: bool,
    key_of: &dyn Fn(&str) -> String,
) -> Vec<Decision> {
    let mut decisions = Vec::new();
    // Next `secrets-<n>` to try per directory, so that many secrets on one
    // directory (or many taken variants) cost linear time in total.
    let mut next_variant: HashMap<String, usize> = HashMap::default();
    for id in 0..mounts.list().len() {
        let mount = &mounts.list()[id];
        if !mount.secret {
            continue;
        }
        let (from, key) = (mount.path.clone(), mount.key.clone());
        if mount.sub_path {
            decisions.push(Decision {
                id,
                from,
                placement: Placement::SubPath,
            });
            continue;
        }
        let on_shared = places.is_shared(&key);
        let nested = mounts.below(&key) || places.writable.below(&key);
        if !on_shared && !nested {
            decisions.push(Decision {
                id,
                from,
                placement: Placement::Stays,
            });
            continue;
        }
        let next = next_variant.entry(key.clone()).or_insert(1);
        let to = variant(&from, next, |candidate| {
            let key = key_of(candidate);
            match destination {
                Destination::Free => {
                    !places.is_shared(&key)
                        && !mounts.at_or_below(&key)
                        && !places.writable.at_or_below(&key)
                }
                Destination::Unmounted => !mounts.list().iter().any(|m| m.key == key),
            }
        });
        if relocate {
            let key = key_of(&to);
            mounts.relocate(id, to.clone(), key);
        }
        decisions.push(Decision {
            id,
            from,
            placement: Placement::Move {
                to,
                on_shared,
                nested,
            },
        });
    }
    decisions
}

/// `<dir>/secrets`, else `<dir>/secrets-<n>` from `*next` on, the first that
/// `allowed` takes; `*next` is left at the one returned.
pub(crate) fn variant(
    dir: &str,
    next: &mut usize,
    mut allowed: impl FnMut(&str) -> bool,
) -> String {
    let base = if dir == "/" { "" } else { dir };
    loop {
        let candidate = match *next {
            1 => format!("{base}/secrets"),
            n => format!("{base}/secrets-{n}"),
        };
        if allowed(&candidate) {
            return candidate;
        }
        *next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harden::rules::{Access, Mount, WritablePath};

    fn secret_on(mounts: &mut Mounts, path: &str) {
        mounts.push(Mount {
            source: None,
            path: path.to_string(),
            key: path.to_string(),
            access: Access::ReadOnly("a secret volume"),
            secret: true,
            sub_path: false,
            scratch: false,
        });
    }

    #[test]
    fn destinations_follow_the_adapters_check() {
        let shared: HashSet<String> = ["/app".to_string()].into_iter().collect();
        let own = HashSet::default();
        let mut writable = WritablePaths::default();
        writable.push(WritablePath {
            spec: Default::default(),
            key: "/app/secrets".into(),
        });
        let places = Places {
            shared: &shared,
            own: &own,
            writable: &writable,
        };
        let same = |p: &str| p.to_string();
        let to = |d: &Decision| match &d.placement {
            Placement::Move { to, .. } => to.clone(),
            other => panic!("{other:?}"),
        };
        // A writable path at /app/secrets: only a free destination avoids it.
        let mut m = Mounts::default();
        secret_on(&mut m, "/app");
        let free = decide(&mut m, &places, Destination::Free, false, &same);
        assert_eq!(to(&free[0]), "/app/secrets-2");
        let unmounted = decide(&mut m, &places, Destination::Unmounted, false, &same);
        assert_eq!(to(&unmounted[0]), "/app/secrets");
        // Relocated secrets do not land on one another.
        let mut m = Mounts::default();
        secret_on(&mut m, "/app");
        secret_on(&mut m, "/app");
        let moved = decide(&mut m, &places, Destination::Free, true, &same);
        let targets: Vec<_> = moved.iter().map(to).collect();
        assert_eq!(targets, ["/app/secrets-2", "/app/secrets-3"]);
        assert_eq!(variant("/", &mut 1, |_| true), "/secrets");
    }
}
