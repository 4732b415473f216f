//! Rule-by-rule tests of the engine, including every "fact that bites".

use serde_json::{json, Value};

use super::*;
use crate::profile::Catalog;

fn catalog() -> Catalog {
    let user = r#"
apiVersion: pod-hardener.dev/v1
kind: ProfileSet
defaults:
  writablePaths: [/tmp]
profiles:
  - name: web
    match: [example.com/web]
    writablePaths: [/var/cache/web, /run, {path: /tmp, medium: Memory, sizeLimit: 16Mi}]
  - name: search
    match: [example.com/search]
    writablePaths: [/tmp, {path: /opt/search/config, seed: true}]
    dataPaths: [/opt/search/data]
  - name: legacy
    match: ["example.com/legacy/*"]
    readOnlyRootFilesystem: false
  - name: app
    match: [example.com/app]
    writablePaths: [/tmp]
    appDirs: [/srv/app]
"#;
    Catalog::load(&[("test.yaml".into(), user.into())], false).unwrap()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

/// Hardens, applies, validates, checks stability; returns (plan, result).
fn run_with(doc: &Value, options: &Options) -> (Plan, Value, usize) {
    let c = catalog();
    let h = harden(doc, &Location::pod(), &c, options);
    let mut out = doc.clone();
    json_patch::patch(&mut out, &h.ops)
        .unwrap_or_else(|e| panic!("patch failed: {e}\n{:#?}", h.ops));
    let problems = validate_pod_spec(&out["spec"], &[]);
    assert!(problems.is_empty(), "{problems:?}\n{out:#}");
    let again = harden(&out, &Location::pod(), &c, options);
    assert!(
        again.ops.is_empty(),
        "second pass not empty: {:#?}",
        again.ops
    );
    (h.plan, out, h.ops.len())
}

fn run(doc: &Value) -> (Plan, Value, usize) {
    run_with(doc, &Options::default())
}

fn mount_paths(c: &Value) -> Vec<&str> {
    c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect()
}

#[test]
fn bare_pod_gets_everything_whole() {
    // No volumes, no volumeMounts, no securityContext, no annotations: each is
    // added whole, since appending to a missing array fails.
    let doc = pod(json!({"containers": [{"name": "web", "image": "example.com/web:1"}]}));
    let (plan, out, _) = run(&doc);
    let c = &out["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(mount_paths(c), ["/var/cache/web", "/run", "/tmp"]);
    let tmp = out["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "ph-web-tmp")
        .unwrap();
    assert_eq!(
        tmp["emptyDir"],
        json!({"medium": "Memory", "sizeLimit": "16Mi"})
    );
    assert!(out["metadata"]["annotations"][plan::APPLIED_ANNOTATION]
        .as_str()
        .unwrap()
        .contains("emptyDir:/run"));
    assert_eq!(plan.count(Rule::WritablePaths), 6);
    assert_eq!(plan.count(Rule::ReadOnlyRoot), 1);
}

#[test]
fn existing_arrays_are_appended_to_and_existing_context_kept() {
    let doc = pod(json!({
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
        "containers": [{"name": "app", "image": "example.com/app", "securityContext": {"runAsUser": 1000},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
    }));
    let c = catalog();
    let h = harden(&doc, &Location::pod(), &c, &Options::default());
    let paths: Vec<String> = h
        .ops
        .iter()
        .map(|o| match o {
            json_patch::PatchOperation::Add(a) => a.path.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(
        paths.contains(&"/spec/containers/0/securityContext/readOnlyRootFilesystem".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/spec/containers/0/volumeMounts/-".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"/spec/volumes/-".to_string()), "{paths:?}");
    let (_, out, _) = run(&doc);
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"]["runAsUser"],
        1000
    );
    assert_eq!(out["spec"]["volumes"][0]["name"], "data");
}

#[test]
fn explicit_false_is_kept_and_warned_unless_overridden() {
    let doc = pod(
        json!({"containers": [{"name": "app", "image": "example.com/app",
        "securityContext": {"readOnlyRootFilesystem": false}}]}),
    );
    let (plan, out, _) = run(&doc);
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        false
    );
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("false kept")));
    let forced = Options {
        override_explicit_false: true,
        ..Options::default()
    };
    let (_, out, _) = run_with(&doc, &forced);
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
}

#[test]
fn already_true_and_covered_yields_nothing() {
    let doc = pod(json!({
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "containers": [{"name": "app", "image": "example.com/app",
            "securityContext": {"readOnlyRootFilesystem": true},
            "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]}]
    }));
    let (_, _, ops) = run(&doc);
    assert_eq!(ops, 0);
}

#[test]
fn an_ancestor_mount_covers_a_path_but_a_read_only_one_does_not() {
    let doc = pod(json!({
        "volumes": [{"name": "var", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
        "containers": [{"name": "web", "image": "example.com/web",
            "volumeMounts": [{"name": "var", "mountPath": "/var"}, {"name": "cfg", "mountPath": "/run"}]}]
    }));
    let (plan, out, _) = run(&doc);
    // /var/cache/web is under the writable /var; /run holds a configMap: warned, not doubled.
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["/var", "/run", "/tmp"]
    );
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("/run stays read-only")));
}

#[test]
fn secret_on_a_shared_directory_moves_and_becomes_read_only() {
    let doc = pod(json!({
        "volumes": [{"name": "creds", "secret": {"secretName": "s"}},
                    {"name": "proj", "projected": {"sources": [{"secret": {"name": "x"}}]}}],
        "containers": [{"name": "app", "image": "example.com/app", "workingDir": "/work",
            "volumeMounts": [{"name": "creds", "mountPath": "/tmp"}, {"name": "proj", "mountPath": "/work/"}]}]
    }));
    let (plan, out, _) = run(&doc);
    let c = &out["spec"]["containers"][0];
    assert_eq!(mount_paths(c), ["/tmp/secrets", "/work/secrets", "/tmp"]);
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    assert_eq!(c["volumeMounts"][1]["readOnly"], true);
    assert_eq!(plan.count(Rule::SecretMounts), 4);
    assert!(out["metadata"]["annotations"][plan::APPLIED_ANNOTATION]
        .as_str()
        .unwrap()
        .contains("secretMoved:/tmp->/tmp/secrets"));
}

#[test]
fn secret_with_nested_mounts_moves_to_a_free_variant() {
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "c", "configMap": {"name": "c"}},
                    {"name": "o", "emptyDir": {}}],
        "containers": [{"name": "app", "image": "example.com/app",
            "volumeMounts": [{"name": "s", "mountPath": "/config", "readOnly": true},
                             {"name": "c", "mountPath": "/config/app"},
                             {"name": "o", "mountPath": "/config/secrets"}]}]
    }));
    let (_, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0])[0],
        "/config/secrets-2"
    );
}

