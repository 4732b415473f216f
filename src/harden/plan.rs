//! Pod + profiles + options -> `Plan`: every change the engine will make, each
//! with its rule and a human reason, and the warnings a user should see.
//!
//! The plan works on the pod JSON exactly as it was sent, so that fields this
//! crate does not model survive, and indices in the plan point into that JSON.
//! What selects the containers and their inputs (opt-outs, profiles,
//! annotations) is read here; the rules themselves are decided in `rules`,
//! and this module is their pod adapter: each container read into the rules'
//! model, each decision written as changes and warnings.

use std::borrow::Cow;

use crate::hashing::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::field;
use super::names::{seed_container_name, volume_name};
use super::options::{Options, RuleMode};
use super::paths::{key, key_of, resolve};
use super::rules::read_only_root::{self, Root};
use super::rules::secret_mounts::{self, Destination, Placement, Places};
use super::rules::writable_paths::{self, Decision, Nesting};
use super::rules::{self, Access, Mount, Mounts, WritablePath, WritablePaths};
use super::seed;
use super::volumes::{Access as VolumeAccess, Volumes};
use super::Document;
use crate::profile::model::{Medium, WritablePathSpec};
use crate::profile::validate::writable_path_problem;
use crate::profile::{Catalog, Resolution};

/// What every annotation of ours starts with.
pub(crate) const ANNOTATION_PREFIX: &str = "pod-hardener.dev/";
pub(crate) const SKIP_ANNOTATION: &str = "pod-hardener.dev/skip";
pub(crate) const SKIP_CONTAINERS_ANNOTATION: &str = "pod-hardener.dev/skip-containers";
pub(crate) const WRITABLE_PATHS_ANNOTATION: &str = "pod-hardener.dev/writable-paths.";
pub(crate) const PROFILE_ANNOTATION: &str = "pod-hardener.dev/profile.";
pub(crate) const APPLIED_ANNOTATION: &str = "pod-hardener.dev/applied";
pub(crate) const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Paths a `writable-paths.<container>` annotation may list; the rest are
/// ignored with a warning (each becomes a volume, and the pod must fit etcd).
pub(crate) const MAX_ANNOTATION_PATHS: usize = 128;
/// Longest warning we emit; the API server truncates at 256.
pub(crate) const MAX_WARNING: usize = 119;

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
    AddVolume { volume: NewVolume },
    /// A new mount in a container.
    AddMount {
        container: ContainerRef,
        mount: NewMount,
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
    /// A seed init container: inserted just before the init container it
    /// serves (`before`, an index as sent), appended for an app container.
    AddInitContainer {
        init_container: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<usize>,
    },
}

/// A volume we add: an `emptyDir` of our name. Typed rather than a JSON
/// object so that the plan holds strings only and the patch builds its
/// object once (`to_value`); serialised as that object, member for member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewVolume {
    pub name: String,
    #[serde(rename = "emptyDir")]
    pub empty_dir: EmptyDirSource,
}

/// The `emptyDir` of a `NewVolume`: memory-backed or not, and bounded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmptyDirSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<Medium>,
    #[serde(rename = "sizeLimit", skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

/// A mount we add: one of our volumes at a path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMount {
    pub name: String,
    #[serde(rename = "mountPath")]
    pub mount_path: String,
}

impl NewVolume {
    /// The volume as the pod spec holds it.
    pub fn to_value(&self) -> Value {
        as_value(self)
    }
}

impl NewMount {
    /// The mount as a container's `volumeMounts` holds it.
    pub fn to_value(&self) -> Value {
        as_value(self)
    }
}

/// A value of ours as a JSON object: one shape, the serde attributes above.
fn as_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("strings and options only")
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
    /// Set when the hardened result would fail the pod's validation: the
    /// engine then sends nothing (see `harden`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
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
#[derive(Debug)]
pub struct PodRef<'a, D> {
    /// `None` when a template has no metadata.
    pub metadata: Option<&'a D>,
    pub spec: Option<&'a D>,
    /// Names that are volumes without being in `spec.volumes` (a StatefulSet's
    /// claim templates).
    pub claim_names: &'a [String],
}

