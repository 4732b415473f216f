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
  - name: legacy-rw
    match: [example.com/rw]
    readOnlyRootFilesystem: false
    writablePaths: [/tmp]
    dataPaths: [/data]
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
    // dataPaths without a volume: a warning that says what happens there
    // under the read-only root the pod now has.
    assert!(
        warned(
            &plan,
            "no volume at data path /opt/search/data: writes fail on the read-only root"
        ),
        "{:?}",
        plan.warnings
    );
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

// ---- issue 17: every corner the API server accepts ----

fn warned(plan: &Plan, needle: &str) -> bool {
    plan.warnings.iter().any(|w| w.message.contains(needle))
}

fn init_names(out: &Value) -> Vec<&str> {
    out["spec"]["initContainers"]
        .as_array()
        .map(|a| a.iter().map(|c| c["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn null_security_context_never_leaves_a_seed_container_writable() {
    // 17.1: `securityContext:` with nothing after it (Helm output).
    let doc = pod(
        json!({"containers": [{"name": "es", "image": "example.com/search", "securityContext": null}]}),
    );
    let (plan, out, _) = run(&doc);
    assert!(plan.invalid.is_empty());
    assert_eq!(
        out["spec"]["initContainers"][0]["securityContext"],
        json!({"readOnlyRootFilesystem": true})
    );
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
}

#[test]
fn a_result_failing_validation_is_never_sent() {
    // 17.1: the engine's own check on what it would send. A seed container
    // that is not read-only, and a patch that breaks the API's rules, are
    // each found; the planned result of a valid pod has neither.
    let doc = pod(json!({"containers": [{"name": "es", "image": "example.com/search"}]}));
    let c = catalog();
    let mut plan = plan::plan(
        PodRef {
            metadata: doc.get("metadata"),
            spec: doc.get("spec"),
            claim_names: &[],
        },
        &c,
        &Options::default(),
    );
    let pod_ref = PodRef {
        metadata: doc.get("metadata"),
        spec: doc.get("spec"),
        claim_names: &[],
    };
    let ops = render(&plan, pod_ref, &Location::pod());
    assert!(check_result(&doc, &Location::pod(), &plan, &ops, &[]).is_empty());
    for change in &mut plan.changes {
        if let Action::AddInitContainer { init_container, .. } = &mut change.action {
            init_container["securityContext"] = Value::Null;
        }
    }
    let ops = render(&plan, pod_ref, &Location::pod());
    let problems = check_result(&doc, &Location::pod(), &plan, &ops, &[]);
    assert!(
        problems.iter().any(|p| p.contains("read-only root")),
        "{problems:?}"
    );
    for change in &mut plan.changes {
        if let Action::AddVolume { volume } = &mut change.action {
            volume.name = "Not A Label".into();
        }
    }
    let ops = render(&plan, pod_ref, &Location::pod());
    let problems = check_result(&doc, &Location::pod(), &plan, &ops, &[]);
    assert!(
        problems.iter().any(|p| p.contains("DNS-1123")),
        "{problems:?}"
    );
    // Problems the pod had before are not ours: they do not stop hardening.
    let broken = pod(
        json!({"containers": [{"name": "app", "image": "example.com/app",
        "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}]}),
    );
    let h = harden(&broken, &Location::pod(), &c, &Options::default());
    assert!(h.plan.invalid.is_empty() && !h.ops.is_empty());
}

#[test]
fn a_user_container_named_like_a_seed_is_hardened() {
    // 17.2: the prefix proves nothing; what the container is does.
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "initContainers": [{"name": "ph-seed-x", "image": "example.com/app",
            "volumeMounts": [{"name": "s", "mountPath": "/etc"}]}],
        "containers": [{"name": "app", "image": "example.com/app"}]}));
    let strict = Options {
        allow_opt_out: false,
        ..Options::default()
    };
    let (plan, out, _) = run_with(&doc, &strict);
    let init = &out["spec"]["initContainers"][0];
    assert_eq!(init["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(mount_paths(init)[0], "/etc/secrets");
    assert!(plan.containers.iter().all(|c| c.skipped.is_none()));

    // Our own seed container, once changed, is no longer ours.
    let seeded = pod(json!({"containers": [{"name": "es", "image": "example.com/search"}]}));
    let (_, mut out, _) = run(&seeded);
    assert_eq!(init_names(&out), ["ph-seed-es"]);
    out["spec"]["initContainers"][0]["command"][2] = json!("set -e; cp -a '/x'/. /ph-seed/0/; id");
    let h = harden(&out, &Location::pod(), &catalog(), &Options::default());
    let report = h
        .plan
        .containers
        .iter()
        .find(|c| c.name == "ph-seed-es")
        .unwrap();
    assert!(report.skipped.is_none());
    assert!(!h.ops.is_empty());
}

#[test]
fn a_moved_secret_lands_where_the_rule_allows() {
    // 17.3: /var/run/secrets holds the token's directory: not a free place.
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}},
                    {"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
        "containers": [{"name": "app", "image": "example.com/app", "workingDir": "/srv/app/secrets",
            "volumeMounts": [{"name": "s", "mountPath": "/var/run"},
                             {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]},
                       {"name": "two", "image": "example.com/app",
            "volumeMounts": [{"name": "s", "mountPath": "/srv/app"}]}]}));
    let (_, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0])[0],
        "/var/run/secrets-2"
    );
    // The working directory is no place for it either (app dirs are shared).
    assert_eq!(
        mount_paths(&out["spec"]["containers"][1])[0],
        "/srv/app/secrets"
    );
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "app", "image": "example.com/app", "workingDir": "/etc/secrets",
            "volumeMounts": [{"name": "s", "mountPath": "/etc"}]}]}));
    let (_, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0])[0],
        "/etc/secrets-2"
    );
}

