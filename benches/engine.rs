//! Engine speed: plan + render for a typical pod and for a 100-container pod.
//! Run with `make bench`; figures go to bench/RESULTS.md, never into asserts.

use criterion::{criterion_group, criterion_main, Criterion};
use pod_hardener::harden::{harden, Location, Options};
use pod_hardener::profile::Catalog;
use serde_json::{json, Value};

/// The server's allocator: what a review costs is measured as the server runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn typical_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "web-", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "volumes": [
                {"name": "tls", "secret": {"secretName": "web-tls"}},
                {"name": "kube-api-access-abcde", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
            ],
            "containers": [
                {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                 "volumeMounts": [{"name": "tls", "mountPath": "/etc"},
                                  {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]},
                {"name": "app", "image": "registry.example.com/shop/app:2.3", "workingDir": "/app",
                 "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}
            ]
        }
    })
}

fn wide_pod(n: usize) -> Value {
    let containers: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": if i % 2 == 0 { "nginx:1.27" } else { "postgres:16" }}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wide"}, "spec": {"containers": containers}})
}

fn engine(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let at = Location::pod();
    let typical = typical_pod();
    c.bench_function("engine/typical-2-containers", |b| {
        b.iter(|| harden(std::hint::black_box(&typical), &at, &catalog, &options))
    });
    for n in [10, 100] {
        let pod = wide_pod(n);
        c.bench_function(&format!("engine/{n}-containers"), |b| {
            b.iter(|| harden(std::hint::black_box(&pod), &at, &catalog, &options))
        });
    }
}

/// The whole admission function: request bytes in, response bytes out.
fn admission(c: &mut Criterion) {
    use pod_hardener::admission::{review, Context, Mode, OnError, Policy};
    let catalog = Catalog::builtin();
    let options = Options::default();
    let skip = vec!["kube-system".to_string()];
    let policy = Policy {
        options,
        mode: Mode::Enforce,
        on_error: OnError::Allow,
        skip_namespaces: skip.clone(),
    };
    let ctx = Context {
        catalog: &catalog,
        policy: &policy,
        max_body_bytes: 4 << 20,
    };
    // Every real API-server body in the fixtures directory, so a new fixture
    // is benched without editing this file.
    let dir = format!("{}/tests/fixtures/admission", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut group = c.benchmark_group("admission");
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        group.bench_function(&name, |b| {
            b.iter(|| {
                review(
                    std::hint::black_box(&body),
                    Some("application/json"),
                    false,
                    &ctx,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine, admission);
criterion_main!(benches);
