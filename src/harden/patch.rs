//! `Plan` -> RFC 6902 operations against the object the API server sent.
//!
//! Whole objects or arrays are added where they are absent (an append to a
//! missing array fails with "doc is missing path"), arrays are appended to
//! with `/-`, and nothing another writer put there is rewritten or reordered:
//! the only edits to existing entries are the ones a rule decided (a secret
//! mount's path, its `readOnly`, a container's `readOnlyRootFilesystem`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::hashing::HashSet;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::{json, Value};

use super::plan::{Action, ContainerRef, Plan, PodRef, APPLIED_ANNOTATION};
use super::{object, Document};

/// Where the pod's metadata and spec sit in the document being patched, as
/// JSON pointers: `/metadata` and `/spec` for a Pod, `/spec/template/metadata`
/// and `/spec/template/spec` for a Deployment, and so on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Borrowed for a Pod's fixed pointers, which every review uses: the
    /// admission path allocates nothing for them.
    pub metadata: Cow<'static, str>,
    pub spec: Cow<'static, str>,
    /// A StatefulSet's `volumeClaimTemplates`: their names are volumes too.
    pub claims: Option<String>,
}

impl Location {
    pub fn pod() -> Self {
        Location {
            metadata: Cow::Borrowed("/metadata"),
            spec: Cow::Borrowed("/spec"),
            claims: None,
        }
    }

    /// The template location under a prefix such as `/spec/template`.
    pub fn template(prefix: &str) -> Self {
        Location {
            metadata: format!("{prefix}/metadata").into(),
            spec: format!("{prefix}/spec").into(),
            claims: None,
        }
    }
}

/// `base` (a pointer) followed by `tokens`, each escaped, made in one buffer
/// and checked once (a pointer per op, and a review renders dozens).
fn pointer(base: &str, tokens: &[&str]) -> PointerBuf {
    let mut path =
        String::with_capacity(base.len() + tokens.iter().map(|t| t.len() + 1).sum::<usize>());
    path.push_str(base);
    for token in tokens {
        path.push('/');
        if token.contains(['~', '/']) {
            path.push_str(&token.replace('~', "~0").replace('/', "~1"));
        } else {
            path.push_str(token);
        }
    }
    PointerBuf::parse(path).expect("locations are valid pointers and tokens are escaped")
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

/// `<spec>/<list>/<index>`, in one buffer of the right size.
fn container_base(spec: &str, c: ContainerRef) -> String {
    use std::fmt::Write as _;
    let field = c.list.field();
    let mut base = String::with_capacity(spec.len() + field.len() + 8);
    base.push_str(spec);
    base.push('/');
    base.push_str(field);
    let _ = write!(base, "/{}", c.index);
    base
}

fn container<'a, D: Document>(pod: PodRef<'a, D>, c: ContainerRef) -> Option<&'a D> {
    pod.spec_member(c.list.field())?.as_array()?.get(c.index)
}

/// Renders the plan's ops, in a stable order: edits of existing entries
/// first, appends after, the `applied` annotation last.
pub fn render<D: Document>(plan: &Plan, pod: PodRef<'_, D>, at: &Location) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    // Grouped by container in a map: a scan per mount is quadratic.
    let mut new_mounts: BTreeMap<(usize, usize), (ContainerRef, Vec<Value>)> = BTreeMap::new();
    let mut new_volumes = Vec::new();
    let mut new_inits = Vec::new();
    let mut inserted_inits: Vec<(usize, Value)> = Vec::new();
    for change in &plan.changes {
        match &change.action {
            Action::SetReadOnlyRoot { container: c } => {
                let base = container_base(&at.spec, *c);
                let security = container(pod, *c)
                    .and_then(|c| c.member("securityContext"))
                    .filter(|sc| sc.is_object());
                match security {
                    Some(sc) if sc.member("readOnlyRootFilesystem").is_some() => {
                        ops.push(PatchOperation::Replace(ReplaceOperation {
                            path: pointer(&base, &["securityContext", "readOnlyRootFilesystem"]),
                            value: json!(true),
                        }))
                    }
                    Some(_) => ops.push(add(
                        pointer(&base, &["securityContext", "readOnlyRootFilesystem"]),
                        json!(true),
                    )),
                    _ => ops.push(add(
                        pointer(&base, &["securityContext"]),
                        object([("readOnlyRootFilesystem", Value::Bool(true))]),
                    )),
                }
            }
            Action::MoveMount {
                container: c,
                mount_index,
                to,
                ..
            } => {
                let base = container_base(&at.spec, *c);
                // `add` sets a member whether or not it is there; `replace`
                // fails on a mount with no mountPath at all, and a patch that
                // does not apply fails the whole pod (found by tests/bad_input.rs).
                ops.push(PatchOperation::Add(AddOperation {
                    path: pointer(
                        &base,
                        &["volumeMounts", &mount_index.to_string(), "mountPath"],
                    ),
                    value: Value::String(to.clone()),
                }));
            }
            Action::MakeMountReadOnly {
                container: c,
                mount_index,
            } => {
                let base = container_base(&at.spec, *c);
                ops.push(add(
                    pointer(
                        &base,
                        &["volumeMounts", &mount_index.to_string(), "readOnly"],
                    ),
                    json!(true),
                ));
            }
            Action::AddMount {
                container: c,
                mount,
            } => new_mounts
                .entry((c.list as usize, c.index))
                .or_insert_with(|| (*c, Vec::new()))
                .1
                .push(mount.to_value()),
            Action::AddVolume { volume } => new_volumes.push(volume.to_value()),
            Action::AddInitContainer {
                init_container,
                before: None,
            } => new_inits.push(init_container.clone()),
            Action::AddInitContainer {
                init_container,
                before: Some(i),
            } => inserted_inits.push((*i, init_container.clone())),
        }
    }
    for (c, mounts) in new_mounts.into_values() {
        let base = container_base(&at.spec, c);
        append(
            &mut ops,
            container(pod, c).and_then(|c| c.member("volumeMounts")),
            pointer(&base, &["volumeMounts"]),
            mounts,
        );
    }
    append(
        &mut ops,
        pod.spec_member("volumes"),
        pointer(&at.spec, &["volumes"]),
        new_volumes,
    );
    append(
        &mut ops,
        pod.spec_member("initContainers"),
        pointer(&at.spec, &["initContainers"]),
        new_inits,
    );
    // Inserts come after every op that names an init container by index, and
    // from the highest index down, so that each index still means what it
    // meant in the pod as sent.
    inserted_inits.sort_by_key(|(before, _)| std::cmp::Reverse(*before));
    for (before, init) in inserted_inits {
        ops.push(add(
            pointer(&at.spec, &["initContainers", &before.to_string()]),
            init,
        ));
    }
    if !ops.is_empty() {
        ops.push(applied_annotation(plan, pod, at));
    }
    ops
}

