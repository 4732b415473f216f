//! The AdmissionReview decoder: one pass over the request bytes that keeps
//! only what a review reads, in bounded memory and time.
//!
//! The envelope (`kind`, `apiVersion`, `request.uid`, ...) is read into small
//! structs whose strings borrow from the body where the JSON has no escapes.
//! The pod (`request.object`) becomes a `Node` tree, the engine's input,
//! its strings borrowed from the body, pruned while it is read: only the
//! fields a rule, the result check or the response reads are kept
//! (`Place::kept`); the rest (`status`, `metadata.managedFields`, other
//! tools' annotations, what a volume source says beyond its kind and
//! `readOnly`, an app container's `env`, `args`, probes, tolerations, ...)
//! is skipped without allocating. It is most of a real pod's bytes and the
//! easiest place for a hostile pod to be big. What is kept is charged
//! against an estimate of the memory it takes and a nesting depth; past
//! either, or past the deadline, building stops, the rest of the body is
//! only checked as JSON, and the review answers per `on_error` instead of
//! holding memory or a worker.
//!
//! The bytes are read by `json::Reader`, not by serde: a skipped value is
//! passed over in one tight loop, and the envelope's few fields are matched
//! by hand, as serde's derive would (a field twice is an error).

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use kube::core::admission::Operation;

use super::json::{self, Next, Reader};
use crate::harden::plan::{ANNOTATION_PREFIX, MIRROR_ANNOTATION};
use crate::harden::tree::{Members, Node};

/// Nesting allowed inside the pod. A real pod nests about 10 deep (node
/// affinity terms). The builder recurses once per level it keeps, so this
/// also bounds its stack; a skip does not recurse at all.
pub const MAX_DEPTH: usize = 32;

/// Estimated heap a kept pod may take. A real pod, however large, keeps a few
/// hundred KiB once managedFields, env and args are dropped; this bounds a
/// review's memory whatever the body holds.
pub const MAX_KEPT_BYTES: usize = 4 << 20;

/// How much of the pod a review may build, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_kept_bytes: usize,
    /// The review's time budget ends here; checked while decoding and between
    /// the review's steps.
    pub deadline: Option<Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_kept_bytes: MAX_KEPT_BYTES,
            deadline: None,
        }
    }
}

impl Limits {
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Why the pod was not decoded for the engine. The request is still answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    Depth { limit: usize },
    Size { limit: usize },
    Deadline,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overrun::Depth { limit } => {
                write!(f, "request.object nests deeper than {limit} levels")
            }
            Overrun::Size { limit } => write!(
                f,
                "request.object needs more than {} MiB to process",
                limit >> 20
            ),
            Overrun::Deadline => f.write_str("the review's time budget ran out"),
        }
    }
}

/// The AdmissionReview, as far as a review reads it.
#[derive(Debug, Default)]
pub(crate) struct Envelope<'de> {
    pub api_version: Option<Cow<'de, str>>,
    pub kind: Option<Cow<'de, str>>,
    pub request: Option<Request<'de>>,
}

#[derive(Debug, Default)]
pub struct Request<'de> {
    pub uid: String,
    pub resource: Option<Resource<'de>>,
    pub sub_resource: Option<Cow<'de, str>>,
    pub namespace: Option<Cow<'de, str>>,
    pub name: Option<Cow<'de, str>>,
    pub operation: Option<Operation>,
    /// The pod, pruned; `None` when absent, null, or not built (see `overrun`).
    pub object: Option<Node<'de>>,
    pub overrun: Option<Overrun>,
}

#[derive(Debug, Default)]
pub(crate) struct Resource<'de> {
    pub group: Cow<'de, str>,
    pub resource: Cow<'de, str>,
}

/// Decodes a whole body (trailing bytes other than whitespace are an error).
pub(crate) fn decode<'de>(text: &'de str, limits: &Limits) -> json::Result<Envelope<'de>> {
    let mut reader = Reader::new(text);
    let envelope = envelope(&mut reader, limits)?;
    reader.end()?;
    Ok(envelope)
}

