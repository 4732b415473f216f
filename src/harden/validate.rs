//! The API server's pod validation rules that a patch can break, as a check
//! the tests, the corpus run and `preview` apply to every result.

use crate::hashing::HashSet;

use super::paths::key;
use super::Document;
use crate::profile::validate::is_dns_label;

/// Problems the API server would reject the pod spec for; empty when valid.
/// `claim_names` are a StatefulSet's claim templates, which mounts may name.
pub fn validate_pod_spec<D: Document>(spec: &D, claim_names: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let volumes = spec.member("volumes").and_then(D::as_array);
    let mut volume_names = HashSet::default();
    for v in volumes.into_iter().flatten() {
        let name = v.member("name").and_then(D::as_str).unwrap_or("");
        if !is_dns_label(name) {
            problems.push(format!("volume name {name:?} is not a DNS-1123 label"));
        }
        if !volume_names.insert(name) {
            problems.push(format!("volume name {name:?} must be unique"));
        }
    }
    // A claim template may share a volume's name: the StatefulSet controller
    // replaces that volume with the claim.
    volume_names.extend(claim_names.iter().map(String::as_str));
    let mut container_names = HashSet::default();
    // One container's mount paths, as written and resolved: the sets are
    // cleared per container, not allocated again.
    let mut paths = HashSet::default();
    let mut resolved = HashSet::default();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .member(list)
            .and_then(D::as_array)
            .into_iter()
            .flatten()
        {
            let name = c.member("name").and_then(D::as_str).unwrap_or("");
            if !is_dns_label(name) {
                problems.push(format!(
                    "{list}: container name {name:?} is not a DNS-1123 label"
                ));
            }
            if !container_names.insert(name) {
                problems.push(format!("{list}: container name {name:?} must be unique"));
            }
            paths.clear();
            resolved.clear();
            for m in c
                .member("volumeMounts")
                .and_then(D::as_array)
                .into_iter()
                .flatten()
            {
                let vol = m.member("name").and_then(D::as_str).unwrap_or("");
                let path = m.member("mountPath").and_then(D::as_str).unwrap_or("");
                if !volume_names.contains(vol) {
                    problems.push(format!(
                        "{list}[{name}]: mount {path} names no volume {vol:?}"
                    ));
                }
                if path.is_empty() {
                    problems.push(format!("{list}[{name}]: mount of {vol:?} has no mountPath"));
                }
                if !paths.insert(path.trim_end_matches('/')) {
                    problems.push(format!("{list}[{name}]: mountPath {path} must be unique"));
                } else if !path.is_empty() && !resolved.insert(key(path)) {
                    // The runtime mounts both at one place: the later hides the earlier.
                    problems.push(format!(
                        "{list}[{name}]: mountPath {path} is a directory mounted already"
                    ));
                }
            }
            for d in c
                .member("volumeDevices")
                .and_then(D::as_array)
                .into_iter()
                .flatten()
            {
                let path = d.member("devicePath").and_then(D::as_str).unwrap_or("");
                if paths.contains(path) || resolved.contains(&key(path)) {
                    problems.push(format!(
                        "{list}[{name}]: devicePath {path} must not be a mountPath"
                    ));
                }
            }
            if let Some(sc) = c.member("securityContext") {
                // `null` is how YAML writes an empty key: the same as absent.
                if !sc.is_object() && !sc.is_null() {
                    problems.push(format!("{list}[{name}]: securityContext is not an object"));
                }
            }
        }
    }
    problems
}
