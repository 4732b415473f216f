//! Cluster I/O for `audit` and `doctor`: the only module that talks to the
//! Kubernetes API. It fetches JSON and hands it to the pure `audit` and
//! `doctor` modules; the webhook (`server`) never uses it, so the webhook
//! still needs no RBAC at all.
//!
//! Every call is a read (get, list, log). Lists are paged (`limit` +
//! `continue`) so that large clusters do not need one huge response, and a
//! list the caller may not make is reported (which resource, which verb, which
//! namespace, what to grant) while the others go on.
//!
//! End-to-end tests call `list_workloads`, `webhook_settings` and
//! `pod_evidence` with a `kube::Client` of their own.

use std::future::Future;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::Value;

use crate::doctor::{ContainerInput, Evidence};

/// Items per list call.
pub(crate) const PAGE_SIZE: u32 = 500;
/// The ConfigMap holding the webhook's `config.yaml`.
pub const CONFIG_MAP: &str = "pod-hardener-config";
/// The key of the configuration in `CONFIG_MAP`.
pub const CONFIG_KEY: &str = "config.yaml";
/// The ConfigMap whose `*.yaml` keys are profile files.
pub(crate) const PROFILES_MAP: &str = "pod-hardener-profiles";
/// Where the RBAC that audit and doctor need is written down.
pub(crate) const RBAC_FILE: &str = "manifests/rbac/audit-clusterrole.yaml";

/// A namespaced resource that holds pod templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub kind: &'static str,
    /// `""` for the core group.
    pub group: &'static str,
    /// Tried in order: the first one the server serves is used
    /// (`batch/v1beta1` CronJobs on servers older than 1.21).
    pub versions: &'static [&'static str],
    pub plural: &'static str,
}

impl Resource {
    /// `deployments.apps`, `pods`: how kubectl and RBAC errors name it.
    pub fn name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }
}

/// What `audit` lists, in this order.
pub(crate) const WORKLOAD_RESOURCES: [Resource; 8] = [
    Resource {
        kind: "Deployment",
        group: "apps",
        versions: &["v1"],
        plural: "deployments",
    },
    Resource {
        kind: "StatefulSet",
        group: "apps",
        versions: &["v1"],
        plural: "statefulsets",
    },
    Resource {
        kind: "DaemonSet",
        group: "apps",
        versions: &["v1"],
        plural: "daemonsets",
    },
    Resource {
        kind: "CronJob",
        group: "batch",
        versions: &["v1", "v1beta1"],
        plural: "cronjobs",
    },
    Resource {
        kind: "Job",
        group: "batch",
        versions: &["v1"],
        plural: "jobs",
    },
    Resource {
        kind: "ReplicaSet",
        group: "apps",
        versions: &["v1"],
        plural: "replicasets",
    },
    Resource {
        kind: "ReplicationController",
        group: "",
        versions: &["v1"],
        plural: "replicationcontrollers",
    },
    Resource {
        kind: "Pod",
        group: "",
        versions: &["v1"],
        plural: "pods",
    },
];

/// An API call that failed: the HTTP status when the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub code: Option<u16>,
    pub reason: String,
    pub message: String,
}

impl From<&kube::Error> for ApiFailure {
    fn from(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => ApiFailure {
                code: Some(status.code),
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => ApiFailure {
                code: None,
                reason: String::new(),
                message: other.to_string(),
            },
        }
    }
}

impl From<kube::Error> for ApiFailure {
    fn from(e: kube::Error) -> Self {
        ApiFailure::from(&e)
    }
}

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A call the API server refused or did not answer; the message says
    /// what to grant for a 403.
    #[error("{}", describe_failure(.failure, .verb, .resource, .namespace.as_deref()))]
    Api {
        failure: ApiFailure,
        verb: &'static str,
        resource: Resource,
        namespace: Option<String>,
    },
    #[error("ConfigMap {namespace}/{CONFIG_MAP} not found: is pod-hardener installed in namespace {namespace}?")]
    NoConfigMap { namespace: String },
    #[error("pod {namespace}/{pod} not found")]
    NoPod { namespace: String, pod: String },
}

