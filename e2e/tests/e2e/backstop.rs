//! The backstop ValidatingAdmissionPolicy as shipped, judged by the API
//! server itself, against the webhook as shipped, for every setting of the
//! scope ConfigMap that changes what the webhook leaves alone.
//!
//! Per setting: the scope ConfigMap of `manifests/base` with that change; a
//! local webhook whose environment comes from it through the rendered
//! Deployment's `configMapKeyRef`s; the rendered MutatingWebhookConfiguration
//! pointed at that webhook; the rendered policy; and the rendered bindings
//! (Deny from `overlays/backstop-deny`, Warn + Audit from the base) with the
//! ConfigMap as parameter. Each copy only gains a namespace label term (and a
//! URL), so the selectors, expressions and actions under test are the shipped
//! ones. Then for each pod of a table: created through the webhook, it is
//! admitted; created past the webhook (as when it is down), the Deny binding
//! rejects it exactly when the webhook would have set
//! `readOnlyRootFilesystem: true` on some container, naming exactly those
//! containers, and the Warn binding warns exactly then.

use std::collections::BTreeSet;

use super::*;

const WEBHOOK_LABEL: &str = "e2e.pod-hardener.dev/scope-webhook";
const DENY_LABEL: &str = "e2e.pod-hardener.dev/scope-deny";
const WARN_LABEL: &str = "e2e.pod-hardener.dev/scope-warn";
const SCOPE: &str = "pod-hardener-scope";
const NAMESPACE: &str = "pod-hardener";

/// A setting under test: changes to the shipped scope, and the
/// `pod-hardener.dev/mode` label of its namespaces.
struct Setting {
    name: &'static str,
    /// `{namespaces}` in a value becomes the setting's three namespaces.
    changes: &'static [(&'static str, &'static str)],
    namespace_mode: Option<&'static str>,
    /// Whether the backstop rejects a plain nginx pod past the webhook: keeps
    /// the agreement check from passing by never judging anything.
    rejects_plain: bool,
}

const SETTINGS: &[Setting] = &[
    Setting {
        name: "shipped",
        changes: &[],
        namespace_mode: None,
        rejects_plain: true,
    },
    Setting {
        name: "ns-dry-run",
        changes: &[],
        namespace_mode: Some("dry-run"),
        rejects_plain: false,
    },
    Setting {
        name: "ns-off",
        changes: &[],
        namespace_mode: Some("off"),
        rejects_plain: false,
    },
    Setting {
        name: "mode-dry-run",
        changes: &[("mode", "dry-run")],
        namespace_mode: None,
        rejects_plain: false,
    },
    Setting {
        name: "no-opt-out",
        changes: &[("allow_opt_out", "false")],
        namespace_mode: None,
        rejects_plain: true,
    },
    Setting {
        name: "ro-warn",
        changes: &[("read_only_root", "warn")],
        namespace_mode: None,
        rejects_plain: false,
    },
    Setting {
        name: "ro-off",
        changes: &[("read_only_root", "off")],
        namespace_mode: None,
        rejects_plain: false,
    },
    Setting {
        name: "skip-ns",
        changes: &[("skip_namespaces", "[kube-system,pod-hardener,{namespaces}]")],
        namespace_mode: None,
        rejects_plain: false,
    },
    Setting {
        name: "override",
        changes: &[("override_explicit_false", "true")],
        namespace_mode: None,
        rejects_plain: true,
    },
];