// By hand: a derive would ask `D: Copy`, and a pod is only borrowed here.
impl<D> Clone for PodRef<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for PodRef<'_, D> {}

impl<'a, D: Document> PodRef<'a, D> {
    /// The member `key` of the spec.
    pub(crate) fn spec_member(&self, key: &str) -> Option<&'a D> {
        self.spec?.member(key)
    }

    pub(crate) fn annotations(&self) -> Option<&'a D> {
        self.metadata?.member("annotations")
    }

    fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations()?.member(key)?.as_str()
    }

    /// The annotation `<prefix><container>`, its key built only when the
    /// pod has annotations at all (most keep none of ours).
    fn container_annotation(&self, prefix: &str, container: &str) -> Option<&'a str> {
        let annotations = self.annotations()?;
        // Not an object, or an empty one.
        annotations.entries().next()?;
        let mut key = String::with_capacity(prefix.len() + container.len());
        key.push_str(prefix);
        key.push_str(container);
        annotations.member(&key)?.as_str()
    }
}

/// A container's mounts read into the rules' model: `volumeMounts` (with
/// their index as sent) then `volumeDevices`.
fn read_mounts<D: Document>(c: &D, volumes: &Volumes<'_>) -> Mounts {
    let mut mounts = Mounts::default();
    let field = |f: &str| c.member(f).and_then(D::as_array).into_iter().flatten();
    for (i, m) in field("volumeMounts").enumerate() {
        let text = |k: &str| m.member(k).and_then(D::as_str).filter(|s| !s.is_empty());
        let class = text("name").and_then(|n| volumes.get(n));
        let access = if m.member("readOnly").and_then(D::as_bool) == Some(true) {
            Access::ReadOnly("a read-only mount")
        } else {
            match class.map(|c| c.access) {
                Some(VolumeAccess::Writable) => Access::Writable,
                Some(VolumeAccess::ReadOnly(why)) => Access::ReadOnly(why),
                Some(VolumeAccess::Unknown) => {
                    Access::Unknown("a volume of a kind pod-hardener does not know")
                }
                None => Access::Unknown("a mount naming no volume"),
            }
        };
        let r = resolve(text("mountPath").unwrap_or(""));
        mounts.push(Mount {
            source: Some(i),
            path: r.clean,
            key: r.key,
            access,
            secret: class.is_some_and(|c| c.secret),
            sub_path: text("subPath").is_some() || text("subPathExpr").is_some(),
            scratch: false,
        });
    }
    for d in field("volumeDevices") {
        // A block device file, never a directory.
        let r = resolve(d.member("devicePath").and_then(D::as_str).unwrap_or(""));
        mounts.push(Mount {
            source: None,
            path: r.clean,
            key: r.key,
            access: Access::ReadOnly("a block device"),
            secret: false,
            sub_path: false,
            scratch: false,
        });
    }
    mounts
}

/// What `format!("{s:?}")` writes between its quotes: `s` itself for the
/// usual name (printable ASCII without a quote or backslash, which `Debug`
/// leaves alone), borrowed.
fn debug_escaped(s: &str) -> Cow<'_, str> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        Cow::Borrowed(s)
    } else {
        let debug = format!("{s:?}");
        Cow::Owned(debug[1..debug.len() - 1].to_string())
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

/// A pod that only schedules on Windows nodes: by `spec.os.name`, by
/// `nodeSelector`, or by a required node affinity every term of which pins
/// the OS to Windows.
fn targets_windows<D: Document>(spec: &D) -> bool {
    const OS_LABELS: [&str; 2] = ["kubernetes.io/os", "beta.kubernetes.io/os"];
    if field(spec, &["os", "name"]).and_then(D::as_str) == Some("windows") {
        return true;
    }
    if OS_LABELS
        .iter()
        .any(|l| field(spec, &["nodeSelector", *l]).and_then(D::as_str) == Some("windows"))
    {
        return true;
    }
    let required = [
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    ];
    let terms = field(spec, &required).and_then(D::as_array);
    terms.is_some_and(|terms| {
        !terms.is_empty()
            && terms.iter().all(|t| {
                t.member("matchExpressions")
                    .and_then(D::as_array)
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        let values = e.member("values").and_then(D::as_array);
                        e.member("key")
                            .and_then(D::as_str)
                            .is_some_and(|k| OS_LABELS.contains(&k))
                            && e.member("operator").and_then(D::as_str) == Some("In")
                            && values.is_some_and(|v| {
                                !v.is_empty() && v.iter().all(|x| x.as_str() == Some("windows"))
                            })
                    })
            })
    })
}