/// Stores a field's value, refusing a second one as serde's derive does.
fn set_once<T>(r: &Reader, slot: &mut Option<T>, value: T, field: &str) -> json::Result<()> {
    if slot.is_some() {
        return Err(r.error(format_args!("duplicate field `{field}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// Opens the object at the cursor; `None` for `null` when `nullable`.
fn object(r: &mut Reader, nullable: bool, expected: &str) -> json::Result<Option<()>> {
    match r.peek()? {
        Next::Object => {
            r.open();
            Ok(Some(()))
        }
        Next::Null if nullable => r.literal(Next::Null).map(|_| None),
        other => Err(r.error(format_args!(
            "invalid type: {}, expected {expected}",
            other.name()
        ))),
    }
}

/// A string, or `None` for `null` when `nullable`.
fn text<'de>(r: &mut Reader<'de>, nullable: bool) -> json::Result<Option<Cow<'de, str>>> {
    match r.peek()? {
        Next::String => r.string().map(Some),
        Next::Null if nullable => r.literal(Next::Null).map(|_| None),
        other => Err(r.error(format_args!(
            "invalid type: {}, expected a string",
            other.name()
        ))),
    }
}

/// A field holding a string or `null`, set once.
fn text_once<'de>(
    r: &mut Reader<'de>,
    slot: &mut Option<Option<Cow<'de, str>>>,
    field: &str,
) -> json::Result<()> {
    let value = text(r, true)?;
    set_once(r, slot, value, field)
}

fn envelope<'de>(r: &mut Reader<'de>, limits: &Limits) -> json::Result<Envelope<'de>> {
    object(r, false, "an AdmissionReview object")?;
    let (mut api_version, mut kind, mut request) = (None, None, None);
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        match &*key {
            "apiVersion" => text_once(r, &mut api_version, "apiVersion")?,
            "kind" => text_once(r, &mut kind, "kind")?,
            "request" => {
                let value = match object(r, true, "an AdmissionRequest object")? {
                    Some(()) => Some(self::request(r, limits)?),
                    None => None,
                };
                set_once(r, &mut request, value, "request")?;
            }
            _ => r.skip()?,
        }
    }
    Ok(Envelope {
        api_version: api_version.flatten(),
        kind: kind.flatten(),
        request: request.flatten(),
    })
}

/// The fields of an opened `request`.
fn request<'de>(r: &mut Reader<'de>, limits: &Limits) -> json::Result<Request<'de>> {
    let mut request = Request::default();
    let (mut uid, mut resource, mut sub_resource) = (None, None, None);
    let (mut namespace, mut name, mut operation, mut object) = (None, None, None, None);
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        match &*key {
            "uid" => text_once(r, &mut uid, "uid")?,
            "resource" => {
                let value = match self::object(r, true, "struct Resource")? {
                    Some(()) => Some(self::resource(r)?),
                    None => None,
                };
                set_once(r, &mut resource, value, "resource")?;
            }
            "subResource" => text_once(r, &mut sub_resource, "subResource")?,
            "namespace" => text_once(r, &mut namespace, "namespace")?,
            "name" => text_once(r, &mut name, "name")?,
            "operation" => {
                let value = match text(r, true)? {
                    None => None,
                    Some(op) => Some(match &*op {
                        "CREATE" => Operation::Create,
                        "UPDATE" => Operation::Update,
                        "DELETE" => Operation::Delete,
                        "CONNECT" => Operation::Connect,
                        other => {
                            return Err(r.error(format_args!(
                                "unknown variant `{other}`, expected one of `CREATE`, `UPDATE`, `DELETE`, `CONNECT`"
                            )))
                        }
                    }),
                };
                set_once(r, &mut operation, value, "operation")?;
            }
            "object" => {
                let mut builder = Builder {
                    reader: &mut *r,
                    budget: Budget::new(limits),
                };
                let pod = builder.value(Place::Pod, 0)?;
                let overrun = builder.budget.overrun;
                request.overrun = overrun;
                let pod = Some(pod).filter(|p| *p != Node::Null && overrun.is_none());
                set_once(r, &mut object, pod, "object")?;
            }
            _ => r.skip()?,
        }
    }
    request.uid = uid.flatten().map(Cow::into_owned).unwrap_or_default();
    request.resource = resource.flatten();
    request.sub_resource = sub_resource.flatten();
    request.namespace = namespace.flatten();
    request.name = name.flatten();
    request.operation = operation.flatten();
    request.object = object.flatten();
    Ok(request)
}

/// The fields of an opened `request.resource`; a missing one is empty.
fn resource<'de>(r: &mut Reader<'de>) -> json::Result<Resource<'de>> {
    let (mut group, mut resource) = (None, None);
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        match &*key {
            "group" => {
                let value = text(r, false)?;
                set_once(r, &mut group, value, "group")?;
            }
            "resource" => {
                let value = text(r, false)?;
                set_once(r, &mut resource, value, "resource")?;
            }
            _ => r.skip()?,
        }
    }
    Ok(Resource {
        group: group.flatten().unwrap_or_default(),
        resource: resource.flatten().unwrap_or_default(),
    })
}

