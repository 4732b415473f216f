//! Per service: the profile, and the additions that make it immutable, each
//! with its rule and reason. The rules are the webhook's, in Compose terms:
//!
//! - **read-only root**: `read_only: true`, unless the profile keeps a
//!   writable root, or the service says `read_only: false` itself (kept and
//!   warned, unless the configuration's `override_explicit_false` says
//!   otherwise);
//! - **writable paths**: a `tmpfs` for each path of the profile that no
//!   volume, bind mount or tmpfs of the service already covers (same path or
//!   an ancestor). A `seed: true` path gets a named volume instead, because
//!   Docker copies the image's files into a new named volume while a tmpfs
//!   would hide them (Compose has no init containers to copy them);
//! - **secret mounts**: a bind mount of secret-looking files on a shared
//!   directory is reported with the target it should have; nothing is moved,
//!   since the service reads the file where its own configuration says.
//!   Compose `secrets:` land in `/run/secrets` and are left alone.
//!
//! Rule modes (`enforce`, `warn`, `off`) and shared directories come from the
//! same [`Options`] the webhook uses, and the decisions from the same rule
//! kernel (`harden::rules`): this module reads each service into its model
//! and writes the decisions as additions.

use std::collections::BTreeMap;

use crate::hashing::HashSet;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::mounts::{self, looks_secret, Mount, MountKind};
use super::Project;
use crate::harden::names::volume_name;
use crate::harden::paths::{clean_keep_relative, is_within};
use crate::harden::plan::Rule;
use crate::harden::rules::read_only_root::{self, Root};
use crate::harden::rules::secret_mounts::{
    self, Decision as SecretDecision, Destination, Placement, Places,
};
use crate::harden::rules::writable_paths::{self, Decision, Nesting};
use crate::harden::rules::{
    self, Access, Mount as ModelMount, Mounts, WritablePath, WritablePaths,
};
use crate::harden::{Options, RuleMode};
use crate::profile::model::WritablePathSpec;
use crate::profile::{Catalog, Resolution};

/// How added tmpfs mounts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TmpfsSyntax {
    /// `tmpfs: [/tmp:size=64m]`, understood by every Compose version and
    /// merged by appending.
    #[default]
    Short,
    /// `volumes: [{type: tmpfs, target: /tmp, tmpfs: {size: 67108864}}]`,
    /// which `docker stack deploy` (Swarm) honours.
    Long,
}

/// A tmpfs to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TmpfsMount {
    pub path: String,
    /// Short-syntax size (`64m`), from the profile's `sizeLimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Mounted `exec`: Docker's tmpfs is `noexec` by default, and some images
    /// load native libraries they unpack there (the profile's `exec: true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exec: bool,
}

impl TmpfsMount {
    /// The short-syntax entry: `/tmp`, `/tmp:size=64m` or `/tmp:exec,size=64m`.
    pub fn short(&self) -> String {
        let mut options = Vec::new();
        if self.exec {
            options.push("exec".to_string());
        }
        if let Some(s) = &self.size {
            options.push(format!("size={s}"));
        }
        if options.is_empty() {
            self.path.clone()
        } else {
            format!("{}:{}", self.path, options.join(","))
        }
    }

    /// The long-syntax `volumes` entry.
    pub fn long(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("type".into(), "tmpfs".into());
        m.insert("target".into(), self.path.clone().into());
        if let Some(bytes) = self.size_bytes {
            let mut t = Mapping::new();
            t.insert("size".into(), bytes.into());
            m.insert("tmpfs".into(), Value::Mapping(t));
        }
        Value::Mapping(m)
    }
}

/// A named volume for a seeded path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedVolume {
    pub name: String,
    pub path: String,
}

impl SeedVolume {
    pub fn short(&self) -> String {
        format!("{}:{}", self.name, self.path)
    }
}

/// One decided change, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub rule: Rule,
    pub change: String,
    pub reason: String,
}

/// A secret bind mount that sits on a shared directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretReport {
    pub source: String,
    pub target: String,
    pub suggested_target: String,
    pub reason: String,
}

/// Everything decided for one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub profile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// Set `read_only: true`.
    pub set_read_only: bool,
    pub tmpfs: Vec<TmpfsMount>,
    pub seed_volumes: Vec<SeedVolume>,
    pub changes: Vec<Change>,
    pub secret_mounts: Vec<SecretReport>,
    pub warnings: Vec<String>,
}