/// Why a container can undo a read-only root (remount `/` read-write).
fn can_remount_root<D: Document>(c: &D) -> Option<&'static str> {
    let sc = c.member("securityContext")?;
    if sc.member("privileged").and_then(D::as_bool) == Some(true) {
        return Some("privileged");
    }
    let adds = field(sc, &["capabilities", "add"]).and_then(D::as_array)?;
    adds.iter()
        .filter_map(D::as_str)
        .any(|cap| {
            let cap = cap.trim_start_matches("CAP_").trim_start_matches("cap_");
            cap.eq_ignore_ascii_case("SYS_ADMIN") || cap.eq_ignore_ascii_case("ALL")
        })
        .then_some("SYS_ADMIN")
}

/// Decides every change for one pod.
pub fn plan<'p, D: Document>(pod: PodRef<'p, D>, catalog: &Catalog, options: &Options) -> Plan {
    let mut plan = Plan::default();
    let pod_warning = |plan: &mut Plan, message: String| {
        plan.warnings.push(Warning {
            container: None,
            message: short(message),
        })
    };
    match pod.annotation(SKIP_ANNOTATION) {
        Some("true") if options.allow_opt_out => {
            plan.skipped = Some(format!("opted out by annotation {SKIP_ANNOTATION}"));
            return plan;
        }
        Some("true") => pod_warning(
            &mut plan,
            format!("{SKIP_ANNOTATION} ignored: opt-out is not allowed here"),
        ),
        Some(other) => pod_warning(
            &mut plan,
            format!("{SKIP_ANNOTATION}: {other:?} ignored: only \"true\" opts out"),
        ),
        None => {}
    }
    if pod.annotation(MIRROR_ANNOTATION).is_some() {
        plan.skipped = Some("mirror pod (static pods cannot be changed)".into());
        return plan;
    }
    if pod.spec.is_some_and(targets_windows) {
        plan.skipped = Some("Windows pod (no read-only root filesystem on Windows)".into());
        return plan;
    }

    let list = |f: &str| {
        pod.spec_member(f)
            .and_then(D::as_array)
            .into_iter()
            .flatten()
    };
    let name_of = |c: &'p D| c.member("name").and_then(D::as_str);
    let hardenable: HashSet<&str> = list("initContainers")
        .chain(list("containers"))
        .filter_map(name_of)
        .collect();
    let mut container_names: HashSet<String> = hardenable
        .iter()
        .copied()
        .chain(list("ephemeralContainers").filter_map(name_of))
        .map(str::to_string)
        .collect();

    let skip_containers: HashSet<&str> = match pod.annotation(SKIP_CONTAINERS_ANNOTATION) {
        Some(names) if options.allow_opt_out => {
            let listed: Vec<&str> = names
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let names: HashSet<&str> = listed.iter().copied().collect();
            let missing = names.iter().filter(|n| !hardenable.contains(**n)).count();
            // The example is the first unknown name as written: a set's
            // order is its hasher's, different in every process.
            if let Some(first) = listed.iter().find(|n| !hardenable.contains(**n)) {
                pod_warning(
                    &mut plan,
                    format!("{SKIP_CONTAINERS_ANNOTATION} names {missing} unknown container(s), e.g. {first:?}"),
                );
            }
            names
        }
        Some(_) => {
            pod_warning(
                &mut plan,
                format!("{SKIP_CONTAINERS_ANNOTATION} ignored: opt-out is not allowed here"),
            );
            HashSet::default()
        }
        None => HashSet::default(),
    };
    // Tuning annotations that name no container would silently do nothing.
    for (key, _) in pod.annotations().into_iter().flat_map(D::entries) {
        let named = key
            .strip_prefix(WRITABLE_PATHS_ANNOTATION)
            .or_else(|| key.strip_prefix(PROFILE_ANNOTATION));
        if let Some(name) = named.filter(|n| !hardenable.contains(*n)) {
            pod_warning(
                &mut plan,
                format!("annotation {key} ignored: no container {name:?}"),
            );
        }
    }

    let volumes = Volumes::new(pod.spec_member("volumes"), pod.claim_names);
    let mut volume_names: HashSet<String> = list("volumes")
        .filter_map(name_of)
        .map(str::to_string)
        .chain(pod.claim_names.iter().cloned())
        .collect();
    let seeds_listed = seed::listed_seeds(pod.annotation(APPLIED_ANNOTATION));

    let mut ctx = Ctx {
        plan: &mut plan,
        catalog,
        options,
        volumes: &volumes,
        volume_names: &mut volume_names,
        container_names: &mut container_names,
        seeds_listed: &seeds_listed,
        pod,
    };
    for list in [ContainerList::Init, ContainerList::App] {
        let containers = pod.spec_member(list.field()).and_then(D::as_array);
        for (index, container) in containers.into_iter().flatten().enumerate() {
            let at = ContainerRef { list, index };
            ctx.container(at, container, &skip_containers);
        }
    }
    plan
}

