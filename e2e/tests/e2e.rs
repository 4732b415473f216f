//! The end-to-end cases: pods created through a real API server, hardened by
//! pod-hardener, read back. One control plane for all cases; each case in a
//! namespace of its own. Run with `make e2e`; `cargo test -p
//! pod-hardener-e2e -- NAME` runs the cases whose name contains NAME.
//!
//! Local mode (the harness started the API server, or `E2E_WEBHOOK=local`):
//! the webhook binary runs on this host and the suite registers URL-based
//! webhook configurations scoped by the namespace label
//! `e2e.pod-hardener.dev/webhook`, one per behaviour under test. In-cluster
//! mode (`KUBECONFIG` with pod-hardener deployed by `make deploy`): the cases
//! use the deployed webhook, and those that need a webhook of their own say
//! they were skipped.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use pod_hardener::profile::Catalog;
use pod_hardener_e2e::{
    free_port, pod_hardener_bin, wait_for_port, Cluster, LocalCert, LocalWebhook, Source,
    HOW_TO_RUN,
};
use serde_json::{json, Value};

#[path = "e2e/backstop.rs"]
mod backstop;
#[path = "e2e/current_api.rs"]
mod current_api;
#[path = "e2e/own_config.rs"]
mod own_config;

use backstop::backstop_agrees_with_the_webhook_for_every_setting;
use current_api::{
    every_corpus_pod_passes_a_server_side_dry_run, every_manifest_applies_server_side,
    image_volume_never_covers_a_writable_path, native_sidecars_are_hardened_like_containers,
};
use own_config::the_webhooks_own_configmaps_are_checked_before_they_are_stored;

const VARIANT_LABEL: &str = "e2e.pod-hardener.dev/webhook";
/// The backstop ValidatingAdmissionPolicy (and its binding) in manifests/base.
const BACKSTOP: &str = "pod-hardener-read-only-root";

/// A case that did not run, and why.
#[derive(Debug)]
struct Skip(String);
impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Skip {}

fn skip(why: impl Into<String>) -> anyhow::Error {
    anyhow!(Skip(why.into()))
}

struct Env {
    cluster: Cluster,
    bin: PathBuf,
    /// Webhooks run here (local mode) rather than in the cluster.
    local: bool,
    catalog: Catalog,
    root: PathBuf,
    enforce: Option<LocalWebhook>,
    /// The local webhooks' certificate (local mode).
    cert: Option<LocalCert>,
    /// Processes the cases start (webhooks of their own); stopped with the Env.
    extra: std::sync::Mutex<pod_hardener_e2e::Processes>,
}

impl Env {
    /// A fresh namespace served by the webhook behaviour `variant`.
    async fn namespace(&self, case: &str, variant: &str) -> Result<String> {
        let labels = if self.local {
            json!({ VARIANT_LABEL: variant })
        } else {
            match variant {
                "enforce" => json!({}),
                "dry-run" => json!({"pod-hardener.dev/mode": "dry-run"}),
                "none" => json!({"pod-hardener.dev/mode": "off"}),
                other => {
                    return Err(skip(format!(
                        "needs a webhook of its own ({other}); runs in local mode only"
                    )))
                }
            }
        };
        self.cluster.namespace(&format!("e2e-{case}"), labels).await
    }

    async fn create_pod(&self, ns: &str, pod: Value) -> Result<Value> {
        let api: Api<Pod> = Api::namespaced(self.cluster.client.clone(), ns);
        let pod: Pod = serde_json::from_value(pod)?;
        let created = api
            .create(&PostParams::default(), &pod)
            .await
            .context("create pod")?;
        Ok(serde_json::to_value(created)?)
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<(bool, String, String)> {
        self.cluster.kubectl(args, stdin)
    }
}

fn pod(name: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "containers": containers }
    })
}

fn container<'a>(pod: &'a Value, name: &str) -> Result<&'a Value> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .find(|c| c["name"] == name)
        .ok_or_else(|| anyhow!("no container {name} in {}", pod["spec"]))
}

/// Names of the init containers and containers of `pod`.
fn container_names(pod: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|f| pod["spec"][*f].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn volume<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

fn mount_at<'a>(c: &'a Value, path: &str) -> Option<&'a Value> {
    c["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["mountPath"] == path)
}

