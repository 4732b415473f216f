//! The webhook's own ConfigMaps are checked at `/validate-config` before the
//! API server stores them: a bad configuration, profile file or scope value
//! is refused with its line and fix; a good one is stored.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

use crate::{skip, Env, VARIANT_LABEL};

/// The variant label of the namespace whose ConfigMaps this case's
/// ValidatingWebhookConfiguration sends to the webhook.
const VARIANT: &str = "own-config";

fn configmap(name: &str, data: Value) -> Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )?)
}

pub async fn the_webhooks_own_configmaps_are_checked_before_they_are_stored(
    env: std::sync::Arc<Env>,
) -> Result<()> {
    let (Some(enforce), Some(cert)) = (env.enforce.as_ref(), env.cert.as_ref()) else {
        return Err(skip(
            "registers a webhook of its own; runs in local mode only",
        ));
    };
    let ns = env.namespace("own-config", VARIANT).await?;
    let manifest = std::fs::read_to_string(
        env.root
            .join("manifests/base/validatingwebhookconfiguration.yaml"),
    )?;
    let shipped: Value = serde_yaml::from_str(&manifest)?;
    // The shipped entry (rules, matchConditions, failurePolicy), pointed at
    // the local webhook and scoped to this case's namespace.
    let mut entry = shipped["webhooks"][0].clone();
    entry["clientConfig"] =
        json!({"url": enforce.url("/validate-config"), "caBundle": cert.ca_bundle()});
    entry["namespaceSelector"] = json!({"matchLabels": {VARIANT_LABEL: VARIANT}});
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "pod-hardener-config-e2e"},
        "webhooks": [entry],
    }))?;
    Api::<ValidatingWebhookConfiguration>::all(env.cluster.client.clone())
        .create(&PostParams::default(), &config)
        .await
        .context("register the config-validating webhook")?;
    let api: Api<ConfigMap> = Api::namespaced(env.cluster.client.clone(), &ns);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };

    // Wait until the configuration reaches the admission chain: a bad scope
    // is refused once it has.
    let bad_scope = configmap("pod-hardener-scope", json!({"mode": "sometimes"}))?;
    let start = Instant::now();
    let refusal = loop {
        match api.create(&dry, &bad_scope).await {
            Err(kube::Error::Api(e)) => break e.message,
            Err(e) => return Err(e.into()),
            Ok(_) if start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            Ok(_) => bail!("a scope with mode: sometimes was still accepted after 30 s"),
        }
    };
    ensure!(
        refusal.contains("would not load in pod-hardener") && refusal.contains("sometimes"),
        "{refusal}"
    );

    let bad_profiles = configmap(
        "pod-hardener-profiles",
        json!({"profiles.yaml": "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths: [relative/path]\n"}),
    )?;
    match api.create(&dry, &bad_profiles).await {
        Err(kube::Error::Api(e)) => ensure!(
            e.message.contains("profiles.yaml:6") && e.message.contains("relative/path"),
            "{}",
            e.message
        ),
        other => bail!("a bad profile file was not refused: {other:?}"),
    }
    let bad_config = configmap(
        "pod-hardener-config",
        json!({"config.yaml": "rules:\n  secret_mounts: sometimes\n"}),
    )?;
    ensure!(
        api.create(&dry, &bad_config).await.is_err(),
        "a bad config.yaml was not refused"
    );

    // What manifests/ ships is stored, and another ConfigMap is not looked at.
    let scope: Value = serde_yaml::from_str(&std::fs::read_to_string(
        env.root.join("manifests/base/scope.yaml"),
    )?)?;
    api.create(
        &PostParams::default(),
        &configmap("pod-hardener-scope", scope["data"].clone())?,
    )
    .await
    .context("the shipped scope was refused")?;
    api.create(
        &dry,
        &configmap("someone-elses", json!({"config.yaml": "mode: sometimes"}))?,
    )
    .await
    .context("a ConfigMap of another name was refused")?;
    Ok(())
}