/// Estimated bytes of one kept value (a `Node`), one object member beyond
/// its key's text and its value (the key and, past a dozen members, its
/// share of the object's index with the table at its emptiest, just grown),
/// and one object's own heap, on a 64-bit target, rounded up; a vector's
/// spare room is not counted. A key's text is charged twice (an escaped key
/// is copied into the index) and a string's once, even where it is borrowed
/// from the body. See `tests::charges_cover_the_tree`.
const SLOT: usize = 48;
const ENTRY: usize = 144;
const MAP: usize = 64;
/// Kept values between two looks at the clock (the first value looks too, so
/// a review that starts past its deadline builds nothing).
const CLOCK_EVERY: u32 = 256;

struct Budget<'l> {
    limits: &'l Limits,
    kept_bytes: usize,
    values: u32,
    overrun: Option<Overrun>,
}

impl<'l> Budget<'l> {
    fn new(limits: &'l Limits) -> Self {
        Budget {
            limits,
            kept_bytes: 0,
            values: 0,
            overrun: None,
        }
    }

    /// Charges one kept value of `bytes`; false once anything ran out.
    fn charge(&mut self, bytes: usize) -> bool {
        if self.overrun.is_some() {
            return false;
        }
        self.kept_bytes += bytes;
        self.values = self.values.wrapping_add(1);
        if self.kept_bytes > self.limits.max_kept_bytes {
            self.overrun = Some(Overrun::Size {
                limit: self.limits.max_kept_bytes,
            });
        } else if self.values % CLOCK_EVERY == 1 && self.limits.expired() {
            self.overrun = Some(Overrun::Deadline);
        }
        self.overrun.is_none()
    }
}

/// Where in the pod a value sits: decides which of its fields are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Pod,
    Metadata,
    Annotations,
    Spec,
    Affinity,
    VolumeList,
    Volume,
    /// A volume's source (`secret`, `persistentVolumeClaim`, ...).
    VolumeSource,
    ProjectedSourceList,
    ProjectedSource,
    ContainerList,
    InitContainerList,
    Container,
    InitContainer,
    /// Kept whole.
    Other,
    /// Only its presence is read: a map here is kept empty.
    Presence,
}

impl Place {
    /// Whether a field at this place is kept: what some rule, the result
    /// check or the response reads, nothing else. Keep in step with the
    /// engine: `tests::pruning_changes_no_answer` compares the answers for
    /// the whole pod and the pruned one.
    fn kept(self, key: &str) -> bool {
        match self {
            Place::Pod => matches!(key, "metadata" | "spec"),
            Place::Metadata => matches!(key, "name" | "generateName" | "namespace" | "annotations"),
            // Ours, and the one that marks a mirror pod; a pod's others (a
            // whole `last-applied-configuration`, say) are no rule's business.
            Place::Annotations => key.starts_with(ANNOTATION_PREFIX) || key == MIRROR_ANNOTATION,
            // `os`, `nodeSelector` and `affinity` tell a Windows pod.
            Place::Spec => matches!(
                key,
                "volumes"
                    | "initContainers"
                    | "containers"
                    | "ephemeralContainers"
                    | "os"
                    | "nodeSelector"
                    | "affinity"
            ),
            Place::Affinity => key == "nodeAffinity",
            // A volume is classified by which source it has, the `readOnly`
            // of that source, and whether a projected one has a secret.
            Place::VolumeSource => matches!(key, "readOnly" | "sources"),
            Place::Container => Self::container_field(key),
            // A seed init container is recognised by its command (and by
            // having no args).
            Place::InitContainer => Self::container_field(key) || matches!(key, "command" | "args"),
            Place::Volume
            | Place::VolumeList
            | Place::ProjectedSourceList
            | Place::ProjectedSource
            | Place::ContainerList
            | Place::InitContainerList
            | Place::Other => true,
            Place::Presence => false,
        }
    }

    fn container_field(key: &str) -> bool {
        // `imagePullPolicy` and `resources` are copied to a seed container.
        matches!(
            key,
            "name"
                | "image"
                | "imagePullPolicy"
                | "volumeMounts"
                | "volumeDevices"
                | "securityContext"
                | "workingDir"
                | "resources"
                | "restartPolicy"
        )
    }