fn read_only_root(c: &Value) -> bool {
    c["securityContext"]["readOnlyRootFilesystem"] == true
}

/// The container's root is read-only and each path has an emptyDir mount.
fn assert_hardened(pod: &Value, name: &str, paths: &[String]) -> Result<()> {
    let c = container(pod, name)?;
    ensure!(
        read_only_root(c),
        "{name}: root not read-only: {}",
        c["securityContext"]
    );
    for p in paths {
        let m = mount_at(c, p).ok_or_else(|| anyhow!("{name}: no mount at {p}: {c}"))?;
        let v = volume(pod, m["name"].as_str().unwrap_or_default())
            .ok_or_else(|| anyhow!("{name}: mount at {p} names no volume"))?;
        ensure!(
            v.get("emptyDir").is_some(),
            "{name}: {p} is not an emptyDir: {v}"
        );
    }
    no_duplicates(pod)
}

/// What the API server's validation would also refuse, checked on the result.
fn no_duplicates(pod: &Value) -> Result<()> {
    let mut names: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let before = names.len();
    names.sort_unstable();
    names.dedup();
    ensure!(names.len() == before, "duplicate volume names: {names:?}");
    Ok(())
}

fn profile_paths(catalog: &Catalog, image: &str) -> Vec<String> {
    catalog
        .resolve(image)
        .writable_paths()
        .iter()
        .map(|w| w.spec().path)
        .collect()
}

/// The objects of these kinds in a rendered YAML stream, as a JSON `List` for
/// `kubectl apply -f -` (JSON, because a YAML 1.1 reader would turn a label
/// value like `off` into a boolean).
fn objects_of_kinds(rendered: &str, kinds: &[&str]) -> Result<String> {
    let mut items = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(rendered) {
        let v = <Value as serde::Deserialize>::deserialize(doc)?;
        if kinds.contains(&v["kind"].as_str().unwrap_or_default()) {
            items.push(v);
        }
    }
    Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string())
}

type CaseFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type CaseFn = fn(Arc<Env>) -> CaseFuture;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|e| Box::pin($name(e))) as CaseFn)),*]
    };
}

async fn popular_images_get_their_profiles(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("images", "enforce").await?;
    for (name, image) in [
        ("nginx", "nginx:1.27"),
        ("redis", "redis:7.4"),
        ("postgres", "postgres:16"),
    ] {
        let created = env
            .create_pod(&ns, pod(name, json!([{"name": name, "image": image}])))
            .await?;
        let paths = profile_paths(&env.catalog, image);
        assert_hardened(&created, name, &paths).with_context(|| image.to_string())?;
        let added = created["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with("ph-")))
            .count();
        ensure!(
            added == paths.len(),
            "{image}: {added} volumes added for {} profile paths",
            paths.len()
        );
        ensure!(
            created["metadata"]["annotations"]["pod-hardener.dev/applied"].is_string(),
            "{image}: no applied annotation"
        );
    }
    Ok(())
}

async fn unknown_image_gets_tmp(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("unknown", "enforce").await?;
    let image = "registry.example.com/team/in-house-app:3.1";
    let created = env
        .create_pod(&ns, pod("app", json!([{"name": "app", "image": image}])))
        .await?;
    let paths = profile_paths(&env.catalog, image);
    ensure!(
        paths == ["/tmp"],
        "the defaults should be /tmp only: {paths:?}"
    );
    assert_hardened(&created, "app", &paths)
}

async fn preview_of_a_deployment_equals_the_admitted_pod(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("preview", "enforce").await?;
    let template = json!({
        "metadata": {"labels": {"app": "shop"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx:1.27",
                 "volumeMounts": [{"name": "tls", "mountPath": "/usr/share/nginx/html"}]},
                {"name": "cache", "image": "redis:7.4"}
            ],
            "volumes": [{"name": "tls", "secret": {"secretName": "shop-tls"}}]
        }
    });
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "shop"}}, "template": template}
    });
    let file = env.cluster.work_dir.join(format!("{ns}-deployment.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(&deployment)?)?;
    let out = Command::new(&env.bin)
        .args(["preview", "--output", "manifest", "-f"])
        .arg(&file)
        .output()?;
    ensure!(
        out.status.success(),
        "preview failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let previewed: Value = serde_yaml::from_slice(&out.stdout)?;
    let previewed_template = &previewed["spec"]["template"];

    let mut as_pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "shop-pod", "labels": {"app": "shop"}},
        "spec": template["spec"].clone()});
    as_pod["metadata"]["labels"] = template["metadata"]["labels"].clone();
    let admitted = env.create_pod(&ns, as_pod).await?;

    // Compare what pod-hardener decides: mounts, volumes, read-only root and
    // the summary annotation. The API server adds its own defaults and the
    // service-account token volume; those are left out of the comparison.
    let ours = |v: &Value| -> Value {
        let keep_volume = |v: &&Value| {
            !v["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("kube-api-access")
        };
        let volumes: Vec<Value> = v["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(keep_volume)
            .map(|v| {
                let mut v = v.clone();
                if let Some(s) = v.get_mut("secret").and_then(Value::as_object_mut) {
                    s.remove("defaultMode");
                }
                v
            })
            .collect();
        let containers: Vec<Value> = v["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mounts: Vec<Value> = c["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| {
                        !m["name"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with("kube-api-access")
                    })
                    .cloned()
                    .collect();
                json!({"name": c["name"], "readOnlyRoot": read_only_root(c), "mounts": mounts})
            })
            .collect();
        json!({"volumes": volumes, "containers": containers,
               "applied": v["metadata"]["annotations"]["pod-hardener.dev/applied"]})
    };
    let want = ours(previewed_template);
    let got = ours(&admitted);
    ensure!(
        want == got,
        "preview and webhook differ:\npreview: {want:#}\nwebhook: {got:#}"
    );
    ensure!(
        want["containers"][0]["mounts"].as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["mountPath"] == "/usr/share/nginx/html/secrets")),
        "the secret should have moved: {want:#}"
    );
    Ok(())
}

