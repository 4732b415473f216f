//! The AdmissionReview decoder: one pass over the request bytes that keeps
//! only what a review reads, in bounded memory and time.
//!
//! The envelope (`kind`, `apiVersion`, `request.uid`, ...) is read into small
//! structs whose strings borrow from the body where the JSON has no escapes.
//! The pod (`request.object`) becomes a `serde_json::Value`, the engine's
//! input, pruned while it is read: only the fields a rule, the result check
//! or the response reads are kept (`Place::kept`); the rest (`status`,
//! `metadata.managedFields`, other tools' annotations, what a volume source
//! says beyond its kind and `readOnly`, an app container's `env`, `args`,
//! probes, tolerations, ...) is skipped without allocating. It is most of a real
//! pod's bytes and the easiest place for a hostile pod to be big. What is
//! kept is charged against an estimate of the memory it takes and a nesting
//! depth; past either, or past the deadline, building stops, the rest of the
//! body is only checked as JSON, and the review answers per `on_error`
//! instead of holding memory or a worker.

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use kube::core::admission::Operation;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::harden::plan::{ANNOTATION_PREFIX, MIRROR_ANNOTATION};

/// Nesting allowed inside the pod. A real pod nests about 10 deep (node
/// affinity terms); serde_json itself stops at 128.
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

/// A string that borrows from the body unless the JSON escaped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// The AdmissionReview, as far as a review reads it.
#[derive(Debug, Default)]
pub(crate) struct Envelope<'de> {
    pub api_version: Option<Text<'de>>,
    pub kind: Option<Text<'de>>,
    pub request: Option<Request<'de>>,
}

#[derive(Debug, Default)]
pub struct Request<'de> {
    pub uid: String,
    pub resource: Option<Resource<'de>>,
    pub sub_resource: Option<Text<'de>>,
    pub namespace: Option<Text<'de>>,
    pub name: Option<Text<'de>>,
    pub operation: Option<Operation>,
    /// The pod, pruned; `None` when absent, null, or not built (see `overrun`).
    pub object: Option<Value>,
    pub overrun: Option<Overrun>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Resource<'a> {
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    #[serde(default, borrow)]
    pub resource: Cow<'a, str>,
}

/// Decodes a whole body (trailing bytes other than whitespace are an error).
pub fn decode<'de>(text: &'de str, limits: &Limits) -> serde_json::Result<Envelope<'de>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope = EnvelopeSeed { limits }.deserialize(&mut de)?;
    de.end()?;
    Ok(envelope)
}

/// Stores a field's value, refusing a second one as serde's derive does.
fn set_once<T, E: de::Error>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

struct EnvelopeSeed<'l> {
    limits: &'l Limits,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Envelope<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut envelope = Envelope::default();
        let (mut api_version, mut kind, mut request) = (None, None, None);
        while let Some(key) = map.next_key::<Text>()? {
            match &*key.0 {
                "apiVersion" => set_once(&mut api_version, map.next_value()?, "apiVersion")?,
                "kind" => set_once(&mut kind, map.next_value()?, "kind")?,
                "request" => set_once(
                    &mut request,
                    map.next_value_seed(OptionalRequest {
                        limits: self.limits,
                    })?,
                    "request",
                )?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        envelope.api_version = api_version.flatten();
        envelope.kind = kind.flatten();
        envelope.request = request.flatten();
        Ok(envelope)
    }
}

/// `request`, which may be null.
struct OptionalRequest<'l> {
    limits: &'l Limits,
}

impl<'de> DeserializeSeed<'de> for OptionalRequest<'_> {
    type Value = Option<Request<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalRequest<'_> {
    type Value = Option<Request<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionRequest object")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(RequestVisitor {
            limits: self.limits,
        })
        .map(Some)
    }
}

