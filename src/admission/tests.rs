//! Case tables over AdmissionReview fixtures, including the bodies a real
//! kube-apiserver sent (tests/fixtures/admission, copied byte for byte).

use super::*;
use crate::harden::{validate_pod_spec, Options};
use serde_json::{json, Value};

fn policy(options: &Options, skip: &[String]) -> Policy {
    Policy {
        options: options.clone(),
        mode: Mode::Enforce,
        on_error: OnError::Allow,
        skip_namespaces: skip.to_vec(),
    }
}

fn ctx<'a>(catalog: &'a Catalog, policy: &'a Policy) -> Context<'a> {
    Context {
        catalog,
        policy,
        max_body_bytes: 4 << 20,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Decodes the response and applies its patch to the request's object.
fn apply(request: &[u8], reviewed: &Reviewed) -> (Value, Option<Value>) {
    let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
    let req: Value = serde_json::from_slice(request).unwrap();
    assert_eq!(response["apiVersion"], req["apiVersion"]);
    assert_eq!(response["kind"], "AdmissionReview");
    assert_eq!(response["response"]["uid"], req["request"]["uid"]);
    let patched = response["response"]["patch"].as_str().map(|b64| {
        assert_eq!(response["response"]["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let ops: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        let mut object = req["request"]["object"].clone();
        json_patch::patch(&mut object, &ops).unwrap();
        assert!(validate_pod_spec(&object["spec"], &[]).is_empty());
        object
    });
    (response, patched)
}

#[test]
fn real_api_server_fixtures() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let skip = vec!["kube-system".to_string()];
    let p = policy(&options, &skip);
    let c = ctx(&catalog, &p);
    // (file, outcome, patched?)
    let cases = [
        ("pod-create-simple.json", Outcome::Patched),
        ("pod-create-dryrun-server.json", Outcome::Patched),
        ("pod-create-deployment-like.json", Outcome::Patched),
        ("pod-create-by-serviceaccount-token.json", Outcome::Patched),
        ("pod-update-label.json", Outcome::Ignored),
        ("pod-delete-1-graceful.json", Outcome::Ignored),
        ("pod-delete-2-final.json", Outcome::Ignored),
        ("deployment-create.json", Outcome::Ignored),
    ];
    let dir = format!("{}/tests/fixtures/admission", env!("CARGO_MANIFEST_DIR"));
    let on_disk = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(on_disk, cases.len(), "every fixture has a case");
    for (file, outcome) in cases {
        let body = fixture(file);
        let reviewed = review(&body, Some("application/json"), false, &c).unwrap();
        assert_eq!(reviewed.outcome, outcome, "{file}");
        let (response, patched) = apply(&body, &reviewed);
        assert_eq!(response["response"]["allowed"], true, "{file}");
        match patched {
            Some(pod) => {
                assert_eq!(outcome, Outcome::Patched);
                for c in pod["spec"]["containers"].as_array().unwrap() {
                    assert_eq!(
                        c["securityContext"]["readOnlyRootFilesystem"], true,
                        "{file}"
                    );
                }
                // A second review of the patched pod yields no patch.
                let mut req: Value = serde_json::from_slice(&body).unwrap();
                req["request"]["object"] = pod;
                let again = review(
                    &serde_json::to_vec(&req).unwrap(),
                    Some("application/json"),
                    false,
                    &c,
                )
                .unwrap();
                assert_eq!(again.outcome, Outcome::Unchanged, "{file}");
            }
            None => assert_ne!(outcome, Outcome::Patched, "{file}"),
        }
    }
}

#[test]
fn patch_is_base64_on_the_wire() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let body = fixture("pod-create-simple.json");
    let reviewed = review(
        &body,
        Some("application/json"),
        false,
        &ctx(&catalog, &policy(&options, &[])),
    )
    .unwrap();
    let text = String::from_utf8(reviewed.body.clone()).unwrap();
    assert!(text.starts_with(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"56d1b8f8-cd34-4ee6-8cee-09a760688039","allowed":true,"patchType":"JSONPatch","patch":"W3"#), "{text}");
    // kube-core's own response type would have written an array of numbers.
    let kube = kube::core::admission::AdmissionResponse::invalid("x")
        .with_patch(json_patch::Patch(vec![]))
        .unwrap();
    assert!(serde_json::to_string(&kube)
        .unwrap()
        .contains(r#""patch":[91,93]"#));
}

#[test]
fn the_deployment_like_pod_keeps_its_own_volumes_and_moves_nothing_needlessly() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let body = fixture("pod-create-deployment-like.json");
    let reviewed = review(
        &body,
        Some("application/json"),
        false,
        &ctx(&catalog, &policy(&options, &[])),
    )
    .unwrap();
    let (_, patched) = apply(&body, &reviewed);
    let pod = patched.unwrap();
    let req: Value = serde_json::from_slice(&body).unwrap();
    let before = req["request"]["object"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert_eq!(
        &pod["spec"]["volumes"].as_array().unwrap()[..before.len()],
        &before[..]
    );
    assert!(
        reviewed.pod.ends_with('-'),
        "generateName used: {}",
        reviewed.pod
    );
}

#[test]
fn dry_run_mode_and_path_patch_nothing_but_say_what_would_change() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let body = fixture("pod-create-simple.json");
    let mut p = policy(&options, &[]);
    for (global, path) in [(Mode::DryRun, false), (Mode::Enforce, true)] {
        p.mode = global;
        let c = ctx(&catalog, &p);
        let reviewed = review(&body, Some("application/json"), path, &c).unwrap();
        assert_eq!(reviewed.outcome, Outcome::DryRun);
        let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
        assert!(response["response"].get("patch").is_none());
        assert!(response["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("pod-hardener dry-run: would make 1 container(s) read-only"));
        assert!(response["response"]["auditAnnotations"]["would-change"].is_string());
    }
}

#[test]
fn skipped_namespaces_and_opt_outs() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let skip = vec!["webhook-test".to_string()];
    let body = fixture("pod-create-simple.json");
    let reviewed = review(
        &body,
        Some("application/json"),
        false,
        &ctx(&catalog, &policy(&options, &skip)),
    )
    .unwrap();
    assert_eq!(reviewed.outcome, Outcome::Skipped);
    let mut req: Value = serde_json::from_slice(&body).unwrap();
    req["request"]["object"]["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "true"});
    let reviewed = review(
        &serde_json::to_vec(&req).unwrap(),
        Some("application/json"),
        false,
        &ctx(&catalog, &policy(&options, &[])),
    )
    .unwrap();
    assert_eq!(reviewed.outcome, Outcome::Skipped);
    let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
    assert!(response["response"].get("patch").is_none());
}

#[test]
fn on_error_allow_or_deny() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let mut req: Value = serde_json::from_slice(&fixture("pod-create-simple.json")).unwrap();
    req["request"]["object"] = json!({"kind": "Pod", "metadata": {}});
    let body = serde_json::to_vec(&req).unwrap();
    let mut p = policy(&options, &[]);
    let c = ctx(&catalog, &p);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["response"]["allowed"],
        true
    );
    p.on_error = OnError::Deny;
    let c = ctx(&catalog, &p);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Denied);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert!(v["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("no spec"));
}

#[test]
fn bad_input_is_a_clear_4xx() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let p = policy(&options, &[]);
    let mut c = ctx(&catalog, &p);
    let cases: Vec<(&[u8], Option<&str>, u16, &str)> = vec![
        (b"{}", Some("text/plain"), 415, "content type"),
        (b"{}", None, 415, "content type"),
        (b"not json", Some("application/json"), 400, "not JSON"),
        (b"[1,2]", Some("application/json"), 400, "not a JSON object"),
        (
            br#"{"kind":"Pod","apiVersion":"v1"}"#,
            Some("application/json"),
            400,
            "not an AdmissionReview",
        ),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#,
            Some("application/json; charset=utf-8"),
            400,
            "no request",
        ),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}"#,
            Some("application/json"),
            400,
            "no uid",
        ),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}}"#,
            Some("application/json"),
            400,
            "not an AdmissionReview",
        ),
    ];
    for (body, ct, status, text) in cases {
        let e = review(body, ct, false, &c).unwrap_err();
        assert_eq!(e.status(), status, "{e}");
        assert!(e.to_string().contains(text), "{e}");
        let v: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["status"], status);
    }
    c.max_body_bytes = 10;
    assert_eq!(
        review(
            &fixture("pod-create-simple.json"),
            Some("application/json"),
            false,
            &c
        )
        .unwrap_err()
        .status(),
        413
    );
}

