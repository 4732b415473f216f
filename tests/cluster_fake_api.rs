//! The cluster module through kube's real client against a scripted HTTP
//! server that answers like the Kubernetes API: paged lists, a 403, a kind
//! only served at an older version, ConfigMaps, a pod, its logs and events.
//! The real API server is exercised by the end-to-end suite; this checks the
//! requests we make and how we read the answers, without a cluster.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use pod_hardener::audit::{audit, Policy};
use pod_hardener::cluster::{list_workloads, pod_evidence, webhook_settings};
use pod_hardener::doctor::diagnose;
use pod_hardener::harden::Options;
use pod_hardener::profile::Catalog;
use serde_json::{json, Value};

type Requests = Arc<Mutex<Vec<String>>>;

fn list(items: Vec<Value>, next: Option<&str>) -> (u16, String) {
    let mut meta = json!({"resourceVersion": "1"});
    if let Some(n) = next {
        meta["continue"] = json!(n);
    }
    (
        200,
        json!({"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items}).to_string(),
    )
}

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code})
        .to_string(),
    )
}

fn deployment(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop"},
           "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})
}

/// The scripted API: the answer for a path and query.
fn answer(path: &str, query: &str) -> (u16, String) {
    match path {
        "/apis/apps/v1/deployments" if query.contains("continue=t1") => {
            list(vec![deployment("second")], None)
        }
        "/apis/apps/v1/deployments" => list(vec![deployment("first")], Some("t1")),
        "/apis/apps/v1/statefulsets" => status(
            403,
            "Forbidden",
            "statefulsets.apps is forbidden: User \"audit\" cannot list resource \"statefulsets\" in API group \"apps\" at the cluster scope",
        ),
        "/apis/batch/v1/cronjobs" => status(404, "NotFound", "the server could not find the requested resource"),
        "/apis/batch/v1beta1/cronjobs" => list(
            vec![json!({"metadata": {"name": "nightly", "namespace": "batch"},
                        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
                            "containers": [{"name": "job", "image": "registry.example.com/jobs/nightly:1"}]}}}}}})],
            None,
        ),
        "/apis/apps/v1/replicasets" => list(
            vec![json!({"metadata": {"name": "first-abc", "namespace": "shop",
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "first", "uid": "u", "controller": true}]},
                        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})],
            None,
        ),
        "/api/v1/pods" => list(
            vec![json!({"metadata": {"name": "bare", "namespace": "shop"},
                        "spec": {"containers": [{"name": "c", "image": "redis:7"}]}})],
            None,
        ),
        "/apis/apps/v1/daemonsets" | "/apis/batch/v1/jobs" | "/api/v1/replicationcontrollers" => {
            list(vec![], None)
        }
        "/api/v1/namespaces/ph/configmaps/pod-hardener-config" => (
            200,
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "pod-hardener-config", "namespace": "ph"},
                   "data": {"config.yaml": "override_explicit_false: true\nskip_namespaces: [batch]\n"}})
            .to_string(),
        ),
        "/api/v1/namespaces/ph/configmaps/pod-hardener-profiles" => {
            status(404, "NotFound", "configmaps \"pod-hardener-profiles\" not found")
        }
        "/api/v1/namespaces/shop/pods/web-1" => (
            200,
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web-1", "namespace": "shop"},
                   "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:3"}]},
                   "status": {"containerStatuses": [{"name": "web", "ready": false, "restartCount": 3, "image": "x", "imageID": "", 
                       "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                       "lastState": {"terminated": {"exitCode": 1, "message": "mkdir: cannot create directory '/var/lib/web/cache': Read-only file system\n"}}}]}})
            .to_string(),
        ),
        "/api/v1/namespaces/shop/pods/web-1/log" if query.contains("previous=true") => (
            200,
            "starting\nError: EROFS: read-only file system, open '/srv/web/logs/access.log'\n".to_string(),
        ),
        "/api/v1/namespaces/shop/pods/web-1/log" => status(
            400,
            "BadRequest",
            "container \"web\" in pod \"web-1\" is waiting to start: CrashLoopBackOff",
        ),
        "/api/v1/namespaces/shop/events" => list(
            vec![json!({"metadata": {"name": "web-1.1", "namespace": "shop"}, "reason": "BackOff",
                        "message": "Back-off restarting failed container web in pod web-1_shop(u)",
                        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"}})],
            None,
        ),
        _ => status(404, "NotFound", "not scripted"),
    }
}

/// Serves `answer` on a free port, one request per connection; records each request line.
fn serve() -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let target = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            seen.lock().unwrap().push(target.clone());
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let (code, body) = answer(path, query);
            let content_type = if body.starts_with('{') {
                "application/json"
            } else {
                "text/plain"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, requests)
}

fn client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn lists_every_kind_paged_and_goes_on_after_a_403() {
    let (url, requests) = serve();
    let client = client(&url);
    let mut progress = Vec::new();
    let listing = list_workloads(&client, None, Some("app=web"), &mut |m: &str| {
        progress.push(m.to_string())
    })
    .await;

    let ids: Vec<String> = listing
        .objects
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            "apps/v1 Deployment first",
            "apps/v1 Deployment second",
            "batch/v1beta1 CronJob nightly",
            "apps/v1 ReplicaSet first-abc",
            "v1 Pod bare",
        ]
    );
    assert_eq!(listing.errors.len(), 1, "{:?}", listing.errors);
    assert!(
        listing.errors[0].starts_with("forbidden: cannot list statefulsets.apps in all namespaces (cluster scope): grant verb \"list\""),
        "{}",
        listing.errors[0]
    );
    assert!(
        progress.iter().any(|p| p == "2 deployments.apps"),
        "{progress:?}"
    );

    let requests = requests.lock().unwrap().clone();
    let deployments: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("/apis/apps/v1/deployments"))
        .collect();
    assert_eq!(deployments.len(), 2, "{requests:?}");
    for r in &deployments {
        assert!(
            r.contains("limit=500") && r.contains("labelSelector=app%3Dweb"),
            "{r}"
        );
    }
    assert!(deployments[1].contains("continue=t1"), "{}", deployments[1]);

    // The listing audits like fixtures do: the ReplicaSet goes through its Deployment.
    let catalog = Catalog::builtin();
    let options = Options::default();
    let report = audit(
        &listing.objects,
        &Policy {
            catalog: &catalog,
            options: &options,
            skip_namespaces: &[],
        },
        listing.errors,
    );
    let t = report.totals();
    assert_eq!(
        (t.workloads, t.namespaces, t.errors, t.unprofiled),
        (4, 2, 1, 1)
    );
}

