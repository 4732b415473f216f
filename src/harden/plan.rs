//! Pod + profiles + options -> `Plan`: every change the engine will make, each
//! with its rule and a human reason, and the warnings a user should see.
//!
//! The plan works on the pod JSON exactly as it was sent, so that fields this
//! crate does not model survive, and indices in the plan point into that JSON.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::names::{seed_container_name, volume_name, SEED_CONTAINER_PREFIX};
use super::options::{Options, RuleMode};
use crate::profile::model::{Medium, SecretMounts, WritablePathSpec};
use crate::profile::validate::path_problem;
use crate::profile::{Catalog, Resolution};

pub const ANNOTATION_PREFIX: &str = "pod-hardener.dev/";
pub const SKIP_ANNOTATION: &str = "pod-hardener.dev/skip";
pub const SKIP_CONTAINERS_ANNOTATION: &str = "pod-hardener.dev/skip-containers";
pub const WRITABLE_PATHS_ANNOTATION: &str = "pod-hardener.dev/writable-paths.";
pub const PROFILE_ANNOTATION: &str = "pod-hardener.dev/profile.";
pub const APPLIED_ANNOTATION: &str = "pod-hardener.dev/applied";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Longest warning we emit; the API server truncates at 256.
pub const MAX_WARNING: usize = 119;

/// The three rules, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    SecretMounts,
    WritablePaths,
    ReadOnlyRoot,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SecretMounts => "secret-mounts",
            Rule::WritablePaths => "writable-paths",
            Rule::ReadOnlyRoot => "read-only-root",
        }
    }
}

/// Which container list, as named in the pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ContainerList {
    #[serde(rename = "initContainers")]
    Init,
    #[serde(rename = "containers")]
    App,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Init => "initContainers",
            ContainerList::App => "containers",
        }
    }
}

/// A container by its place in the pod spec as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    pub list: ContainerList,
    pub index: usize,
}

/// One edit to the pod, expressed against the JSON the API server sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    /// `securityContext.readOnlyRootFilesystem: true`.
    SetReadOnlyRoot { container: ContainerRef },
    /// A pod volume (always an `emptyDir` we name).
    AddVolume { volume: Value },
    /// A new mount in a container.
    AddMount {
        container: ContainerRef,
        mount: Value,
    },
    /// An existing mount's `mountPath` changes.
    MoveMount {
        container: ContainerRef,
        mount_index: usize,
        from: String,
        to: String,
    },
    /// An existing mount gets `readOnly: true`.
    MakeMountReadOnly {
        container: ContainerRef,
        mount_index: usize,
    },
    /// A seed init container, appended to `initContainers`.
    AddInitContainer { init_container: Value },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub rule: Rule,
    pub container: String,
    pub action: Action,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub message: String,
}

/// How one container was treated, for reports and `--output json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    pub list: ContainerList,
    pub image: String,
    pub profile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Everything the engine decided for one pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Set when the whole pod is left alone, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    pub containers: Vec<ContainerReport>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Changes per rule, for metrics.
    pub fn count(&self, rule: Rule) -> usize {
        self.changes.iter().filter(|c| c.rule == rule).count()
    }
}

/// A pod (or pod template): its metadata and spec, as sent.
#[derive(Debug, Clone, Copy)]
pub struct PodRef<'a> {
    /// `Value::Null` when a template has no metadata.
    pub metadata: &'a Value,
    pub spec: &'a Value,
    /// Names that are volumes without being in `spec.volumes` (a StatefulSet's
    /// claim templates).
    pub claim_names: &'a [String],
}

impl<'a> PodRef<'a> {
    fn annotation(&self, key: &str) -> Option<&'a str> {
        self.metadata.get("annotations")?.get(key)?.as_str()
    }
}

/// A mount as the rules see it while they run: where it is now, and what backs it.
#[derive(Debug, Clone)]
struct MountState {
    /// Index in the container's `volumeMounts` as sent; `None` for mounts we add.
    index: Option<usize>,
    path: String,
    secret: bool,
    writable: bool,
    sub_path: bool,
}

/// What the pod's volumes are, by name.
struct VolumeKinds<'a> {
    volumes: &'a [Value],
}