#[test]
fn app_dirs_count_as_shared_and_sa_token_is_not_a_secret() {
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}},
                    {"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
        "containers": [{"name": "app", "image": "example.com/app",
            "volumeMounts": [{"name": "s", "mountPath": "/srv/app"},
                             {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}]
    }));
    let (_, out, _) = run(&doc);
    let paths = mount_paths(&out["spec"]["containers"][0]);
    assert_eq!(paths[0], "/srv/app/secrets");
    assert_eq!(paths[1], "/var/run/secrets/kubernetes.io/serviceaccount");
}

#[test]
fn subpath_secret_is_warned_not_moved() {
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "app", "image": "example.com/app",
            "volumeMounts": [{"name": "s", "mountPath": "/etc/app.conf", "subPath": "app.conf"}]}]
    }));
    let (plan, out, _) = run(&doc);
    let m = &out["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(m["mountPath"], "/etc/app.conf");
    assert_eq!(m["readOnly"], true);
    assert!(plan.warnings.iter().any(|w| w.message.contains("subPath")));
}

#[test]
fn annotation_with_slash_is_escaped_and_existing_annotations_kept() {
    let mut doc = pod(json!({"containers": [{"name": "app", "image": "example.com/app"}]}));
    doc["metadata"]["annotations"] = json!({"other/key": "v"});
    let c = catalog();
    let h = harden(&doc, &Location::pod(), &c, &Options::default());
    let last = serde_json::to_value(h.ops.last().unwrap()).unwrap();
    assert_eq!(
        last["path"],
        "/metadata/annotations/pod-hardener.dev~1applied"
    );
    let (_, out, _) = run(&doc);
    assert_eq!(out["metadata"]["annotations"]["other/key"], "v");
}

