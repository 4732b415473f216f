use serde::Deserialize;
use serde_json::{json, Value};

use super::*;

const SCHEMA: &str =
    include_str!("../../../tests/policyreport/wgpolicyk8s.io_v1alpha2_schema.yaml");
const NOW: u64 = 1_780_000_000;

fn report(options: &Options, errors: Vec<String>) -> Report {
    crate::audit::tests::report_with(options, errors)
}

/// Checks `value` against a structural OpenAPI v3 schema as the API server
/// does for a custom resource (types, enums, formats, required fields), and
/// calls a field the schema does not know an error where the API server
/// would silently drop it.
fn violations(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let expected = schema["type"].as_str().unwrap_or("");
    let ok = match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => true,
    };
    if !ok {
        out.push(format!("{at}: expected {expected}, found {value}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if schema["format"] == "int32" && value.as_i64().is_none_or(|n| i32::try_from(n).is_err()) {
        out.push(format!("{at}: {value} is not an int32"));
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            violations(&schema["items"], item, &format!("{at}[{i}]"), out);
        }
    }
    if let Some(fields) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(r.as_str().unwrap_or("")) {
                out.push(format!("{at}: missing required field {r}"));
            }
        }
        let known = schema["properties"].as_object();
        let additional = schema.get("additionalProperties");
        for (k, v) in fields {
            match (known.and_then(|p| p.get(k)), additional) {
                (Some(s), _) | (None, Some(s)) => violations(s, v, &format!("{at}.{k}"), out),
                (None, None) if known.is_some() => out.push(format!("{at}: unknown field {k}")),
                (None, None) => {}
            }
        }
    }
}

fn schema() -> Value {
    serde_yaml::from_str(SCHEMA).expect("the schema parses")
}

/// A DNS-1123 subdomain, what the API server requires of a name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[test]
fn every_report_object_passes_the_published_crd_schema() {
    let schema = schema();
    let r = report(
        &Options::default(),
        vec!["cannot list jobs.batch in namespace x: forbidden".into()],
    );
    let objects = policy_reports(&r, &Options::default(), NOW);
    // one PolicyReport per namespace of the report, then the ClusterPolicyReport
    let namespaces: std::collections::BTreeSet<&str> =
        r.workloads.iter().map(|w| w.namespace.as_str()).collect();
    assert_eq!(objects.len(), namespaces.len() + 1);
    for o in &objects {
        let mut errors = Vec::new();
        violations(&schema, o, "", &mut errors);
        assert!(errors.is_empty(), "{errors:#?}\n{o:#}");
        assert_eq!(o["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert!(valid_name(o["metadata"]["name"].as_str().unwrap()));
    }
    assert_eq!(objects.last().unwrap()["kind"], "ClusterPolicyReport");
    assert!(objects.last().unwrap()["metadata"]
        .get("namespace")
        .is_none());
    assert_eq!(objects.last().unwrap()["summary"]["error"], 1);
}

#[test]
fn the_schema_check_rejects_what_the_api_server_would() {
    let schema = schema();
    let bad = json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {"name": "x"},
        "summary": {"pass": "one"},
        "results": [
            {"policy": "p", "severity": "urgent", "timestamp": {"seconds": 1, "nanos": 5_000_000_000u64}},
            {"rule": "no policy", "properties": {"n": 3}},
            {"policy": "p", "resource": []},
        ],
    });
    let mut errors = Vec::new();
    violations(&schema, &bad, "", &mut errors);
    let text = errors.join("\n");
    for expected in [
        ".summary.pass: expected integer",
        ".results[0].severity: \"urgent\" is not one of",
        ".results[0].timestamp.nanos: 5000000000 is not an int32",
        ".results[1]: missing required field \"policy\"",
        ".results[1].properties.n: expected string",
        ".results[2]: unknown field resource",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
}

fn results_for<'a>(objects: &'a [Value], ns: &str, name: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["metadata"]["namespace"] == ns)
        .flat_map(|o| o["results"].as_array().unwrap())
        .filter(|r| r["resources"][0]["name"] == name)
        .collect()
}

#[test]
fn one_result_per_workload_and_rule_with_the_changes_as_properties() {
    let r = report(&Options::default(), vec![]);
    let objects = policy_reports(&r, &Options::default(), NOW);
    let total: usize = objects[..objects.len() - 1]
        .iter()
        .map(|o| o["results"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 3 * r.workloads.len());

    let web = results_for(&objects, "shop", "web");
    let rules: Vec<&str> = web.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["read-only-root", "writable-paths", "secret-mounts"]);
    assert!(web.iter().all(|r| r["result"] == "fail"), "{web:#?}");
    assert_eq!(web[0]["properties"]["containers"], "nginx, metrics");
    assert_eq!(
        web[1]["properties"]["emptyDirs"],
        "nginx:/var/cache/nginx, nginx:/run, metrics:/tmp"
    );
    assert_eq!(
        web[1]["properties"]["unprofiledImages"],
        "metrics=registry.example.com/team/metrics-agent:1.0"
    );
    assert_eq!(web[2]["properties"]["moves"], "metrics:/app->/app/secrets");
    assert_eq!(web[0]["resources"][0]["apiVersion"], "apps/v1");
    assert_eq!(web[0]["resources"][0]["kind"], "Deployment");
    assert_eq!(web[0]["timestamp"]["seconds"], NOW);

    // An explicit false that is kept is a warning, not a change.
    let debug = results_for(&objects, "shop", "debug");
    assert_eq!(debug[0]["result"], "warn", "{debug:#?}");
    assert_eq!(debug[0]["properties"]["explicitFalseKept"], "shell");

    // Skipped workloads (skipped namespace, opt-out) skip every rule and say why.
    let skipped: Vec<&Value> = objects
        .iter()
        .filter(|o| o["metadata"]["namespace"] == "kube-system")
        .flat_map(|o| o["results"].as_array().unwrap())
        .collect();
    assert!(!skipped.is_empty());
    assert!(skipped.iter().all(|r| r["result"] == "skip"
        && r["message"]
            .as_str()
            .unwrap()
            .contains("skipped by the configuration")));
    let shop = objects
        .iter()
        .find(|o| o["metadata"]["namespace"] == "shop")
        .unwrap();
    let fails = shop["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "fail")
        .count();
    assert_eq!(shop["summary"]["fail"], fails);
}

#[test]
fn a_rule_switched_off_is_skipped_and_the_yaml_stream_holds_every_object() {
    let options = Options {
        secret_mounts: RuleMode::Off,
        ..Options::default()
    };
    let r = report(&options, vec![]);
    let objects = policy_reports(&r, &options, NOW);
    let web = results_for(&objects, "shop", "web");
    assert_eq!(web[2]["result"], "skip");
    assert_eq!(web[2]["message"], "the rule is off in the configuration");

    let text = render(&r, &options, NOW);
    let parsed: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    assert_eq!(parsed, objects);
}