/// The request body with `object` replaced.
fn with_object(file: &str, object: Value) -> Vec<u8> {
    let mut req: Value = serde_json::from_slice(&fixture(file)).unwrap();
    req["request"]["object"] = object;
    serde_json::to_vec(&req).unwrap()
}

/// The whole pod as serde_json reads it, less what the decoder drops
/// (`shift_remove` keeps the order of the rest).
fn pruned_by_hand(pod: Value) -> Value {
    fn keep(v: &Value, fields: &[&str]) -> Value {
        let o = v.as_object().unwrap();
        Value::Object(
            o.iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
    let container = [
        "name",
        "image",
        "imagePullPolicy",
        "volumeMounts",
        "volumeDevices",
        "securityContext",
        "workingDir",
        "resources",
        "restartPolicy",
    ];
    let init_container = [&container[..], &["command", "args"]].concat();
    let mut out = keep(&pod, &["metadata", "spec"]);
    if out.get("metadata").is_some() {
        out["metadata"] = keep(
            &pod["metadata"],
            &["name", "generateName", "namespace", "annotations"],
        );
    }
    let spec_fields = [
        "volumes",
        "initContainers",
        "containers",
        "ephemeralContainers",
        "os",
        "nodeSelector",
        "affinity",
    ];
    if out.get("spec").is_none() {
        return out;
    }
    out["spec"] = keep(&pod["spec"], &spec_fields);
    if let Some(annotations) = out["metadata"]
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|k, _| {
            k.starts_with("pod-hardener.dev/") || k == "kubernetes.io/config.mirror"
        });
    }
    if out["spec"].get("affinity").is_some() {
        out["spec"]["affinity"] = keep(&pod["spec"]["affinity"], &["nodeAffinity"]);
    }
    // A volume keeps its name and which sources it has; of a source only
    // `readOnly`, and of a projected one which sources it lists.
    for volume in out["spec"]
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for (key, source) in volume.as_object_mut().unwrap() {
            if key == "name" || !source.is_object() {
                continue;
            }
            *source = keep(source, &["readOnly", "sources"]);
            for projected in source
                .get_mut("sources")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for (_, item) in projected.as_object_mut().unwrap() {
                    if item.is_object() {
                        *item = json!({});
                    }
                }
            }
        }
    }
    for (list, fields) in [
        ("containers", &container[..]),
        ("ephemeralContainers", &container[..]),
        ("initContainers", &init_container[..]),
    ] {
        if let Some(items) = out["spec"].get_mut(list).and_then(Value::as_array_mut) {
            for c in items {
                *c = keep(c, fields);
            }
        }
    }
    out
}

