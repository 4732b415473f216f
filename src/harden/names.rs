//! Deterministic, valid, unique names for what the engine adds.
//!
//! Names derive from the container and the path only (never from the pod's
//! name, which is empty under `generateName`), so two passes over the same pod
//! agree, and a hash keeps them unique and within 63 characters.

use crate::hashing::HashSet;

pub(crate) const VOLUME_PREFIX: &str = "ph-";
pub(crate) const SEED_CONTAINER_PREFIX: &str = "ph-seed-";
const MAX_LABEL: usize = 63;

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
pub(crate) fn stable_hash(parts: &[&str]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (h ^ (h >> 32)) as u32
}

/// Appends `s` as a slug: lowercase alphanumerics, runs of anything else
/// folded into one `-`, none at either end. False when nothing was left.
fn push_slug(out: &mut String, s: &str) -> bool {
    let start = out.len();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if out.len() > start && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.len() > start && out.ends_with('-') {
        out.pop();
    }
    out.len() > start
}

/// Cuts to fit `MAX_LABEL` with a hash suffix that keeps distinct inputs apart.
fn fit(base: &str, hash: u32) -> String {
    let suffix = format!("-{hash:08x}");
    let keep = MAX_LABEL - suffix.len();
    let head = base[..base.len().min(keep)].trim_end_matches('-');
    format!("{head}{suffix}")
}

/// `ph-<container>-<path>`, unique among `taken` (which it extends).
pub(crate) fn volume_name(container: &str, path: &str, taken: &mut HashSet<String>) -> String {
    let mut base = String::with_capacity(VOLUME_PREFIX.len() + container.len() + path.len() + 5);
    base.push_str(VOLUME_PREFIX);
    push_slug(&mut base, container);
    base.push('-');
    if !push_slug(&mut base, path) {
        base.push_str("root");
    }
    unique(base, &[container, path], taken)
}

/// `ph-seed-<container>`, unique among the pod's container names.
pub(crate) fn seed_container_name(container: &str, taken: &mut HashSet<String>) -> String {
    let mut base = String::from(SEED_CONTAINER_PREFIX);
    push_slug(&mut base, container);
    unique(base, &["seed", container], taken)
}

fn unique(base: String, parts: &[&str], taken: &mut HashSet<String>) -> String {
    if base.len() <= MAX_LABEL && !taken.contains(&base) {
        taken.insert(base.clone());
        return base;
    }
    // Too long, or taken: the hash suffix (a long name gets the same one
    // either way).
    let hash = stable_hash(parts);
    let mut name = fit(&base, hash);
    let mut n = 2u32;
    while taken.contains(&name) {
        let hash = stable_hash(&[parts.join("\0").as_str(), &n.to_string()]);
        name = fit(&base, hash);
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::validate::is_dns_label;

    #[test]
    fn names_are_readable_when_short() {
        let mut taken = HashSet::default();
        assert_eq!(volume_name("app", "/tmp", &mut taken), "ph-app-tmp");
        assert_eq!(
            volume_name("web", "/var/cache/nginx", &mut taken),
            "ph-web-var-cache-nginx"
        );
        assert_eq!(volume_name("web", "/", &mut taken), "ph-web-root");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let c = "a".repeat(63);
        let mut taken = HashSet::default();
        let a = volume_name(&c, "/var/lib/something/quite/long/a", &mut taken);
        let b = volume_name(&c, "/var/lib/something/quite/long/b", &mut taken);
        assert!(is_dns_label(&a) && is_dns_label(&b), "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn collisions_get_a_variant() {
        let mut taken: HashSet<String> = ["ph-app-tmp".to_string()].into_iter().collect();
        let n = volume_name("app", "/tmp", &mut taken);
        assert_ne!(n, "ph-app-tmp");
        assert!(is_dns_label(&n), "{n}");
        // Paths that slug alike still get different names.
        let x = volume_name("app", "/a-b", &mut taken);
        let y = volume_name("app", "/a/b", &mut taken);
        assert_ne!(x, y);
    }

    #[test]
    fn deterministic() {
        let a = volume_name("x", "/y", &mut HashSet::default());
        let b = volume_name("x", "/y", &mut HashSet::default());
        assert_eq!(a, b);
    }
}