#[test]
fn long_container_names_and_colliding_volume_names() {
    let long = "c".repeat(63);
    let doc = pod(json!({
        "volumes": [{"name": "ph-app-tmp", "secret": {"secretName": "unrelated"}}],
        "containers": [{"name": long, "image": "example.com/web"},
                       {"name": "app", "image": "example.com/app"}]
    }));
    let (_, out, _) = run(&doc);
    let names: Vec<&str> = out["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().all(|n| n.len() <= 63));
    assert_eq!(names.iter().filter(|n| **n == "ph-app-tmp").count(), 1);
}

#[test]
fn init_containers_hardened_ephemeral_untouched() {
    let doc = pod(json!({
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "example.com/app"}],
        "ephemeralContainers": [{"name": "debug", "image": "busybox"}]
    }));
    let (_, out, _) = run(&doc);
    assert_eq!(
        out["spec"]["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(
        out["spec"]["ephemeralContainers"][0],
        json!({"name": "debug", "image": "busybox"})
    );
}

#[test]
fn a_sidecar_added_after_the_first_pass_is_hardened_on_reinvocation() {
    let doc = pod(json!({"containers": [{"name": "app", "image": "example.com/app"}]}));
    let (_, mut out, _) = run(&doc);
    // Another webhook injects a sidecar (with its own /tmp volume name clash attempt).
    out["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "example.com/web"}));
    let (plan, second, _) = run(&out);
    assert!(plan.changes.iter().all(|c| c.container == "proxy"));
    assert_eq!(
        second["spec"]["containers"][1]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    let applied = second["metadata"]["annotations"][plan::APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(
        applied.contains("\"app\"") && applied.contains("\"proxy\""),
        "{applied}"
    );
}

#[test]
fn seeded_paths_get_an_init_container_that_is_left_alone_later() {
    let doc = pod(
        json!({"containers": [{"name": "es", "image": "example.com/search:8", "securityContext": {"runAsUser": 1000}}]}),
    );
    let (plan, out, _) = run(&doc);
    let init = &out["spec"]["initContainers"][0];
    assert_eq!(init["name"], "ph-seed-es");
    assert_eq!(init["image"], "example.com/search:8");
    assert_eq!(
        init["securityContext"],
        json!({"runAsUser": 1000, "readOnlyRootFilesystem": true})
    );
    assert!(init["command"][2]
        .as_str()
        .unwrap()
        .contains("cp -a '/opt/search/config'/. /ph-seed/0/"));
    assert_eq!(
        init["volumeMounts"][0]["name"],
        out["spec"]["containers"][0]["volumeMounts"][1]["name"]
    );
    // dataPaths without a volume: a warning.
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("/opt/search/data")));
}

#[test]
fn profile_that_keeps_a_writable_root() {
    let doc = pod(json!({"containers": [{"name": "old", "image": "example.com/legacy/thing:3"}]}));
    let (_, out, _) = run(&doc);
    assert!(out["spec"]["containers"][0]
        .get("securityContext")
        .is_none());
}

#[test]
fn opt_outs_and_tuning_by_annotation() {
    let mut doc = pod(
        json!({"containers": [{"name": "a", "image": "example.com/app"}, {"name": "b", "image": "example.com/app"}]}),
    );
    doc["metadata"]["annotations"] = json!({
        "pod-hardener.dev/skip-containers": "b",
        "pod-hardener.dev/writable-paths.a": "/data, /cache,relative",
        "pod-hardener.dev/profile.a": "web",
    });
    let (plan, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["/var/cache/web", "/run", "/tmp", "/data", "/cache"]
    );
    assert!(out["spec"]["containers"][1]
        .get("securityContext")
        .is_none());
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("\"relative\"")));

    let strict = Options {
        allow_opt_out: false,
        allow_annotation_tuning: false,
        ..Options::default()
    };
    let (plan, out, _) = run_with(&doc, &strict);
    assert_eq!(
        out["spec"]["containers"][1]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(mount_paths(&out["spec"]["containers"][0]), ["/tmp"]);
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("not allowed")));

    doc["metadata"]["annotations"]["pod-hardener.dev/skip"] = json!("true");
    let (plan, _, ops) = run(&doc);
    assert!(plan.skipped.is_some());
    assert_eq!(ops, 0);
}

#[test]
fn mirror_and_windows_pods_are_skipped() {
    let mut mirror = pod(json!({"containers": [{"name": "a", "image": "x"}]}));
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
    assert_eq!(run(&mirror).2, 0);
    let windows =
        pod(json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x"}]}));
    assert_eq!(run(&windows).2, 0);
}

#[test]
fn warn_and_off_modes_patch_nothing() {
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "app", "image": "example.com/app", "volumeMounts": [{"name": "s", "mountPath": "/app"}]}]}));
    let warn = Options {
        read_only_root: RuleMode::Warn,
        writable_paths: RuleMode::Warn,
        secret_mounts: RuleMode::Warn,
        ..Options::default()
    };
    let (plan, _, ops) = run_with(&doc, &warn);
    assert_eq!(ops, 0);
    assert!(plan.warnings.len() >= 3, "{:?}", plan.warnings);
    let off = Options {
        read_only_root: RuleMode::Off,
        writable_paths: RuleMode::Off,
        secret_mounts: RuleMode::Off,
        ..Options::default()
    };
    let (plan, _, ops) = run_with(&doc, &off);
    assert_eq!(ops, 0);
    assert!(plan.warnings.is_empty());
}