async fn secret_on_app_moves_to_app_secrets(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("secret", "enforce").await?;
    let mut p = pod(
        "api",
        json!([{"name": "api", "image": "registry.example.com/api:1",
                "volumeMounts": [{"name": "creds", "mountPath": "/app"}]}]),
    );
    p["spec"]["volumes"] = json!([{"name": "creds", "secret": {"secretName": "api-creds"}}]);
    let created = env.create_pod(&ns, p).await?;
    let c = container(&created, "api")?;
    let m = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "creds")
        .ok_or_else(|| anyhow!("creds mount gone: {c}"))?;
    ensure!(
        m["mountPath"] == "/app/secrets",
        "moved to {}",
        m["mountPath"]
    );
    ensure!(m["readOnly"] == true, "not read-only: {m}");
    ensure!(m.get("subPath").is_none(), "became a subPath mount: {m}");
    assert_hardened(&created, "api", &["/tmp".to_string()])
}

async fn opt_out_is_honoured(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("opt-out", "enforce").await?;
    let mut p = pod("legacy", json!([{"name": "legacy", "image": "nginx:1.27"}]));
    p["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "true"});
    let created = env.create_pod(&ns, p).await?;
    let c = container(&created, "legacy")?;
    ensure!(!read_only_root(c), "opted-out pod was changed: {c}");
    ensure!(
        created["metadata"]["annotations"]
            .get("pod-hardener.dev/applied")
            .is_none(),
        "opted-out pod got the applied annotation"
    );
    Ok(())
}

async fn opt_out_refused_when_configured(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("opt-out-refused", "no-opt-out").await?;
    let mut p = pod("legacy", json!([{"name": "legacy", "image": "nginx:1.27"}]));
    p["metadata"]["annotations"] = json!({"pod-hardener.dev/skip": "true"});
    let created = env.create_pod(&ns, p).await?;
    assert_hardened(
        &created,
        "legacy",
        &profile_paths(&env.catalog, "nginx:1.27"),
    )
}

async fn dry_run_namespace_warns_and_leaves_pod_alone(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("dry-run", "dry-run").await?;
    let manifest =
        serde_json::to_string(&pod("web", json!([{"name": "web", "image": "nginx:1.27"}])))?;
    let (ok, stdout, stderr) = env.kubectl(
        &["create", "-n", &ns, "-f", "-", "-o", "json"],
        Some(&manifest),
    )?;
    ensure!(ok, "kubectl create failed: {stderr}");
    let created: Value = serde_json::from_str(&stdout)?;
    let c = container(&created, "web")?;
    ensure!(!read_only_root(c), "dry-run mode patched the pod: {c}");
    ensure!(
        stderr.contains("Warning:") && stderr.contains("read-only"),
        "kubectl showed no warning about the root filesystem:\n{stderr}"
    );
    Ok(())
}

async fn server_side_dry_run_shows_the_hardened_pod(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("server-dry-run", "enforce").await?;
    let manifest =
        serde_json::to_string(&pod("web", json!([{"name": "web", "image": "nginx:1.27"}])))?;
    let (ok, stdout, stderr) = env.kubectl(
        &[
            "create",
            "-n",
            &ns,
            "--dry-run=server",
            "-o",
            "yaml",
            "-f",
            "-",
        ],
        Some(&manifest),
    )?;
    ensure!(ok, "kubectl create --dry-run=server failed: {stderr}");
    let shown: Value = serde_yaml::from_str(&stdout)?;
    assert_hardened(&shown, "web", &profile_paths(&env.catalog, "nginx:1.27"))?;
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), &ns);
    ensure!(
        api.get_opt("web").await?.is_none(),
        "a server-side dry run stored the pod"
    );
    Ok(())
}

