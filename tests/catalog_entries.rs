//! Every entry of the built-in catalog, one by one: a pod running an image
//! its patterns match gets that profile, and the hardened pod passes the same
//! invariants as the corpus and property tests (the patch applies, the pod is
//! valid, read-only with every profile path writable, a second pass is empty).

mod common;

use pod_hardener::harden::{Location, Options};
use pod_hardener::profile::Catalog;
use serde_json::json;

/// An image reference a pattern matches: globs filled in, a digest kept.
fn image_for(pattern: &str) -> String {
    let filled = pattern.replace('*', "x");
    if filled.contains('@')
        || filled
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        filled
    } else {
        format!("{filled}:1.0")
    }
}

#[test]
fn every_catalog_entry_matches_its_own_images_and_hardens_cleanly() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let mut checked = 0;
    for (index, loaded) in catalog.profiles().iter().enumerate() {
        let name = &loaded.profile.name;
        assert!(!loaded.patterns.is_empty(), "{name}: no match patterns");
        for pattern in &loaded.patterns {
            let image = image_for(&pattern.source);
            let resolved = catalog.resolve(&image);
            let got = resolved.name().to_string();
            // First match wins: an earlier entry may take a pattern's image
            // (a tag-pinned entry before the plain one), a later one never.
            let at = catalog
                .profiles()
                .iter()
                .position(|p| p.profile.name == got)
                .unwrap_or_else(|| panic!("{name}: {image} matches no profile (got {got})"));
            assert!(at <= index, "{name}: {image} resolved to the later {got}");
            if at < index {
                continue;
            }
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n"},
                "spec": {"containers": [{"name": "app", "image": image,
                    "resources": {"limits": {"memory": "512Mi"}}}]}});
            common::check_hardening(&pod, &Location::pod(), &catalog, &options);
            checked += 1;
        }
    }
    assert!(
        checked >= catalog.profiles().len(),
        "{checked} images checked"
    );
}
