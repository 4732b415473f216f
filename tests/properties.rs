//! Property tests over generated pods: the patch applies, the result is valid
//! and hardened, untouched fields stay, and a second pass yields no ops.

mod common;

use pod_hardener::harden::paths::resolve;
use pod_hardener::harden::{Location, Options, RuleMode};
use pod_hardener::profile::Catalog;
use proptest::prelude::*;
use serde_json::{json, Value};

const IMAGES: &[&str] = &[
    "nginx:1.27",
    "postgres:16",
    "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
    "redis",
    "example.com/unknown:1",
    "busybox",
    "quay.io/keycloak/keycloak:26.0",
    "tomcat:10",
];
const PATHS: &[&str] = &[
    "/tmp",
    "/app",
    "/etc",
    "/run",
    "/var/run",
    "/var/cache/nginx",
    "/data",
    "/config",
    "/config/app",
    "/tmp/x",
    "/usr/share/elasticsearch/config",
    "/var/lib/postgresql/data",
    "/",
    "/etc/ssl/certs",
    // Spellings the API server accepts and the runtime resolves (issue 17).
    "tmp",
    "//etc",
    "/var/cache/./nginx",
    "/var/lib/postgresql/../postgresql/data",
];

fn volume(kind: u8, name: &str) -> Value {
    match kind % 11 {
        6 => json!({"name": name, "persistentVolumeClaim": {"claimName": name, "readOnly": true}}),
        7 => json!({"name": name, "image": {"reference": "example.com/assets:1"}}),
        8 => json!({"name": name, "csi": {"driver": "d", "readOnly": kind.is_multiple_of(2)}}),
        9 => json!({"name": name, "hostPath": {"path": "/srv"}}),
        10 => json!({"name": name, "emptyDir": {}}),
        0 => json!({"name": name, "secret": {"secretName": name}}),
        1 => json!({"name": name, "configMap": {"name": name}}),
        2 => json!({"name": name, "emptyDir": {}}),
        3 => json!({"name": name, "persistentVolumeClaim": {"claimName": name}}),
        4 => json!({"name": name, "projected": {"sources": [{"secret": {"name": name}}]}}),
        _ => {
            json!({"name": name, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
        }
    }
}

prop_compose! {
    fn container(i: usize, nvol: usize)(
        image in prop::sample::select(IMAGES),
        sc in 0u8..6,
        mounts in prop::collection::vec((0..8usize, prop::sample::select(PATHS), any::<bool>(), 0u8..6), 0..5),
        device in prop::option::of((0..8usize, prop::sample::select(PATHS))),
        workdir in prop::option::of(prop::sample::select(PATHS)),
        naming in 0u8..4,
    ) -> Value {
        let name = match naming {
            0 => format!("c{i}-{}", "x".repeat(58)),
            // A user's container may take the seed containers' prefix.
            1 => format!("ph-seed-c{i}"),
            _ => format!("c{i}"),
        };
        let mut c = json!({"name": name, "image": image, "ports": [{"containerPort": 80}]});
        match sc {
            0 => {}
            1 => c["securityContext"] = json!({}),
            2 => c["securityContext"] = json!({"readOnlyRootFilesystem": false, "runAsUser": 1}),
            3 => c["securityContext"] = json!({"readOnlyRootFilesystem": true}),
            4 => c["securityContext"] = json!({"runAsNonRoot": true}),
            _ => c["securityContext"] = Value::Null,
        }
        if let Some(w) = workdir { c["workingDir"] = json!(w); }
        if nvol > 0 && !mounts.is_empty() {
            // Unique after resolution, as a pod that runs has them.
            let mut seen = std::collections::HashSet::new();
            let ms: Vec<Value> = mounts.into_iter().filter(|(_, p, _, _)| seen.insert(resolve(p).key)).map(|(v, p, ro, extra)| {
                let mut m = json!({"name": format!("v{}", v % nvol), "mountPath": p});
                if ro { m["readOnly"] = json!(true); }
                if extra == 0 { m["subPath"] = json!("k"); }
                if extra == 1 { m["mountPath"] = json!(format!("{p}/")); }
                m
            }).collect();
            c["volumeMounts"] = json!(ms);
            if let Some((v, p)) = device.filter(|(_, p)| seen.insert(resolve(p).key)) {
                c["volumeDevices"] = json!([{"name": format!("v{}", v % nvol), "devicePath": p}]);
            }
        }
        c
    }
}

fn pod() -> impl Strategy<Value = Value> {
    (0usize..8, prop::collection::vec(any::<u8>(), 8), 1usize..4, 0usize..3, any::<u8>(), any::<u8>())
        .prop_flat_map(|(nvol, kinds, napps, ninits, ann, sidecars)| {
            let apps = (0..napps).map(|i| container(i, nvol).boxed()).collect::<Vec<_>>();
            let inits = (0..ninits).map(|i| container(10 + i, nvol).boxed()).collect::<Vec<_>>();
            (Just(nvol), Just(kinds), apps, inits, Just(ann), Just(sidecars))
        })
        .prop_map(|(nvol, kinds, apps, mut inits, ann, sidecars)| {
            // Native sidecars: init containers with `restartPolicy: Always`.
            for (i, c) in inits.iter_mut().enumerate() {
                if sidecars & (1 << i) != 0 {
                    c["restartPolicy"] = json!("Always");
                }
            }
            let mut spec = json!({"containers": apps, "restartPolicy": "Always"});
            if nvol > 0 {
                spec["volumes"] = json!((0..nvol).map(|i| volume(kinds[i], &format!("v{i}"))).collect::<Vec<_>>());
            }
            if !inits.is_empty() {
                spec["initContainers"] = json!(inits);
            }
            let mut meta = json!({"generateName": "p-"});
            match ann % 5 {
                4 => meta["annotations"] = json!({"pod-hardener.dev/writable-paths.c0": "/var/run,/data/,/", "pod-hardener.dev/writable-paths.c9": "/x"}),
                1 => meta["annotations"] = json!({"team": "x"}),
                2 => meta["annotations"] = json!({"pod-hardener.dev/skip-containers": "c1", "pod-hardener.dev/writable-paths.c0": "/cache,/tmp"}),
                3 => meta["annotations"] = json!({"pod-hardener.dev/profile.c0": "nginx"}),
                _ => {}
            }
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
        })
}

fn options() -> impl Strategy<Value = Options> {
    let mode = prop::sample::select(vec![
        RuleMode::Enforce,
        RuleMode::Enforce,
        RuleMode::Warn,
        RuleMode::Off,
    ]);
    (mode.clone(), mode.clone(), mode, any::<bool>()).prop_map(|(a, b, c, o)| Options {
        read_only_root: a,
        writable_paths: b,
        secret_mounts: c,
        override_explicit_false: o,
        ..Options::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn hardened_pods_are_valid_and_stable(doc in pod()) {
        let catalog = Catalog::builtin();
        common::check_hardening(&doc, &Location::pod(), &catalog, &Options::default());
    }

    #[test]
    fn any_rule_modes_keep_pods_valid_and_stable(doc in pod(), options in options()) {
        let catalog = Catalog::builtin();
        common::check_hardening(&doc, &Location::pod(), &catalog, &options);
    }

    #[test]
    fn templates_in_workloads_behave_like_pods(doc in pod()) {
        let catalog = Catalog::builtin();
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"metadata": doc["metadata"].clone(), "spec": doc["spec"].clone()}}});
        common::check_hardening(&deployment, &Location::template("/spec/template"), &catalog, &Options::default());
    }
}

