//! The profile file format (`kind: ProfileSet`), as users write it.
//!
//! Only the shape lives here; `validate` checks meaning and `catalog` decides
//! which profile an image gets.

use serde::{Deserialize, Serialize};

pub(crate) const API_VERSION: &str = "pod-hardener.dev/v1";
pub(crate) const KIND: &str = "ProfileSet";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSet {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Defaults>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

/// What a container gets when its image matches no profile.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub writable_paths: Vec<WritablePath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_mounts: Option<SecretMounts>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_dirs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub writable_paths: Vec<WritablePath>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_mounts: Option<SecretMounts>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_dirs: Vec<String>,
}

/// How a profile treats secret mounts on shared directories.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SecretMounts {
    Move,
    Warn,
    Off,
}

/// `- /tmp` or `- {path: /tmp, medium: Memory, sizeLimit: 16Mi, seed: true}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum WritablePath {
    Path(String),
    Detailed(WritablePathSpec),
}

/// By hand rather than `untagged`: an untagged enum hides why a mapping did
/// not match ("did not match any variant"); here the mapping's own error
/// (`unknown field seeed, expected one of ...`, `unknown variant memory,
/// expected Memory`) reaches the user with its line.
impl<'de> Deserialize<'de> for WritablePath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = WritablePath;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path (\"/tmp\") or a mapping {path, medium, sizeLimit, seed, exec}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WritablePath::Path(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                WritablePathSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(WritablePath::Detailed)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WritablePathSpec {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<Medium>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "quantity"
    )]
    pub size_limit: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seed: bool,
    /// The image runs code from here (native libraries unpacked into /tmp):
    /// a Docker tmpfs, `noexec` by default, is mounted `exec`. An emptyDir
    /// allows exec already, so the webhook ignores it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exec: bool,
}

/// A quantity as written, or a bare number (`sizeLimit: 1e3`, which YAML
/// reads as a float) in its integer spelling.
fn quantity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Quantity {
        Text(String),
        Whole(u64),
        Real(f64),
    }
    Ok(match Option::<Quantity>::deserialize(d)? {
        None => None,
        Some(Quantity::Text(s)) => Some(s),
        Some(Quantity::Whole(n)) => Some(n.to_string()),
        Some(Quantity::Real(f)) if f.fract() == 0.0 && (0.0..1e19).contains(&f) => {
            Some((f as u64).to_string())
        }
        Some(Quantity::Real(f)) => Some(f.to_string()),
    })
}

/// The emptyDir medium: the node's disk (default) or RAM.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum Medium {
    Memory,
}

impl WritablePath {
    /// The path with its options, whichever way it was written.
    pub fn spec(&self) -> WritablePathSpec {
        self.spec_at(self.path().to_string())
    }

    /// `spec()` with `path` in place of the path as written (one copy fewer
    /// for the engine, which cleans every path first).
    pub(crate) fn spec_at(&self, path: String) -> WritablePathSpec {
        match self {
            WritablePath::Path(_) => WritablePathSpec {
                path,
                ..Default::default()
            },
            WritablePath::Detailed(s) => WritablePathSpec {
                path,
                medium: s.medium,
                size_limit: s.size_limit.clone(),
                seed: s.seed,
                exec: s.exec,
            },
        }
    }

    pub fn path(&self) -> &str {
        match self {
            WritablePath::Path(p) => p,
            WritablePath::Detailed(s) => &s.path,
        }
    }
}