#[test]
fn read_only_volumes_never_count_as_writable() {
    // 17.4 and issue 14: readOnly on the volume source, image volumes.
    for (source, why) in [
        (
            json!({"persistentVolumeClaim": {"claimName": "c", "readOnly": true}}),
            "readOnly on the volume",
        ),
        (
            json!({"csi": {"driver": "d", "readOnly": true}}),
            "readOnly on the volume",
        ),
        (
            json!({"nfs": {"server": "n", "path": "/", "readOnly": true}}),
            "readOnly on the volume",
        ),
        (
            json!({"image": {"reference": "example.com/assets:1"}}),
            "an image volume",
        ),
        (json!({"someFutureSource": {}}), "does not know"),
    ] {
        let mut volume = source.clone();
        volume["name"] = json!("v");
        let doc = pod(json!({"volumes": [volume],
            "containers": [{"name": "web", "image": "example.com/web", "volumeMounts": [{"name": "v", "mountPath": "/run"}]}]}));
        let (plan, out, _) = run(&doc);
        let c = &out["spec"]["containers"][0];
        assert_eq!(
            mount_paths(c),
            ["/run", "/var/cache/web", "/tmp"],
            "{source}"
        );
        assert!(
            warned(&plan, "/run stays read-only"),
            "{source}: {:?}",
            plan.warnings
        );
        assert!(warned(&plan, why), "{source}: {:?}", plan.warnings);
    }
    // Without readOnly the same claim is writable.
    let doc = pod(
        json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}],
        "containers": [{"name": "web", "image": "example.com/web", "volumeMounts": [{"name": "v", "mountPath": "/run"}]}]}),
    );
    let (plan, _, _) = run(&doc);
    assert!(!warned(&plan, "stays read-only"));
}

#[test]
fn paths_are_compared_as_the_runtime_resolves_them() {
    // 17.5: `tmp`, `//tmp`, `/var/cache/./web`, `/var/run` == `/run`.
    let doc = pod(json!({
        "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}, {"name": "c", "emptyDir": {}},
                    {"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "web", "image": "example.com/web",
            "volumeMounts": [{"name": "a", "mountPath": "tmp"}, {"name": "b", "mountPath": "/var/cache/./web"},
                             {"name": "c", "mountPath": "/var/run/"}, {"name": "s", "mountPath": "//etc/"}]},
                       {"name": "two", "image": "example.com/app",
            "volumeMounts": [{"name": "a", "mountPath": "//tmp"}]}]}));
    let (plan, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["tmp", "/var/cache/./web", "/var/run/", "/etc/secrets"]
    );
    assert_eq!(mount_paths(&out["spec"]["containers"][1]), ["//tmp"]);
    assert_eq!(plan.count(Rule::WritablePaths), 0);
}