impl ServicePlan {
    /// The service gets no addition.
    pub fn is_empty(&self) -> bool {
        !self.set_read_only && self.tmpfs.is_empty() && self.seed_volumes.is_empty()
    }
}

/// Every service's plan, in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectPlan {
    pub files: Vec<String>,
    pub services: Vec<ServicePlan>,
}

impl ProjectPlan {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.services.iter().all(ServicePlan::is_empty)
    }
}

/// A `--profile-for` choice that names no service or no profile.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `known` is the project's services, comma-separated.
    #[error("--profile-for {service}={profile}: no service {service:?} (services: {known})")]
    NoService {
        service: String,
        profile: String,
        known: String,
    },
    #[error("--profile-for {service}={profile}: no profile named {profile:?} (see `pod-hardener profiles list`)")]
    NoProfile { service: String, profile: String },
}

/// Decides every service's additions. `profile_for` names a profile per
/// service (`--profile-for`); an unknown service or profile is an error.
pub fn plan(
    project: &Project,
    catalog: &Catalog,
    options: &Options,
    profile_for: &BTreeMap<String, String>,
) -> Result<ProjectPlan, PlanError> {
    let services: Vec<(&str, &Mapping)> = project.services().collect();
    for (service, profile) in profile_for {
        if !services.iter().any(|(name, _)| name == service) {
            let known: Vec<&str> = services.iter().map(|(n, _)| *n).collect();
            return Err(PlanError::NoService {
                service: service.clone(),
                profile: profile.clone(),
                known: known.join(", "),
            });
        }
        if catalog.by_name(profile).is_none() {
            return Err(PlanError::NoProfile {
                service: service.clone(),
                profile: profile.clone(),
            });
        }
    }
    // Named volumes the project already declares, so ours never collide.
    let mut volume_names: HashSet<String> = project
        .document
        .get("volumes")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    let plans = services
        .iter()
        .map(|(name, service)| {
            let resolution = match profile_for.get(*name) {
                Some(p) => catalog.by_name(p).expect("checked above"),
                None => match service.get("image").and_then(Value::as_str) {
                    Some(image) => catalog.resolve(image),
                    None => Resolution {
                        profile: None,
                        pattern: None,
                        defaults: catalog.defaults(),
                    },
                },
            };
            plan_service(name, service, resolution, options, &mut volume_names)
        })
        .collect();
    Ok(ProjectPlan {
        files: project.files.clone(),
        services: plans,
    })
}

/// One service being planned: what every rule reads about it.
struct Planning<'a, 'r> {
    name: &'a str,
    service: &'a Mapping,
    resolution: &'a Resolution<'r>,
    options: &'a Options,
    /// The service as a reason names it: `image nginx`, or how it has none.
    what: String,
    writable: WritablePaths,
}

fn plan_service(
    name: &str,
    service: &Mapping,
    resolution: Resolution<'_>,
    options: &Options,
    volume_names: &mut HashSet<String>,
) -> ServicePlan {
    let image = service
        .get("image")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut plan = ServicePlan {
        service: name.to_string(),
        image: image.clone(),
        profile: resolution.name().to_string(),
        matched_by: resolution.pattern.map(|p| p.source.clone()),
        set_read_only: false,
        tmpfs: Vec::new(),
        seed_volumes: Vec::new(),
        changes: Vec::new(),
        secret_mounts: Vec::new(),
        warnings: Vec::new(),
    };
    let what = match (&image, service.contains_key("build")) {
        (Some(i), _) => format!("image {i}"),
        (None, true) => "a service built from source".to_string(),
        (None, false) => "a service with no image".to_string(),
    };
    let planning = Planning {
        name,
        service,
        resolution: &resolution,
        options,
        what,
        writable: writable_paths(&resolution),
    };
    let existing = mounts::service_mounts(service);
    let mut model = model_of(&existing);
    // Mounts that come from elsewhere are not seen here; say so rather than
    // risk a second mount at the same path unnoticed.
    for (key, whence) in [("volumes_from", "another service's volumes")] {
        if service.contains_key(key) {
            plan.warnings.push(format!(
                "service {name:?}: mounts from {whence} ({key}) are not checked; make sure no tmpfs added here lands on one"
            ));
        }
    }
    report_secret_mounts(&planning, &existing, &mut model, &mut plan);
    for warning in privilege_warnings(service) {
        plan.warnings.push(format!("service {name:?}: {warning}"));
    }
    let current_read_only = service.get("read_only").and_then(Value::as_bool);
    let root = read_only_root::decide(current_read_only, resolution.read_only_root(), options);
    // A root that stays writable needs no tmpfs or volume to write to (the
    // webhook adds its emptyDirs all the same).
    let root_stays_writable = current_read_only != Some(true) && root.left_as_is();
    add_writable_paths(
        &planning,
        root_stays_writable,
        &mut model,
        volume_names,
        &mut plan,
    );
    warn_unkept_data(&planning, &model, &mut plan);
    set_read_only_root(&planning, root, current_read_only, &mut plan);
    plan
}