/// Each seed init container comes before the init container (or native
/// sidecar) it serves, and every container's mount paths are unique once
/// resolved as the runtime does (`tmp` = `/tmp`, `/var/run` = `/run`).
fn check_order_and_resolved_paths(doc: &Value) {
    let catalog = Catalog::builtin();
    let out = common::check_hardening(doc, &Location::pod(), &catalog, &Options::default());
    let spec = &out["spec"];
    let inits: Vec<&str> = spec["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let applied: std::collections::BTreeMap<String, Vec<String>> = out["metadata"]["annotations"]
        ["pod-hardener.dev/applied"]
        .as_str()
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap_or_default();
    for (served, items) in &applied {
        for seed in items.iter().filter_map(|i| i.strip_prefix("seed:")) {
            let at = inits
                .iter()
                .position(|n| n == &seed)
                .expect("seed listed and present");
            if let Some(served_at) = inits.iter().position(|n| n == served) {
                assert!(at < served_at, "{seed} runs after {served}: {inits:?}");
            }
        }
    }
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            let mut seen = std::collections::HashSet::new();
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                let key = resolve(m["mountPath"].as_str().unwrap()).key;
                assert!(
                    seen.insert(key.clone()),
                    "{} mounted twice in {}",
                    key,
                    c["name"]
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn seeds_come_first_and_mount_paths_are_unique_after_resolution(doc in pod()) {
        check_order_and_resolved_paths(&doc);
    }
}