#[test]
fn block_devices_take_their_path() {
    // 17.6: no emptyDir where a block device is.
    let doc = pod(json!({
        "volumes": [{"name": "disk", "persistentVolumeClaim": {"claimName": "raw"}}],
        "containers": [{"name": "app", "image": "example.com/app",
            "volumeDevices": [{"name": "disk", "devicePath": "/tmp"}]}]}));
    let (plan, out, _) = run(&doc);
    assert!(out["spec"]["containers"][0].get("volumeMounts").is_none());
    assert!(
        warned(&plan, "/tmp stays read-only: a block device"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn sub_path_mounts_count_as_volumes_at_their_path() {
    // 17.7: the standard postgres claim with subPath, an emptyDir with subPath.
    let doc = pod(json!({
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "scratch", "emptyDir": {}}],
        "containers": [{"name": "es", "image": "example.com/search",
            "volumeMounts": [{"name": "data", "mountPath": "/opt/search/data", "subPath": "pgdata"},
                             {"name": "scratch", "mountPath": "/tmp", "subPath": "t"}]}]}));
    let (plan, out, _) = run(&doc);
    assert!(!warned(&plan, "data path"), "{:?}", plan.warnings);
    assert!(!warned(&plan, "stays read-only"), "{:?}", plan.warnings);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["/opt/search/data", "/tmp", "/opt/search/config"]
    );
}

#[test]
fn the_nearest_mount_decides_coverage() {
    // 17.8: a writable /var does not make /var/cache/web writable under a
    // read-only claim at /var/cache.
    let doc = pod(json!({
        "volumes": [{"name": "var", "emptyDir": {}}, {"name": "cache", "persistentVolumeClaim": {"claimName": "c", "readOnly": true}}],
        "containers": [{"name": "web", "image": "example.com/web",
            "volumeMounts": [{"name": "var", "mountPath": "/var"}, {"name": "cache", "mountPath": "/var/cache"}]}]}));
    let (plan, out, _) = run(&doc);
    assert!(
        warned(
            &plan,
            "/var/cache/web stays read-only: inside readOnly on the volume at /var/cache"
        ),
        "{:?}",
        plan.warnings
    );
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["/var", "/var/cache", "/run", "/tmp"]
    );
}

#[test]
fn root_is_never_a_writable_path() {
    // 17.9, annotation side (profile files: profile::validate tests).
    let mut doc = pod(json!({"containers": [{"name": "app", "image": "example.com/app"}]}));
    doc["metadata"]["annotations"] = json!({"pod-hardener.dev/writable-paths.app": "/,/data"});
    let (plan, out, _) = run(&doc);
    assert_eq!(
        mount_paths(&out["spec"]["containers"][0]),
        ["/tmp", "/data"]
    );
    assert!(
        warned(&plan, "\"/\" from annotation ignored"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn privileged_and_sys_admin_are_warned() {
    for sc in [
        json!({"privileged": true}),
        json!({"capabilities": {"add": ["SYS_ADMIN"]}}),
        json!({"capabilities": {"add": ["CAP_SYS_ADMIN"]}}),
        json!({"capabilities": {"add": ["ALL"]}}),
    ] {
        let doc = pod(
            json!({"containers": [{"name": "app", "image": "example.com/app", "securityContext": sc}]}),
        );
        let (plan, out, _) = run(&doc);
        assert!(warned(&plan, "read-only root is cosmetic"), "{sc}");
        assert_eq!(
            out["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
    }
    let doc = pod(
        json!({"containers": [{"name": "app", "image": "example.com/app",
        "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]}),
    );
    assert!(!warned(&run(&doc).0, "cosmetic"));
}

#[test]
fn windows_by_node_selector_or_affinity_is_left_alone() {
    let by_selector = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "containers": [{"name": "a", "image": "x"}]}));
    let term = |values: Value| json!({"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": values}]});
    let affinity = |terms: Value| {
        pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
            "containers": [{"name": "a", "image": "x"}]}),
        )
    };
    for doc in [by_selector, affinity(json!([term(json!(["windows"]))]))] {
        let (plan, _, ops) = run(&doc);
        assert_eq!(ops, 0);
        assert!(plan.skipped.unwrap().contains("Windows"));
    }
    // Linux is allowed by one term: hardened.
    for terms in [
        json!([term(json!(["windows", "linux"]))]),
        json!([term(json!(["windows"])), term(json!(["linux"]))]),
    ] {
        let (plan, _, ops) = run(&affinity(terms));
        assert!(plan.skipped.is_none() && ops > 0);
    }
}

#[test]
fn seeds_run_before_the_init_containers_and_sidecars_they_serve() {
    // 17 "seed order" and issue 14: native sidecars are hardened like
    // containers, and each seed comes just before the container it serves.
    let doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "initContainers": [
            {"name": "setup", "image": "example.com/search"},
            {"name": "plain", "image": "example.com/app"},
            {"name": "sidecar", "image": "example.com/search", "restartPolicy": "Always",
             "volumeMounts": [{"name": "s", "mountPath": "/etc"}]}],
        "containers": [{"name": "es", "image": "example.com/search"}]}));
    let (_, out, _) = run(&doc);
    assert_eq!(
        init_names(&out),
        [
            "ph-seed-setup",
            "setup",
            "plain",
            "ph-seed-sidecar",
            "sidecar",
            "ph-seed-es"
        ]
    );
    let inits = &out["spec"]["initContainers"];
    let sidecar = &inits[4];
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(sidecar["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        mount_paths(sidecar),
        ["/etc/secrets", "/tmp", "/opt/search/config"]
    );
    assert_eq!(sidecar["volumeMounts"][0]["readOnly"], true);
    assert_eq!(
        inits[3]["volumeMounts"][0]["name"],
        sidecar["volumeMounts"][2]["name"]
    );
    assert!(inits[3].get("restartPolicy").is_none());
    assert_eq!(inits[2]["securityContext"]["readOnlyRootFilesystem"], true);
}

