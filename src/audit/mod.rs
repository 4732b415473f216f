//! `audit`: what enforcement would change in a cluster, before it is enforced.
//!
//! Takes workload objects already fetched (by `cluster`, or from files in
//! tests), runs each pod template through the same engine and policy the
//! webhook uses, and sums up per workload what would change and what is
//! likeliest to break: images no profile knows get only the defaults' paths.
//! Pure; `render` turns the report into a table, JSON or Markdown.

pub mod policyreport;
pub mod render;

use std::collections::BTreeSet;

use json_patch::PatchOperation;
use serde::Serialize;
use serde_json::Value;

use crate::harden::{harden, Action, Options, Rule};
use crate::profile::Catalog;
use crate::workload::find_pods;

/// The kinds audited, in listing order. A workload owned by one of these is
/// audited through its owner (a Deployment's ReplicaSets, a CronJob's Jobs,
/// any controller's pods).
pub(crate) const AUDITED_KINDS: [&str; 8] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "Job",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
];

/// The configuration the webhook would apply.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub catalog: &'a Catalog,
    pub options: &'a Options,
    pub skip_namespaces: &'a [String],
}

/// The owner through which an object is audited instead, as `Kind/name`.
pub(crate) fn audited_owner(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|o| {
            let kind = o.get("kind").and_then(Value::as_str)?;
            AUDITED_KINDS.contains(&kind).then(|| {
                format!(
                    "{kind}/{}",
                    o.get("name").and_then(Value::as_str).unwrap_or("?")
                )
            })
        })
}

/// An emptyDir the webhook would add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmptyDir {
    pub container: String,
    pub path: String,
}

/// A secret mount the webhook would move off a shared directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMove {
    pub container: String,
    pub from: String,
    pub to: String,
}

/// A container that sets `readOnlyRootFilesystem: false` itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplicitFalse {
    pub container: String,
    /// The configuration overrides it (`override_explicit_false`); otherwise it is kept.
    pub overridden: bool,
}

/// A container whose image matches no profile: it gets only the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unprofiled {
    pub container: String,
    pub image: String,
}

/// What enforcement would do to one workload's pod template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadAudit {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    /// Why the whole workload is left alone (skipped namespace, opt-out, mirror pod, Windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub containers: usize,
    /// Containers whose root filesystem would be made read-only.
    pub read_only: Vec<String>,
    pub empty_dirs: Vec<EmptyDir>,
    pub secret_moves: Vec<SecretMove>,
    pub explicit_false: Vec<ExplicitFalse>,
    /// `*` for a pod-level opt-out, else the opted-out containers.
    pub opt_outs: Vec<String>,
    pub unprofiled: Vec<Unprofiled>,
    pub warnings: Vec<String>,
    /// The JSON patch the webhook would apply to this workload (paths into it).
    pub patch: Vec<PatchOperation>,
}

impl WorkloadAudit {
    /// `Kind/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Sums over a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub workloads: usize,
    pub namespaces: usize,
    /// Workloads with a non-empty patch.
    pub changed: usize,
    pub skipped: usize,
    pub containers: usize,
    pub read_only: usize,
    pub empty_dirs: usize,
    pub secret_moves: usize,
    pub explicit_false: usize,
    pub opt_outs: usize,
    pub unprofiled: usize,
    pub errors: usize,
}

/// The audit of a set of workloads, with the list errors met on the way.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub workloads: Vec<WorkloadAudit>,
    pub errors: Vec<String>,
    /// The defaults' writable paths, which an image matched by no profile gets.
    #[serde(rename = "defaultWritablePaths")]
    pub default_paths: Vec<String>,
}

