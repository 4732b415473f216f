//! Cases that need a current API server: pod fields added since 1.20
//! (native sidecars, `image` volumes) through the webhook and today's pod
//! validation, every corpus workload's pod in a server-side dry run, and
//! every shipped manifest applied server-side (strict field validation), so
//! a field the API rejects fails here.

use super::*;

/// The mount of `c` whose volume is `volume`.
fn mount_of<'a>(c: &'a Value, volume: &str) -> Option<&'a Value> {
    c["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == volume)
}

fn init_index(pod: &Value, name: &str) -> Option<usize> {
    pod["spec"]["initContainers"]
        .as_array()?
        .iter()
        .position(|c| c["name"] == name)
}

/// Skips when the API server dropped `field` from what it stored: a feature
/// gate that is off drops new pod fields silently.
fn require_kept(admitted: &Value, pointer: &str, what: &str) -> Result<()> {
    if admitted.pointer(pointer).is_none() {
        return Err(skip(format!(
            "this API server drops {what} ({pointer} absent after create): feature gate off or too old"
        )));
    }
    Ok(())
}

pub(super) async fn native_sidecars_are_hardened_like_containers(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("sidecars", "enforce").await?;
    let search = "docker.elastic.co/elasticsearch/elasticsearch:8.15.0";
    let mut p = pod(
        "app",
        json!([{"name": "app", "image": "registry.example.com/app:1"}]),
    );
    p["spec"]["initContainers"] = json!([
        {"name": "setup", "image": "busybox:1.36"},
        {"name": "proxy", "image": "nginx:1.27", "restartPolicy": "Always",
         "volumeMounts": [{"name": "creds", "mountPath": "/usr/share/nginx/html"}]},
        {"name": "search", "image": search, "restartPolicy": "Always"},
    ]);
    p["spec"]["volumes"] = json!([{"name": "creds", "secret": {"secretName": "proxy-creds"}}]);
    // Created at all: the result passed today's pod validation.
    let created = env.create_pod(&ns, p).await?;
    require_kept(
        &created,
        "/spec/initContainers/1/restartPolicy",
        "native sidecars",
    )?;
    assert_hardened(
        &created,
        "setup",
        &profile_paths(&env.catalog, "busybox:1.36"),
    )?;
    assert_hardened(
        &created,
        "proxy",
        &profile_paths(&env.catalog, "nginx:1.27"),
    )?;
    assert_hardened(&created, "search", &profile_paths(&env.catalog, search))?;
    assert_hardened(&created, "app", &["/tmp".to_string()])?;
    let proxy = container(&created, "proxy")?;
    let creds = mount_of(proxy, "creds").ok_or_else(|| anyhow!("creds mount gone: {proxy}"))?;
    ensure!(
        creds["mountPath"] == "/usr/share/nginx/html/secrets" && creds["readOnly"] == true,
        "the sidecar's secret should move off its app dir, read-only: {creds}"
    );
    ensure!(
        container(&created, "proxy")?["restartPolicy"] == "Always",
        "the sidecar lost restartPolicy: Always"
    );
    // The seed init container for the sidecar's seeded path runs before it.
    let seeded = env
        .catalog
        .resolve(search)
        .writable_paths()
        .iter()
        .map(|w| w.spec())
        .find(|w| w.seed)
        .ok_or_else(|| anyhow!("{search}'s profile seeds nothing"))?
        .path;
    let search_c = container(&created, "search")?;
    let volume = mount_at(search_c, &seeded)
        .and_then(|m| m["name"].as_str())
        .ok_or_else(|| anyhow!("search: no mount at {seeded}"))?;
    let inits = created["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seed_at = inits
        .iter()
        .position(|c| c["name"] != "search" && mount_of(c, volume).is_some())
        .ok_or_else(|| anyhow!("no seed init container fills {volume}"))?;
    let search_at = init_index(&created, "search").unwrap_or(0);
    ensure!(
        seed_at < search_at,
        "the seed init container (index {seed_at}) must run before the native sidecar it fills (index {search_at})"
    );
    ensure!(
        read_only_root(&inits[seed_at]) && inits[seed_at].get("restartPolicy").is_none(),
        "the seed init container must be an ordinary, read-only one: {}",
        inits[seed_at]
    );
    Ok(())
}

pub(super) async fn image_volume_never_covers_a_writable_path(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("image-volume", "enforce").await?;
    let mut p = pod(
        "web",
        json!([{"name": "web", "image": "nginx:1.27",
                "volumeMounts": [{"name": "site", "mountPath": "/run"}]}]),
    );
    p["spec"]["volumes"] = json!([{"name": "site",
        "image": {"reference": "registry.example.com/site:1", "pullPolicy": "IfNotPresent"}}]);
    let manifest = serde_json::to_string(&p)?;
    let (ok, stdout, stderr) = env.kubectl(
        &["create", "-n", &ns, "-f", "-", "-o", "json"],
        Some(&manifest),
    )?;
    ensure!(ok, "the pod with an image volume was refused: {stderr}");
    let created: Value = serde_json::from_str(&stdout)?;
    require_kept(&created, "/spec/volumes/0/image", "image volumes")?;
    let web = container(&created, "web")?;
    ensure!(read_only_root(web), "web: root not read-only");
    // /run is a profile path; the image volume there is read-only, so it does
    // not make /run writable: a writable mount must cover it, or the webhook
    // must say it cannot.
    let covered = web["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["mountPath"] == "/run")
        .any(|m| {
            volume(&created, m["name"].as_str().unwrap_or_default())
                .is_some_and(|v| v.get("emptyDir").is_some())
        });
    let warned = stderr.contains("Warning:") && stderr.contains("/run");
    ensure!(
        covered || warned,
        "an image volume on /run was taken as the writable mount for /run: no emptyDir and no warning\n{stderr}"
    );
    Ok(())
}

pub(super) async fn every_corpus_pod_passes_a_server_side_dry_run(env: Arc<Env>) -> Result<()> {
    let ns = env.namespace("corpus", "enforce").await?;
    // The same pods past the webhook: a pod the API refuses there too was
    // invalid as written (the corpus predates today's validation).
    let plain = env.namespace("corpus-plain", "none").await?;
    let dir = env.root.join("tests/corpus/kubernetes-examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .collect();
    files.sort();
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), &ns);
    let plain_api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), &plain);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let (mut pods, mut failures, mut invalid) = (0, Vec::new(), Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let short = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let docs = serde_yaml::Deserializer::from_str(&text)
            .map(<Value as serde::Deserialize>::deserialize)
            .collect::<Result<Vec<Value>, _>>()
            .with_context(|| short.clone())?;
        for doc in docs {
            for found in pod_hardener::workload::find_pods(&doc) {
                let template_meta = doc.pointer(&found.location.metadata).cloned();
                let spec = doc
                    .pointer(&found.location.spec)
                    .cloned()
                    .unwrap_or_default();
                pods += 1;
                let mut p = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("corpus-{pods}")}, "spec": spec});
                for key in ["labels", "annotations"] {
                    if let Some(v) = template_meta.as_ref().and_then(|m| m.get(key)) {
                        p["metadata"][key] = v.clone();
                    }
                }
                // What a StatefulSet's controller adds: a volume per claim template.
                if let Some(claims) = found.location.claims.as_deref() {
                    for claim in doc
                        .pointer(claims)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let name = claim["metadata"]["name"].clone();
                        let volume = json!({"name": name, "persistentVolumeClaim":
                            {"claimName": format!("{}-{pods}", name.as_str().unwrap_or("claim"))}});
                        // It replaces a pod volume of the same name.
                        match p["spec"]["volumes"].as_array_mut() {
                            Some(volumes) => {
                                volumes.retain(|v| v["name"] != volume["name"]);
                                volumes.push(volume);
                            }
                            None => p["spec"]["volumes"] = json!([volume]),
                        }
                    }
                }
                // The ServiceAccount admission plugin wants the account to exist.
                for field in ["serviceAccountName", "serviceAccount"] {
                    if let Some(sa) = p["spec"][field].as_str().filter(|s| *s != "default") {
                        for namespace in [&ns, &plain] {
                            create_account(&env, namespace, sa).await?;
                        }
                    }
                }
                let what = format!("{short} {}", found.kind);
                let spec_pod = p.clone();
                let typed: Pod = match serde_json::from_value(p) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{what}: not a pod: {e}"));
                        continue;
                    }
                };
                match api.create(&dry, &typed).await {
                    Ok(created) => {
                        let created = serde_json::to_value(created)?;
                        // Every container read-only but those that asked for a
                        // writable root explicitly (kept, with a warning).
                        let writable: Vec<String> = container_names(&created)
                            .into_iter()
                            .filter(|n| container(&created, n).is_ok_and(|c| !read_only_root(c)))
                            .filter(|n| {
                                container(&spec_pod, n).map_or(true, |c| {
                                    c["securityContext"]["readOnlyRootFilesystem"] != false
                                })
                            })
                            .collect();
                        if !writable.is_empty() {
                            failures.push(format!("{what}: not hardened: {writable:?}"));
                        }
                    }
                    Err(e) => match plain_api.create(&dry, &typed).await {
                        Err(_) => invalid.push(what),
                        Ok(_) => {
                            failures.push(format!("{what}: valid, refused once hardened: {e}"))
                        }
                    },
                }
            }
        }
    }
    if !invalid.is_empty() {
        eprintln!(
            "e2e: {} corpus pods are invalid as written (refused without the webhook too): {}",
            invalid.len(),
            invalid.join(", ")
        );
    }
    ensure!(
        pods - invalid.len() >= 50,
        "only {} valid pods found in the corpus",
        pods - invalid.len()
    );
    ensure!(
        failures.is_empty(),
        "{} of {pods} corpus pods failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    Ok(())
}