#[test]
fn annotations_that_do_nothing_say_so() {
    let mut doc = pod(json!({"containers": [{"name": "app", "image": "example.com/app"}]}));
    doc["metadata"]["annotations"] = json!({
        "pod-hardener.dev/skip-containers": "app2, app, z9, a1",
        "pod-hardener.dev/writable-paths.ghost": "/data",
        "pod-hardener.dev/profile.ghost": "web",
    });
    let (plan, _, _) = run(&doc);
    // The first unknown name as written, in every process (a set's order
    // depends on its seed).
    assert!(
        warned(
            &plan,
            "skip-containers names 3 unknown container(s), e.g. \"app2\""
        ),
        "{:?}",
        plan.warnings
    );
    assert!(
        warned(&plan, "writable-paths.ghost ignored: no container"),
        "{:?}",
        plan.warnings
    );
    assert!(
        warned(&plan, "profile.ghost ignored: no container"),
        "{:?}",
        plan.warnings
    );

    doc["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "true"});
    let strict = Options {
        allow_opt_out: false,
        ..Options::default()
    };
    let (plan, out, _) = run_with(&doc, &strict);
    assert!(plan.skipped.is_none());
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert!(
        warned(&plan, "skip ignored: opt-out is not allowed"),
        "{:?}",
        plan.warnings
    );
    doc["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "yes"});
    let (plan, _, ops) = run(&doc);
    assert!(ops > 0 && warned(&plan, "only \"true\" opts out"));
}

#[test]
fn a_profile_keeping_the_root_writable_still_moves_secrets_only() {
    // readOnlyRootFilesystem: false: rule 1 and dataPaths warnings apply;
    // no emptyDirs (the root is writable), no read-only root.
    let mut doc = pod(json!({
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "rw", "image": "example.com/rw", "volumeMounts": [{"name": "s", "mountPath": "/tmp"}]}]}));
    doc["metadata"]["annotations"] = json!({"pod-hardener.dev/writable-paths.rw": "/cache"});
    let (plan, out, _) = run(&doc);
    let c = &out["spec"]["containers"][0];
    assert_eq!(mount_paths(c), ["/tmp/secrets"]);
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    assert!(c.get("securityContext").is_none());
    assert!(plan.changes.iter().all(|ch| ch.rule == Rule::SecretMounts));
    assert!(
        warned(&plan, "keeps the root writable"),
        "{:?}",
        plan.warnings
    );
    // The root stays writable: the data is lost on restart, not refused.
    assert!(
        warned(
            &plan,
            "no volume at data path /data: data is lost on restart"
        ),
        "{:?}",
        plan.warnings
    );
}

// ---- issue 11 item 1: linear in everything ----

