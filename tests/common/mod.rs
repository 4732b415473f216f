//! Invariants every hardened pod must satisfy, shared by the property tests,
//! the corpus run and the admission fixtures.
#![allow(dead_code)]

use pod_hardener::harden::paths::{is_within, resolve};
use pod_hardener::harden::volumes::{Access, VolumeClass};
use pod_hardener::harden::{claim_names, harden, validate_pod_spec, Location, Options, RuleMode};
use pod_hardener::profile::Catalog;
use serde_json::Value;

/// Applies the engine at `at`, then checks: the patch applies, the result is
/// valid, hardened containers are read-only with their paths writable, fields
/// we do not own are untouched, and a second pass yields no ops.
pub fn check_hardening(doc: &Value, at: &Location, catalog: &Catalog, options: &Options) -> Value {
    let h = harden(doc, at, catalog, options);
    // The engine never refuses its own result for a pod that runs.
    assert!(h.plan.invalid.is_empty(), "refused: {:?}", h.plan.invalid);
    let mut out = doc.clone();
    json_patch::patch(&mut out, &h.ops)
        .unwrap_or_else(|e| panic!("patch does not apply: {e}\nops: {:#?}", h.ops));
    let spec = out.pointer(&at.spec).expect("spec");
    let problems = validate_pod_spec(spec, &claim_names(&out, at));
    assert!(
        problems.is_empty(),
        "invalid result: {problems:?}\n{spec:#}"
    );
    let again = harden(&out, at, catalog, options);
    assert!(
        again.ops.is_empty(),
        "second pass not empty: {:#?}",
        again.ops
    );

    if h.plan.skipped.is_some() {
        assert!(h.ops.is_empty());
        return out;
    }
    let before = doc.pointer(&at.spec).expect("spec");
    for report in &h.plan.containers {
        if report.skipped.is_some() {
            continue;
        }
        let list = report.list_field();
        // By name: seed init containers inserted before an init container shift it.
        let find = |pod: &Value| -> usize {
            pod[list]
                .as_array()
                .unwrap()
                .iter()
                .position(|c| c["name"] == report.name.as_str())
                .unwrap()
        };
        let (c0, c1) = (&before[list][find(before)], &spec[list][find(spec)]);
        // Fields we do not own are untouched.
        for (k, v) in c0.as_object().unwrap() {
            if k != "securityContext" && k != "volumeMounts" {
                assert_eq!(&c1[k], v, "container {} field {k} changed", report.name);
            }
        }
        if let Some(sc) = c0.get("securityContext").and_then(Value::as_object) {
            for (k, v) in sc {
                if k != "readOnlyRootFilesystem" {
                    assert_eq!(&c1["securityContext"][k], v);
                }
            }
        }
        let explicit_false =
            c0.pointer("/securityContext/readOnlyRootFilesystem") == Some(&Value::Bool(false));
        let resolution = catalog.resolve(report.image.as_str());
        let rofs_enforced = options.read_only_root == RuleMode::Enforce;
        if rofs_enforced
            && report.profile == resolution.name()
            && resolution.read_only_root()
            && !explicit_false
        {
            assert_eq!(
                c1.pointer("/securityContext/readOnlyRootFilesystem"),
                Some(&Value::Bool(true)),
                "container {}",
                report.name
            );
        }
        // Every profile path is writable (the nearest mount at or above it,
        // after resolution, is writable), or a warning says why not.
        if report.profile == resolution.name()
            && options.writable_paths != RuleMode::Off
            && resolution.read_only_root()
        {
            let field = |f: &str| c1[f].as_array().cloned().unwrap_or_default();
            let mut places: Vec<(String, bool)> = field("volumeMounts")
                .iter()
                .map(|m| {
                    let vol = m["name"].as_str().unwrap_or("");
                    // A name missing from `volumes` is a claim template: writable.
                    let v = spec["volumes"]
                        .as_array()
                        .and_then(|vs| vs.iter().find(|v| v["name"] == vol));
                    let writable = m["readOnly"] != Value::Bool(true)
                        && v.is_none_or(|v| VolumeClass::of(v).access == Access::Writable);
                    (resolve(m["mountPath"].as_str().unwrap()).key, writable)
                })
                .collect();
            places.extend(
                field("volumeDevices")
                    .iter()
                    .map(|d| (resolve(d["devicePath"].as_str().unwrap()).key, false)),
            );
            for wp in resolution.writable_paths() {
                let key = resolve(wp.path()).key;
                let nearest = places
                    .iter()
                    .filter(|(p, _)| is_within(&key, p))
                    .max_by_key(|(p, _)| p.len());
                let covered = nearest.is_some_and(|(_, writable)| *writable);
                let warned = h
                    .plan
                    .warnings
                    .iter()
                    .any(|w| w.message.contains(wp.path()));
                assert!(
                    covered || warned,
                    "container {}: {} neither writable nor warned\n{c1:#}",
                    report.name,
                    wp.path()
                );
            }
        }
        // Existing mounts keep their volume and options; only secret mounts move.
        for (i, m0) in c0["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let m1 = &c1["volumeMounts"][i];
            assert_eq!(m0["name"], m1["name"]);
            assert_eq!(m0.get("subPath"), m1.get("subPath"));
        }
    }
    // Existing volumes are kept, in order, unchanged.
    for (i, v) in before["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        assert_eq!(&spec["volumes"][i], v);
    }
    out
}

pub trait ListField {
    fn list_field(&self) -> &'static str;
}

impl ListField for pod_hardener::harden::plan::ContainerReport {
    fn list_field(&self) -> &'static str {
        self.list.field()
    }
}