/// Rule 1: secret bind mounts on shared directories, reported only: the
/// service reads the file where its own configuration says, so Compose
/// never moves one (the webhook does, in enforce mode).
fn report_secret_mounts(
    planning: &Planning<'_, '_>,
    existing: &[Mount],
    model: &mut Mounts,
    plan: &mut ServicePlan,
) {
    let Planning {
        name,
        service,
        resolution,
        options,
        ..
    } = planning;
    if rules::secret_mode(options.secret_mounts, resolution.secret_mounts()) == RuleMode::Off {
        return;
    }
    let shared: HashSet<String> = options
        .shared_dirs
        .listed()
        .iter()
        .map(|d| clean_keep_relative(d))
        .collect();
    let mut own: HashSet<String> = planning
        .writable
        .list()
        .iter()
        .map(|w| w.key.clone())
        .collect();
    if let Some(wd) = service.get("working_dir").and_then(Value::as_str) {
        own.insert(clean_keep_relative(wd));
    }
    own.extend(resolution.app_dirs().iter().map(|d| clean_keep_relative(d)));
    // As Compose has always decided: writable paths below a secret's
    // directory do not nest it, and a suggested target only has to be
    // free of other mounts.
    let places = Places {
        shared: &shared,
        own: &own,
        writable: &WritablePaths::default(),
    };
    let same = |p: &str| p.to_string();
    let decisions = secret_mounts::decide(model, &places, Destination::Unmounted, false, &same);
    for decision in decisions {
        let source = model.list()[decision.id]
            .source
            .and_then(|i| existing[i].source.clone())
            .unwrap_or_default();
        if let Some(report) = secret_report(&decision, source, &places, model) {
            plan.warnings.push(format!(
                "service {name:?}: secret {} mounted at {} sits on a shared directory; mount it at {} instead",
                report.source, report.target, report.suggested_target
            ));
            plan.secret_mounts.push(report);
        }
    }
}

/// Rule 2: a tmpfs (or, for a seeded path, a named volume) for each
/// writable path of the profile that no mount covers yet.
fn add_writable_paths(
    planning: &Planning<'_, '_>,
    root_stays_writable: bool,
    model: &mut Mounts,
    volume_names: &mut HashSet<String>,
    plan: &mut ServicePlan,
) {
    let (name, mode) = (planning.name, planning.options.writable_paths);
    if mode == RuleMode::Off {
        return;
    }
    if root_stays_writable {
        if !planning.writable.list().is_empty() {
            plan.warnings.push(format!(
                "service {name:?}: no tmpfs or volume added for the profile's writable paths: the root filesystem stays writable"
            ));
        }
        return;
    }
    for w in planning.writable.list() {
        let (wp, path) = (&w.spec, w.spec.path.clone());
        let kind = if wp.seed { "named volume" } else { "tmpfs" };
        // Compose's nesting: any writable mount above covers a path, and
        // one under a read-only mount is still added (Docker creates its
        // mount point when the directory exists in that mount).
        let under = match writable_paths::decide(model, &w.key, mode, Nesting::AnyWritable) {
            Decision::Covered => continue,
            Decision::Blocked { .. } => {
                plan.warnings.push(format!(
                    "service {name:?}: {path} stays read-only: a read-only mount is there"
                ));
                continue;
            }
            Decision::WouldAdd { under } | Decision::Add { under } => under,
        };
        if let Some(parent) = under {
            plan.warnings.push(format!(
                "service {name:?}: the {kind} at {path} lies under the read-only mount at {parent}: Docker cannot create its mount point there unless the directory already exists in that mount"
            ));
        }
        if mode == RuleMode::Warn {
            plan.warnings
                .push(format!("service {name:?}: would add a {kind} at {path}"));
            continue;
        }
        // A seeded path gets a named volume rather than a tmpfs: Docker
        // copies the image's files into a new one (no init containers).
        if wp.seed {
            add_seed_volume(planning, path, volume_names, plan);
            model.push(added(w.spec.path.clone(), false));
        } else {
            add_tmpfs(planning, wp, plan);
            model.push(added(path, true));
        }
    }
}

