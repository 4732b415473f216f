//! The ordered list of profiles an image is matched against.
//!
//! User files come first, in the order given, then the built-in catalog (which
//! can be left out). The first profile with a matching pattern wins; an image
//! that matches none gets the `defaults` of the first file that has them.

use crate::hashing::HashMap;
use std::sync::Arc;

use super::image::{ImagePattern, ImageRef};
use super::model::{Defaults, Profile, ProfileSet, WritablePath};
use super::validate::{parse_profile_set, ProfileError};

/// The built-in catalog, embedded at build time.
pub(crate) const BUILTIN_PROFILES: &str = include_str!("../../config/profiles.yaml");
/// How the built-in catalog is named in explanations and errors.
pub(crate) const BUILTIN_SOURCE: &str = "<built-in>";

/// A profile ready for matching, with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    pub profile: Profile,
    pub patterns: Vec<ImagePattern>,
    pub source: String,
}

/// What one image resolved to, and why.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a> {
    /// `None` when the defaults applied.
    pub profile: Option<&'a LoadedProfile>,
    /// The pattern that matched, when a profile did.
    pub pattern: Option<&'a ImagePattern>,
    pub defaults: &'a Defaults,
}

impl Resolution<'_> {
    pub fn name(&self) -> &str {
        self.profile.map_or("defaults", |p| p.profile.name.as_str())
    }
    pub fn writable_paths(&self) -> &[WritablePath] {
        self.profile
            .map_or(&self.defaults.writable_paths, |p| &p.profile.writable_paths)
    }
    pub fn data_paths(&self) -> &[String] {
        self.profile.map_or(&[], |p| &p.profile.data_paths)
    }
    pub fn app_dirs(&self) -> &[String] {
        self.profile
            .map_or(&self.defaults.app_dirs, |p| &p.profile.app_dirs)
    }
    pub fn read_only_root(&self) -> bool {
        self.profile
            .and_then(|p| p.profile.read_only_root_filesystem)
            .or(self.defaults.read_only_root_filesystem)
            .unwrap_or(true)
    }
    pub fn secret_mounts(&self) -> Option<super::model::SecretMounts> {
        self.profile
            .and_then(|p| p.profile.secret_mounts)
            .or(self.defaults.secret_mounts)
    }
}

/// Profiles in matching order. Cheap to share between requests.
#[derive(Debug, Clone)]
pub struct Catalog {
    profiles: Vec<LoadedProfile>,
    defaults: Defaults,
    patterns: PatternIndex,
}

/// Where each pattern is, as (profile, pattern) positions in matching order:
/// a review resolves every container's image, and trying all of a hundred
/// profiles' patterns one by one was most of what resolving cost.
#[derive(Debug, Clone, Default)]
struct PatternIndex {
    /// Patterns whose repository has no wildcard, by that repository.
    literal: HashMap<String, Vec<(usize, usize)>>,
    /// Patterns with a wildcard in their repository.
    wildcard: Vec<(usize, usize)>,
}

impl PatternIndex {
    fn new(profiles: &[LoadedProfile]) -> Self {
        let mut index = PatternIndex::default();
        for (p, profile) in profiles.iter().enumerate() {
            for (q, pattern) in profile.patterns.iter().enumerate() {
                let repository = pattern.repository();
                if repository.contains(['*', '?']) {
                    index.wildcard.push((p, q));
                } else {
                    index
                        .literal
                        .entry(repository.to_string())
                        .or_default()
                        .push((p, q));
                }
            }
        }
        index
    }

    /// The patterns that may match `repository`, in matching order.
    fn candidates<'a>(&'a self, repository: &str) -> impl Iterator<Item = (usize, usize)> + 'a {
        let literal = self.literal.get(repository).map_or(&[][..], Vec::as_slice);
        Merged {
            a: literal,
            b: &self.wildcard,
        }
    }
}

/// Two ascending lists of positions, as one ascending list.
struct Merged<'a> {
    a: &'a [(usize, usize)],
    b: &'a [(usize, usize)],
}

impl Iterator for Merged<'_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let list = if take_a { &mut self.a } else { &mut self.b };
        let (first, rest) = list.split_first()?;
        *list = rest;
        Some(*first)
    }
}

/// Shared, swappable handle the server keeps.
pub type SharedCatalog = Arc<Catalog>;

