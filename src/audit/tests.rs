use serde::Deserialize;
use serde_json::Value;

use super::render::{render, Format};
use super::*;
use crate::harden::Options;
use crate::profile::Catalog;

const FIXTURE: &str = include_str!("../../tests/audit/cluster.yaml");

fn objects() -> Vec<Value> {
    serde_yaml::Deserializer::from_str(FIXTURE)
        .map(|d| Value::deserialize(d).expect("fixture parses"))
        .collect()
}

/// The audit of tests/audit/cluster.yaml (kube-system skipped); the PolicyReport tests use it too.
pub(super) fn report_with(options: &Options, errors: Vec<String>) -> Report {
    let catalog = Catalog::builtin();
    let skip = vec!["kube-system".to_string()];
    let policy = Policy {
        catalog: &catalog,
        options,
        skip_namespaces: &skip,
    };
    audit(&objects(), &policy, errors)
}

fn report() -> Report {
    report_with(&Options::default(), vec![])
}

fn find<'a>(r: &'a Report, ns: &str, name: &str) -> &'a WorkloadAudit {
    r.workloads
        .iter()
        .find(|w| w.namespace == ns && w.name == name)
        .unwrap_or_else(|| panic!("{ns}/{name} not in the report"))
}

#[test]
fn owned_objects_are_left_to_their_owner_and_the_order_is_stable() {
    let r = report();
    let ids: Vec<String> = r
        .workloads
        .iter()
        .map(|w| format!("{}/{}", w.namespace, w.id()))
        .collect();
    assert_eq!(
        ids,
        [
            "batch/CronJob/report",
            "data/StatefulSet/redis",
            "data/DaemonSet/agent",
            "data/ReplicationController/legacy",
            "kube-system/Deployment/coredns",
            "shop/Deployment/web",
            "shop/Pod/debug",
        ]
    );
}

