//! The admission function's answer, byte for byte, for every real API-server
//! fixture and every pod of the corpus, in enforce and dry-run mode, against
//! tests/golden/admission-responses.txt.
//!
//! Speed work rewrites the decoder, the engine's reads and the encoder; this
//! is what says it changed no answer, not even the order of a key or a
//! warning's wording. An intended change of behaviour rewrites the file with
//! `UPDATE_GOLDEN=1 cargo test --test admission_golden`, and its diff is
//! reviewed with the change.

use base64::Engine as _;
use pod_hardener::admission::{review, Context, Mode, OnError, Policy};
use pod_hardener::harden::Options;
use pod_hardener::profile::Catalog;
use pod_hardener::workload::find_pods;
use serde_json::{json, Value};
use std::path::Path;

const GOLDEN: &str = "tests/golden/admission-responses.txt";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every request body, named: the fixtures as the API server sent them, then
/// each corpus pod template as the API server would send the pod it creates.
fn cases() -> Vec<(String, Vec<u8>)> {
    let mut cases = Vec::new();
    let fixtures = root().join("tests/fixtures/admission");
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        cases.push((format!("fixture/{name}"), std::fs::read(path).unwrap()));
    }

    let wrapper: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("pod-create-simple.json")).unwrap())
            .unwrap();
    let corpus = root().join("tests/corpus/kubernetes-examples");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let docs = pod_hardener::cli::preview::parse_documents(&text).unwrap();
        for (d, (_, doc)) in docs.iter().enumerate() {
            for (p, found) in find_pods(doc).iter().enumerate() {
                let pod = pod_from_template(doc, &found.location, p);
                let mut body = wrapper.clone();
                body["request"]["name"] = pod["metadata"]["name"].clone();
                body["request"]["object"] = pod;
                cases.push((
                    format!("corpus/{file}#{d}/{p}"),
                    serde_json::to_vec(&body).unwrap(),
                ));
            }
        }
    }
    cases
}

/// The pod a controller would create from a template: named, in `default`,
/// and with a StatefulSet's claim templates bound as volumes.
fn pod_from_template(doc: &Value, at: &pod_hardener::harden::Location, n: usize) -> Value {
    let mut metadata = doc
        .pointer(&at.metadata)
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    metadata["name"] = json!(format!("golden-{n}"));
    metadata["namespace"] = json!("default");
    let mut spec = doc.pointer(&at.spec).cloned().unwrap();
    if let Some(claims) = at.claims.as_deref().and_then(|c| doc.pointer(c)) {
        for claim in claims.as_array().into_iter().flatten() {
            let Some(name) = claim.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let volumes = spec
                .as_object_mut()
                .unwrap()
                .entry("volumes")
                .or_insert_with(|| json!([]));
            if let Some(volumes) = volumes.as_array_mut() {
                volumes.push(json!({
                    "name": name,
                    "persistentVolumeClaim": {"claimName": format!("{name}-golden-0")},
                }));
            }
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

fn responses() -> Vec<(String, String)> {
    let catalog = Catalog::builtin();
    let mut out = Vec::new();
    let cases = cases();
    for mode in [Mode::Enforce, Mode::DryRun] {
        let policy = Policy {
            options: Options::default(),
            mode,
            on_error: OnError::Allow,
            skip_namespaces: vec!["kube-system".to_string()],
        };
        let ctx = Context {
            catalog: &catalog,
            policy: &policy,
            max_body_bytes: 4 << 20,
        };
        for (name, body) in &cases {
            let reviewed = review(body, Some("application/json"), false, &ctx)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = String::from_utf8(reviewed.body).unwrap();
            assert!(!text.contains('\n'), "{name}: a response is one line");
            out.push((format!("{mode:?} {name}"), text));
        }
    }
    out
}

fn parse(golden: &str) -> Vec<(String, String)> {
    let mut lines = golden.lines();
    let mut out = Vec::new();
    while let Some(head) = lines.next() {
        let name = head.strip_prefix("# ").expect("a `# case` line");
        out.push((
            name.to_string(),
            lines.next().expect("a response").to_string(),
        ));
    }
    out
}

/// The patch of a response, decoded, for a readable difference.
fn patch_of(response: &str) -> String {
    let v: Value = serde_json::from_str(response).unwrap();
    match v.pointer("/response/patch").and_then(Value::as_str) {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let ops: Value = serde_json::from_slice(&bytes).unwrap();
            serde_json::to_string_pretty(&ops).unwrap()
        }
        None => "(no patch)".to_string(),
    }
}

#[test]
fn every_answer_is_byte_for_byte_the_recorded_one() {
    let actual = responses();
    assert!(actual.len() >= 2 * 60, "only {} cases", actual.len());
    let path = root().join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let mut text = String::new();
        for (name, response) in &actual {
            text.push_str(&format!("# {name}\n{response}\n"));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden = parse(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with UPDATE_GOLDEN=1 cargo test --test admission_golden",
            path.display()
        )
    }));
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&actual), names(&golden), "the cases changed");
    let mut differ = Vec::new();
    for ((name, now), (_, then)) in actual.iter().zip(&golden) {
        if now != then {
            differ.push(format!(
                "{name}\n  recorded: {then}\n  now:      {now}\n  recorded patch: {}\n  patch now: {}",
                patch_of(then),
                patch_of(now)
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} answers differ from {GOLDEN} (if intended: UPDATE_GOLDEN=1 cargo test --test \
         admission_golden, and review the diff):\n{}",
        differ.len(),
        actual.len(),
        differ.join("\n")
    );
}