/// A pod with every field the decoder drops, and big ones.
fn pod_with_unread_fields(entries: usize) -> Value {
    let env: Vec<Value> = (0..entries)
        .map(|i| json!({"name": format!("E{i}"), "value": "x"}))
        .collect();
    let args: Vec<Value> = (0..entries).map(|i| json!(format!("--a{i}"))).collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:containers": {}}}}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "pod-hardener.dev/applied": "{}"}},
        "spec": {
            "volumes": [
                {"name": "tls", "secret": {"secretName": "t", "items": [{"key": "k", "path": "p"}]}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "d", "readOnly": true}},
                {"name": "token", "projected": {"sources": [{"secret": {"name": "s"}}, {"serviceAccountToken": {"path": "t"}}]}}
            ],
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "k"}]},
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
            "initContainers": [{"name": "init", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh"], "env": env.clone()}],
            "containers": [{
                "name": "web", "image": "nginx:1.27", "imagePullPolicy": "Always", "env": env, "args": args,
                "envFrom": [{"configMapRef": {"name": "c"}}], "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
                "readinessProbe": {"exec": {"command": ["true"]}},
                "startupProbe": {"tcpSocket": {"port": 80}},
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                "resources": {"limits": {"memory": "64Mi"}},
                "securityContext": {"runAsNonRoot": true},
                "volumeMounts": [{"name": "tls", "mountPath": "/etc"}]
            }]
        },
        "status": {"phase": "Pending", "conditions": [{"type": "x"}]}
    })
}