async fn sidecar_added_later_is_hardened_on_reinvocation(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("sidecar", "sidecar").await?;
    let created = env
        .create_pod(
            &ns,
            pod("app", json!([{"name": "app", "image": "nginx:1.27"}])),
        )
        .await?;
    let sidecar = container(&created, "log-shipper")
        .context("the injector did not run; is the z-sidecar webhook registered?")?;
    ensure!(
        read_only_root(sidecar),
        "the sidecar added after pod-hardener was not hardened (no reinvocation?): {sidecar}"
    );
    assert_hardened(&created, "app", &profile_paths(&env.catalog, "nginx:1.27"))?;
    assert_hardened(
        &created,
        "log-shipper",
        &profile_paths(&env.catalog, "docker.io/library/busybox:1.36"),
    )?;
    Ok(())
}

async fn webhook_down_fails_open_with_ignore(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("down-ignore", "down-ignore").await?;
    let created = env
        .create_pod(
            &ns,
            pod("web", json!([{"name": "web", "image": "nginx:1.27"}])),
        )
        .await
        .context("failurePolicy Ignore should let the pod through")?;
    ensure!(
        !read_only_root(container(&created, "web")?),
        "the pod was hardened with no webhook up"
    );
    Ok(())
}

async fn webhook_down_blocks_with_fail(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("down-fail", "down-fail").await?;
    match env
        .create_pod(
            &ns,
            pod("web", json!([{"name": "web", "image": "nginx:1.27"}])),
        )
        .await
    {
        Ok(p) => bail!(
            "failurePolicy Fail let a pod through with the webhook down: {}",
            p["metadata"]["name"]
        ),
        Err(e) => {
            let text = format!("{e:#}");
            ensure!(
                text.contains("failed calling webhook"),
                "unexpected refusal: {text}"
            );
        }
    }
    Ok(())
}

/// Skips on an API server without ValidatingAdmissionPolicy (GA in 1.30).
async fn require_admission_policies(env: &Env) -> Result<()> {
    let resources = env
        .cluster
        .client
        .list_api_group_resources("admissionregistration.k8s.io/v1")
        .await?;
    if !resources
        .resources
        .iter()
        .any(|r| r.name == "validatingadmissionpolicies")
    {
        let version = env.cluster.client.apiserver_version().await?;
        return Err(skip(format!(
            "API server {} has no ValidatingAdmissionPolicy (GA in 1.30)",
            version.git_version
        )));
    }
    Ok(())
}

