//! The engine: a pod (or pod template) and its profiles in, a `Plan` and its
//! JSON patch out. Pure: no I/O, no clock, no randomness, so that a second
//! pass over a hardened pod provably yields nothing. The rules themselves
//! live in `rules`, shared with the Compose planner; `plan` is their pod
//! adapter.

pub mod document;
pub mod names;
pub mod options;
pub mod patch;
pub mod paths;
pub mod plan;
pub(crate) mod rules;
mod seed;
pub(crate) mod tree;
pub mod validate;
pub mod volumes;

pub use document::Document;
pub use options::{Options, RuleMode};
pub use patch::{render, Location};
pub use plan::{plan, Action, Change, ContainerList, Plan, PodRef, Rule, Warning};
pub use validate::validate_pod_spec;

use crate::hashing::{HashMap, HashSet};

use crate::profile::Catalog;
use json_patch::PatchOperation;
use serde_json::{Map, Value};
use std::borrow::Cow;
use tree::{Members, Node};

/// A plan and the ops that carry it out.
#[derive(Debug, Clone)]
pub struct Hardened {
    pub plan: Plan,
    pub ops: Vec<PatchOperation>,
}

/// Plans and renders for the pod found at `at` inside `document`.
pub fn harden<D: Document>(
    document: &D,
    at: &Location,
    catalog: &Catalog,
    options: &Options,
) -> Hardened {
    let claim_names = claim_names(document, at);
    let pod = PodRef {
        metadata: document.pointer(&at.metadata),
        spec: document.pointer(&at.spec),
        claim_names: &claim_names,
    };
    let mut plan = plan(pod, catalog, options);
    let mut ops = render(&plan, pod, at);
    if !ops.is_empty() {
        let problems = check_result(document, at, &plan, &ops, &claim_names);
        if !problems.is_empty() {
            // Never send a result the API server (or the backstop) would
            // refuse: the pod is left as it came, and the caller counts it.
            plan.warnings.insert(
                0,
                Warning {
                    container: None,
                    message: format!(
                        "pod-hardener left the pod unchanged: its result would be invalid ({} problem(s))",
                        problems.len()
                    ),
                },
            );
            plan.changes.clear();
            plan.invalid = problems;
            ops.clear();
        }
    }
    Hardened { plan, ops }
}

/// Applies `ops` to a copy of the pod's spec and lists what is wrong with
/// the result and was not wrong before: the API server's rules, and the
/// engine's own promise that every container it made read-only (seed init
/// containers included) is read-only.
fn check_result<D: Document>(
    document: &D,
    at: &Location,
    plan: &Plan,
    ops: &[PatchOperation],
    claim_names: &[String],
) -> Vec<String> {
    let Some(sent) = document.pointer(&at.spec) else {
        return vec!["no pod spec".into()];
    };
    // Only what the checks read is copied (a whole copy of the pod would
    // cost more than planning it), and its strings are borrowed; the last
    // op, the `applied` annotation, is left out.
    let spec_ops = &ops[..ops.len() - 1];
    let touched: HashSet<(&str, usize)> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::SetReadOnlyRoot { container }
            | Action::AddMount { container, .. }
            | Action::MoveMount { container, .. }
            | Action::MakeMountReadOnly { container, .. } => {
                Some((container.list.field(), container.index))
            }
            _ => None,
        })
        .collect();
    let mut after = skeleton(sent, &touched);
    if let Err(e) = apply_to_copy(&mut after, &at.spec, spec_ops) {
        return vec![format!("the patch does not apply: {e}")];
    }
    let mut problems = validate_pod_spec(&after, claim_names);
    if !problems.is_empty() {
        // Only what the patch broke counts, not what the pod had already.
        let old: HashSet<String> = validate_pod_spec(&skeleton(sent, &touched), claim_names)
            .into_iter()
            .collect();
        problems.retain(|p| !old.contains(p));
    }
    // By name: seed containers inserted into `initContainers` shift indices.
    let by_name: HashMap<&str, &Node> = ["initContainers", "containers"]
        .iter()
        .filter_map(|f| after.member(f).and_then(Node::as_array))
        .flatten()
        .filter_map(|c| Some((c.member("name")?.as_str()?, c)))
        .collect();
    fn read_only<D: Document>(c: &D) -> Result<(), String> {
        match field(c, &["securityContext", "readOnlyRootFilesystem"]).and_then(D::as_bool) {
            Some(true) => Ok(()),
            _ => Err(format!(
                "container {:?} would not get a read-only root",
                c.member("name").and_then(D::as_str).unwrap_or("")
            )),
        }
    }
    for change in &plan.changes {
        let checked = match &change.action {
            Action::SetReadOnlyRoot { .. } => match by_name.get(change.container.as_str()) {
                Some(c) => read_only(*c),
                None => continue,
            },
            Action::AddInitContainer { init_container, .. } => read_only(init_container),
            _ => continue,
        };
        problems.extend(checked.err());
    }
    problems
}