#[test]
fn template_without_metadata_gets_metadata_added() {
    let doc = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
    let c = catalog();
    let at = Location::template("/spec/template");
    let h = harden(&doc, &at, &c, &Options::default());
    let mut out = doc.clone();
    json_patch::patch(&mut out, &h.ops).unwrap();
    assert!(
        out["spec"]["template"]["metadata"]["annotations"][plan::APPLIED_ANNOTATION].is_string()
    );
    assert!(harden(&out, &at, &c, &Options::default()).ops.is_empty());
}

#[test]
fn warnings_are_short() {
    let long = "x".repeat(63);
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": long, "image": "example.com/app", "securityContext": {"readOnlyRootFilesystem": false},
            "volumeMounts": [{"name": "s", "mountPath": "/etc/some/really/long/path/that/goes/on/and/on", "subPath": "k"}]}]}));
    let (plan, _, _) = run(&doc);
    assert!(!plan.warnings.is_empty());
    assert!(
        plan.warnings.iter().all(|w| w.message.len() < 120),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn every_added_empty_dir_is_bounded_and_memory_ones_warn_without_a_memory_limit() {
    // web: /var/cache/web and /run on disk (no sizeLimit in the profile),
    // /tmp in memory with its own 16Mi.
    let doc = pod(json!({"containers": [{"name": "web", "image": "example.com/web:1"}]}));
    let (plan, out, _) = run(&doc);
    let empty_dir = |name: &str| {
        out["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))["emptyDir"]
            .clone()
    };
    assert_eq!(
        empty_dir("ph-web-var-cache-web"),
        json!({"sizeLimit": "1Gi"})
    );
    assert_eq!(empty_dir("ph-web-run"), json!({"sizeLimit": "1Gi"}));
    assert_eq!(
        empty_dir("ph-web-tmp"),
        json!({"medium": "Memory", "sizeLimit": "16Mi"})
    );
    let memory_warnings: Vec<&str> = plan
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .filter(|m| m.contains("memory-backed"))
        .collect();
    assert_eq!(
        memory_warnings,
        ["container \"web\": memory-backed /tmp (16Mi) counts against a memory limit; it has none: set resources.limits.memory"]
    );

    // With a memory limit there is nothing to say; the configured defaults
    // apply where the profile sets none, and null leaves a path unbounded.
    let limited = pod(
        json!({"containers": [{"name": "web", "image": "example.com/web:1",
        "resources": {"limits": {"memory": "256Mi"}}}]}),
    );
    let options = Options {
        empty_dir_size_limit: None,
        memory_empty_dir_size_limit: Some("8Mi".into()),
        ..Options::default()
    };
    let (plan, out, _) = run_with(&limited, &options);
    assert!(
        plan.warnings
            .iter()
            .all(|w| !w.message.contains("memory-backed")),
        "{:?}",
        plan.warnings
    );
    let volumes = out["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes[0]["emptyDir"], json!({}));
    assert_eq!(volumes[2]["emptyDir"]["sizeLimit"], "16Mi");
}

#[test]
fn memory_backed_paths_without_their_own_limit_get_the_memory_default() {
    let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: m\n    match: [example.com/m]\n    writablePaths: [{path: /scratch, medium: Memory}]\n";
    let c = Catalog::load(&[("m.yaml".into(), text.into())], false).unwrap();
    let doc = pod(json!({"containers": [{"name": "m", "image": "example.com/m"}]}));
    let h = harden(&doc, &Location::pod(), &c, &Options::default());
    let mut out = doc.clone();
    json_patch::patch(&mut out, &h.ops).unwrap();
    assert_eq!(
        out["spec"]["volumes"][0]["emptyDir"],
        json!({"medium": "Memory", "sizeLimit": "64Mi"})
    );
    assert!(h.plan.warnings.iter().any(|w| w
        .message
        .contains("memory-backed /scratch (64Mi) counts against a memory limit")));
}
