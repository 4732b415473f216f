//! The engine: a pod (or pod template) and its profiles in, a `Plan` and its
//! JSON patch out. Pure: no I/O, no clock, no randomness, so that a second
//! pass over a hardened pod provably yields nothing.

pub mod names;
pub mod options;
pub mod patch;
pub mod plan;
pub mod validate;

pub use options::{Options, RuleMode};
pub use patch::{render, Location};
pub use plan::{plan, Action, Change, ContainerList, Plan, PodRef, Rule, Warning};
pub use validate::validate_pod_spec;

use crate::profile::Catalog;
use json_patch::PatchOperation;
use serde_json::Value;

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
    let plan = plan(pod, catalog, options);
    let ops = render(&plan, pod, at);
    Hardened { plan, ops }
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
            c.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests;
