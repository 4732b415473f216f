//! Paths as the kubelet and the container runtime resolve them, and an index
//! of resolved paths that answers "nearest mount at or above" and "anything
//! mounted below" in time linear in the path's length.
//!
//! The API server accepts `tmp`, `//tmp/` and `/var/cache/./nginx`; the
//! runtime mounts them at `/tmp` and `/var/cache/nginx`, and `/var/run` (and
//! `/var/lock`) are symlinks into `/run` in almost every image. The engine
//! reads every path once through [`resolve`] and compares only the keys.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use crate::hashing::HashMap;
use std::ops::Bound;

/// A path as written (lexically cleaned, so it can be written back) and the
/// key it is compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Absolute, no empty, `.` or `..` components, no trailing slash.
    pub clean: String,
    /// `clean` with the `/run` aliases folded in.
    pub key: String,
}

/// Directories that are symlinks into `/run` in the images the profiles cover.
const RUN_ALIASES: [(&str, &str); 2] = [("/var/run", "/run"), ("/var/lock", "/run/lock")];

/// Lexical cleaning of a container path as the kubelet takes it: relative
/// paths are taken from `/`, `..` stops at `/`.
pub(crate) fn clean(path: &str) -> String {
    joined(&components(path, true), true)
}

/// Lexical cleaning that keeps a relative path relative (`../x` keeps its
/// leading `..`, an empty path is `.`): for host paths, and for Compose
/// container paths, which Docker refuses when relative, so they are compared
/// as written rather than taken to be under `/`.
pub(crate) fn clean_keep_relative(path: &str) -> String {
    let absolute = path.starts_with('/');
    joined(&components(path, absolute), absolute)
}

/// The components of `path` with `.` and empty ones dropped and `..` applied;
/// a `..` above the start is dropped when `absolute`, kept otherwise.
fn components(path: &str, absolute: bool) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    parts
}

fn joined(parts: &[&str], absolute: bool) -> String {
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// The comparison key of an already clean path, borrowed where no alias
/// applies, as for most paths.
pub(crate) fn key_of(clean: &str) -> Cow<'_, str> {
    for (alias, target) in RUN_ALIASES {
        if let Some(rest) = clean.strip_prefix(alias) {
            if rest.is_empty() || rest.starts_with('/') {
                return Cow::Owned(format!("{target}{rest}"));
            }
        }
    }
    Cow::Borrowed(clean)
}

/// The key of `path` alone: for comparisons that write nothing back.
pub(crate) fn key(path: &str) -> Cow<'_, str> {
    if is_clean(path) {
        key_of(path)
    } else {
        Cow::Owned(key_of(&clean(path)).into_owned())
    }
}

pub fn resolve(path: &str) -> Resolved {
    // Most paths are clean already: two copies instead of splitting and
    // joining (every mount of every container comes through here).
    let clean = if is_clean(path) {
        path.to_string()
    } else {
        clean(path)
    };
    let key = key_of(&clean).into_owned();
    Resolved { clean, key }
}

/// `path` is what `clean` would make of it: absolute, no empty, `.` or `..`
/// component, no trailing `/` (but `/` itself).
fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    // Byte by byte: `split` costs more than the rest of a lookup.
    let bytes = rest.as_bytes();
    let mut start = 0;
    loop {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |at| start + at);
        if matches!(&bytes[start..end], b"" | b"." | b"..") {
            return false;
        }
        if end == bytes.len() {
            return true;
        }
        start = end + 1;
    }
}

/// `path` is `dir` or inside it (both keys).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Resolved paths with the ids of what sits at each. A container has a
/// handful of mounts: up to `SCANNED_KEYS` keys are kept in a list and
/// scanned, which costs less than hashing and a tree. Past that, lookups of a
/// path's ancestors hash each prefix incrementally (one pass over the path)
/// and touch the sorted map only where a prefix's hash is known, so a query
/// costs O(path length + log n) whatever the depth or the number of mounts.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    /// The keys and their ids while there are at most `SCANNED_KEYS` keys.
    scanned: Vec<(String, Vec<usize>)>,
    /// All of them once there are more.
    indexed: Option<Indexed>,
}