struct RequestVisitor<'l> {
    limits: &'l Limits,
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = Request<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionRequest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request<'de>, A::Error> {
        let mut request = Request::default();
        let mut uid: Option<Text> = None;
        let (mut resource, mut sub_resource, mut namespace, mut name) = (None, None, None, None);
        let (mut operation, mut object) = (None, None);
        while let Some(key) = map.next_key::<Text>()? {
            match &*key.0 {
                "uid" => set_once(&mut uid, map.next_value()?, "uid")?,
                "resource" => set_once(&mut resource, map.next_value()?, "resource")?,
                "subResource" => set_once(&mut sub_resource, map.next_value()?, "subResource")?,
                "namespace" => set_once(&mut namespace, map.next_value()?, "namespace")?,
                "name" => set_once(&mut name, map.next_value()?, "name")?,
                "operation" => set_once(&mut operation, map.next_value()?, "operation")?,
                "object" => {
                    let mut budget = Budget::new(self.limits);
                    let pod = map.next_value_seed(Node {
                        budget: &mut budget,
                        place: Place::Pod,
                        depth: 0,
                    })?;
                    request.overrun = budget.overrun;
                    let pod = Some(pod).filter(|p| !p.is_null() && budget.overrun.is_none());
                    set_once(&mut object, pod, "object")?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        request.uid = uid.map(|t| t.0.into_owned()).unwrap_or_default();
        request.resource = resource.flatten();
        request.sub_resource = sub_resource.flatten();
        request.namespace = namespace.flatten();
        request.name = name.flatten();
        request.operation = operation.flatten();
        request.object = object.flatten();
        Ok(request)
    }
}

/// Estimated bytes of one `Value` slot, one map entry beyond its key and
/// value, and one map: what serde_json's `Value` with `preserve_order`
/// (IndexMap) costs on a 64-bit target, rounded up.
const SLOT: usize = 32;
const ENTRY: usize = 80;
const MAP: usize = 128;
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

/// One value of the pod, built if the budget allows, skipped otherwise.
struct Node<'b, 'l> {
    budget: &'b mut Budget<'l>,
    place: Place,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.budget.overrun.is_some() {
            d.deserialize_ignored_any(IgnoredAny)?;
            return Ok(Value::Null);
        }
        d.deserialize_any(self)
    }
}

impl Node<'_, '_> {
    /// Charges a container (map or array) and checks its depth.
    fn enter(&mut self, bytes: usize) -> bool {
        if self.depth >= self.budget.limits.max_depth {
            if self.budget.overrun.is_none() {
                self.budget.overrun = Some(Overrun::Depth {
                    limit: self.budget.limits.max_depth,
                });
            }
            return false;
        }
        self.budget.charge(bytes)
    }

    fn scalar(self, bytes: usize, value: Value) -> Value {
        if self.budget.charge(bytes) {
            value
        } else {
            Value::Null
        }
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(self.scalar(SLOT, Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(self.scalar(SLOT, Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(self.scalar(SLOT, Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(self.scalar(SLOT, Value::from(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(self.scalar(SLOT, Value::Null))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        if self.budget.charge(SLOT + v.len()) {
            Ok(Value::String(v.to_owned()))
        } else {
            Ok(Value::Null)
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(self.scalar(SLOT + v.len(), Value::String(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        if !self.enter(SLOT) {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let place = self.place.element();
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node {
            budget: &mut *self.budget,
            place,
            depth: self.depth + 1,
        })? {
            if self.budget.overrun.is_some() {
                // The pod will not be used: skip the rest without holding a
                // placeholder per element (a million `{}` would be 32 MB).
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Value::Null);
            }
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        if !self.enter(SLOT + MAP) {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let mut fields = Map::new();
        while let Some(Text(key)) = map.next_key::<Text>()? {
            if !self.place.kept(&key) || !self.budget.charge(ENTRY + key.len()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(Node {
                budget: &mut *self.budget,
                place: self.place.field(&key),
                depth: self.depth + 1,
            })?;
            // A repeated key replaces the earlier value in place, as
            // serde_json's own `Value` does (and the API server's decoder).
            fields.insert(key.into_owned(), value);
        }
        Ok(Value::Object(fields))
    }
}