impl ClusterError {
    fn api(
        failure: ApiFailure,
        verb: &'static str,
        resource: &Resource,
        namespace: Option<&str>,
    ) -> Self {
        ClusterError::Api {
            failure,
            verb,
            resource: *resource,
            namespace: namespace.map(str::to_string),
        }
    }
}

/// Says what failed and what to do: for a 403, the verb, resource and
/// namespace to grant.
pub(crate) fn describe_failure(
    failure: &ApiFailure,
    verb: &str,
    resource: &Resource,
    namespace: Option<&str>,
) -> String {
    let place = match namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in all namespaces (cluster scope)".to_string(),
    };
    let what = resource.name();
    match failure.code {
        Some(403) => format!(
            "forbidden: cannot {verb} {what} {place}: grant verb {verb:?} on resource {:?} in API group {:?} (ClusterRole in {RBAC_FILE})",
            resource.plural,
            resource.group,
        ),
        Some(401) => format!(
            "unauthorized: the API server rejected the credentials while trying to {verb} {what} {place}"
        ),
        Some(404) => format!("{what} is not served by this API server ({verb} {place})"),
        Some(code) => format!(
            "cannot {verb} {what} {place}: HTTP {code} {}: {}",
            failure.reason, failure.message
        ),
        None => format!("cannot {verb} {what} {place}: {}", failure.message),
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Page {
    pub items: Vec<Value>,
    /// The `continue` token for the next page; `None` (or empty) on the last.
    pub next: Option<String>,
}

/// Calls `fetch` with each `continue` token until the last page, and joins
/// the items. `on_page` hears the running count (for progress on stderr).
pub(crate) async fn paginate<F, Fut>(
    mut fetch: F,
    mut on_page: impl FnMut(usize),
) -> Result<Vec<Value>, ApiFailure>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page, ApiFailure>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = fetch(token.clone()).await?;
        items.extend(page.items);
        on_page(items.len());
        match page.next.filter(|t| !t.is_empty()) {
            None => return Ok(items),
            Some(next) if Some(&next) == token.as_ref() => {
                return Err(ApiFailure {
                    code: None,
                    reason: "RepeatedContinue".into(),
                    message:
                        "the API server returned the same continue token twice; stopped paging"
                            .into(),
                })
            }
            Some(next) => token = Some(next),
        }
    }
}