#[test]
fn each_workload_says_what_would_change() {
    let r = report();
    let web = find(&r, "shop", "web");
    assert_eq!(web.read_only, ["nginx", "metrics"]);
    let dirs: Vec<(&str, &str)> = web
        .empty_dirs
        .iter()
        .map(|e| (e.container.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(
        dirs,
        [
            ("nginx", "/var/cache/nginx"),
            ("nginx", "/run"),
            ("metrics", "/tmp")
        ]
    );
    assert_eq!(
        web.secret_moves,
        [SecretMove {
            container: "metrics".into(),
            from: "/app".into(),
            to: "/app/secrets".into()
        }]
    );
    assert_eq!(web.unprofiled.len(), 1);
    assert_eq!(
        web.unprofiled[0].image,
        "registry.example.com/team/metrics-agent:1.0"
    );
    // The patch is against the Deployment: it applies there and is idempotent.
    let objs = objects();
    let mut deployment = objs[0].clone();
    json_patch::patch(&mut deployment, &web.patch).unwrap();
    assert_eq!(
        deployment
            .pointer("/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );

    let debug = find(&r, "shop", "debug");
    assert_eq!(
        debug.explicit_false,
        [ExplicitFalse {
            container: "shell".into(),
            overridden: false
        }]
    );
    assert!(debug.read_only.is_empty());

    let redis = find(&r, "data", "redis");
    assert!(redis.patch.is_empty(), "{:?}", redis.patch);
    assert!(redis.unprofiled.is_empty());

    let agent = find(&r, "data", "agent");
    assert_eq!(agent.opt_outs, ["*"]);
    assert!(agent.skipped.as_deref().unwrap().contains("opted out"));
    let legacy = find(&r, "data", "legacy");
    assert_eq!(legacy.opt_outs, ["old"]);
    assert_eq!(legacy.read_only, ["proxy"]);
    assert!(
        legacy.unprofiled.is_empty(),
        "the opted-out container is not counted"
    );

    let coredns = find(&r, "kube-system", "coredns");
    assert!(coredns
        .skipped
        .as_deref()
        .unwrap()
        .contains("namespace kube-system"));
    assert!(coredns.patch.is_empty());
}

#[test]
fn totals() {
    let t = report_with(&Options::default(), vec!["a list error".into()]).totals();
    assert_eq!(
        t,
        Totals {
            workloads: 7,
            namespaces: 4,
            changed: 4,
            skipped: 2,
            containers: 9,
            read_only: 4,
            empty_dirs: 6,
            secret_moves: 1,
            explicit_false: 1,
            opt_outs: 2,
            unprofiled: 2,
            errors: 1,
        }
    );
    // Overriding explicit false changes exactly that container.
    let options = Options {
        override_explicit_false: true,
        ..Options::default()
    };
    let r = report_with(&options, vec![]);
    assert!(find(&r, "shop", "debug").explicit_false[0].overridden);
    assert_eq!(r.totals().read_only, 5);
}

#[test]
fn table_rendering() {
    let out = render(
        &report_with(
            &Options::default(),
            vec!["cannot list jobs.batch in namespace x: forbidden".into()],
        ),
        Format::Table,
    );
    let lines: Vec<&str> = out.lines().collect();
    let shop = lines
        .iter()
        .position(|l| *l == "NAMESPACE shop (2 workloads)")
        .expect(&out);
    assert!(lines[shop + 1].starts_with("KIND "), "{out}");
    let web = lines[shop + 2];
    let cells: Vec<&str> = web.split_whitespace().collect();
    assert_eq!(
        cells,
        ["Deployment", "web", "2", "2", "3", "1", "0", "0", "1"],
        "{web}"
    );
    // columns line up under their headers
    assert_eq!(
        lines[shop + 1].find("EMPTYDIRS"),
        web.find(" 3 ").map(|i| i + 1),
        "{out}"
    );
    assert!(out.contains("  ! Deployment/web: container \"metrics\" (image registry.example.com/team/metrics-agent:1.0) matches no profile: only /tmp will be writable"), "{out}");
    assert!(
        out.contains("  ! Pod/debug: container \"shell\" sets readOnlyRootFilesystem: false; kept"),
        "{out}"
    );
    assert!(
        out.contains("(skipped: namespace kube-system is skipped by the configuration)"),
        "{out}"
    );
    assert!(
        out.contains("error: cannot list jobs.batch in namespace x: forbidden\n"),
        "{out}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"Summary: 7 workloads in 4 namespaces (4 would change, 2 skipped): 4 containers made read-only, 6 emptyDirs added, 1 secret mount moved, 1 explicit readOnlyRootFilesystem: false, 2 opt-outs, 2 images matched by no profile (only /tmp); 1 error"
    );
}

#[test]
fn json_rendering_has_one_record_per_workload_with_its_patch() {
    let r = report();
    let v: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    let records = v["workloads"].as_array().unwrap();
    assert_eq!(records.len(), 7);
    let web = records.iter().find(|w| w["name"] == "web").unwrap();
    assert_eq!(web["kind"], "Deployment");
    assert_eq!(web["namespace"], "shop");
    assert_eq!(web["emptyDirs"][0]["path"], "/var/cache/nginx");
    assert_eq!(web["secretMoves"][0]["to"], "/app/secrets");
    let ops = web["patch"].as_array().unwrap();
    assert!(ops
        .iter()
        .all(|op| op["path"].as_str().unwrap().starts_with("/spec/template/")));
    assert_eq!(v["totals"]["emptyDirs"], 6);
    assert_eq!(v["totals"]["workloads"], 7);
    assert_eq!(v["defaultWritablePaths"], serde_json::json!(["/tmp"]));
}

#[test]
fn markdown_rendering() {
    let out = render(
        &report_with(&Options::default(), vec!["forbidden | x".into()]),
        Format::Markdown,
    );
    assert!(
        out.starts_with("# pod-hardener audit\n\n**Summary:** 7 workloads in 4 namespaces"),
        "{out}"
    );
    assert!(
        out.contains("## Namespace `shop`\n\n| Kind | Name |"),
        "{out}"
    );
    assert!(
        out.contains("| Deployment | `web` | 2 | 2 | 3 | 1 | 0 | 0 | 1 |"),
        "{out}"
    );
    assert!(out.contains("| DaemonSet | `agent` (skipped: opted out by annotation pod-hardener.dev/skip) | 1 | - | - | - | - | 1 | - |"), "{out}");
    assert!(out.contains("- **Deployment `web`**: read-only root: `nginx`, `metrics`; emptyDirs: `nginx` /var/cache/nginx, `nginx` /run, `metrics` /tmp; secret mounts: `metrics` /app → /app/secrets"), "{out}");
    assert!(
        out.contains("Likeliest to break:\n\n- Deployment `web`: container \"metrics\""),
        "{out}"
    );
    assert!(out.contains("## Errors\n\n- forbidden \\| x\n"), "{out}");
    // every table row has as many cells as the header
    for l in out.lines().filter(|l| l.starts_with("| ")) {
        assert_eq!(l.matches(" | ").count(), 8, "{l}");
    }
}