#[test]
fn the_decoder_keeps_exactly_what_it_does_not_drop() {
    let mut objects: Vec<Value> = [
        "pod-create-simple.json",
        "pod-create-dryrun-server.json",
        "pod-create-deployment-like.json",
        "pod-create-by-serviceaccount-token.json",
        "pod-update-label.json",
        "deployment-create.json",
    ]
    .iter()
    .map(|f| serde_json::from_slice::<Value>(&fixture(f)).unwrap()["request"]["object"].clone())
    .collect();
    objects.push(pod_with_unread_fields(3));
    for object in objects {
        let body = with_object("pod-create-simple.json", object.clone());
        let text = std::str::from_utf8(&body).unwrap();
        let decoded = decode::decode(text, &Limits::default()).unwrap();
        let request = decoded.request.unwrap();
        assert_eq!(request.overrun, None);
        // Equal as values and in key order: the patch's indices and the
        // preview's output depend on both.
        assert_eq!(
            serde_json::to_string(&request.object.unwrap().to_value()).unwrap(),
            serde_json::to_string(&pruned_by_hand(object)).unwrap()
        );
    }
}

#[test]
fn pruning_changes_no_answer() {
    // The engine on the whole pod and on the pruned one plans the same
    // changes: no rule reads a dropped field.
    let catalog = Catalog::builtin();
    let options = Options::default();
    let mut pods: Vec<Value> = [
        "pod-create-simple.json",
        "pod-create-deployment-like.json",
        "pod-create-by-serviceaccount-token.json",
    ]
    .iter()
    .map(|f| serde_json::from_slice::<Value>(&fixture(f)).unwrap()["request"]["object"].clone())
    .collect();
    pods.push(pod_with_unread_fields(3));
    pods.push(hardened_with_a_seed_container(&catalog, &options));
    let mut changed = 0;
    for pod in pods {
        let whole = harden(&pod, &Location::pod(), &catalog, &options);
        let pruned = harden(&pruned_by_hand(pod), &Location::pod(), &catalog, &options);
        assert_eq!(whole.plan, pruned.plan);
        assert_eq!(
            serde_json::to_value(&whole.ops).unwrap(),
            serde_json::to_value(&pruned.ops).unwrap()
        );
        changed += usize::from(!whole.ops.is_empty());
    }
    // All but the pod hardened already.
    assert_eq!(changed, 4);
}

/// A review of a pod whose container has `n` secret mounts.
fn with_mounts(n: usize) -> Vec<u8> {
    let mut pod = pod_with_unread_fields(0);
    pod["spec"]["containers"][0]["volumeMounts"] = (0..n)
        .map(|i| json!({"name": "tls", "mountPath": format!("/m/{i}")}))
        .collect();
    with_object("pod-create-simple.json", pod)
}

/// The pod was allowed unchanged, and the first warning says `why`.
fn assert_allowed_unchanged(reviewed: &Reviewed, why: &str) {
    let v: Value = serde_json::from_slice(&reviewed.body).unwrap();
    assert_eq!(v["response"]["allowed"], true);
    assert!(v["response"].get("patch").is_none());
    let warning = v["response"]["warnings"][0].as_str().unwrap();
    assert!(warning.contains(why), "{warning}");
}

#[test]
fn dropped_fields_cost_nothing_kept_ones_are_bounded() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let p = policy(&options, &[]);
    let c = ctx(&catalog, &p);
    let small = Limits {
        max_kept_bytes: 64 << 10,
        ..Limits::default()
    };
    // 20,000 env entries and args: dropped, so the pod is hardened in 64 KiB.
    let body = with_object("pod-create-simple.json", pod_with_unread_fields(20_000));
    let r = review_within(&body, false, &c, &small).unwrap();
    assert_eq!(r.outcome, Outcome::Patched);
    // 20,000 mounts are read by the rules: past 64 KiB the pod is answered
    // per on_error, with a warning saying why.
    let body = with_mounts(20_000);
    let r = review_within(&body, false, &c, &small).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_allowed_unchanged(&r, "needs more than");
    // The default limit holds a pod of 2,000 mounts.
    let r = review(&with_mounts(2_000), Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Patched);
}