#[tokio::test]
async fn reads_the_webhook_configmaps() {
    let (url, _) = serve();
    let settings = webhook_settings(&client(&url), "ph").await.unwrap();
    let config =
        pod_hardener::config::load_text("cm", settings.config.as_deref().unwrap()).unwrap();
    assert!(config.override_explicit_false);
    assert_eq!(config.skip_namespaces, ["batch"]);
    assert!(settings.profiles.is_empty());
    assert!(
        settings.notes[0].contains("pod-hardener-profiles not found"),
        "{:?}",
        settings.notes
    );
    let e = webhook_settings(&client(&url), "elsewhere")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not found: is pod-hardener installed in namespace elsewhere"),
        "{e}"
    );
}

#[tokio::test]
async fn doctor_reads_messages_previous_logs_and_events() {
    let (url, requests) = serve();
    let found = pod_evidence(&client(&url), "shop", "web-1").await.unwrap();
    assert!(found.notes.is_empty(), "{:?}", found.notes);
    let web = &found.containers[0];
    let sources: Vec<&str> = web.evidence.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(
        sources,
        ["last termination message", "previous log", "event BackOff"]
    );
    let requests = requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces/shop/pods/web-1/log?")
                && r.contains("previous=true")
                && r.contains("container=web")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces/shop/events?")
                && r.contains("fieldSelector=involvedObject.name%3Dweb-1")),
        "{requests:?}"
    );
    let d = diagnose(web, &Catalog::builtin());
    let added: Vec<&str> = d
        .proposal
        .as_ref()
        .unwrap()
        .additions
        .iter()
        .map(|a| a.directory.path.as_str())
        .collect();
    assert_eq!(added, ["/var/lib/web", "/srv/web/logs"]);
    let e = pod_evidence(&client(&url), "shop", "gone")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "pod shop/gone not found");
}