async fn hardened_pod_runs_with_read_only_root(env: Arc<Env>) -> Result<()> {
    let nodes: Api<Node> = Api::all(env.cluster.client.clone());
    if nodes.list(&ListParams::default()).await?.items.is_empty() {
        return Err(skip(
            "the cluster has no nodes, so no pod runs (kind: `make kind-e2e`)",
        ));
    }
    let ns = env.namespace("runs", "enforce").await?;
    env.create_pod(
        &ns,
        pod("web", json!([{"name": "web", "image": "nginx:1.27"}])),
    )
    .await?;
    let (ok, _, err) = env.kubectl(
        &[
            "wait",
            "-n",
            &ns,
            "--for=condition=Ready",
            "pod/web",
            "--timeout=180s",
        ],
        None,
    )?;
    ensure!(ok, "nginx did not become Ready read-only: {err}");
    let exec = |cmd: &str| env.kubectl(&["exec", "-n", &ns, "web", "--", "sh", "-c", cmd], None);
    let (root_write, ..) = exec("touch /x")?;
    ensure!(
        !root_write,
        "writing to / succeeded: the root is not read-only"
    );
    let (apt, ..) = exec("apt-get update")?;
    ensure!(!apt, "apt-get update succeeded on a read-only root");
    let (tmp_write, _, err) = exec("touch /var/cache/nginx/x")?;
    ensure!(tmp_write, "writing to a profile path failed: {err}");
    Ok(())
}

/// Runs the pod-hardener binary against this cluster.
fn pod_hardener(env: &Env, args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(&env.bin)
        .args(args)
        .env("KUBECONFIG", &env.cluster.kubeconfig)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `kubectl apply -f -` of `objects` (JSON).
fn apply(env: &Env, objects: &str) -> Result<()> {
    let (ok, _, err) = env.kubectl(&["apply", "-f", "-"], Some(objects))?;
    ensure!(ok, "kubectl apply failed: {err}");
    Ok(())
}

/// `pod-hardener audit ARGS -o json --quiet`, parsed; any exit but 0 fails.
fn audit_json(env: &Env, args: &[&str]) -> Result<Value> {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json", "--quiet"]);
    let (code, out, err) = pod_hardener(env, &all)?;
    ensure!(code == 0, "{all:?} exited {code}: {err}");
    serde_json::from_str(&out).with_context(|| out.clone())
}

async fn audit_reports_what_enforcement_would_change(env: Arc<Env>) -> Result<()> {
    // A namespace no webhook serves: the workloads stay as written, like
    // the ones already running when a team first installs pod-hardener.
    let ns = env.namespace("audit", "none").await?;
    let workloads = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": ns, "labels": {"team": "shop"}},
         "spec": {"selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "tool", "namespace": ns, "labels": {"team": "shop"}},
         "spec": {"containers": [{"name": "tool", "image": "registry.example.com/tool:2",
                                  "volumeMounts": [{"name": "creds", "mountPath": "/app"}]}],
                  "volumes": [{"name": "creds", "secret": {"secretName": "tool"}}]}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "other", "namespace": ns, "labels": {"team": "other"}},
         "spec": {"containers": [{"name": "c", "image": "redis:7.4"}]}}
    ]});
    apply(&env, &workloads.to_string())?;
    let report = audit_json(&env, &["-n", &ns, "-l", "team=shop"])?;
    let records = report["workloads"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = records
        .iter()
        .map(|w| {
            format!(
                "{}/{}",
                w["kind"].as_str().unwrap_or("?"),
                w["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    ensure!(
        ids.len() == 2
            && ids.contains(&"Deployment/web".into())
            && ids.contains(&"Pod/tool".into()),
        "the label selector should give the Deployment and the tool pod: {ids:?}"
    );
    let find = |id: &str| {
        records.iter().find(|w| {
            format!(
                "{}/{}",
                w["kind"].as_str().unwrap_or("?"),
                w["name"].as_str().unwrap_or("?")
            ) == id
        })
    };
    let web = find("Deployment/web").ok_or_else(|| anyhow!("no web"))?;
    ensure!(web["readOnly"] == json!(["nginx"]), "web: {web:#}");
    let paths: Vec<&str> = web["emptyDirs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["path"].as_str())
        .collect();
    let want = profile_paths(&env.catalog, "nginx:1.27");
    ensure!(
        paths == want.iter().map(String::as_str).collect::<Vec<_>>(),
        "web emptyDirs {paths:?}, profile {want:?}"
    );
    let tool = find("Pod/tool").ok_or_else(|| anyhow!("no tool"))?;
    ensure!(
        tool["unprofiled"][0]["image"] == "registry.example.com/tool:2",
        "tool: {tool:#}"
    );
    ensure!(
        tool["secretMoves"][0]["to"] == "/app/secrets",
        "tool: {tool:#}"
    );
    // Read-only: the objects in the cluster are as they were.
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), &ns);
    let stored = serde_json::to_value(api.get("tool").await?)?;
    ensure!(
        !read_only_root(container(&stored, "tool")?),
        "audit changed the pod"
    );

    // A user with no rights: the error names what is forbidden and the run goes on.
    if let Some(token) = &env.cluster.powerless_token {
        let config = std::fs::read_to_string(&env.cluster.kubeconfig)?;
        let admin = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .ok_or_else(|| anyhow!("no token in the kubeconfig"))?;
        let nobody = env.cluster.work_dir.join("kubeconfig-nobody");
        std::fs::write(&nobody, config.replace(admin, token))?;
        let out = Command::new(&env.bin)
            .args(["audit", "-n", &ns, "--quiet"])
            .env("KUBECONFIG", &nobody)
            .output()?;
        // The report (stdout) lists the failed lists; progress and errors may go to stderr.
        let err = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.code() == Some(3)
                && err.contains("forbidden")
                && err.contains("deployments")
                && err.contains(&ns),
            "a forbidden list should exit 3 and say which resource and namespace: {:?}\n{err}",
            out.status.code()
        );
    }
    Ok(())
}

async fn audit_uses_the_webhook_configmaps_as_shipped(env: Arc<Env>) -> Result<()> {
    // The ConfigMaps exactly as manifests/base makes them, read back by
    // `audit --from-cluster`: the contract between the two is tested here.
    let base = env.root.join("manifests/base");
    let (ok, rendered, err) =
        env.kubectl(&["kustomize", base.to_str().unwrap_or_default()], None)?;
    ensure!(ok, "kubectl kustomize failed: {err}");
    let wanted = objects_of_kinds(&rendered, &["Namespace", "ConfigMap"])?;
    apply(&env, &wanted).context("the base's ConfigMaps")?;
    let ns = env.namespace("audit-cm", "none").await?;
    let shop = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cart", "namespace": ns},
        "spec": {"containers": [{"name": "cart", "image": "registry.example.com/shop/cart:5"}]}});
    apply(&env, &shop.to_string())?;
    let report = audit_json(&env, &["-n", &ns, "--from-cluster", "pod-hardener"])?;
    let cart = &report["workloads"][0];
    let paths: Vec<&str> = cart["emptyDirs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["path"].as_str())
        .collect();
    ensure!(
        paths.contains(&"/var/cache/shop")
            && cart["unprofiled"].as_array().is_some_and(Vec::is_empty),
        "the shipped example profile was not used: {cart:#}"
    );
    Ok(())
}