#[test]
fn a_million_empty_objects_stop_at_the_budget() {
    // 3 MiB of `{}` in a field the decoder keeps: building stops at the
    // budget; the estimate charged is the bound, not the body's 1M values.
    let empties = format!("[{}{{}}]", "{},".repeat(1_000_000));
    let body = format!(
        r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{"uid":"u","resource":{{"group":"","resource":"pods"}},"operation":"CREATE","object":{{"metadata":{{}},"spec":{{"containers":[],"volumes":{empties}}}}}}}}}"#
    );
    let decoded = decode::decode(&body, &Limits::default()).unwrap();
    let request = decoded.request.unwrap();
    assert_eq!(
        request.overrun,
        Some(Overrun::Size {
            limit: MAX_KEPT_BYTES
        })
    );
    assert_eq!(request.object, None);
    assert_eq!(request.uid, "u");
}

#[test]
fn nesting_past_the_limit_is_answered_per_on_error() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let mut p = policy(&options, &[]);
    let c = ctx(&catalog, &p);
    let mut deep = json!("bottom");
    for _ in 0..MAX_DEPTH {
        deep = json!([deep]);
    }
    let mut pod = pod_with_unread_fields(0);
    pod["spec"]["affinity"] = deep;
    let body = with_object("pod-create-simple.json", pod);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    p.on_error = OnError::Deny;
    let c = ctx(&catalog, &p);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Denied);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("deeper than"));
    // Nesting in a dropped field is not built, so not refused.
    let mut pod = pod_with_unread_fields(0);
    let mut deep = json!("bottom");
    for _ in 0..2 * MAX_DEPTH {
        deep = json!([deep]);
    }
    pod["status"]["x"] = deep;
    let body = with_object("pod-create-simple.json", pod);
    p.on_error = OnError::Allow;
    let c = ctx(&catalog, &p);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Patched);
}

#[test]
fn past_the_time_budget_the_pod_is_allowed_unchanged_or_denied() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let mut p = policy(&options, &[]);
    let c = ctx(&catalog, &p);
    let spent = Limits {
        deadline: Some(std::time::Instant::now()),
        ..Limits::default()
    };
    let body = fixture("pod-create-deployment-like.json");
    let r = review_within(&body, false, &c, &spent).unwrap();
    assert_eq!(r.outcome, Outcome::OverBudget);
    assert_allowed_unchanged(&r, "time budget");
    p.on_error = OnError::Deny;
    let c = ctx(&catalog, &p);
    let r = review_within(&body, false, &c, &spent).unwrap();
    assert_eq!(r.outcome, Outcome::Denied);
    // A request the webhook does not change is answered as before.
    let body = fixture("pod-update-label.json");
    let r = review_within(&body, false, &c, &spent).unwrap();
    assert_eq!(r.outcome, Outcome::Ignored);
}

#[test]
fn duplicate_keys() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let p = policy(&options, &[]);
    let c = ctx(&catalog, &p);
    // Envelope fields twice: refused, as serde's derive did.
    let e = review(
        br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a","uid":"b"}}"#,
        Some("application/json"),
        false,
        &c,
    )
    .unwrap_err();
    assert!(e.to_string().contains("duplicate field `uid`"), "{e}");
    // Inside the pod the last value wins, in the first one's place, as
    // serde_json's Value (and the API server) read it.
    let text = r#"{"request":{"uid":"u","object":{"spec":{"nodeSelector":{"a":1,"b":2,"a":3}}}}}"#;
    let object = decode::decode(text, &Limits::default())
        .unwrap()
        .request
        .unwrap()
        .object
        .unwrap();
    assert_eq!(
        object.to_value().to_string(),
        r#"{"spec":{"nodeSelector":{"a":3,"b":2}}}"#
    );
    assert_eq!(
        object.to_value(),
        serde_json::from_str::<Value>(r#"{"spec":{"nodeSelector":{"a":1,"b":2,"a":3}}}"#).unwrap()
    );
}

