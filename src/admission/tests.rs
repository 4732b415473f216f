//! Case tables over AdmissionReview fixtures, including the bodies a real
//! kube-apiserver sent (tests/fixtures/admission, copied byte for byte).

use super::*;
use crate::harden::validate_pod_spec;
use serde_json::json;

fn ctx<'a>(catalog: &'a Catalog, options: &'a Options, skip: &'a [String]) -> Context<'a> {
    Context {
        catalog,
        options,
        mode: Mode::Enforce,
        on_error: OnError::Allow,
        skip_namespaces: skip,
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
    let c = ctx(&catalog, &options, &skip);
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
        &ctx(&catalog, &options, &[]),
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
        &ctx(&catalog, &options, &[]),
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
    let mut c = ctx(&catalog, &options, &[]);
    for (global, path) in [(Mode::DryRun, false), (Mode::Enforce, true)] {
        c.mode = global;
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
        &ctx(&catalog, &options, &skip),
    )
    .unwrap();
    assert_eq!(reviewed.outcome, Outcome::Skipped);
    let mut req: Value = serde_json::from_slice(&body).unwrap();
    req["request"]["object"]["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "true"});
    let reviewed = review(
        &serde_json::to_vec(&req).unwrap(),
        Some("application/json"),
        false,
        &ctx(&catalog, &options, &[]),
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
    let mut c = ctx(&catalog, &options, &[]);
    let r = review(&body, Some("application/json"), false, &c).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["response"]["allowed"],
        true
    );
    c.on_error = OnError::Deny;
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
    let mut c = ctx(&catalog, &options, &[]);
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