/// Appends with `/-` to an existing array; adds the whole array otherwise.
fn append<D: Document>(
    ops: &mut Vec<PatchOperation>,
    existing: Option<&D>,
    path: PointerBuf,
    items: Vec<Value>,
) {
    if items.is_empty() {
        return;
    }
    if existing.and_then(D::as_array).is_some() {
        for item in items {
            let mut p = path.clone();
            p.push_back("-");
            ops.push(add(p, item));
        }
    } else {
        ops.push(add(path, Value::Array(items)));
    }
}

/// `pod-hardener.dev/applied`: per container, what was done, merged with what
/// an earlier pass recorded (a re-invocation hardens a late sidecar).
fn applied_annotation<D: Document>(
    plan: &Plan,
    pod: PodRef<'_, D>,
    at: &Location,
) -> PatchOperation {
    let mut summary: BTreeMap<String, Vec<String>> = pod
        .annotations()
        .and_then(|a| a.member(APPLIED_ANNOTATION))
        .and_then(D::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    // Items already listed, per container: a scan per item is quadratic.
    // Keyed by the plan's own names: a container's name is copied once, as
    // the summary's key, and only when the summary lacks it.
    let mut recorded: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    for change in &plan.changes {
        let item = match &change.action {
            Action::SetReadOnlyRoot { .. } => "readOnlyRootFilesystem".to_string(),
            Action::AddMount { mount, .. } => ["emptyDir:", &mount.mount_path].concat(),
            Action::MoveMount { from, to, .. } => ["secretMoved:", from, "->", to].concat(),
            Action::MakeMountReadOnly { .. } => "secretReadOnly".to_string(),
            Action::AddInitContainer { init_container, .. } => {
                ["seed:", init_container["name"].as_str().unwrap_or("")].concat()
            }
            Action::AddVolume { .. } => continue,
        };
        let container = change.container.as_str();
        if !summary.contains_key(container) {
            summary.insert(container.to_string(), Vec::new());
        }
        let list = summary.get_mut(container).expect("inserted above");
        let seen = recorded
            .entry(container)
            .or_insert_with(|| list.iter().cloned().collect());
        if seen.insert(item.clone()) {
            list.push(item);
        }
    }
    let value = serde_json::to_string(&summary).expect("strings serialise");
    match pod.metadata.filter(|m| m.is_object()) {
        Some(m) => match m.member("annotations") {
            Some(a) if a.is_object() => add(
                pointer(&at.metadata, &["annotations", APPLIED_ANNOTATION]),
                Value::String(value),
            ),
            _ => add(
                pointer(&at.metadata, &["annotations"]),
                object([(APPLIED_ANNOTATION, Value::String(value))]),
            ),
        },
        None => {
            let annotations = object([(APPLIED_ANNOTATION, Value::String(value))]);
            add(
                pointer(&at.metadata, &[]),
                object([("annotations", annotations)]),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_bases_are_what_format_writes() {
        use super::super::plan::ContainerList;
        for index in [0, 7, 10, 99, 100, 12345, usize::MAX] {
            for list in [ContainerList::Init, ContainerList::App] {
                let c = ContainerRef { list, index };
                let expected = format!("/spec/template/spec/{}/{index}", list.field());
                assert_eq!(container_base("/spec/template/spec", c), expected);
            }
        }
    }

    #[test]
    fn pointers_escape_their_tokens_as_jsonptr_does() {
        for tokens in [
            &[][..],
            &["annotations", APPLIED_ANNOTATION][..],
            &["a~b/c", "~1", "/", "~", "", "-", "0"][..],
        ] {
            let mut expected = PointerBuf::parse("/spec/template/metadata").unwrap();
            for t in tokens {
                expected.push_back(*t);
            }
            assert_eq!(pointer("/spec/template/metadata", tokens), expected);
        }
    }
}