/// Rule 1's question about one container: where it is, its name and spec,
/// the rule's mode, and the directories a secret mount must not sit on.
struct SecretRule<'a, D> {
    at: ContainerRef,
    name: &'a str,
    container: &'a D,
    mode: RuleMode,
    places: &'a Places<'a>,
}

struct Ctx<'a, 'p, D> {
    plan: &'a mut Plan,
    catalog: &'a Catalog,
    options: &'a Options,
    volumes: &'a Volumes<'p>,
    volume_names: &'a mut HashSet<String>,
    container_names: &'a mut HashSet<String>,
    /// Seed container names the `applied` annotation records.
    seeds_listed: &'a HashSet<String>,
    pod: PodRef<'p, D>,
}

impl<'a, D: Document> Ctx<'a, '_, D> {
    /// Records a warning; a long container name is abbreviated first so that
    /// the path at the end of the message survives the length limit.
    fn warn(&mut self, container: &str, message: String) {
        let quoted = || format!("{container:?}");
        let message = if message.len() > MAX_WARNING && quoted().len() > 20 {
            let head: String = container.chars().take(16).collect();
            message.replacen(&quoted(), &format!("\"{head}...\""), 1)
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
        let pod = self.pod;
        if let Some(wanted) = pod.container_annotation(PROFILE_ANNOTATION, name) {
            let key = format!("{PROFILE_ANNOTATION}{name}");
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

    fn container(&mut self, at: ContainerRef, c: &D, skip: &HashSet<&str>) {
        let name = c.member("name").and_then(D::as_str).unwrap_or("");
        let image = c.member("image").and_then(D::as_str).unwrap_or("");
        let resolution = self.resolve(name, image);
        let mut report = ContainerReport {
            name: name.to_string(),
            list: at.list,
            image: image.to_string(),
            profile: resolution.name().to_string(),
            matched_by: resolution.pattern.map(|p| p.source.clone()),
            skipped: None,
        };
        if skip.contains(name) {
            report.skipped = Some(format!("listed in {SKIP_CONTAINERS_ANNOTATION}"));
            self.plan.containers.push(report);
            return;
        }
        if at.list == ContainerList::Init && seed::is_ours(c, self.seeds_listed, self.volumes) {
            report.skipped = Some("seed container added by pod-hardener".into());
            self.plan.containers.push(report);
            return;
        }
        self.plan.containers.push(report);

        // A profile with `readOnlyRootFilesystem: false` keeps a writable
        // root: rules 2 and 3 have nothing to do, rule 1 still applies.
        let read_only_root = resolution.read_only_root();
        let mut wanted = WritablePaths::default();
        for w in resolution.writable_paths() {
            let r = resolve(w.path());
            if !wanted.contains(&r.key) {
                wanted.push(WritablePath {
                    spec: w.spec_at(r.clean),
                    key: r.key,
                });
            }
        }
        self.annotation_paths(name, read_only_root, &mut wanted);

        let mut mounts = read_mounts(c, self.volumes);

        // Rule 1: secret mounts.
        let secret_mode =
            rules::secret_mode(self.options.secret_mounts, resolution.secret_mounts());
        // Only a secret mount is moved or made read-only: a container with
        // none has nothing to decide, and its sets are not built.
        if secret_mode != RuleMode::Off && mounts.list().iter().any(|m| m.secret) {
            let mut own: HashSet<String> = wanted.list().iter().map(|w| w.key.clone()).collect();
            if let Some(wd) = c.member("workingDir").and_then(D::as_str) {
                own.insert(key(wd).into_owned());
            }
            own.extend(resolution.app_dirs().iter().map(|d| key(d).into_owned()));
            let places = Places {
                shared: self.options.shared_dirs.keys(),
                own: &own,
                writable: &wanted,
            };
            let rule = SecretRule {
                at,
                name,
                container: c,
                mode: secret_mode,
                places: &places,
            };
            self.secret_rule(&rule, &mut mounts);
        }

        // Rule 2: writable paths. Unlike Compose, the pod gets its emptyDirs
        // whenever the profile wants a read-only root, also where rule 3
        // leaves the root writable (rule off, an explicit `false` kept).
        if self.options.writable_paths != RuleMode::Off && read_only_root {
            self.writable_rule(at, name, c, &wanted, &mut mounts);
        }
        // Rule 3 decided here, applied below: the data-path warning says
        // what the root's setting means for an unmounted data directory.
        let current = c
            .member("securityContext")
            .and_then(|s| s.member("readOnlyRootFilesystem"))
            .and_then(D::as_bool);
        let root = read_only_root::decide(current, read_only_root, self.options);
        let consequence = if matches!(root, Root::AlreadyReadOnly | Root::Set { .. }) {
            "writes fail on the read-only root"
        } else {
            "data is lost on restart"
        };
        for data in resolution.data_paths() {
            if mounts.coverage(&key(data)).is_err() {
                self.warn(
                    name,
                    format!("container {name:?}: no volume at data path {data}: {consequence}"),
                );
            }
        }

        // Rule 3: read-only root.
        if !matches!(root, Root::RuleOff | Root::ProfileKeepsWritable) {
            if let Some(how) = can_remount_root(c) {
                self.warn(
                    name,
                    format!("container {name:?} is {how}: it can remount / read-write, so read-only root is cosmetic"),
                );
            }
        }
        match root {
            Root::RuleOff | Root::ProfileKeepsWritable | Root::AlreadyReadOnly => {}
            Root::ExplicitFalseKept => self.warn(
                name,
                format!("container {name:?}: readOnlyRootFilesystem: false kept (set explicitly)"),
            ),
            Root::WouldSet => self.warn(
                name,
                format!("container {name:?}: would set readOnlyRootFilesystem: true"),
            ),
            Root::Set { overrides_false } => {
                let reason = if overrides_false {
                    "explicit readOnlyRootFilesystem: false overridden by configuration".to_string()
                } else {
                    [
                        "root filesystem made read-only (profile ",
                        resolution.name(),
                        ")",
                    ]
                    .concat()
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

    /// Adds the paths of `writable-paths.<name>` to `wanted` (at most
    /// `MAX_ANNOTATION_PATHS`, each checked, duplicates by resolved path dropped).
    fn annotation_paths(&mut self, name: &str, read_only_root: bool, wanted: &mut WritablePaths) {
        let pod = self.pod;
        let Some(extra) = pod.container_annotation(WRITABLE_PATHS_ANNOTATION, name) else {
            return;
        };
        let key = format!("{WRITABLE_PATHS_ANNOTATION}{name}");
        if !self.options.allow_annotation_tuning {
            self.warn(
                name,
                format!("{key} ignored: annotation tuning is not allowed here"),
            );
            return;
        }
        if !read_only_root {
            self.warn(
                name,
                format!("{key} ignored: the profile keeps the root writable"),
            );
            return;
        }
        let mut entries = extra.split(',').map(str::trim).filter(|s| !s.is_empty());
        for p in entries.by_ref().take(MAX_ANNOTATION_PATHS) {
            let trimmed = if p.len() > 1 {
                p.trim_end_matches('/')
            } else {
                p
            };
            if let Some(why) = writable_path_problem(trimmed) {
                self.warn(
                    name,
                    format!("writable path {trimmed:?} from annotation ignored: {why}"),
                );
                continue;
            }
            let r = resolve(trimmed);
            if !wanted.contains(&r.key) {
                wanted.push(WritablePath {
                    spec: WritablePathSpec {
                        path: r.clean,
                        ..Default::default()
                    },
                    key: r.key,
                });
            }
        }
        let over = entries.count();
        if over > 0 {
            self.warn(
                name,
                format!("{over} more paths in {key} ignored: at most {MAX_ANNOTATION_PATHS}"),
            );
        }
    }

    /// Rule 1 as JSON Patch: moves (in enforce mode) and `readOnly: true` on
    /// every secret mount, which Compose has no counterpart of.
    fn secret_rule(&mut self, rule: &SecretRule<'_, D>, mounts: &mut Mounts) {
        let &SecretRule {
            at,
            name,
            container: c,
            mode,
            places,
        } = rule;
        let raw = c.member("volumeMounts").and_then(D::as_array);
        let enforce = mode == RuleMode::Enforce;
        let decisions = secret_mounts::decide(mounts, places, Destination::Free, enforce, &|p| {
            key_of(p).into_owned()
        });
        for decision in decisions {
            let from = &decision.from;
            let Some(index) = mounts.list()[decision.id].source else {
                continue;
            };
            match &decision.placement {
                Placement::SubPath => self.warn(
                    name,
                    format!("container {name:?}: secret subPath mount at {from} never gets rotated values"),
                ),
                Placement::Stays => {}
                Placement::Move { to, on_shared, .. } => {
                    let why = if *on_shared {
                        "a shared directory"
                    } else {
                        "a directory with other mounts under it"
                    };
                    if enforce {
                        self.change(
                            Rule::SecretMounts,
                            name,
                            Action::MoveMount {
                                container: at,
                                mount_index: index,
                                from: from.clone(),
                                to: to.clone(),
                            },
                            format!("secret mount at {from} sits on {why}; moved to {to}"),
                        );
                        self.warn(
                            name,
                            format!("container {name:?}: secret mount moved {from} -> {to}; the app must now read it there"),
                        );
                    } else {
                        self.warn(
                            name,
                            format!("container {name:?}: secret mount at {from} would move to {to}"),
                        );
                    }
                }
            }
            let read_only = raw
                .and_then(|r| r.get(index))
                .and_then(|m| m.member("readOnly"))
                .and_then(D::as_bool)
                == Some(true);
            if !read_only {
                let now = mounts.list()[decision.id].path.clone();
                if enforce {
                    self.change(
                        Rule::SecretMounts,
                        name,
                        Action::MakeMountReadOnly {
                            container: at,
                            mount_index: index,
                        },
                        format!("secret mount at {now} made readOnly"),
                    );
                } else {
                    self.warn(
                        name,
                        format!("container {name:?}: secret mount at {now} would be made readOnly"),
                    );
                }
            }
        }
    }

    /// Rule 2 as JSON Patch: an emptyDir volume and its mount per path, and
    /// one seed init container for the paths that ship files (Compose has no
    /// init containers and seeds through named volumes instead).
    fn writable_rule(
        &mut self,
        at: ContainerRef,
        name: &str,
        c: &D,
        wanted: &WritablePaths,
        mounts: &mut Mounts,
    ) {
        let mut seeds: Vec<(String, String)> = Vec::new(); // (path, volume)
        for w in wanted.list() {
            let wp = &w.spec;
            // Kubernetes mounts in path order: the nearest mount decides.
            match writable_paths::decide(
                mounts,
                &w.key,
                self.options.writable_paths,
                Nesting::Nearest,
            ) {
                Decision::Covered => continue,
                Decision::Blocked { at: there, why } => {
                    let message = if there == w.key {
                        format!(
                            "container {name:?}: {} stays read-only: {why} is there",
                            wp.path
                        )
                    } else {
                        format!(
                            "container {name:?}: {} stays read-only: inside {why} at {there}",
                            wp.path
                        )
                    };
                    self.warn(name, message);
                    continue;
                }
                Decision::WouldAdd { .. } => {
                    self.warn(
                        name,
                        format!("container {name:?}: would add emptyDir at {}", wp.path),
                    );
                    continue;
                }
                Decision::Add { .. } => {}
            }
            let volume = volume_name(name, &wp.path, self.volume_names);
            let memory = wp.medium == Some(Medium::Memory);
            // Bounded by the profile's own limit, else the configured default.
            let default_size = if memory {
                &self.options.memory_empty_dir_size_limit
            } else {
                &self.options.empty_dir_size_limit
            };
            let size = wp.size_limit.as_ref().or(default_size.as_ref());
            if memory && field(c, &["resources", "limits", "memory"]).is_none() {
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
                    volume: NewVolume {
                        name: volume.clone(),
                        empty_dir: EmptyDirSource {
                            medium: wp.medium,
                            size_limit: size.cloned(),
                        },
                    },
                },
                [
                    what,
                    " for ",
                    &wp.path,
                    " of container \"",
                    &debug_escaped(name),
                    "\"",
                ]
                .concat(),
            );
            self.change(
                Rule::WritablePaths,
                name,
                Action::AddMount {
                    container: at,
                    mount: NewMount {
                        name: volume.clone(),
                        mount_path: wp.path.clone(),
                    },
                },
                [
                    &wp.path,
                    " must stay writable for image ",
                    c.member("image").and_then(D::as_str).unwrap_or(""),
                ]
                .concat(),
            );
            // `wanted` holds the path cleaned and its key already.
            mounts.push(Mount {
                source: None,
                path: wp.path.clone(),
                key: w.key.clone(),
                access: Access::Writable,
                secret: false,
                sub_path: false,
                scratch: false,
            });
            if wp.seed {
                seeds.push((wp.path.clone(), volume));
            }
        }
        if !seeds.is_empty() {
            let init_name = seed_container_name(name, self.container_names);
            let init = seed::build(init_name, c, &seeds);
            // A seed runs before the container it serves: just before it
            // when that is an init container (native sidecars included).
            let before = (at.list == ContainerList::Init).then_some(at.index);
            self.change(
                Rule::WritablePaths,
                name,
                Action::AddInitContainer {
                    init_container: init,
                    before,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_escaped_is_what_debug_writes_between_its_quotes() {
        for s in [
            "web",
            "",
            "a b",
            "q\"uote",
            "back\\slash",
            "tab\t",
            "\u{7f}",
            "é",
            "\u{200b}x",
        ] {
            let quoted = ["\"", &debug_escaped(s), "\""].concat();
            assert_eq!(quoted, format!("{s:?}"), "{s:?}");
        }
        assert!(matches!(debug_escaped("web-1"), Cow::Borrowed(_)));
    }
}