/// Applies `ops`, whose paths start at `spec`, to the copy of the spec as
/// the API server would: `add` and `replace`, the only ops `render` writes.
/// The copy is thrown away whatever happens (so no rollback), and each value
/// it is given is borrowed from its op. A path is walked on its text, a
/// token unescaped only when it has an escape.
fn apply_to_copy<'a>(
    spec: &mut Node<'a>,
    at_spec: &str,
    ops: &'a [PatchOperation],
) -> Result<(), String> {
    fn step<'v, 'a>(value: &'v mut Node<'a>, token: &str) -> Option<&'v mut Node<'a>> {
        match value {
            Node::Object(_) => value.member_mut(&document::unescape(token)),
            Node::Array(items) => items.get_mut(document::array_index(token)?),
            _ => None,
        }
    }
    for op in ops {
        let (name, path, value) = match op {
            PatchOperation::Add(add) => ("add", &add.path, &add.value),
            PatchOperation::Replace(replace) => ("replace", &replace.path, &replace.value),
            other => return Err(format!("{other:?}: only add and replace are checked")),
        };
        let missing = || format!("{name}: nothing at {path}");
        // What lies outside the spec is not in the copy.
        let inner = path
            .as_str()
            .strip_prefix(at_spec)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(missing)?;
        let value = Node::copy_of(value);
        let Some((parent, last)) = inner.rsplit_once('/') else {
            // The spec itself.
            *spec = value;
            continue;
        };
        let mut target = &mut *spec;
        for token in parent.split('/').skip(1) {
            target = step(target, token).ok_or_else(missing)?;
        }
        if name == "replace" {
            *step(target, last).ok_or_else(missing)? = value;
            continue;
        }
        match target {
            Node::Object(members) => {
                members.insert(document::unescape(last).into_owned().into(), value)
            }
            Node::Array(items) => match (last, document::array_index(last)) {
                ("-", _) => items.push(value),
                (_, Some(i)) if i <= items.len() => items.insert(i, value),
                // Not reached by `render`: seeds are inserted at an index
                // that exists, from the highest down.
                _ => return Err(format!("add: no index {last:?} in {path}")),
            },
            _ => return Err(missing()),
        }
    }
    Ok(())
}

/// The members of a pod spec that `validate_pod_spec` and the read-only
/// check read, at the same indices, so that the same ops apply: names of
/// everything, and mounts and security context of the `touched` containers
/// (the others are unchanged, so they cannot have new problems).
fn skeleton<'a, D: Document>(spec: &'a D, touched: &HashSet<(&str, usize)>) -> Node<'a> {
    fn keep<'a, D: Document>(item: &'a D, members: &[&'static str]) -> Node<'a> {
        let kept = members
            .iter()
            .filter_map(|m| Some((Cow::Borrowed(*m), Node::copy_of(item.member(m)?))))
            .collect();
        Node::Object(Members::of_distinct(kept))
    }
    let mut out = Members::default();
    if let Some(volumes) = spec.member("volumes").and_then(D::as_array) {
        let names = volumes.iter().map(|v| keep(v, &["name"])).collect();
        out.insert(Cow::Borrowed("volumes"), Node::Array(names));
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(containers) = spec.member(list).and_then(D::as_array) {
            let members = ["name", "volumeMounts", "volumeDevices", "securityContext"];
            let kept = containers
                .iter()
                .enumerate()
                .map(|(i, c)| match touched.contains(&(list, i)) {
                    true => keep(c, &members),
                    false => keep(c, &members[..1]),
                })
                .collect();
            out.insert(Cow::Borrowed(list), Node::Array(kept));
        }
    }
    Node::Object(out)
}

/// An object of `members`, in this order. `json!` would copy each value
/// through serde's serialiser (a whole map for a map): this moves them.
pub(crate) fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (k, v) in members {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

/// The value at `keys` below `value`, one object member per key: what
/// `Value::pointer` finds for a literal path, without unescaping (and
/// allocating) each of its tokens.
pub(crate) fn field<'v, D: Document>(value: &'v D, keys: &[&str]) -> Option<&'v D> {
    keys.iter().try_fold(value, |v, k| v.member(k))
}

/// The names of a StatefulSet's claim templates, which mounts may name.
pub fn claim_names<D: Document>(document: &D, at: &Location) -> Vec<String> {
    at.claims
        .as_deref()
        .and_then(|p| document.pointer(p))
        .and_then(D::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            field(c, &["metadata", "name"])
                .and_then(D::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests;