async fn doctor_reads_the_termination_message(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("doctor", "none").await?;
    let created = env
        .create_pod(
            &ns,
            pod(
                "web",
                json!([{"name": "web", "image": "registry.example.com/web:1",
            "terminationMessagePolicy": "FallbackToLogsOnError"}]),
            ),
        )
        .await?;
    // What a kubelet would write after the container crashed on a read-only root.
    let mut status = created.clone();
    status["status"] = json!({"phase": "Running", "containerStatuses": [{
        "name": "web", "image": "registry.example.com/web:1", "imageID": "", "ready": false,
        "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
            "message": "2026/11/23 10:00:00 [emerg] 1#1: mkdir() \"/var/cache/nginx/client_temp\" failed (30: Read-only file system)\n"}}}]});
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), &ns);
    api.replace_status(
        "web",
        &PostParams::default(),
        &serde_json::from_value::<Pod>(status)?,
    )
    .await
    .context("write the pod status")?;
    let profile_file = env.cluster.work_dir.join(format!("{ns}-profiles.yaml"));
    let (code, out, err) = pod_hardener(
        &env,
        &[
            "doctor",
            "web",
            "-n",
            &ns,
            "--write",
            profile_file.to_str().unwrap_or_default(),
        ],
    )?;
    ensure!(code == 0, "doctor exited {code}: {err}\n{out}");
    ensure!(
        out.contains("/var/cache/nginx"),
        "no suggestion for /var/cache/nginx:\n{out}"
    );
    let written = std::fs::read_to_string(&profile_file)?;
    ensure!(
        written.contains("registry.example.com/web") && written.contains("/var/cache/nginx"),
        "the profile file lacks the suggestion:\n{written}"
    );
    let check = Command::new(&env.bin)
        .args(["profiles", "check"])
        .arg(&profile_file)
        .output()?;
    ensure!(
        check.status.success(),
        "the written profile file does not pass `profiles check`"
    );
    Ok(())
}