impl Report {
    pub fn totals(&self) -> Totals {
        let w = &self.workloads;
        let sum = |f: fn(&WorkloadAudit) -> usize| w.iter().map(f).sum();
        Totals {
            workloads: w.len(),
            namespaces: w
                .iter()
                .map(|a| a.namespace.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            changed: w.iter().filter(|a| !a.patch.is_empty()).count(),
            skipped: w.iter().filter(|a| a.skipped.is_some()).count(),
            containers: sum(|a| a.containers),
            read_only: sum(|a| a.read_only.len()),
            empty_dirs: sum(|a| a.empty_dirs.len()),
            secret_moves: sum(|a| a.secret_moves.len()),
            explicit_false: sum(|a| a.explicit_false.len()),
            opt_outs: sum(|a| a.opt_outs.len()),
            unprofiled: sum(|a| a.unprofiled.len()),
            errors: self.errors.len(),
        }
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Audits one object: one entry per pod template in it (none for other kinds).
pub(crate) fn audit_object(object: &Value, policy: &Policy<'_>) -> Vec<WorkloadAudit> {
    let namespace = str_at(object, "/metadata/namespace").to_string();
    let name = match str_at(object, "/metadata/name") {
        "" => str_at(object, "/metadata/generateName"),
        n => n,
    }
    .to_string();
    let mut out = Vec::new();
    for found in find_pods(object) {
        let mut audit = WorkloadAudit {
            namespace: namespace.clone(),
            kind: found.kind.clone(),
            name: name.clone(),
            skipped: None,
            containers: 0,
            read_only: Vec::new(),
            empty_dirs: Vec::new(),
            secret_moves: Vec::new(),
            explicit_false: Vec::new(),
            opt_outs: Vec::new(),
            unprofiled: Vec::new(),
            warnings: Vec::new(),
            patch: Vec::new(),
        };
        let spec = object.pointer(&found.location.spec).unwrap_or(&Value::Null);
        // Counted from the spec: a skipped plan lists no containers.
        audit.containers = ["initContainers", "containers"]
            .iter()
            .filter_map(|f| spec.get(*f).and_then(Value::as_array))
            .map(Vec::len)
            .sum();
        if policy.skip_namespaces.contains(&namespace) {
            audit.skipped = Some(format!(
                "namespace {namespace} is skipped by the configuration"
            ));
            out.push(audit);
            continue;
        }
        let hardened = harden(object, &found.location, policy.catalog, policy.options);
        let plan = &hardened.plan;
        if let Some(why) = &plan.skipped {
            if why.starts_with("opted out") {
                audit.opt_outs.push("*".into());
            }
            audit.skipped = Some(why.clone());
        }
        for c in &plan.containers {
            if let Some(why) = &c.skipped {
                if why.contains("skip-containers") {
                    audit.opt_outs.push(c.name.clone());
                }
                continue;
            }
            if c.profile == "defaults" {
                audit.unprofiled.push(Unprofiled {
                    container: c.name.clone(),
                    image: c.image.clone(),
                });
            }
            let explicit_false = spec
                .get(c.list.field())
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|x| x.get("name").and_then(Value::as_str) == Some(c.name.as_str()))
                .and_then(|x| x.pointer("/securityContext/readOnlyRootFilesystem"))
                .and_then(Value::as_bool)
                == Some(false);
            if explicit_false {
                audit.explicit_false.push(ExplicitFalse {
                    container: c.name.clone(),
                    overridden: plan.changes.iter().any(|ch| {
                        ch.container == c.name
                            && matches!(ch.action, Action::SetReadOnlyRoot { .. })
                    }),
                });
            }
        }
        for ch in &plan.changes {
            match &ch.action {
                Action::SetReadOnlyRoot { .. } => audit.read_only.push(ch.container.clone()),
                Action::AddMount { mount, .. } if ch.rule == Rule::WritablePaths => {
                    audit.empty_dirs.push(EmptyDir {
                        container: ch.container.clone(),
                        path: mount.mount_path.clone(),
                    })
                }
                Action::MoveMount { from, to, .. } => audit.secret_moves.push(SecretMove {
                    container: ch.container.clone(),
                    from: from.clone(),
                    to: to.clone(),
                }),
                _ => {}
            }
        }
        audit.warnings = plan.warnings.iter().map(|w| w.message.clone()).collect();
        audit.patch = hardened.ops;
        out.push(audit);
    }
    out
}

/// Audits every object given, ordered by namespace, kind (in `AUDITED_KINDS`
/// order) and name. Objects owned by an audited kind are left to their owner.
pub fn audit(objects: &[Value], policy: &Policy<'_>, errors: Vec<String>) -> Report {
    let mut workloads: Vec<WorkloadAudit> = objects
        .iter()
        .filter(|o| audited_owner(o).is_none())
        .flat_map(|o| audit_object(o, policy))
        .collect();
    let rank = |k: &str| AUDITED_KINDS.iter().position(|x| *x == k).unwrap_or(99);
    workloads.sort_by(|a, b| {
        (a.namespace.as_str(), rank(&a.kind), a.name.as_str()).cmp(&(
            b.namespace.as_str(),
            rank(&b.kind),
            b.name.as_str(),
        ))
    });
    Report {
        workloads,
        errors,
        default_paths: policy
            .catalog
            .defaults()
            .writable_paths
            .iter()
            .map(|w| w.path().to_string())
            .collect(),
    }
}

#[cfg(test)]
mod tests;