#[tokio::test]
async fn the_audit_command_with_the_webhooks_configmaps() {
    use pod_hardener::audit::render::Format;
    use pod_hardener::cli::audit::{run_with, AuditArgs, EXIT_PARTIAL};
    let (url, _) = serve();
    let args = AuditArgs {
        namespace: None,
        selector: None,
        profile_files: vec![],
        no_builtin_profiles: false,
        config: None,
        from_cluster: Some("ph".into()),
        output: Format::Json,
        quiet: true,
    };
    let (out, code) = run_with(&client(&url), &args).await.unwrap();
    assert_eq!(code, EXIT_PARTIAL, "a list was forbidden");
    let v: Value = serde_json::from_str(&out).unwrap();
    let nightly = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "nightly")
        .unwrap();
    // skip_namespaces comes from the ConfigMap, not the defaults
    assert_eq!(
        nightly["skipped"],
        "namespace batch is skipped by the configuration"
    );
    assert_eq!(v["totals"]["errors"], 1);
    // The same audit as PolicyReports: the forbidden list is the
    // ClusterPolicyReport's error, the skipped namespace's results are skips.
    let (out, _) = run_with(
        &client(&url),
        &AuditArgs {
            output: Format::PolicyReport,
            ..args.clone()
        },
    )
    .await
    .unwrap();
    let reports: Vec<Value> = serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let cluster = reports.last().unwrap();
    assert_eq!(cluster["kind"], "ClusterPolicyReport");
    assert_eq!(cluster["summary"]["error"], 1);
    let batch = reports
        .iter()
        .find(|r| r["metadata"]["namespace"] == "batch")
        .unwrap();
    assert_eq!(batch["kind"], "PolicyReport");
    assert!(batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["result"] == "skip"));
    let e = run_with(
        &client(&url),
        &AuditArgs {
            from_cluster: Some("elsewhere".into()),
            ..args
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, 2);
}

#[tokio::test]
async fn the_doctor_command_writes_the_fix_for_a_pod() {
    use pod_hardener::cli::doctor::{run_with, DoctorArgs, Source};
    let (url, _) = serve();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    let args = DoctorArgs {
        source: Source::Pod {
            name: "web-1".into(),
            namespace: Some("shop".into()),
        },
        container: None,
        workdir: None,
        profile_files: vec![],
        no_builtin_profiles: false,
        write: Some(file.clone()),
        json: false,
    };
    let out = run_with(Some(&client(&url)), &args).await.unwrap();
    assert!(out.starts_with("# doctor: pod shop/web-1\n"), "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    let set = pod_hardener::profile::validate::parse_profile_set("team.yaml", &written).unwrap();
    assert_eq!(set.profiles[0].name, "web");
    assert_eq!(set.profiles[0].patterns, ["registry.example.com/shop/web"]);
    let paths: Vec<&str> = set.profiles[0]
        .writable_paths
        .iter()
        .map(|w| w.path())
        .collect();
    assert_eq!(paths, ["/tmp", "/var/lib/web", "/srv/web/logs"]);
    let wrong = DoctorArgs {
        container: Some("nope".into()),
        write: None,
        ..args
    };
    let e = run_with(Some(&client(&url)), &wrong).await.unwrap_err();
    assert_eq!(
        (e.code, e.message),
        (
            1,
            "pod shop/web-1 has no container \"nope\" (it has web)".to_string()
        )
    );
}