/// The webhook configurations of local mode: one entry per behaviour, each
/// scoped to namespaces carrying its label, and a sidecar injector after ours.
fn register_local(
    env: &Env,
    cert: &LocalCert,
    no_opt_out: &LocalWebhook,
    injector_port: u16,
) -> Vec<MutatingWebhookConfiguration> {
    let enforce = env.enforce.as_ref().expect("local mode");
    let closed = free_port().unwrap_or(1);
    let entry = |name: &str, url: String, variants: &[&str], failure: &str, reinvoke: &str| {
        json!({
            "name": format!("{name}.e2e.pod-hardener.dev"),
            "clientConfig": {"url": url, "caBundle": cert.ca_bundle()},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchExpressions": [
                {"key": VARIANT_LABEL, "operator": "In", "values": variants}]},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": failure,
            "timeoutSeconds": 5,
            "reinvocationPolicy": reinvoke,
        })
    };
    let ours = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "a-pod-hardener-e2e"},
        "webhooks": [
            entry("enforce", enforce.url("/mutate"), &["enforce", "sidecar"], "Fail", "IfNeeded"),
            entry("dry-run", enforce.url("/mutate/dry-run"), &["dry-run"], "Fail", "IfNeeded"),
            entry("no-opt-out", no_opt_out.url("/mutate"), &["no-opt-out"], "Fail", "IfNeeded"),
            entry("down-ignore", format!("https://127.0.0.1:{closed}/mutate"), &["down-ignore"], "Ignore", "IfNeeded"),
            entry("down-fail", format!("https://127.0.0.1:{closed}/mutate"), &["down-fail"], "Fail", "IfNeeded"),
        ]
    });
    let injector = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "z-sidecar-injector-e2e"},
        "webhooks": [entry("sidecar", format!("https://127.0.0.1:{injector_port}/inject"),
                           &["sidecar"], "Fail", "Never")]
    });
    [ours, injector]
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a valid webhook configuration"))
        .collect()
}

/// A plain nginx pod (container `probe`) created in a server-side dry run,
/// so nothing is stored: the admitted pod, or `None` when it was refused.
async fn probe(env: &Env, ns: &str) -> Result<Option<Value>> {
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), ns);
    let probe: Pod = serde_json::from_value(pod(
        "probe",
        json!([{"name": "probe", "image": "nginx:1.27"}]),
    ))?;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    Ok(match api.create(&dry, &probe).await {
        Ok(p) => Some(serde_json::to_value(p)?),
        Err(_) => None,
    })
}