/// A named volume at the seeded writable path `path`.
fn add_seed_volume(
    planning: &Planning<'_, '_>,
    path: String,
    volume_names: &mut HashSet<String>,
    plan: &mut ServicePlan,
) {
    let volume = volume_name(planning.name, &path, volume_names);
    plan.changes.push(Change {
        rule: Rule::WritablePaths,
        change: format!("volume {volume}:{path}"),
        reason: format!(
            "{path} must stay writable for {} and holds files the image ships: Docker copies them into a new named volume (remove it after an image upgrade)",
            planning.what
        ),
    });
    plan.seed_volumes.push(SeedVolume { name: volume, path });
}

/// A tmpfs at the writable path `wp`, sized by its `sizeLimit`.
fn add_tmpfs(planning: &Planning<'_, '_>, wp: &WritablePathSpec, plan: &mut ServicePlan) {
    let (name, path) = (planning.name, &wp.path);
    let size = wp.size_limit.as_deref().and_then(|q| {
        let parsed = mounts::tmpfs_size(q);
        if parsed.is_none() {
            plan.warnings.push(format!(
                "service {name:?}: sizeLimit {q:?} of {path} is not a byte size; tmpfs left unbounded"
            ));
        }
        parsed
    });
    let tmpfs = TmpfsMount {
        path: path.clone(),
        size: size.as_ref().map(|s| s.0.clone()),
        size_bytes: size.map(|s| s.1),
        exec: wp.exec,
    };
    plan.changes.push(Change {
        rule: Rule::WritablePaths,
        change: format!("tmpfs {}", tmpfs.short()),
        reason: format!(
            "{path} must stay writable for {} (profile {})",
            planning.what,
            planning.resolution.name()
        ),
    });
    plan.tmpfs.push(tmpfs);
}

/// A data path with no volume or bind mount: a tmpfs keeps nothing across
/// restarts, so only those count.
fn warn_unkept_data(planning: &Planning<'_, '_>, model: &Mounts, plan: &mut ServicePlan) {
    for data in planning.resolution.data_paths() {
        if !model
            .list()
            .iter()
            .any(|m| m.access == Access::Writable && !m.scratch && is_within(data, &m.key))
        {
            plan.warnings.push(format!(
                "service {:?}: no volume at data path {data}; mount a named volume there to keep the data",
                planning.name
            ));
        }
    }
}

/// Rule 3: read-only root.
fn set_read_only_root(
    planning: &Planning<'_, '_>,
    root: Root,
    current_read_only: Option<bool>,
    plan: &mut ServicePlan,
) {
    let (name, profile) = (planning.name, planning.resolution.name());
    match root {
        Root::RuleOff | Root::AlreadyReadOnly => {}
        Root::ProfileKeepsWritable => {
            if current_read_only != Some(true) {
                plan.warnings.push(format!(
                    "service {name:?}: root filesystem stays writable (profile {profile} keeps it writable)"
                ));
            }
        }
        Root::ExplicitFalseKept => plan.warnings.push(format!(
            "service {name:?}: read_only: false kept (set explicitly)"
        )),
        Root::WouldSet => plan
            .warnings
            .push(format!("service {name:?}: would set read_only: true")),
        Root::Set { overrides_false } => {
            plan.set_read_only = true;
            plan.changes.push(Change {
                rule: Rule::ReadOnlyRoot,
                change: "read_only: true".into(),
                reason: if overrides_false {
                    "explicit read_only: false overridden by configuration".into()
                } else {
                    format!("root filesystem made read-only (profile {profile})")
                },
            });
        }
    }
}