    fn field(self, key: &str) -> Place {
        match (self, key) {
            (Place::Pod, "metadata") => Place::Metadata,
            (Place::Pod, "spec") => Place::Spec,
            (Place::Metadata, "annotations") => Place::Annotations,
            (Place::Spec, "containers" | "ephemeralContainers") => Place::ContainerList,
            (Place::Spec, "initContainers") => Place::InitContainerList,
            (Place::Spec, "volumes") => Place::VolumeList,
            (Place::Spec, "affinity") => Place::Affinity,
            (Place::Volume, "name") => Place::Other,
            (Place::Volume, _) => Place::VolumeSource,
            (Place::VolumeSource, "sources") => Place::ProjectedSourceList,
            (Place::ProjectedSource | Place::Presence, _) => Place::Presence,
            _ => Place::Other,
        }
    }

    fn element(self) -> Place {
        match self {
            Place::ContainerList => Place::Container,
            Place::InitContainerList => Place::InitContainer,
            Place::VolumeList => Place::Volume,
            Place::ProjectedSourceList => Place::ProjectedSource,
            Place::Presence => Place::Presence,
            _ => Place::Other,
        }
    }
}

/// Builds the pod's kept values from the reader, within the budget.
struct Builder<'r, 'de, 'l> {
    reader: &'r mut Reader<'de>,
    budget: Budget<'l>,
}

impl<'de> Builder<'_, 'de, '_> {
    /// One value at `place`, `depth` containers below the pod: built if the
    /// budget allows, skipped (as `Null`) otherwise.
    fn value(&mut self, place: Place, depth: usize) -> json::Result<Node<'de>> {
        if self.budget.overrun.is_some() {
            self.reader.skip()?;
            return Ok(Node::Null);
        }
        match self.reader.peek()? {
            Next::Object => {
                self.reader.open();
                let entered = self.enter(depth, SLOT + MAP);
                let mut fields = Members::default();
                let mut first = true;
                while let Some(key) = self.reader.next_key(&mut first)? {
                    if !entered || !place.kept(&key) || !self.budget.charge(ENTRY + 2 * key.len()) {
                        self.reader.skip()?;
                        continue;
                    }
                    let value = self.value(place.field(&key), depth + 1)?;
                    // A repeated key replaces the earlier value in place, as
                    // serde_json's own `Value` does (and the API server's decoder).
                    fields.insert(key, value);
                }
                Ok(if entered {
                    Node::Object(fields)
                } else {
                    Node::Null
                })
            }
            Next::Array => {
                if !self.enter(depth, SLOT) {
                    self.reader.skip()?;
                    return Ok(Node::Null);
                }
                self.reader.open();
                let element = place.element();
                let mut items = Vec::new();
                let mut first = true;
                while self.reader.next_element(&mut first)? {
                    let item = self.value(element, depth + 1)?;
                    if self.budget.overrun.is_some() {
                        // The pod will not be used: skip the rest without
                        // holding a placeholder per element (a million `{}`
                        // would be 32 MB).
                        self.reader.skip_rest_of_array()?;
                        return Ok(Node::Null);
                    }
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            Next::String => {
                let text = self.reader.string()?;
                Ok(if self.budget.charge(SLOT + text.len()) {
                    Node::String(text)
                } else {
                    Node::Null
                })
            }
            Next::Number => {
                let number = self.reader.number()?;
                Ok(self.scalar(Node::scalar(number)))
            }
            literal => {
                let value = self.reader.literal(literal)?;
                Ok(self.scalar(Node::scalar(value)))
            }
        }
    }

    /// Charges a container (map or array) and checks its depth.
    fn enter(&mut self, depth: usize, bytes: usize) -> bool {
        if depth >= self.budget.limits.max_depth {
            if self.budget.overrun.is_none() {
                self.budget.overrun = Some(Overrun::Depth {
                    limit: self.budget.limits.max_depth,
                });
            }
            return false;
        }
        self.budget.charge(bytes)
    }

    fn scalar(&mut self, value: Node<'de>) -> Node<'de> {
        if self.budget.charge(SLOT) {
            value
        } else {
            Node::Null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::HashMap;
    use std::mem::size_of;

    /// The charges are at least what the tree takes on this target.
    #[test]
    fn charges_cover_the_tree() {
        assert!(SLOT >= size_of::<Node>());
        // The member, and its entry in an index (a key, a position and a
        // control byte) in a table just grown, 7/16 full.
        let indexed = (size_of::<Cow<str>>() + size_of::<usize>() + 1) * 16 / 7;
        assert!(ENTRY >= size_of::<(Cow<str>, Node)>() + indexed);
        assert!(MAP >= size_of::<HashMap<Cow<str>, usize>>());
    }
}