/// Waits until the API server calls the enforce webhook: configurations
/// reach its admission chain a moment after they are stored.
async fn wait_until_served(env: &Env) -> Result<()> {
    let ns = env.namespace("ready", "enforce").await?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some(p) = probe(env, &ns).await? {
            if read_only_root(container(&p, "probe")?) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("the API server never called the webhook within 30 s")
}

async fn set_up(source: &Source) -> Result<Env> {
    let mut cluster = Cluster::connect(source).await?;
    let bin = pod_hardener_bin()?;
    let local = cluster.started_here || std::env::var("E2E_WEBHOOK").as_deref() == Ok("local");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut env_parts = (None, None, None);
    if local {
        let cert = LocalCert::make(&cluster.work_dir.join("webhook-tls"))?;
        let base = "log:\n  format: json\n";
        let enforce = LocalWebhook::start(&mut cluster, &bin, "pod-hardener", base, &cert)?;
        let no_opt_out = LocalWebhook::start(
            &mut cluster,
            &bin,
            "pod-hardener-no-opt-out",
            &format!("{base}allow_opt_out: false\n"),
            &cert,
        )?;
        let injector_port = free_port()?;
        let mut command = Command::new("python3");
        command
            .arg(root.join("e2e/sidecar-injector.py"))
            .arg(injector_port.to_string())
            .arg(&cert.cert)
            .arg(&cert.key);
        let log = cluster.work_dir.join("sidecar-injector.log");
        cluster.processes.spawn("sidecar-injector", command, &log)?;
        wait_for_port(
            injector_port,
            Duration::from_secs(20),
            &mut cluster.processes,
        )?;
        env_parts = (Some(enforce), Some((no_opt_out, injector_port)), Some(cert));
    }
    let (enforce, others, cert) = env_parts;
    let env = Env {
        cluster,
        bin,
        local,
        catalog: Catalog::builtin(),
        root,
        enforce,
        cert,
        extra: Default::default(),
    };
    if let (Some((no_opt_out, injector_port)), Some(cert)) = (others, &env.cert) {
        let api: Api<MutatingWebhookConfiguration> = Api::all(env.cluster.client.clone());
        for config in register_local(&env, cert, &no_opt_out, injector_port) {
            api.create(&PostParams::default(), &config)
                .await
                .context("register the e2e webhook configurations")?;
        }
        // Kept alive with the cluster's processes; the handle is not needed.
        drop(no_opt_out);
    }
    wait_until_served(&env).await?;
    Ok(env)
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some(source) = Source::from_env() else {
        println!("e2e: skipped: no API server; {HOW_TO_RUN}");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async {
        let started = Instant::now();
        let env = match set_up(&source).await {
            Ok(env) => Arc::new(env),
            Err(e) => {
                eprintln!("e2e: set-up failed: {e:#}");
                return 1;
            }
        };
        let all: Vec<(&str, CaseFn)> = cases![
            popular_images_get_their_profiles,
            unknown_image_gets_tmp,
            preview_of_a_deployment_equals_the_admitted_pod,
            secret_on_app_moves_to_app_secrets,
            opt_out_is_honoured,
            opt_out_refused_when_configured,
            dry_run_namespace_warns_and_leaves_pod_alone,
            server_side_dry_run_shows_the_hardened_pod,
            sidecar_added_later_is_hardened_on_reinvocation,
            webhook_down_fails_open_with_ignore,
            webhook_down_blocks_with_fail,
            hardened_pod_runs_with_read_only_root,
            audit_reports_what_enforcement_would_change,
            audit_uses_the_webhook_configmaps_as_shipped,
            doctor_reads_the_termination_message,
            native_sidecars_are_hardened_like_containers,
            image_volume_never_covers_a_writable_path,
            every_corpus_pod_passes_a_server_side_dry_run,
            every_manifest_applies_server_side,
            backstop_agrees_with_the_webhook_for_every_setting,
            the_webhooks_own_configmaps_are_checked_before_they_are_stored,
        ];
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for (name, case) in all {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let t = Instant::now();
            let result = tokio::spawn(case(env.clone())).await;
            let took = t.elapsed();
            match result {
                Ok(Ok(())) => {
                    passed += 1;
                    println!("e2e {name} ... ok ({took:.1?})");
                }
                Ok(Err(e)) if e.downcast_ref::<Skip>().is_some() => {
                    skipped += 1;
                    println!("e2e {name} ... skipped: {e}");
                }
                Ok(Err(e)) => {
                    failed += 1;
                    println!("e2e {name} ... FAILED ({took:.1?})\n    {e:#}");
                }
                Err(panic) => {
                    failed += 1;
                    println!("e2e {name} ... FAILED (panicked: {panic})");
                }
            }
        }
        println!(
            "e2e: {passed} passed, {failed} failed, {skipped} skipped in {:.1?}",
            started.elapsed()
        );
        if failed > 0 {
            if let Some(w) = &env.enforce {
                let log = w.log(&env.cluster);
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!("e2e: the webhook's last log lines:");
                for l in tail.into_iter().rev() {
                    eprintln!("  {l}");
                }
            }
            1
        } else {
            0
        }
    });
    // The runtime and the Env (with every process the harness started) drop here.
    drop(runtime);
    std::process::exit(code);
}