/// The pods every setting is tried with: each skip the webhook honours, and
/// what it adds (seed init containers) or must treat like a container
/// (native sidecars).
fn pods() -> Vec<Value> {
    let with = |mut p: Value, pointer: &str, v: Value| {
        if let Some(slot) = p.pointer_mut(pointer) {
            *slot = v;
        }
        p
    };
    let annotated = |name: &str, containers: Value, annotations: Value| {
        let mut p = pod(name, containers);
        p["metadata"]["annotations"] = annotations;
        p
    };
    let nginx = |name: &str| json!({"name": name, "image": "nginx:1.27"});
    vec![
        pod("plain", json!([nginx("web")])),
        pod(
            "already-read-only",
            json!([{"name": "web", "image": "nginx:1.27",
                    "securityContext": {"readOnlyRootFilesystem": true}}]),
        ),
        annotated(
            "opted-out",
            json!([nginx("web")]),
            json!({"pod-hardener.dev/skip": "true"}),
        ),
        annotated(
            "one-container-skipped",
            json!([nginx("web"), {"name": "tool", "image": "busybox:1.36"}]),
            json!({"pod-hardener.dev/skip-containers": " tool"}),
        ),
        // What a kubelet creates for a static pod: bound to its node.
        with(
            annotated(
                "mirror",
                json!([nginx("web")]),
                json!({"kubernetes.io/config.mirror": "a1b2c3"}),
            ),
            "/spec",
            json!({"nodeName": "node-1", "containers": [nginx("web")]}),
        ),
        pod(
            "explicit-false",
            json!([{"name": "web", "image": "nginx:1.27",
                    "securityContext": {"readOnlyRootFilesystem": false}}]),
        ),
        with(
            pod("windows", json!([nginx("web")])),
            "/spec",
            json!({"os": {"name": "windows"}, "containers": [nginx("web")]}),
        ),
        with(
            pod("native-sidecar", json!([nginx("web")])),
            "/spec",
            json!({"initContainers": [
                        {"name": "setup", "image": "busybox:1.36"},
                        {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0",
                         "restartPolicy": "Always"}],
                   "containers": [nginx("web")]}),
        ),
        // Its profile seeds a path: the webhook adds an init container.
        pod(
            "seeded",
            json!([{"name": "search",
                    "image": "docker.elastic.co/elasticsearch/elasticsearch:8.15.0"}]),
        ),
    ]
}

/// Containers of the submitted pod whose root the webhook made read-only.
fn made_read_only(submitted: &Value, admitted: &Value) -> Result<BTreeSet<String>> {
    let mut changed = BTreeSet::new();
    for name in container_names(submitted) {
        let before = read_only_root(container(submitted, &name)?);
        let after = read_only_root(container(admitted, &name)?);
        if after && !before {
            changed.insert(name);
        }
    }
    Ok(changed)
}

/// The containers a backstop message names ("container(s) a, b lack ...").
fn named_in(message: &str) -> BTreeSet<String> {
    message
        .split("container(s) ")
        .nth(1)
        .and_then(|rest| rest.split(" lack").next())
        .map(|list| list.split(", ").map(str::to_string).collect())
        .unwrap_or_default()
}

/// Every document of a kustomize directory, rendered.
fn render(env: &Env, dir: &str) -> Result<Vec<Value>> {
    let path = env.root.join(dir);
    let (ok, out, err) = env.kubectl(&["kustomize", path.to_str().unwrap_or_default()], None)?;
    ensure!(ok, "kubectl kustomize {dir} failed: {err}");
    serde_yaml::Deserializer::from_str(&out)
        .map(|d| Ok(<Value as serde::Deserialize>::deserialize(d)?))
        .filter(|v: &Result<Value>| v.as_ref().map_or(true, |v| !v.is_null()))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Result<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .ok_or_else(|| anyhow!("no {kind} {name} in the rendered manifests"))
}

/// The webhook's environment variables that the rendered Deployment takes
/// from the scope ConfigMap: (variable, key).
fn scope_env(base: &[Value]) -> Result<Vec<(String, String)>> {
    let deployment = find(base, "Deployment", "pod-hardener")?;
    let vars: Vec<(String, String)> = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["valueFrom"]["configMapKeyRef"]["name"] == SCOPE)
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["valueFrom"]["configMapKeyRef"]["key"]
                    .as_str()?
                    .to_string(),
            ))
        })
        .collect();
    ensure!(
        !vars.is_empty(),
        "the Deployment takes nothing from {SCOPE}"
    );
    Ok(vars)
}

/// A copy of the label selector `selector` with one more term: `key In [value]`.
fn narrowed(selector: &Value, key: &str, value: &str) -> Value {
    let mut selector = if selector.is_object() {
        selector.clone()
    } else {
        json!({})
    };
    let term = json!({"key": key, "operator": "In", "values": [value]});
    match selector["matchExpressions"].as_array_mut() {
        Some(terms) => terms.push(term),
        None => selector["matchExpressions"] = json!([term]),
    }
    selector
}