/// The profile's writable paths in the rules' model, as written (cleaned);
/// Compose compares paths as they are, without the webhook's `/var/run`
/// folding, and keeps duplicates as it always has.
fn writable_paths(resolution: &Resolution<'_>) -> WritablePaths {
    let mut out = WritablePaths::default();
    for w in resolution.writable_paths() {
        let spec = w.spec();
        let path = clean_keep_relative(&spec.path);
        out.push(WritablePath {
            key: path.clone(),
            spec: WritablePathSpec { path, ..spec },
        });
    }
    out
}

/// A service's mounts in the rules' model. A bind mount carries no type,
/// so one is secret when its source or target looks like secret material.
fn model_of(existing: &[Mount]) -> Mounts {
    let mut model = Mounts::default();
    for (i, m) in existing.iter().enumerate() {
        let access = if m.read_only {
            Access::ReadOnly("a read-only mount")
        } else if m.kind == MountKind::Other {
            Access::Unknown("a mount of another type")
        } else {
            Access::Writable
        };
        let source = m.source.as_deref().unwrap_or_default();
        model.push(ModelMount {
            source: Some(i),
            path: m.target.clone(),
            key: m.target.clone(),
            access,
            secret: m.kind == MountKind::Bind && (looks_secret(source) || looks_secret(&m.target)),
            sub_path: false,
            scratch: m.kind == MountKind::Tmpfs,
        });
    }
    model
}

/// A mount this plan adds at `path`: a tmpfs (`scratch`) or a named volume.
fn added(path: String, scratch: bool) -> ModelMount {
    ModelMount {
        source: None,
        key: path.clone(),
        path,
        access: Access::Writable,
        secret: false,
        sub_path: false,
        scratch,
    }
}

/// What lets a service undo a read-only root: `privileged`, or the
/// `SYS_ADMIN` capability (which allows `mount -o remount,rw /`).
fn privilege_warnings(service: &Mapping) -> Vec<String> {
    let mut out = Vec::new();
    if service.get("privileged").and_then(Value::as_bool) == Some(true) {
        out.push(
            "privileged: true lets the container remount its root filesystem writable; read_only does not hold against it".to_string(),
        );
    }
    let caps = service
        .get("cap_add")
        .map(super::value::as_list)
        .unwrap_or_default();
    let sys_admin = caps.iter().filter_map(Value::as_str).find(|c| {
        let c = c.to_ascii_uppercase();
        let c = c.strip_prefix("CAP_").unwrap_or(&c).to_string();
        c == "SYS_ADMIN" || c == "ALL"
    });
    if let Some(cap) = sys_admin {
        out.push(format!(
            "cap_add {cap} lets the container remount its root filesystem writable; read_only does not hold against it"
        ));
    }
    out
}

/// The report for a secret bind mount the rule says should move, or for a
/// secret file directly inside a shared directory (Compose binds files; a
/// Kubernetes secret volume is a directory, so the webhook has no such case).
fn secret_report(
    decision: &SecretDecision,
    source: String,
    places: &Places<'_>,
    model: &Mounts,
) -> Option<SecretReport> {
    let target = &decision.from;
    let unmounted = |candidate: &str| !model.list().iter().any(|m| m.key == candidate);
    match &decision.placement {
        Placement::Move { to, nested, .. } => {
            let why = if *nested {
                "a directory with other mounts under it"
            } else {
                "a shared directory"
            };
            Some(SecretReport {
                source,
                target: target.clone(),
                suggested_target: to.clone(),
                reason: format!("secret mounted onto {why}; other files live there"),
            })
        }
        Placement::SubPath => None,
        Placement::Stays => {
            let (parent, file) = target.rsplit_once('/')?;
            let parent = if parent.is_empty() { "/" } else { parent };
            if !places.shared.contains(parent) && !places.own.contains(parent) {
                return None;
            }
            let dir = secret_mounts::variant(parent, &mut 1, unmounted);
            Some(SecretReport {
                source,
                target: target.clone(),
                suggested_target: format!("{dir}/{file}"),
                reason: format!(
                    "secret file placed in the shared directory {parent}; a directory of its own keeps it apart"
                ),
            })
        }
    }
}