async fn create_account(env: &Env, ns: &str, name: &str) -> Result<()> {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(env.cluster.client.clone(), ns);
    let account = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(a)) if a.code == 409 => Ok(()),
        Err(e) => Err(e).context("create a ServiceAccount"),
    }
}

/// Kinds the bare API server does not serve (no CRDs installed): validated
/// offline by hack/manifests-check instead.
const OFFLINE_GROUPS: &[&str] = &["cert-manager.io/"];

pub(super) async fn every_manifest_applies_server_side(env: Arc<Env>) -> Result<()> {
    // A copy of manifests/, where the self-signed overlay gets its files.
    let tree = env.cluster.work_dir.join("manifests-copy");
    copy_dir(&env.root.join("manifests"), &tree)?;
    let certs = Command::new(&env.bin)
        .args(["certs", "--out-dir"])
        .arg(tree.join("overlays/self-signed"))
        .output()?;
    ensure!(
        certs.status.success(),
        "pod-hardener certs: {}",
        String::from_utf8_lossy(&certs.stderr)
    );
    let mut targets = vec![tree.join("base"), tree.join("rbac")];
    let mut overlays: Vec<PathBuf> = std::fs::read_dir(tree.join("overlays"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    overlays.sort();
    targets.extend(overlays);
    // The webhook's namespace must exist for the namespaced objects' dry run.
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "pod-hardener"}});
    apply(&env, &namespace.to_string())?;
    let mut rendered = Vec::new();
    for target in &targets {
        let (ok, out, err) =
            env.kubectl(&["kustomize", target.to_str().unwrap_or_default()], None)?;
        ensure!(ok, "kubectl kustomize {}: {err}", target.display());
        rendered.push((target.strip_prefix(&tree)?.display().to_string(), out));
    }
    if let Some(chart) = helm_render(&env)? {
        rendered.push(chart);
    }
    let mut applied = Vec::new();
    for (name, yaml) in rendered {
        let mut items = Vec::new();
        let mut offline = 0;
        for doc in serde_yaml::Deserializer::from_str(&yaml) {
            let v = <Value as serde::Deserialize>::deserialize(doc)?;
            if v.is_null() {
                continue;
            }
            let api_version = v["apiVersion"].as_str().unwrap_or_default();
            if OFFLINE_GROUPS.iter().any(|g| api_version.starts_with(g)) {
                offline += 1;
            } else {
                items.push(v);
            }
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        let (ok, _, err) = env.kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--validate=strict",
                "--field-manager=e2e",
                // Other cases store the webhook's ConfigMaps with a
                // client-side apply; this dry run asks only whether the API
                // accepts every field, so it may take them over.
                "--force-conflicts",
                "-f",
                "-",
            ],
            Some(&list.to_string()),
        )?;
        ensure!(ok, "{name}: the API server rejects it: {err}");
        applied.push(format!(
            "{name} ({} objects, {offline} cert-manager offline)",
            items.len()
        ));
    }
    eprintln!("e2e: applied server-side (dry run): {}", applied.join(", "));
    Ok(())
}

/// The Helm chart, rendered, when the repository has one and `hack/helm`
/// provides helm: (name, YAML).
fn helm_render(env: &Env) -> Result<Option<(String, String)>> {
    let chart = env.root.join("charts/pod-hardener");
    let tool = env.root.join("hack/helm");
    if !chart.join("Chart.yaml").is_file() || !tool.is_file() {
        return Ok(None);
    }
    let out = Command::new(&tool).output()?;
    ensure!(
        out.status.success(),
        "hack/helm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let helm = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HELM="))
        .ok_or_else(|| anyhow!("hack/helm printed no HELM=: {stdout}"))?;
    let out = Command::new(helm)
        .args(["template", "pod-hardener", "--namespace", "pod-hardener"])
        .arg(&chart)
        .output()?;
    ensure!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Some((
        "charts/pod-hardener".into(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )))
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
