//! Seed init containers: an init container of the app's image that copies a
//! seeded directory's shipped files into its new emptyDir, and how the engine
//! recognises one it wrote earlier.
//!
//! A name prefix proves nothing (a user may call anything `ph-seed-x`), so a
//! seed container is ours only when it is exactly what [`build`] makes: the
//! `applied` annotation lists it, its command is the copy script for its
//! mounts, each mount is an emptyDir at its staging path, and its root is
//! read-only. Such a container already satisfies every rule.

use crate::hashing::HashSet;

use serde_json::{Map, Value};

use super::volumes::Volumes;
use super::{object, Document};

const STAGING: &str = "/ph-seed/";
const SCRIPT_HEAD: &str = "set -e";

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn copy_step(path: &str, i: usize) -> String {
    format!("; cp -a {}/. {STAGING}{i}/", shell_quote(path))
}

/// The init container for `seeds` (path, volume) of container `c`.
pub fn build<D: Document>(name: String, c: &D, seeds: &[(String, String)]) -> Value {
    let mut script = String::from(SCRIPT_HEAD);
    let mut mounts = Vec::new();
    for (i, (path, volume)) in seeds.iter().enumerate() {
        script.push_str(&copy_step(path, i));
        mounts.push(object([
            ("name", Value::String(volume.clone())),
            ("mountPath", Value::String(format!("{STAGING}{i}"))),
        ]));
    }
    // A `securityContext: null` (Helm output) must not be cloned: the seed
    // container would stay writable.
    let mut security = match c.member("securityContext") {
        Some(sc) if sc.is_object() => sc.to_value(),
        _ => Value::Object(Map::new()),
    };
    security["readOnlyRootFilesystem"] = Value::Bool(true);
    let command = ["/bin/sh", "-c", &script].map(|s| Value::String(s.to_string()));
    let mut init = object([
        ("name", Value::String(name)),
        ("image", c.member("image").map_or(Value::Null, D::to_value)),
        ("command", Value::Array(command.into())),
        ("volumeMounts", Value::Array(mounts)),
        ("securityContext", security),
    ]);
    for field in ["imagePullPolicy", "resources"] {
        if let Some(v) = c.member(field) {
            init[field] = v.to_value();
        }
    }
    init
}

/// The paths a seed script copies, if `script` is exactly one [`build`] writes.
fn parse_script(script: &str) -> Option<Vec<String>> {
    let mut rest = script.strip_prefix(SCRIPT_HEAD)?;
    let mut paths = Vec::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix("; cp -a '")?;
        let mut path = String::new();
        loop {
            let quote = rest.find('\'')?;
            path.push_str(&rest[..quote]);
            rest = &rest[quote..];
            if let Some(after) = rest.strip_prefix("'\\''") {
                path.push('\'');
                rest = after;
            } else {
                rest = &rest[1..];
                break;
            }
        }
        let tail = format!("/. {STAGING}{}/", paths.len());
        rest = rest.strip_prefix(tail.as_str())?;
        paths.push(path);
    }
    Some(paths)
}

/// `c` is a seed container this engine wrote (see the module doc).
/// `listed` are the names the `applied` annotation records as seeds.
pub(crate) fn is_ours<D: Document>(c: &D, listed: &HashSet<String>, volumes: &Volumes<'_>) -> bool {
    let name = c.member("name").and_then(D::as_str).unwrap_or("");
    if !listed.contains(name) {
        return false;
    }
    for field in ["args", "restartPolicy", "volumeDevices"] {
        if c.member(field).is_some_and(|v| !v.is_null()) {
            return false;
        }
    }
    if super::field(c, &["securityContext", "readOnlyRootFilesystem"]).and_then(D::as_bool)
        != Some(true)
    {
        return false;
    }
    let command = c.member("command").and_then(D::as_array);
    let script = match command {
        Some([sh, dash_c, script])
            if sh.as_str() == Some("/bin/sh") && dash_c.as_str() == Some("-c") =>
        {
            script.as_str()
        }
        _ => None,
    };
    let Some(paths) = script.and_then(parse_script) else {
        return false;
    };
    let mounts = c
        .member("volumeMounts")
        .and_then(D::as_array)
        .unwrap_or_default();
    mounts.len() == paths.len()
        && !paths.is_empty()
        && mounts.iter().enumerate().all(|(i, m)| {
            let fields_ok =
                m.is_object() && m.entries().all(|(k, _)| k == "name" || k == "mountPath");
            let staging = format!("{STAGING}{i}");
            fields_ok
                && m.member("mountPath").and_then(D::as_str) == Some(staging.as_str())
                && m.member("name")
                    .and_then(D::as_str)
                    .and_then(|n| volumes.get(n))
                    .is_some_and(|v| v.empty_dir)
        })
}

/// Seed container names recorded in the `applied` annotation's JSON.
pub(crate) fn listed_seeds(applied: Option<&str>) -> HashSet<String> {
    let summary: std::collections::BTreeMap<String, Vec<String>> = applied
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    summary
        .into_values()
        .flatten()
        .filter_map(|item| item.strip_prefix("seed:").map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_round_trip_and_others_are_refused() {
        let seeds = vec![
            ("/etc/it's".to_string(), "v0".to_string()),
            ("/conf".to_string(), "v1".to_string()),
        ];
        let built = build(
            "ph-seed-a".into(),
            &serde_json::json!({"image": "x"}),
            &seeds,
        );
        let script = built["command"][2].as_str().unwrap();
        assert_eq!(
            parse_script(script),
            Some(vec!["/etc/it's".to_string(), "/conf".to_string()])
        );
        for bad in [
            "set -e; rm -rf /",
            "set -e; cp -a '/x'/. /ph-seed/1/",
            "set -e; cp -a '/x'/. /ph-seed/0/; id",
            "echo; cp -a '/x'/. /ph-seed/0/",
        ] {
            assert_eq!(parse_script(bad), None, "{bad}");
        }
    }
}
