//! `POST /validate-config`: the webhook checks its own ConfigMaps before the
//! API server stores them (a ValidatingWebhookConfiguration sends CREATE and
//! UPDATE of pod-hardener-config, pod-hardener-profiles and
//! pod-hardener-scope here). A key named `config.yaml` must load as the
//! configuration; every other `*.yaml` / `*.yml` key must parse as a profile
//! file; the scope's keys must be scope keys with values the webhook reads. A bad one is refused with the
//! file, line and fix that `profiles check` would print, so it never reaches
//! the running replicas (which keep their last good files anyway) nor a
//! replica that starts later.

use serde_json::{json, Value};

use super::ServeError;

/// The ConfigMap key that holds the configuration file.
pub(crate) const CONFIG_KEY: &str = "config.yaml";

/// The ConfigMap of what the webhook leaves alone: plain keys, read as the
/// webhook's environment (see `config::load_scope`).
pub(crate) const SCOPE_CONFIGMAP: &str = "pod-hardener-scope";

/// What is wrong with a ConfigMap's data, one line per problem; empty when
/// every file loads.
pub fn problems(configmap: &Value) -> Vec<String> {
    let Some(data) = configmap.get("data").and_then(Value::as_object) else {
        return Vec::new(); // no data: nothing the webhook would read
    };
    if configmap.pointer("/metadata/name").and_then(Value::as_str) == Some(SCOPE_CONFIGMAP) {
        let pairs: Option<Vec<(&str, &str)>> = data
            .iter()
            .map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect();
        return match pairs.map(crate::config::load_scope) {
            None => vec!["a value is not a string".into()],
            Some(Err(e)) => vec![e.to_string()],
            Some(Ok(_)) => Vec::new(),
        };
    }
    let mut found = Vec::new();
    for (key, text) in data {
        let Some(text) = text.as_str() else {
            found.push(format!("{key}: not a string"));
            continue;
        };
        if key == CONFIG_KEY {
            if let Err(e) = crate::config::load_text(key, text) {
                found.push(e.to_string());
            }
        } else if key.ends_with(".yaml") || key.ends_with(".yml") {
            if let Err(errors) =
                crate::profile::Catalog::load(&[(key.clone(), text.to_string())], false)
            {
                found.extend(errors.iter().map(|e| e.to_string()));
            }
        }
    }
    found
}

/// The AdmissionReview answer for a review of a ConfigMap, or an error for a
/// body that is not one (the caller answers 400).
pub fn review(body: &[u8]) -> Result<Vec<u8>, ServeError> {
    let review: Value = serde_json::from_slice(body).map_err(ServeError::NotAReview)?;
    let request = review
        .get("request")
        .ok_or(ServeError::ReviewWithout("request"))?;
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .ok_or(ServeError::ReviewWithout("request.uid"))?;
    let name = request
        .pointer("/object/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let found = request.get("object").map(problems).unwrap_or_default();
    let response = if found.is_empty() {
        json!({"uid": uid, "allowed": true})
    } else {
        json!({
            "uid": uid,
            "allowed": false,
            "status": {
                "code": 422,
                "reason": "Invalid",
                "message": format!(
                    "ConfigMap {name} would not load in pod-hardener: {}",
                    found.join("; ")
                ),
            },
        })
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
    .map_err(ServeError::EncodeReview)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review_of(data: Value) -> Value {
        let body = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "operation": "UPDATE",
                "object": {"metadata": {"name": "pod-hardener-profiles"}, "data": data},
            },
        });
        serde_json::from_slice(&review(&serde_json::to_vec(&body).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn good_files_pass_and_bad_ones_are_refused_with_file_and_line() {
        let good = review_of(json!({
            "config.yaml": "mode: dry-run\n",
            "profiles.yaml": "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths: [/tmp]\n",
            "README": "not a file the webhook reads",
        }));
        assert_eq!(good["response"]["uid"], "u-1");
        assert_eq!(good["response"]["allowed"], true);

        let bad = review_of(json!({
            "profiles.yaml": "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths: [relative/path]\n",
        }));
        assert_eq!(bad["response"]["allowed"], false);
        let message = bad["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("profiles.yaml:6"), "{message}");
        assert!(message.contains("relative/path"), "{message}");

        let bad = review_of(json!({"config.yaml": "mode: sometimes\n"}));
        let message = bad["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("config.yaml") && message.contains("sometimes"),
            "{message}"
        );
    }

    fn review_of_scope(data: Value) -> Value {
        let body = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"uid": "u-2", "operation": "UPDATE",
                "object": {"metadata": {"name": SCOPE_CONFIGMAP}, "data": data}},
        });
        serde_json::from_slice(&review(&serde_json::to_vec(&body).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn the_scope_is_checked_as_the_webhook_reads_it() {
        // What manifests/base/scope.yaml ships.
        let shipped = review_of_scope(json!({"mode": "enforce",
            "skip_namespaces": "[kube-system,pod-hardener]", "allow_opt_out": "true",
            "read_only_root": "enforce", "override_explicit_false": "false"}));
        assert_eq!(shipped["response"]["allowed"], true, "{shipped}");
        for (data, needle) in [
            (json!({"mode": "sometimes"}), "sometimes"),
            (json!({"read_only_root": "maybe"}), "maybe"),
            (json!({"allow_opt_out": "perhaps"}), "allow_opt_out"),
            (json!({"skip_namespace": "[a]"}), "not a scope key"),
        ] {
            let answer = review_of_scope(data.clone());
            assert_eq!(answer["response"]["allowed"], false, "{data}");
            let message = answer["response"]["status"]["message"].as_str().unwrap();
            assert!(message.contains(needle), "{data}: {message}");
        }
    }

    #[test]
    fn a_body_that_is_no_review_is_an_error() {
        assert!(review(b"[]").is_err());
        assert!(review(b"{\"request\":{}}").is_err());
    }
}