/// Keys scanned one by one; more go into `Indexed`.
const SCANNED_KEYS: usize = 16;

#[derive(Debug, Default)]
struct Indexed {
    hasher: foldhash::fast::RandomState,
    /// Prefix hashes of the keys present, with how many keys have each.
    hashes: HashMap<u64, usize>,
    at: BTreeMap<String, Vec<usize>>,
}

/// `key` sits strictly below `dir` (both keys).
fn is_below(key: &str, dir: &str) -> bool {
    key != dir && is_within(key, dir)
}

impl PathIndex {
    pub fn new() -> Self {
        PathIndex::default()
    }

    pub fn insert(&mut self, key: &str, id: usize) {
        if let Some(indexed) = &mut self.indexed {
            return indexed.insert(key, vec![id]);
        }
        if let Some((_, ids)) = self.scanned.iter_mut().find(|(k, _)| k == key) {
            return ids.push(id);
        }
        if self.scanned.len() < SCANNED_KEYS {
            return self.scanned.push((key.to_string(), vec![id]));
        }
        let mut indexed = Indexed::default();
        for (k, ids) in self.scanned.drain(..) {
            indexed.insert(&k, ids);
        }
        indexed.insert(key, vec![id]);
        self.indexed = Some(indexed);
    }

    pub fn remove(&mut self, key: &str, id: usize) {
        if let Some(indexed) = &mut self.indexed {
            return indexed.remove(key, id);
        }
        if let Some(at) = self.scanned.iter().position(|(k, _)| k == key) {
            let ids = &mut self.scanned[at].1;
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.scanned.swap_remove(at);
            }
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        match &self.indexed {
            Some(indexed) => indexed.at.contains_key(key),
            None => self.scanned.iter().any(|(k, _)| k == key),
        }
    }

    /// The deepest key at or above `key` that holds something, with its ids.
    pub fn nearest<'a>(&'a self, key: &'a str) -> Option<(&'a str, &'a [usize])> {
        match &self.indexed {
            Some(indexed) => indexed.nearest(key),
            None => self
                .scanned
                .iter()
                .filter(|(k, _)| is_within(key, k))
                // The deepest: the longest, and a relative `x` above `/`,
                // which is as long and which `is_within` puts above all.
                .max_by_key(|(k, _)| (k.len(), k != "/"))
                .map(|(k, ids)| (k.as_str(), ids.as_slice())),
        }
    }

    /// Something sits strictly below `key`.
    pub(crate) fn has_below(&self, key: &str) -> bool {
        match &self.indexed {
            Some(indexed) => indexed.has_below(key),
            None => self.scanned.iter().any(|(k, _)| is_below(k, key)),
        }
    }
}

impl Indexed {
    /// Hashes of `key`'s prefixes at component boundaries with where each
    /// ends, the root first (ending at 0: it is `/`), the whole key last (`/`
    /// alone has only the root's).
    fn prefix_hashes(&self, key: &str) -> Vec<(usize, u64)> {
        let mut h = self.hasher.build_hasher();
        let mut out = vec![(0, h.clone().finish())];
        if key == "/" {
            return out;
        }
        let bytes = key.as_bytes();
        let mut start = 0;
        for end in 1..=bytes.len() {
            if end == bytes.len() || bytes[end] == b'/' {
                h.write(&bytes[start..end]);
                out.push((end, h.clone().finish()));
                start = end;
            }
        }
        out
    }

    /// The last of `prefix_hashes`, without keeping the others.
    fn whole_hash(&self, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        if key != "/" {
            let bytes = key.as_bytes();
            let mut start = 0;
            for end in 1..=bytes.len() {
                if end == bytes.len() || bytes[end] == b'/' {
                    h.write(&bytes[start..end]);
                    start = end;
                }
            }
        }
        h.finish()
    }