impl VolumeKinds<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.volumes
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
    }

    /// A `secret` volume, or a `projected` one with a `secret` source (the
    /// service-account token volume has none).
    fn is_secret(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            v.get("secret").is_some()
                || v.get("projected")
                    .and_then(|p| p.get("sources"))
                    .and_then(Value::as_array)
                    .is_some_and(|s| s.iter().any(|src| src.get("secret").is_some()))
        })
    }

    /// Volumes that the kubelet always mounts read-only.
    fn is_read_only_kind(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            ["secret", "configMap", "projected", "downwardAPI"]
                .iter()
                .any(|k| v.get(*k).is_some())
        })
    }
}

/// `path` is `dir` or inside it.
pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Mount paths compare without a trailing slash.
fn clean_path(p: &str) -> String {
    if p.len() > 1 {
        p.trim_end_matches('/').to_string()
    } else {
        p.to_string()
    }
}

fn short(message: String) -> String {
    if message.len() <= MAX_WARNING {
        return message;
    }
    let mut cut = MAX_WARNING - 3;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &message[..cut])
}

/// Decides every change for one pod.
pub fn plan(pod: PodRef<'_>, catalog: &Catalog, options: &Options) -> Plan {
    let mut plan = Plan::default();
    if options.allow_opt_out && pod.annotation(SKIP_ANNOTATION) == Some("true") {
        plan.skipped = Some(format!("opted out by annotation {SKIP_ANNOTATION}"));
        return plan;
    }
    if pod.annotation(MIRROR_ANNOTATION).is_some() {
        plan.skipped = Some("mirror pod (static pods cannot be changed)".into());
        return plan;
    }
    if pod.spec.pointer("/os/name").and_then(Value::as_str) == Some("windows") {
        plan.skipped = Some("Windows pod (no read-only root filesystem on Windows)".into());
        return plan;
    }

    let skip_containers: HashSet<&str> = match pod.annotation(SKIP_CONTAINERS_ANNOTATION) {
        Some(list) if options.allow_opt_out => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        Some(_) => {
            plan.warnings.push(Warning {
                container: None,
                message: format!(
                    "{SKIP_CONTAINERS_ANNOTATION} ignored: opt-out is not allowed here"
                ),
            });
            HashSet::new()
        }
        None => HashSet::new(),
    };

    let empty = Vec::new();
    let volumes = VolumeKinds {
        volumes: pod
            .spec
            .get("volumes")
            .and_then(Value::as_array)
            .unwrap_or(&empty),
    };
    let mut volume_names: HashSet<String> = volumes
        .volumes
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .chain(pod.claim_names.iter().cloned())
        .collect();
    let mut container_names: HashSet<String> =
        ["initContainers", "containers", "ephemeralContainers"]
            .iter()
            .filter_map(|f| pod.spec.get(*f).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();

    let mut ctx = Ctx {
        plan: &mut plan,
        catalog,
        options,
        volumes: &volumes,
        volume_names: &mut volume_names,
        container_names: &mut container_names,
        pod,
    };
    for list in [ContainerList::Init, ContainerList::App] {
        let containers = pod.spec.get(list.field()).and_then(Value::as_array);
        for (index, container) in containers.into_iter().flatten().enumerate() {
            let at = ContainerRef { list, index };
            ctx.container(at, container, &skip_containers);
        }
    }
    plan
}

struct Ctx<'a, 'p> {
    plan: &'a mut Plan,
    catalog: &'a Catalog,
    options: &'a Options,
    volumes: &'a VolumeKinds<'p>,
    volume_names: &'a mut HashSet<String>,
    container_names: &'a mut HashSet<String>,
    pod: PodRef<'p>,
}

impl<'a> Ctx<'a, '_> {
    /// Records a warning; a long container name is abbreviated first so that
    /// the path at the end of the message survives the length limit.
    fn warn(&mut self, container: &str, message: String) {
        let quoted = format!("{container:?}");
        let message = if message.len() > MAX_WARNING && quoted.len() > 20 {
            let head: String = container.chars().take(16).collect();
            message.replacen(&quoted, &format!("\"{head}...\""), 1)
        } else {
            message
        };
        self.plan.warnings.push(Warning {
            container: Some(container.to_string()),
            message: short(message),
        });
    }

    fn change(&mut self, rule: Rule, container: &str, action: Action, reason: String) {
        self.plan.changes.push(Change {
            rule,
            container: container.to_string(),
            action,
            reason,
        });
    }

    /// The profile for a container: the annotation's choice when allowed, else by image.
    fn resolve(&mut self, name: &str, image: &str) -> Resolution<'a> {
        let catalog: &'a Catalog = self.catalog;
        let key = format!("{PROFILE_ANNOTATION}{name}");
        let pod = self.pod;
        if let Some(wanted) = pod.annotation(&key) {
            if !self.options.allow_annotation_tuning {
                self.warn(
                    name,
                    format!("{key} ignored: annotation tuning is not allowed here"),
                );
            } else if let Some(r) = catalog.by_name(wanted) {
                return r;
            } else {
                self.warn(
                    name,
                    format!("container {name:?}: unknown profile {wanted:?}; matching by image"),
                );
            }
        }
        catalog.resolve(image)
    }

    fn container(&mut self, at: ContainerRef, c: &Value, skip: &HashSet<&str>) {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let image = c
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let resolution = self.resolve(&name, &image);
        let mut report = ContainerReport {
            name: name.clone(),
            list: at.list,
            image: image.clone(),
            profile: resolution.name().to_string(),
            matched_by: resolution.pattern.map(|p| p.source.clone()),
            skipped: None,
        };
        if skip.contains(name.as_str()) {
            report.skipped = Some(format!("listed in {SKIP_CONTAINERS_ANNOTATION}"));
            self.plan.containers.push(report);
            return;
        }
        if at.list == ContainerList::Init && name.starts_with(SEED_CONTAINER_PREFIX) {
            report.skipped = Some("seed container added by pod-hardener".into());
            self.plan.containers.push(report);
            return;
        }
        self.plan.containers.push(report);

        let mut writable: Vec<WritablePathSpec> = resolution
            .writable_paths()
            .iter()
            .map(|w| w.spec())
            .collect();
        self.annotation_paths(&name, &mut writable);

        let mut mounts: Vec<MountState> = c
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| {
                let vol = m.get("name").and_then(Value::as_str).unwrap_or("");
                MountState {
                    index: Some(i),
                    path: clean_path(m.get("mountPath").and_then(Value::as_str).unwrap_or("")),
                    secret: self.volumes.is_secret(vol),
                    writable: m.get("readOnly").and_then(Value::as_bool) != Some(true)
                        && !self.volumes.is_read_only_kind(vol),
                    sub_path: m
                        .get("subPath")
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                        || m.get("subPathExpr")
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty()),
                }
            })
            .collect();

        // Rule 1: secret mounts.
        let secret_mode = match (self.options.secret_mounts, resolution.secret_mounts()) {
            (_, Some(SecretMounts::Off)) | (RuleMode::Off, _) => RuleMode::Off,
            (_, Some(SecretMounts::Warn)) | (RuleMode::Warn, _) => RuleMode::Warn,
            _ => RuleMode::Enforce,
        };
        if secret_mode != RuleMode::Off {
            let mut shared: Vec<String> = self
                .options
                .shared_dirs
                .iter()
                .map(|d| clean_path(d))
                .collect();
            if let Some(wd) = c.get("workingDir").and_then(Value::as_str) {
                shared.push(clean_path(wd));
            }
            shared.extend(resolution.app_dirs().iter().map(|d| clean_path(d)));
            shared.extend(writable.iter().map(|w| w.path.clone()));
            self.secret_rule(at, &name, c, secret_mode, &shared, &writable, &mut mounts);
        }

        // Rule 2: writable paths.
        if self.options.writable_paths != RuleMode::Off {
            self.writable_rule(at, &name, c, &writable, &mut mounts);
        }
        for data in resolution.data_paths() {
            if !mounts
                .iter()
                .any(|m| m.writable && !m.sub_path && is_within(data, &m.path))
            {
                self.warn(
                    &name,
                    format!("container {name:?}: no volume at data path {data}; data would be lost on restart"),
                );
            }
        }

        // Rule 3: read-only root.
        if self.options.read_only_root != RuleMode::Off && resolution.read_only_root() {
            self.read_only_rule(at, &name, c, resolution.name().to_string());
        }
    }

    fn annotation_paths(&mut self, name: &str, writable: &mut Vec<WritablePathSpec>) {
        let key = format!("{WRITABLE_PATHS_ANNOTATION}{name}");
        let pod = self.pod;
        let Some(extra) = pod.annotation(&key) else {
            return;
        };
        if !self.options.allow_annotation_tuning {
            self.warn(
                name,
                format!("{key} ignored: annotation tuning is not allowed here"),
            );
            return;
        }
        for p in extra.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let p = clean_path(p);
            if let Some(why) = path_problem(&p) {
                self.warn(
                    name,
                    format!("writable path {p:?} from annotation ignored: {why}"),
                );
            } else if !writable.iter().any(|w| w.path == p) {
                writable.push(WritablePathSpec {
                    path: p,
                    ..Default::default()
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn secret_rule(
        &mut self,
        at: ContainerRef,
        name: &str,
        c: &Value,
        mode: RuleMode,
        shared: &[String],
        writable: &[WritablePathSpec],
        mounts: &mut [MountState],
    ) {
        let raw = c.get("volumeMounts").and_then(Value::as_array);
        for i in 0..mounts.len() {
            if !mounts[i].secret {
                continue;
            }
            let index = mounts[i].index.expect("only sent mounts exist yet");
            let path = mounts[i].path.clone();
            if mounts[i].sub_path {
                self.warn(name, format!("container {name:?}: secret subPath mount at {path} never gets rotated values"));
            } else {
                let nested = mounts
                    .iter()
                    .enumerate()
                    .any(|(j, m)| j != i && is_within(&m.path, &path) && m.path != path)
                    || writable
                        .iter()
                        .any(|w| is_within(&w.path, &path) && w.path != path);
                let on_shared = shared.contains(&path);
                if on_shared || nested {
                    let taken: HashSet<&str> = mounts.iter().map(|m| m.path.as_str()).collect();
                    let base = if path == "/" {
                        String::new()
                    } else {
                        path.clone()
                    };
                    let mut to = format!("{base}/secrets");
                    let mut n = 2;
                    while taken.contains(to.as_str()) || writable.iter().any(|w| w.path == to) {
                        to = format!("{base}/secrets-{n}");
                        n += 1;
                    }
                    let why = if on_shared {
                        "a shared directory"
                    } else {
                        "a directory with other mounts under it"
                    };
                    if mode == RuleMode::Enforce {
                        self.change(
                            Rule::SecretMounts,
                            name,
                            Action::MoveMount {
                                container: at,
                                mount_index: index,
                                from: path.clone(),
                                to: to.clone(),
                            },
                            format!("secret mount at {path} sits on {why}; moved to {to}"),
                        );
                        self.warn(
                            name,
                            format!("container {name:?}: secret mount moved {path} -> {to}"),
                        );
                        mounts[i].path = to;
                    } else {
                        self.warn(
                            name,
                            format!(
                                "container {name:?}: secret mount at {path} would move to {to}"
                            ),
                        );
                    }
                }
            }
            let read_only = raw
                .and_then(|r| r.get(index))
                .and_then(|m| m.get("readOnly"))
                .and_then(Value::as_bool)
                == Some(true);
            if !read_only {
                if mode == RuleMode::Enforce {
                    self.change(
                        Rule::SecretMounts,
                        name,
                        Action::MakeMountReadOnly {
                            container: at,
                            mount_index: index,
                        },
                        format!("secret mount at {} made readOnly", mounts[i].path),
                    );
                } else {
                    self.warn(
                        name,
                        format!(
                            "container {name:?}: secret mount at {} would be made readOnly",
                            mounts[i].path
                        ),
                    );
                }
            }
        }
    }

    fn writable_rule(
        &mut self,
        at: ContainerRef,
        name: &str,
        c: &Value,
        writable: &[WritablePathSpec],
        mounts: &mut Vec<MountState>,
    ) {
        let mut seeds: Vec<(String, String)> = Vec::new(); // (path, volume)
        for wp in writable {
            if mounts
                .iter()
                .any(|m| m.writable && !m.sub_path && is_within(&wp.path, &m.path))
            {
                continue;
            }
            if mounts.iter().any(|m| m.path == wp.path) {
                self.warn(
                    name,
                    format!(
                        "container {name:?}: {} stays read-only: a read-only mount is there",
                        wp.path
                    ),
                );
                continue;
            }
            if self.options.writable_paths == RuleMode::Warn {
                self.warn(
                    name,
                    format!("container {name:?}: would add emptyDir at {}", wp.path),
                );
                continue;
            }
            let volume = volume_name(name, &wp.path, self.volume_names);
            let mut empty_dir = Map::new();
            let memory = wp.medium == Some(Medium::Memory);
            if memory {
                empty_dir.insert("medium".into(), json!("Memory"));
            }
            // Bounded by the profile's own limit, else the configured default.
            let default_size = if memory {
                &self.options.memory_empty_dir_size_limit
            } else {
                &self.options.empty_dir_size_limit
            };
            let size = wp.size_limit.as_ref().or(default_size.as_ref());
            if let Some(size) = size {
                empty_dir.insert("sizeLimit".into(), json!(size));
            }
            if memory && c.pointer("/resources/limits/memory").is_none() {
                // Kept under MAX_WARNING for a short name and path.
                let bound = size.map_or("no sizeLimit", String::as_str);
                self.warn(
                    name,
                    format!(
                        "container {name:?}: memory-backed {} ({bound}) counts against a memory limit; it has none: set resources.limits.memory",
                        wp.path
                    ),
                );
            }
            let what = if wp.seed {
                "seeded emptyDir"
            } else {
                "emptyDir"
            };
            self.change(
                Rule::WritablePaths,
                name,
                Action::AddVolume {
                    volume: json!({ "name": volume, "emptyDir": empty_dir }),
                },
                format!("{what} for {} of container {name:?}", wp.path),
            );
            self.change(
                Rule::WritablePaths,
                name,
                Action::AddMount {
                    container: at,
                    mount: json!({ "name": volume, "mountPath": wp.path }),
                },
                format!(
                    "{} must stay writable for image {}",
                    wp.path,
                    c.get("image").and_then(Value::as_str).unwrap_or("")
                ),
            );
            mounts.push(MountState {
                index: None,
                path: wp.path.clone(),
                secret: false,
                writable: true,
                sub_path: false,
            });
            if wp.seed {
                seeds.push((wp.path.clone(), volume));
            }
        }
        if !seeds.is_empty() {
            let init = self.seed_container(name, c, &seeds);
            self.change(
                Rule::WritablePaths,
                name,
                Action::AddInitContainer {
                    init_container: init,
                },
                format!(
                    "copy the image's files into the emptyDir at {}",
                    seeds
                        .iter()
                        .map(|s| s.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    /// An init container of the same image that copies each seeded directory's
    /// shipped content into its emptyDir, mounted at a staging path.
    fn seed_container(&mut self, name: &str, c: &Value, seeds: &[(String, String)]) -> Value {
        let init_name = seed_container_name(name, self.container_names);
        let mut script = String::from("set -e");
        let mut mounts = Vec::new();
        for (i, (path, volume)) in seeds.iter().enumerate() {
            let staging = format!("/ph-seed/{i}");
            script.push_str(&format!("; cp -a {}/. {staging}/", shell_quote(path)));
            mounts.push(json!({ "name": volume, "mountPath": staging }));
        }
        let mut security = c
            .get("securityContext")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(obj) = security.as_object_mut() {
            obj.insert("readOnlyRootFilesystem".into(), json!(true));
        }
        let mut init = json!({
            "name": init_name,
            "image": c.get("image").cloned().unwrap_or(Value::Null),
            "command": ["/bin/sh", "-c", script],
            "volumeMounts": mounts,
            "securityContext": security,
        });
        for field in ["imagePullPolicy", "resources"] {
            if let Some(v) = c.get(field) {
                init[field] = v.clone();
            }
        }
        init
    }

    fn read_only_rule(&mut self, at: ContainerRef, name: &str, c: &Value, profile: String) {
        let current = c
            .get("securityContext")
            .and_then(|s| s.get("readOnlyRootFilesystem"))
            .and_then(Value::as_bool);
        let enforce = self.options.read_only_root == RuleMode::Enforce;
        match current {
            Some(true) => {}
            Some(false) if !self.options.override_explicit_false => {
                self.warn(
                    name,
                    format!(
                        "container {name:?}: readOnlyRootFilesystem: false kept (set explicitly)"
                    ),
                );
            }
            _ if !enforce => {
                self.warn(
                    name,
                    format!("container {name:?}: would set readOnlyRootFilesystem: true"),
                );
            }
            previous => {
                let reason = if previous == Some(false) {
                    "explicit readOnlyRootFilesystem: false overridden by configuration".to_string()
                } else {
                    format!("root filesystem made read-only (profile {profile})")
                };
                self.change(
                    Rule::ReadOnlyRoot,
                    name,
                    Action::SetReadOnlyRoot { container: at },
                    reason,
                );
            }
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