/// One setting's objects and namespaces, created; returns the three
/// namespaces (through the webhook, past it with Deny, past it with Warn).
async fn set_up_setting(
    env: &Env,
    setting: &Setting,
    base: &[Value],
    deny: &[Value],
) -> Result<([String; 3], LocalWebhook)> {
    let mode = setting
        .namespace_mode
        .map(|m| json!({"pod-hardener.dev/mode": m}))
        .unwrap_or_else(|| json!({}));
    let label = |keys: &[&str]| {
        let mut labels = mode.clone();
        for k in keys {
            labels[*k] = json!(setting.name);
        }
        labels
    };
    let case = format!("bs-{}", setting.name);
    let judged = env
        .cluster
        .namespace(&case, label(&[WEBHOOK_LABEL, DENY_LABEL]))
        .await?;
    let bypassed = env.cluster.namespace(&case, label(&[DENY_LABEL])).await?;
    let warned = env.cluster.namespace(&case, label(&[WARN_LABEL])).await?;
    let listed = format!("{judged},{bypassed},{warned}");

    let scope_name = format!("{SCOPE}-e2e-{}", setting.name);
    let mut scope = find(base, "ConfigMap", SCOPE)?.clone();
    for (key, value) in setting.changes {
        ensure!(
            scope["data"].get(*key).is_some(),
            "the shipped scope has no key {key}"
        );
        scope["data"][*key] = json!(value.replace("{namespaces}", &listed));
    }
    scope["metadata"]["name"] = json!(scope_name);
    let vars: Vec<(String, String)> = scope_env(base)?
        .into_iter()
        .map(|(var, key)| {
            let value = scope["data"][&key].as_str().unwrap_or_default().to_string();
            (var, value)
        })
        .collect();
    let cert = env
        .cert
        .as_ref()
        .ok_or_else(|| anyhow!("local mode only"))?;
    let webhook = {
        let mut processes = env.extra.lock().map_err(|_| anyhow!("poisoned"))?;
        LocalWebhook::start_in(
            &env.cluster.work_dir,
            &mut processes,
            &env.bin,
            &format!("pod-hardener-{}", setting.name),
            "log:\n  format: json\n",
            &vars,
            cert,
        )?
    };

    let mut mwc = find(base, "MutatingWebhookConfiguration", "pod-hardener")?.clone();
    mwc["metadata"] = json!({"name": format!("pod-hardener-e2e-{}", setting.name)});
    for hook in mwc["webhooks"].as_array_mut().into_iter().flatten() {
        let path = hook["clientConfig"]["service"]["path"]
            .as_str()
            .unwrap_or("/mutate")
            .to_string();
        hook["clientConfig"] = json!({"url": webhook.url(&path), "caBundle": cert.ca_bundle()});
        hook["namespaceSelector"] =
            narrowed(&hook["namespaceSelector"], WEBHOOK_LABEL, setting.name);
    }
    let binding = |from: &[Value], label: &str, suffix: &str| -> Result<Value> {
        let mut b = find(from, "ValidatingAdmissionPolicyBinding", super::BACKSTOP)?.clone();
        b["metadata"] =
            json!({"name": format!("{}-e2e-{suffix}-{}", super::BACKSTOP, setting.name)});
        b["spec"]["paramRef"]["name"] = json!(scope_name);
        b["spec"]["matchResources"] = json!({"namespaceSelector": narrowed(
            &b["spec"]["matchResources"]["namespaceSelector"], label, setting.name)});
        Ok(b)
    };
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        scope, mwc, binding(deny, DENY_LABEL, "deny")?, binding(base, WARN_LABEL, "warn")?]});
    apply(env, &objects.to_string()).with_context(|| format!("setting {}", setting.name))?;
    Ok(([judged, bypassed, warned], webhook))
}

/// Creates `pod` in `ns`: Ok(admitted pod) or Err(the refusal's text).
async fn try_create(
    env: &Env,
    ns: &str,
    pod: &Value,
) -> Result<std::result::Result<Value, String>> {
    let api: Api<Pod> = Api::namespaced(env.cluster.client.clone(), ns);
    let typed: Pod = serde_json::from_value(pod.clone())?;
    Ok(match api.create(&PostParams::default(), &typed).await {
        Ok(p) => Ok(serde_json::to_value(p)?),
        Err(kube::Error::Api(e)) => Err(e.message),
        Err(e) => return Err(e).context("create pod"),
    })
}

/// Waits until the API server runs this setting's webhook and bindings:
/// configurations and policies reach the admission chain a moment after
/// they are stored. A plain pod is the probe (dry run, nothing stored).
async fn wait_until_judged(env: &Env, setting: &Setting, ns: &[String; 3]) -> Result<()> {
    debug_assert!(setting.rejects_plain);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let served = match probe(env, &ns[0]).await? {
            Some(p) => read_only_root(container(&p, "probe")?),
            None => false,
        };
        let judged = probe(env, &ns[1]).await?.is_none();
        if served && judged {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "setting {}: webhook or backstop binding not in force after 30 s",
        setting.name
    )
}