    fn insert(&mut self, key: &str, ids: Vec<usize>) {
        if let Some(present) = self.at.get_mut(key) {
            present.extend(ids);
            return;
        }
        let h = self.whole_hash(key);
        *self.hashes.entry(h).or_default() += 1;
        self.at.insert(key.to_string(), ids);
    }

    fn remove(&mut self, key: &str, id: usize) {
        let Some(ids) = self.at.get_mut(key) else {
            return;
        };
        ids.retain(|i| *i != id);
        if ids.is_empty() {
            self.at.remove(key);
            let h = self.whole_hash(key);
            if let Some(n) = self.hashes.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    self.hashes.remove(&h);
                }
            }
        }
    }

    fn nearest<'a>(&'a self, key: &'a str) -> Option<(&'a str, &'a [usize])> {
        for (end, h) in self.prefix_hashes(key).into_iter().rev() {
            if !self.hashes.contains_key(&h) {
                continue;
            }
            let prefix = if end == 0 { "/" } else { &key[..end] };
            if let Some((k, ids)) = self.at.get_key_value(prefix) {
                return Some((k.as_str(), ids.as_slice()));
            }
        }
        None
    }

    fn has_below(&self, key: &str) -> bool {
        if key == "/" {
            return self.at.keys().any(|k| k != "/");
        }
        // Keys below `key` are exactly those that start with `key/`, and
        // they sort together from there on.
        let mut low = String::with_capacity(key.len() + 1);
        low.push_str(key);
        low.push('/');
        self.at
            .range::<str, _>((Bound::Included(low.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(&low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_path_is_what_clean_makes_of_it() {
        for p in [
            "/",
            "/tmp",
            "/var/run",
            "/a/b/c",
            "tmp",
            "",
            ".",
            "/.",
            "/..",
            "//",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a/",
            "/a/.hidden",
            "/a/..b",
            "/a/b.",
            "a/b",
            "/var/lock/x",
            "/...",
            "/a/.../b",
            "/./a",
            "/a/..",
            "/a/b/",
            "/a/b/.",
            "/.a/b..",
        ] {
            assert_eq!(is_clean(p), clean(p) == p, "{p:?}");
            assert_eq!(resolve(p).clean, clean(p), "{p:?}");
        }
    }

    #[test]
    fn resolution() {
        for (raw, clean_, key) in [
            ("tmp", "/tmp", "/tmp"),
            ("//tmp/", "/tmp", "/tmp"),
            ("/var/cache/./nginx", "/var/cache/nginx", "/var/cache/nginx"),
            ("/var/run", "/var/run", "/run"),
            ("/var/run/secrets/x", "/var/run/secrets/x", "/run/secrets/x"),
            ("/var/runner", "/var/runner", "/var/runner"),
            ("/a/../b", "/b", "/b"),
            ("/..", "/", "/"),
            ("", "/", "/"),
        ] {
            let r = resolve(raw);
            assert_eq!((r.clean.as_str(), r.key.as_str()), (clean_, key), "{raw}");
            assert_eq!(super::key(raw), key, "{raw}");
        }
    }

    #[test]
    fn relative_paths_kept() {
        for (raw, cleaned) in [
            ("../x", "../x"),
            ("a/../../b/", "../b"),
            ("./", "."),
            ("", "."),
            ("/a/./b//", "/a/b"),
            ("/../a", "/a"),
        ] {
            assert_eq!(clean_keep_relative(raw), cleaned, "{raw}");
        }
    }

    #[test]
    fn the_whole_hash_is_the_last_prefix_hash() {
        let index = Indexed::default();
        for key in ["/", "/a", "/a/b", "/var/run/x", "/a/b/c/d/e"] {
            let prefixes = index.prefix_hashes(key);
            assert_eq!(index.whole_hash(key), prefixes.last().unwrap().1, "{key}");
        }
    }

    /// What the index answers, by brute force over the (key, id) pairs: the
    /// first of `key`, its parents at each `/` from the right, and `/`, that
    /// holds something.
    fn naive_nearest(pairs: &[(String, usize)], key: &str) -> Option<(String, Vec<usize>)> {
        let mut candidates = vec![key];
        let mut end = key.len();
        while let Some(slash) = key[..end].rfind('/') {
            if slash > 0 {
                candidates.push(&key[..slash]);
            }
            end = slash;
        }
        candidates.push("/");
        candidates.into_iter().find_map(|c| {
            let ids: Vec<usize> = pairs.iter().filter(|(k, _)| k == c).map(|p| p.1).collect();
            (!ids.is_empty()).then(|| (c.to_string(), ids))
        })
    }

    #[test]
    fn scanned_and_indexed_answer_alike() {
        let mut keys: Vec<String> = [
            "/", "/a", "/a/b", "/a/b/c", "/ab", "/a-b", "/a.b", "/run", "x", "x/y", "ab/c", "/a/b",
        ]
        .map(String::from)
        .to_vec();
        let queries = [
            "/", "/a", "/a/b", "/a/b/c/d", "/ab/x", "/a-b", "/a.", "/run/x", "x", "x/y/z", "ab",
            "ab/c", "/z",
        ];
        // The same pairs below and past the scanned size, then after removes;
        // then in reverse order, `/` last (it ties with `x` on length).
        let reversed: Vec<String> = keys.iter().rev().cloned().collect();
        for (filler, keys) in [
            (0, &mut keys.clone()),
            (3 * SCANNED_KEYS, &mut keys),
            (0, &mut reversed.clone()),
        ] {
            let mut pairs: Vec<(String, usize)> = Vec::new();
            let mut index = PathIndex::new();
            keys.extend((0..filler).map(|i| format!("/filler/{i}")));
            for (id, k) in keys.iter().enumerate() {
                index.insert(k, id);
                pairs.push((k.clone(), id));
            }
            assert_eq!(index.indexed.is_some(), filler > 0);
            for round in 0..2 {
                for q in queries {
                    let got = index
                        .nearest(q)
                        .map(|(k, ids)| (k.to_string(), ids.to_vec()));
                    assert_eq!(got, naive_nearest(&pairs, q), "{q} ({filler}, {round})");
                    let below = pairs.iter().any(|(k, _)| is_below(k, q));
                    assert_eq!(index.has_below(q), below, "{q} ({filler}, {round})");
                    let has = pairs.iter().any(|(k, _)| k == q);
                    assert_eq!(index.contains(q), has, "{q} ({filler}, {round})");
                }
                for (k, id) in [("/", 0), ("/a/b", 2), ("/a/b", 11), ("x/y", 9)] {
                    index.remove(k, id);
                    pairs.retain(|p| *p != (k.to_string(), id));
                }
            }
        }
    }

    #[test]
    fn nearest_and_below() {
        let mut idx = PathIndex::new();
        idx.insert("/var", 0);
        idx.insert("/var/cache", 1);
        idx.insert("/", 2);
        assert_eq!(
            idx.nearest("/var/cache/nginx"),
            Some(("/var/cache", &[1][..]))
        );
        assert_eq!(idx.nearest("/var/cachex"), Some(("/var", &[0][..])));
        assert_eq!(idx.nearest("/etc"), Some(("/", &[2][..])));
        assert!(idx.has_below("/var"));
        assert!(!idx.has_below("/var/cache"));
        assert!(idx.has_below("/"));
        idx.remove("/", 2);
        assert_eq!(idx.nearest("/etc"), None);
        idx.remove("/var/cache", 1);
        assert!(!idx.has_below("/var"));
        assert_eq!(idx.nearest("/var/cache/nginx"), Some(("/var", &[0][..])));
    }
}