impl Catalog {
    /// Builds the catalog from user files (name, text) and, if asked, the built-in one.
    pub fn load(user_files: &[(String, String)], builtin: bool) -> Result<Self, Vec<ProfileError>> {
        let mut sets = Vec::new();
        let mut errors = Vec::new();
        for (name, text) in user_files {
            match parse_profile_set(name, text) {
                Ok(set) => sets.push((name.clone(), set)),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if builtin {
            match parse_profile_set(BUILTIN_SOURCE, BUILTIN_PROFILES) {
                Ok(set) => sets.push((BUILTIN_SOURCE.to_string(), set)),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self::from_sets(sets))
    }

    /// The built-in catalog alone.
    pub fn builtin() -> Self {
        Self::load(&[], true).expect("the embedded catalog is validated by its own test")
    }

    fn from_sets(sets: Vec<(String, ProfileSet)>) -> Self {
        let mut defaults = None;
        let mut profiles = Vec::new();
        for (source, set) in sets {
            if defaults.is_none() {
                defaults = set.defaults;
            }
            for profile in set.profiles {
                let patterns = profile
                    .patterns
                    .iter()
                    .map(|p| ImagePattern::parse(p).expect("validated"))
                    .collect();
                profiles.push(LoadedProfile {
                    profile,
                    patterns,
                    source: source.clone(),
                });
            }
        }
        Catalog {
            patterns: PatternIndex::new(&profiles),
            profiles,
            defaults: defaults.unwrap_or_else(|| Defaults {
                writable_paths: vec![WritablePath::Path("/tmp".into())],
                ..Default::default()
            }),
        }
    }

    pub fn profiles(&self) -> &[LoadedProfile] {
        &self.profiles
    }

    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// The first profile whose pattern matches the image; the defaults otherwise.
    /// An image that does not parse gets the defaults.
    pub fn resolve(&self, image: &str) -> Resolution<'_> {
        let parsed = ImageRef::parse(image).ok();
        let hit = parsed.as_ref().and_then(|img| {
            self.patterns
                .candidates(&img.repository)
                .map(|(p, q)| (&self.profiles[p], &self.profiles[p].patterns[q]))
                .find(|(_, pattern)| pattern.matches(img))
        });
        Resolution {
            profile: hit.map(|(p, _)| p),
            pattern: hit.map(|(_, pat)| pat),
            defaults: &self.defaults,
        }
    }

    /// The first profile of that name (for the `profile.<container>` annotation).
    pub fn by_name(&self, name: &str) -> Option<Resolution<'_>> {
        self.profiles
            .iter()
            .find(|lp| lp.profile.name == name)
            .map(|lp| Resolution {
                profile: Some(lp),
                pattern: None,
                defaults: &self.defaults,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_is_valid_and_large_enough() {
        let c = Catalog::builtin();
        assert!(c.profiles().len() >= 25, "{} profiles", c.profiles().len());
        assert_eq!(c.defaults().writable_paths[0].path(), "/tmp");
    }

    #[test]
    fn builtin_catalog_matches_popular_images() {
        let c = Catalog::builtin();
        for (image, profile) in [
            ("nginx:1.25", "nginx"),
            ("postgres:16-alpine", "postgres"),
            (
                "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
                "elasticsearch",
            ),
            ("redis", "redis"),
        ] {
            assert_eq!(c.resolve(image).name(), profile, "{image}");
        }
        assert_eq!(c.resolve("example.com/unknown/app:1").name(), "defaults");
        assert_eq!(c.resolve("NOT A REF").name(), "defaults");
    }

    #[test]
    fn the_index_finds_what_trying_every_pattern_in_order_finds() {
        let user = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: any-nginx\n    match: [\"*nginx*\"]\n    writablePaths: [/x]\n  - name: pinned\n    match: [\"nginx:1.2?\"]\n    writablePaths: [/y]\n";
        let c = Catalog::load(&[("u.yaml".into(), user.into())], true).unwrap();
        let mut images: Vec<String> = c
            .profiles()
            .iter()
            .flat_map(|p| &p.patterns)
            .map(|p| p.repository().replace(['*', '?'], "x"))
            .collect();
        images.extend(
            [
                "nginx:1.25",
                "bitnami/nginx:1",
                "redis@sha256:00",
                "quay.io/a/b:c",
                "x",
            ]
            .map(String::from),
        );
        for image in images {
            let linear = ImageRef::parse(&image).ok().and_then(|img| {
                c.profiles().iter().find_map(|lp| {
                    let pattern = lp.patterns.iter().find(|p| p.matches(&img))?;
                    Some((lp.profile.name.as_str(), pattern.source.as_str()))
                })
            });
            let r = c.resolve(&image);
            let indexed = r
                .profile
                .map(|p| p.profile.name.as_str())
                .zip(r.pattern.map(|p| p.source.as_str()));
            assert_eq!(indexed, linear, "{image}");
        }
    }

    #[test]
    fn user_files_come_first_and_first_match_wins() {
        let user = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: my-nginx\n    match: [nginx]\n    writablePaths: [/srv/cache]\n  - name: later\n    match: [nginx]\n";
        let c = Catalog::load(&[("u.yaml".into(), user.into())], true).unwrap();
        let r = c.resolve("nginx:1.27");
        assert_eq!(r.name(), "my-nginx");
        assert_eq!(r.pattern.unwrap().source, "nginx");
        assert_eq!(r.profile.unwrap().source, "u.yaml");
        let without = Catalog::load(&[("u.yaml".into(), user.into())], false).unwrap();
        assert_eq!(without.resolve("postgres").name(), "defaults");
    }
}
