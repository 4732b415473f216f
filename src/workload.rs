//! Where the pod template sits in each workload kind.
//!
//! A server-side dry run of a Deployment creates no pods, so it never shows a
//! pod webhook's work; `preview` finds the template here and hardens it with
//! the same engine, patch paths prefixed to point into the workload.

use serde_json::Value;

use crate::harden::Location;

/// The template prefix for a kind, or `None` for kinds that hold no pod.
pub(crate) fn template_prefix(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "",
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => "/spec/template",
        "CronJob" => "/spec/jobTemplate/spec/template",
        "PodTemplate" => "/template",
        _ => return None,
    })
}

/// A pod (template) found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Pointer prefix of the object inside the document (`/items/3` in a List).
    pub object: String,
    pub kind: String,
    pub location: Location,
}

/// Every pod or pod template in a document: the object itself, or each item of a `List`.
pub fn find_pods(document: &Value) -> Vec<Found> {
    let mut found = Vec::new();
    collect(document, "", &mut found);
    found
}

fn collect(object: &Value, at: &str, found: &mut Vec<Found>) {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind == "List" || kind.ends_with("List") && object.get("items").is_some_and(Value::is_array)
    {
        for (i, item) in object["items"].as_array().into_iter().flatten().enumerate() {
            collect(item, &format!("{at}/items/{i}"), found);
        }
        return;
    }
    let Some(prefix) = template_prefix(kind) else {
        return;
    };
    let spec = format!("{at}{prefix}/spec");
    if object
        .pointer(&format!("{prefix}/spec"))
        .is_some_and(Value::is_object)
    {
        found.push(Found {
            object: at.to_string(),
            kind: kind.to_string(),
            location: Location {
                metadata: format!("{at}{prefix}/metadata").into(),
                spec: spec.into(),
                claims: (kind == "StatefulSet").then(|| format!("{at}/spec/volumeClaimTemplates")),
            },
        });
    }
}

/// `kind/namespace/name` of an object, for messages.
pub fn describe(object: &Value) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .unwrap_or("object without kind");
    let meta = object.get("metadata");
    let name = meta
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    match (namespace, name) {
        (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
        (None, Some(name)) => format!("{kind} {name}"),
        // A `kind: List` has no name of its own: say so rather than print `?`.
        (_, None) => format!("{kind} (unnamed)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_templates_in_every_kind() {
        for (kind, doc, spec) in [
            ("Pod", json!({"kind":"Pod","spec":{}}), "/spec"),
            (
                "Deployment",
                json!({"kind":"Deployment","spec":{"template":{"spec":{}}}}),
                "/spec/template/spec",
            ),
            (
                "CronJob",
                json!({"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{}}}}}}),
                "/spec/jobTemplate/spec/template/spec",
            ),
            (
                "PodTemplate",
                json!({"kind":"PodTemplate","template":{"spec":{}}}),
                "/template/spec",
            ),
        ] {
            let f = find_pods(&doc);
            assert_eq!(f.len(), 1, "{kind}");
            assert_eq!(f[0].location.spec, spec);
        }
        assert!(find_pods(&json!({"kind":"Service","spec":{}})).is_empty());
        let list = json!({"kind":"List","items":[{"kind":"Service"},{"kind":"Job","spec":{"template":{"spec":{}}}}]});
        let f = find_pods(&list);
        assert_eq!(f[0].location.spec, "/items/1/spec/template/spec");
        assert_eq!(f[0].location.metadata, "/items/1/spec/template/metadata");
    }
}