pub(super) async fn backstop_agrees_with_the_webhook_for_every_setting(
    env: Arc<Env>,
) -> Result<()> {
    if !env.local {
        return Err(skip("needs webhooks of its own; runs in local mode only"));
    }
    super::require_admission_policies(&env).await?;
    let base = render(&env, "manifests/base")?;
    let deny = render(&env, "manifests/overlays/backstop-deny")?;
    // The policy and the webhook's namespace (for the scope ConfigMaps) as shipped.
    let shipped = json!({"apiVersion": "v1", "kind": "List", "items": [
        find(&base, "Namespace", NAMESPACE)?, find(&base, "ValidatingAdmissionPolicy", super::BACKSTOP)?]});
    apply(&env, &shipped.to_string()).context("the backstop policy")?;

    let (mut namespaces, mut webhooks) = (Vec::new(), Vec::new());
    for setting in SETTINGS {
        let (ns, webhook) = set_up_setting(&env, setting, &base, &deny).await?;
        namespaces.push(ns);
        webhooks.push(webhook);
    }
    // Webhook configurations and bindings reach the admission chain in the
    // order they were stored: once the last setting that rejects something
    // is in force, so is every setting before it (those that reject nothing
    // cannot show it themselves).
    for (setting, ns) in SETTINGS.iter().zip(&namespaces) {
        if setting.rejects_plain {
            wait_until_judged(&env, setting, ns).await?;
        }
    }
    ensure!(
        SETTINGS.last().is_some_and(|s| s.rejects_plain),
        "the last setting must reject something (see above)"
    );

    let mut failures = Vec::new();
    let mut rejected = 0;
    for ((setting, ns), webhook) in SETTINGS.iter().zip(&namespaces).zip(&webhooks) {
        let reviews_before = webhook.reviews()?;
        let mut sent = 0;
        for submitted in pods() {
            // What the shipped matchConditions keep from the webhook.
            let annotations = &submitted["metadata"]["annotations"];
            if annotations.get("kubernetes.io/config.mirror").is_none()
                && submitted["spec"]["os"]["name"] != "windows"
            {
                sent += 1;
            }
            let name = submitted["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let what = format!("setting {} pod {name}", setting.name);
            let admitted = match try_create(&env, &ns[0], &submitted).await? {
                Ok(p) => p,
                Err(refusal) => {
                    failures.push(format!("{what}: refused through the webhook: {refusal}"));
                    continue;
                }
            };
            let hardened = made_read_only(&submitted, &admitted)?;
            // A container the webhook adds (a seed init container) gets the
            // token mount from the in-tree ServiceAccount plugin afterwards,
            // which re-invokes the webhook (reinvocationPolicy IfNeeded).
            if container_names(&admitted).len() > container_names(&submitted).len() {
                sent += 1;
            }
            match try_create(&env, &ns[1], &submitted).await? {
                Ok(_) if hardened.is_empty() => {}
                Ok(_) => failures.push(format!(
                    "{what}: the webhook hardens {hardened:?} but the backstop admits it unhardened"
                )),
                Err(refusal) if hardened.is_empty() => failures.push(format!(
                    "{what}: the webhook leaves it alone but the backstop refuses it: {refusal}"
                )),
                Err(refusal) => {
                    rejected += 1;
                    let named = named_in(&refusal);
                    if named != hardened {
                        failures.push(format!(
                            "{what}: the backstop names {named:?}, the webhook hardens {hardened:?}"
                        ));
                    }
                }
            }
            if name == "plain" && setting.rejects_plain == hardened.is_empty() {
                failures.push(format!(
                    "{what}: expected the webhook {} it",
                    if setting.rejects_plain {
                        "to harden"
                    } else {
                        "to leave alone"
                    }
                ));
            }
            let manifest = serde_json::to_string(&submitted)?;
            let (ok, _, stderr) = env.kubectl(
                &["create", "-n", &ns[2], "-f", "-", "-o", "name"],
                Some(&manifest),
            )?;
            let warned = stderr.contains("pod-hardener backstop");
            if !ok || warned == hardened.is_empty() {
                failures.push(format!(
                    "{what}: with the Warn binding: created {ok}, warned {warned}, webhook hardens {hardened:?}:\n{stderr}"
                ));
            }
        }
        // One review per pod created through the webhook (two when it was
        // re-invoked), none for the pods the matchConditions keep away, none
        // at all where mode=off.
        let reviews = webhook.reviews()? - reviews_before;
        let expected = if setting.namespace_mode == Some("off") {
            0
        } else {
            sent
        };
        if reviews != expected {
            failures.push(format!(
                "setting {}: the webhook reviewed {reviews} pods, expected {expected}",
                setting.name
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} failures:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    ensure!(rejected > 0, "the backstop never rejected anything");
    Ok(())
}
