//! The engine: a pod (or pod template) and its profiles in, a `Plan` and its
//! JSON patch out. Pure: no I/O, no clock, no randomness, so that a second
//! pass over a hardened pod provably yields nothing. The rules themselves
//! live in `rules`, shared with the Compose planner; `plan` is their pod
//! adapter.

pub mod names;
pub mod options;
pub mod patch;
pub mod paths;
pub mod plan;
pub(crate) mod rules;
mod seed;
pub mod validate;
pub mod volumes;

pub use options::{Options, RuleMode};
pub use patch::{render, Location};
pub use plan::{plan, Action, Change, ContainerList, Plan, PodRef, Rule, Warning};
pub use validate::validate_pod_spec;

use crate::hashing::{HashMap, HashSet};

use crate::profile::Catalog;
use json_patch::jsonptr::PointerBuf;
use json_patch::PatchOperation;
use serde_json::{Map, Value};

/// A plan and the ops that carry it out.
#[derive(Debug, Clone)]
pub struct Hardened {
    pub plan: Plan,
    pub ops: Vec<PatchOperation>,
}

/// Plans and renders for the pod found at `at` inside `document`.
pub fn harden(document: &Value, at: &Location, catalog: &Catalog, options: &Options) -> Hardened {
    static NULL: Value = Value::Null;
    let claim_names = claim_names(document, at);
    let pod = PodRef {
        metadata: document.pointer(&at.metadata).unwrap_or(&NULL),
        spec: document.pointer(&at.spec).unwrap_or(&NULL),
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
fn check_result(
    document: &Value,
    at: &Location,
    plan: &Plan,
    ops: &[PatchOperation],
    claim_names: &[String],
) -> Vec<String> {
    let Some(sent) = document.pointer(&at.spec) else {
        return vec!["no pod spec".into()];
    };
    // Only what the checks read is copied (a whole copy of the pod would
    // cost more than planning it), at the spec's own place so that the ops
    // apply as they are; the last op, the `applied` annotation, is left out.
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
    let mut document = Value::Null;
    let at_spec = PointerBuf::parse(&at.spec).expect("locations are valid pointers");
    let _ = at_spec.assign(&mut document, skeleton(sent, &touched));
    if let Err(e) = apply_to_copy(&mut document, spec_ops) {
        return vec![format!("the patch does not apply: {e}")];
    }
    let after = at_spec.resolve(&document).expect("assigned above");
    let mut problems = validate_pod_spec(after, claim_names);
    if !problems.is_empty() {
        // Only what the patch broke counts, not what the pod had already.
        let old: HashSet<String> = validate_pod_spec(&skeleton(sent, &touched), claim_names)
            .into_iter()
            .collect();
        problems.retain(|p| !old.contains(p));
    }
    // By name: seed containers inserted into `initContainers` shift indices.
    let by_name: HashMap<&str, &Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|f| after.member(f).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| Some((c.member("name")?.as_str()?, c)))
        .collect();
    for change in &plan.changes {
        let container = match &change.action {
            Action::SetReadOnlyRoot { .. } => match by_name.get(change.container.as_str()) {
                Some(c) => *c,
                None => continue,
            },
            Action::AddInitContainer { init_container, .. } => init_container,
            _ => continue,
        };
        if field(container, &["securityContext", "readOnlyRootFilesystem"])
            != Some(&Value::Bool(true))
        {
            problems.push(format!(
                "container {:?} would not get a read-only root",
                container
                    .member("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ));
        }
    }
    problems
}

/// Applies `ops` as the API server would, to a copy that is thrown away
/// whatever happens (so no rollback). `add` and `replace`, the only ops
/// `render` writes, are applied here with each pointer token unescaped only
/// when it has an escape: `json_patch` walks with `Value::pointer_mut`, which
/// allocates two strings per token (7% of a review's instructions).
fn apply_to_copy(document: &mut Value, ops: &[PatchOperation]) -> Result<(), String> {
    use json_patch::jsonptr::{index::Index, Pointer};
    fn walk<'v>(mut value: &'v mut Value, pointer: &Pointer) -> Option<&'v mut Value> {
        for token in pointer.tokens() {
            value = match value {
                Value::Object(_) => value.member_mut(&token.decoded())?,
                Value::Array(items) => match token.to_index() {
                    Ok(Index::Num(i)) => items.get_mut(i)?,
                    _ => return None,
                },
                _ => return None,
            };
        }
        Some(value)
    }
    for op in ops {
        match op {
            PatchOperation::Add(add) => {
                let Some((parent, last)) = add.path.split_back() else {
                    *document = add.value.clone();
                    continue;
                };
                let missing = || format!("add: nothing at {}", add.path);
                match walk(document, parent).ok_or_else(missing)? {
                    Value::Object(members) => {
                        members.insert(last.decoded().into_owned(), add.value.clone());
                    }
                    Value::Array(items) => match last.to_index() {
                        Ok(Index::Next) => items.push(add.value.clone()),
                        Ok(Index::Num(i)) if i <= items.len() => items.insert(i, add.value.clone()),
                        _ => return Err(format!("add: no index {last:?} in {parent}")),
                    },
                    _ => return Err(missing()),
                }
            }
            PatchOperation::Replace(replace) => {
                *walk(document, &replace.path)
                    .ok_or_else(|| format!("replace: nothing at {}", replace.path))? =
                    replace.value.clone();
            }
            other => json_patch::patch_unsafe(document, std::slice::from_ref(other))
                .map_err(|e| e.to_string())?,
        }
    }
    Ok(())
}

/// The members of a pod spec that `validate_pod_spec` and the read-only
/// check read, at the same indices, so that the same ops apply: names of
/// everything, and mounts and security context of the `touched` containers
/// (the others are unchanged, so they cannot have new problems).
fn skeleton(spec: &Value, touched: &HashSet<(&str, usize)>) -> Value {
    let mut out = Map::new();
    let keep = |item: &Value, members: &[&str]| -> Value {
        let mut kept = Map::with_capacity(members.len());
        for m in members {
            if let Some(v) = item.member(m) {
                kept.insert((*m).to_string(), v.clone());
            }
        }
        Value::Object(kept)
    };
    if let Some(volumes) = spec.member("volumes").and_then(Value::as_array) {
        let names = volumes.iter().map(|v| keep(v, &["name"])).collect();
        out.insert("volumes".into(), Value::Array(names));
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(containers) = spec.member(list).and_then(Value::as_array) {
            let members = ["name", "volumeMounts", "volumeDevices", "securityContext"];
            let kept = containers
                .iter()
                .enumerate()
                .map(|(i, c)| match touched.contains(&(list, i)) {
                    true => keep(c, &members),
                    false => keep(c, &members[..1]),
                })
                .collect();
            out.insert(list.into(), Value::Array(kept));
        }
    }
    Value::Object(out)
}

/// The value at `keys` below `value`, one object member per key: what
/// `Value::pointer` finds for a literal path, without unescaping (and
/// allocating) each of its tokens.
pub(crate) fn field<'v>(value: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(value, |v, k| v.member(k))
}

/// Objects with at most this many members are searched entry by entry.
const SCANNED_MEMBERS: usize = 12;

/// `Value::get` for a member, as the engine reads pods. A pod's objects are
/// small, and `serde_json`'s ordered map hashes every key looked up with
/// SipHash: comparing a dozen short keys costs less than hashing one (the
/// 9.6 KB fixture's four containers alone look up about 120). Larger
/// objects are hashed, so a lookup stays O(1) whatever a pod holds.
pub(crate) trait Member {
    fn member(&self, key: &str) -> Option<&Value>;
    fn member_mut(&mut self, key: &str) -> Option<&mut Value>;
}

impl Member for Value {
    fn member(&self, key: &str) -> Option<&Value> {
        let Value::Object(members) = self else {
            return None;
        };
        if members.len() > SCANNED_MEMBERS {
            return members.get(key);
        }
        members.iter().find_map(|(k, v)| (k == key).then_some(v))
    }

    fn member_mut(&mut self, key: &str) -> Option<&mut Value> {
        let Value::Object(members) = self else {
            return None;
        };
        if members.len() > SCANNED_MEMBERS {
            return members.get_mut(key);
        }
        members
            .iter_mut()
            .find_map(|(k, v)| (k == key).then_some(v))
    }
}

/// The names of a StatefulSet's claim templates, which mounts may name.
pub fn claim_names(document: &Value, at: &Location) -> Vec<String> {
    at.claims
        .as_deref()
        .and_then(|p| document.pointer(p))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            field(c, &["metadata", "name"])
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests;