fn api_for(
    client: &Client,
    resource: &Resource,
    version: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(resource.group, version, resource.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, resource.plural);
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Lists one resource, paged, every item as JSON with its `kind` and
/// `apiVersion` set (list items come without them).
pub(crate) async fn list_resource(
    client: &Client,
    resource: &Resource,
    namespace: Option<&str>,
    label_selector: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Value>, ClusterError> {
    let mut last = None;
    for version in resource.versions {
        let api = api_for(client, resource, version, namespace);
        let api_version = resource.api_version(version);
        let name = resource.name();
        let result = paginate(
            |token| {
                let api = api.clone();
                let mut lp = ListParams::default().limit(PAGE_SIZE);
                if let Some(sel) = label_selector {
                    lp = lp.labels(sel);
                }
                if let Some(t) = token {
                    lp = lp.continue_token(&t);
                }
                async move {
                    let list = api.list(&lp).await?;
                    let items = list
                        .items
                        .into_iter()
                        .map(|o| serde_json::to_value(o).expect("objects serialise"))
                        .collect();
                    Ok(Page {
                        items,
                        next: list.metadata.continue_,
                    })
                }
            },
            |n| {
                if n >= PAGE_SIZE as usize {
                    progress(&format!("{n} {name} so far"));
                }
            },
        )
        .await;
        match result {
            Ok(mut items) => {
                for item in &mut items {
                    if let Some(obj) = item.as_object_mut() {
                        obj.insert("kind".into(), resource.kind.into());
                        obj.insert("apiVersion".into(), api_version.clone().into());
                    }
                }
                return Ok(items);
            }
            Err(f) if f.code == Some(404) => last = Some(f),
            Err(f) => return Err(ClusterError::api(f, "list", resource, namespace)),
        }
    }
    Err(ClusterError::api(
        last.expect("at least one version"),
        "list",
        resource,
        namespace,
    ))
}

/// Every listed workload, and one error per list that failed.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub objects: Vec<Value>,
    pub errors: Vec<String>,
}

/// Lists every workload kind of `WORKLOAD_RESOURCES` in `namespace` (all
/// when `None`), filtered by a label selector. A failed list (RBAC, a kind the
/// server does not serve) becomes an error in the listing; the rest go on.
pub async fn list_workloads(
    client: &Client,
    namespace: Option<&str>,
    label_selector: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Listing {
    let mut listing = Listing::default();
    for resource in &WORKLOAD_RESOURCES {
        match list_resource(client, resource, namespace, label_selector, progress).await {
            Ok(items) => {
                progress(&format!("{} {}", items.len(), resource.name()));
                listing.objects.extend(items);
            }
            Err(e) => {
                let e = e.to_string();
                progress(&format!("error: {e}"));
                listing.errors.push(e);
            }
        }
    }
    listing
}

/// The webhook's configuration and profile files as its ConfigMaps hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `config.yaml` of `CONFIG_MAP`.
    pub config: Option<String>,
    /// `(ConfigMap/key, text)` of every `*.yaml` key of `PROFILES_MAP`, by key.
    pub profiles: Vec<(String, String)>,
    /// What was missing, for the user to know.
    pub notes: Vec<String>,
}

/// The profile files of a ConfigMap's data: every key ending in `.yaml`, in
/// key order, named `namespace/configmap/key` for error messages.
pub fn profile_files(
    namespace: &str,
    data: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    data.iter()
        .filter(|(k, _)| k.ends_with(".yaml"))
        .map(|(k, v)| (format!("{namespace}/{PROFILES_MAP}/{k}"), v.clone()))
        .collect()
}

/// Reads the webhook's ConfigMaps from `namespace`. A missing profiles map
/// means no user profiles; a missing configuration map is an error, since it
/// most likely means the wrong namespace.
pub async fn webhook_settings(
    client: &Client,
    namespace: &str,
) -> Result<WebhookSettings, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let configmaps = Resource {
        kind: "ConfigMap",
        group: "",
        versions: &["v1"],
        plural: "configmaps",
    };
    let mut settings = WebhookSettings::default();
    match api.get(CONFIG_MAP).await {
        Ok(cm) => {
            let data = cm.data.unwrap_or_default();
            match data.get(CONFIG_KEY) {
                Some(text) => settings.config = Some(text.clone()),
                None => settings.notes.push(format!(
                    "ConfigMap {namespace}/{CONFIG_MAP} has no key {CONFIG_KEY}: built-in defaults used"
                )),
            }
        }
        Err(e) => {
            let f = ApiFailure::from(&e);
            return Err(if f.code == Some(404) {
                ClusterError::NoConfigMap {
                    namespace: namespace.to_string(),
                }
            } else {
                ClusterError::api(f, "get", &configmaps, Some(namespace))
            });
        }
    }
    match api.get(PROFILES_MAP).await {
        Ok(cm) => settings.profiles = profile_files(namespace, &cm.data.unwrap_or_default()),
        Err(e) => {
            let f = ApiFailure::from(&e);
            if f.code == Some(404) {
                settings.notes.push(format!(
                    "ConfigMap {namespace}/{PROFILES_MAP} not found: no user profiles"
                ));
            } else {
                return Err(ClusterError::api(f, "get", &configmaps, Some(namespace)));
            }
        }
    }
    Ok(settings)
}

/// The containers of a pod (init containers first) with what the pod's
/// status already says: each termination message, current and last.
pub(crate) fn containers_of_pod(pod: &Value) -> Vec<ContainerInput> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let status = pod.get("status").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    for (list, statuses) in [
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
    ] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut input = ContainerInput {
                name: name.clone(),
                image: c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                workdir: c
                    .get("workingDir")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                evidence: Vec::new(),
            };
            let status = status
                .get(statuses)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(name.as_str()));
            for (pointer, source) in [
                ("/lastState/terminated/message", "last termination message"),
                ("/state/terminated/message", "termination message"),
            ] {
                if let Some(text) = status
                    .and_then(|s| s.pointer(pointer))
                    .and_then(Value::as_str)
                {
                    input.evidence.push(Evidence {
                        source: source.into(),
                        text: text.to_string(),
                    });
                }
            }
            out.push(input);
        }
    }
    out
}