/// The shortest of five runs of hardening `doc`, in seconds: the minimum is
/// what the work costs, the rest is other load on the machine.
fn fastest_harden(doc: &Value) -> f64 {
    let c = catalog();
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            let h = harden(doc, &Location::pod(), &c, &Options::default());
            assert!(h.plan.invalid.is_empty(), "{:?}", h.plan.invalid);
            std::hint::black_box(h);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Hardening `make(4n)` takes less than 8 times as long as `make(n)`:
/// linear or n log n gives about 4, a pairwise scan 16.
fn assert_near_linear(what: &str, n: usize, make: impl Fn(usize) -> Value) {
    // One timing at a time, so that these tests do not load each other.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let small = fastest_harden(&make(n));
    let large = fastest_harden(&make(4 * n));
    let ratio = large / small;
    eprintln!("{what}: n={n} {small:.4}s, 4n {large:.4}s, ratio {ratio:.2}");
    assert!(
        ratio < 8.0,
        "{what}: 4x the input took {ratio:.1}x the time"
    );
}

#[test]
fn secret_mounts_cost_near_linear_time() {
    // Every secret sits on a shared directory or has mounts under it, and all
    // of them compete for `secrets-<n>` places under a few directories.
    assert_near_linear("secret mounts", 8_000, |n| {
        let mounts: Vec<Value> = (0..n)
            .map(|i| match i % 4 {
                0 => json!({"name": "s", "mountPath": format!("/etc/{i}")}),
                1 => json!({"name": "s", "mountPath": format!("/etc/{}/x", i - 1)}),
                2 => json!({"name": "s", "mountPath": format!("/etc/secrets-{i}")}),
                _ => json!({"name": "s", "mountPath": format!("/etc/{}/{}", i % 16, "d/".repeat(i % 64))}),
            })
            .collect();
        pod(
            json!({"volumes": [{"name": "s", "secret": {"secretName": "s"}}],
            "containers": [{"name": "app", "image": "example.com/app", "volumeMounts": mounts}]}),
        )
    });
}

#[test]
fn annotation_paths_cost_near_linear_time_and_are_capped_with_a_warning() {
    let make = |n: usize| {
        let paths: Vec<String> = (0..n).map(|i| format!("/data/{i}")).collect();
        let mut doc = pod(json!({"containers": [{"name": "app", "image": "example.com/app"}]}));
        doc["metadata"]["annotations"] =
            json!({"pod-hardener.dev/writable-paths.app": paths.join(",")});
        doc
    };
    assert_near_linear("annotation paths", 8_000, make);
    let (plan, out, _) = run(&make(200));
    assert_eq!(
        out["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1 + plan::MAX_ANNOTATION_PATHS
    );
    assert!(warned(&plan, "72 more paths"), "{:?}", plan.warnings);
}

#[test]
fn many_mounts_and_containers_cost_near_linear_time() {
    // Writable mounts the profile paths must be checked against, deep paths,
    // and many init containers that each need a seed container before them.
    assert_near_linear("mounts and seeded init containers", 250, |n| {
        let mounts: Vec<Value> = (0..8 * n)
            .map(|i| json!({"name": "e", "mountPath": format!("/opt/{}{i}", "a/".repeat(i % 32))}))
            .collect();
        let inits: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("i{i}"), "image": "example.com/search"}))
            .collect();
        pod(
            json!({"volumes": [{"name": "e", "emptyDir": {}}], "initContainers": inits,
            "containers": [{"name": "web", "image": "example.com/web", "volumeMounts": mounts}]}),
        )
    });
}

#[test]
fn a_very_deep_mount_path_costs_linear_time() {
    assert_near_linear("path depth", 20_000, |n| {
        let deep = "/d".repeat(n);
        pod(
            json!({"volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "e", "emptyDir": {}}],
            "containers": [{"name": "app", "image": "example.com/app",
                "volumeMounts": [{"name": "s", "mountPath": deep.clone()}, {"name": "e", "mountPath": format!("{deep}/x")}]}]}),
        )
    });
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

/// The plan (preview's `json` output, audit) and the patch show a volume and
/// a mount we add as the same object, in the API server's member names and
/// in this order; an option left out is left out of the object.
#[test]
fn added_volumes_and_mounts_are_the_objects_the_patch_writes() {
    use crate::profile::model::Medium;
    use plan::{EmptyDirSource, NewMount, NewVolume};
    let cases = [
        (None, None, r#"{"name":"v","emptyDir":{}}"#),
        (
            Some(Medium::Memory),
            None,
            r#"{"name":"v","emptyDir":{"medium":"Memory"}}"#,
        ),
        (
            None,
            Some("1Gi"),
            r#"{"name":"v","emptyDir":{"sizeLimit":"1Gi"}}"#,
        ),
        (
            Some(Medium::Memory),
            Some("16Mi"),
            r#"{"name":"v","emptyDir":{"medium":"Memory","sizeLimit":"16Mi"}}"#,
        ),
    ];
    for (medium, size_limit, expected) in cases {
        let volume = NewVolume {
            name: "v".into(),
            empty_dir: EmptyDirSource {
                medium,
                size_limit: size_limit.map(str::to_string),
            },
        };
        assert_eq!(serde_json::to_string(&volume.to_value()).unwrap(), expected);
        assert_eq!(serde_json::to_string(&volume).unwrap(), expected);
    }
    let mount = NewMount {
        name: "ph-web-tmp".into(),
        mount_path: "/tmp".into(),
    };
    let expected = r#"{"name":"ph-web-tmp","mountPath":"/tmp"}"#;
    assert_eq!(serde_json::to_string(&mount.to_value()).unwrap(), expected);
    assert_eq!(serde_json::to_string(&mount).unwrap(), expected);
}