#[test]
fn a_pod_hardened_with_a_seed_container_is_left_as_it_is() {
    // A template hardened in its repository (`preview --write`) carries our
    // seed init container; the pods made from it must need nothing more, so
    // the decoder keeps what recognises a seed container as ours.
    let catalog = Catalog::builtin();
    let options = Options::default();
    let skip = Vec::new();
    let p = policy(&options, &skip);
    let c = ctx(&catalog, &p);
    let pod = hardened_with_a_seed_container(&catalog, &options);
    let body = with_object("pod-create-simple.json", pod);
    let reviewed = review(&body, Some("application/json"), false, &c).unwrap();
    let (response, patched) = apply(&body, &reviewed);
    assert_eq!(reviewed.outcome, Outcome::Unchanged, "{response}");
    assert!(patched.is_none());
}

/// An Elasticsearch pod hardened once: it carries a seed init container.
fn hardened_with_a_seed_container(catalog: &Catalog, options: &Options) -> Value {
    let mut pod = pod_with_unread_fields(2);
    pod["spec"]["containers"][0]["image"] =
        json!("docker.elastic.co/elasticsearch/elasticsearch:8.15.0");
    let first = harden(&pod, &Location::pod(), catalog, options);
    assert!(first
        .plan
        .changes
        .iter()
        .any(|c| matches!(c.action, Action::AddInitContainer { .. })));
    json_patch::patch(&mut pod, &first.ops).unwrap();
    pod
}

#[test]
fn a_seed_container_pulls_the_image_as_its_app_does() {
    // Every pod the API server sends has `imagePullPolicy` (it defaults it).
    // The decoder dropped it, so a seed container got the API server's own
    // default: `Always` for a `:latest` image whose app says `Never` (an
    // air-gapped node then cannot start it), or a fresher image than the
    // app's, seeding files from another version. `preview` copied it.
    let catalog = Catalog::builtin();
    let options = Options::default();
    let p = policy(&options, &[]);
    let mut pod: Value = serde_json::from_slice::<Value>(&fixture("pod-create-simple.json"))
        .unwrap()["request"]["object"]
        .clone();
    pod["spec"]["containers"][0]["image"] =
        json!("docker.elastic.co/elasticsearch/elasticsearch:8.15.0");
    pod["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    let reviewed = review(
        &with_object("pod-create-simple.json", pod),
        Some("application/json"),
        false,
        &ctx(&catalog, &p),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&reviewed.body).unwrap();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().unwrap())
        .unwrap();
    let ops: Vec<Value> = serde_json::from_slice(&patch).unwrap();
    let seeds: Vec<&Value> = ops
        .iter()
        .filter(|op| op["path"] == "/spec/initContainers")
        .flat_map(|op| op["value"].as_array().unwrap())
        .collect();
    assert_eq!(seeds.len(), 1, "{ops:?}");
    assert_eq!(seeds[0]["imagePullPolicy"], "Never", "{:?}", seeds[0]);
}

#[test]
fn ops_are_written_as_serde_writes_them() {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations/pod-hardener.dev~1applied", "value": "{\"a\":[\"b\"]}"},
        {"op": "replace", "path": "/spec/containers/0/securityContext/readOnlyRootFilesystem", "value": true},
        {"op": "add", "path": "/spec/volumes/-", "value": {"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}},
        {"op": "remove", "path": "/x"},
        {"op": "test", "path": "/y", "value": [1, null, "\u{1}é"]}
    ]))
    .unwrap();
    assert_eq!(ops_json(&ops), serde_json::to_vec(&ops).unwrap());
    assert_eq!(ops_json(&[]), serde_json::to_vec(&ops[..0]).unwrap());
}

#[test]
fn values_are_written_as_serde_json_writes_them() {
    let strings = [
        "",
        "plain",
        "quote\"d",
        "back\\slash",
        "tab\there",
        "line\nend",
        "\u{0}\u{1f}\u{7f}",
        "é ü 漢字 🦀",
        "</script>",
        "a/b~c",
        "\r\u{8}\u{c}",
    ];
    let mut values: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    values.extend([
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-17),
        json!(u64::MAX),
        json!(1.5e300),
        json!(0.1),
        json!([]),
        json!({}),
        json!({"b": 1, "a": [1, "x\"", {"c\n": null}], "": {"": []}}),
        json!(strings),
    ]);
    for value in &values {
        let mut ours = Vec::new();
        write_value(&mut ours, value);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(value).unwrap()
        );
    }
    for s in strings {
        let mut ours = Vec::new();
        write_string(&mut ours, s);
        assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
    }
}