/// Adds the pod's events to the containers they name (`involvedObject.fieldPath`
/// `spec.containers{name}`), or to every container when they name none.
pub(crate) fn attach_events(containers: &mut [ContainerInput], events: &[Value]) {
    for e in events {
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        if message.is_empty() {
            continue;
        }
        let field = e
            .pointer("/involvedObject/fieldPath")
            .and_then(Value::as_str)
            .unwrap_or("");
        let named = field
            .split_once('{')
            .and_then(|(_, rest)| rest.strip_suffix('}'));
        let reason = e.get("reason").and_then(Value::as_str).unwrap_or("event");
        for c in containers.iter_mut() {
            if named.is_none_or(|n| n == c.name) {
                c.evidence.push(Evidence {
                    source: format!("event {reason}"),
                    text: message.to_string(),
                });
            }
        }
    }
}

/// A pod as read for `doctor`.
#[derive(Debug, Clone)]
pub struct PodEvidence {
    pub pod: Value,
    /// Each container with its termination messages, logs and events.
    pub containers: Vec<ContainerInput>,
    /// What could not be read (events the caller may not list, ...).
    pub notes: Vec<String>,
}

/// Reads a pod, its containers' termination messages, the previous and
/// current logs of each container (a missing log is skipped), and its events.
pub async fn pod_evidence(
    client: &Client,
    namespace: &str,
    pod: &str,
) -> Result<PodEvidence, ClusterError> {
    let pods_resource = WORKLOAD_RESOURCES[7];
    let dynamic = api_for(client, &pods_resource, "v1", Some(namespace));
    let object = dynamic.get(pod).await.map_err(|e| {
        let f = ApiFailure::from(&e);
        if f.code == Some(404) {
            ClusterError::NoPod {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
            }
        } else {
            ClusterError::api(f, "get", &pods_resource, Some(namespace))
        }
    })?;
    let object = serde_json::to_value(object).expect("objects serialise");
    let mut containers = containers_of_pod(&object);

    let typed: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for c in containers.iter_mut() {
        for (previous, source) in [(true, "previous log"), (false, "log")] {
            let lp = LogParams {
                container: Some(c.name.clone()),
                previous,
                tail_lines: Some(2000),
                ..LogParams::default()
            };
            // No previous instance, or a container that never started: nothing to read.
            if let Ok(text) = typed.logs(pod, &lp).await {
                c.evidence.push(Evidence {
                    source: source.into(),
                    text,
                });
            }
        }
    }

    let events_resource = Resource {
        kind: "Event",
        group: "",
        versions: &["v1"],
        plural: "events",
    };
    let events_api = api_for(client, &events_resource, "v1", Some(namespace));
    let events = paginate(
        |token| {
            let api = events_api.clone();
            let mut lp = ListParams::default()
                .limit(PAGE_SIZE)
                .fields(&format!("involvedObject.name={pod}"));
            if let Some(t) = token {
                lp = lp.continue_token(&t);
            }
            async move {
                let list = api.list(&lp).await?;
                Ok(Page {
                    items: list
                        .items
                        .into_iter()
                        .map(|o| serde_json::to_value(o).expect("objects serialise"))
                        .collect(),
                    next: list.metadata.continue_,
                })
            }
        },
        |_| {},
    )
    .await;
    let mut notes = Vec::new();
    match events {
        Ok(events) => attach_events(&mut containers, &events),
        // Events help but are not essential: say so and go on.
        Err(f) => notes.push(describe_failure(
            &f,
            "list",
            &events_resource,
            Some(namespace),
        )),
    }
    Ok(PodEvidence {
        pod: object,
        containers,
        notes,
    })
}

#[cfg(test)]
mod tests;
