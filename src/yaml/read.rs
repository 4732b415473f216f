//! Every YAML file the project reads (manifests for `preview`, profile files,
//! Compose files) goes through here: serde-saphyr, the parser kube itself
//! reads YAML with, under one set of options.
//!
//! The options keep what the project read before (serde_yaml 0.9, YAML 1.2
//! core schema): `yes`, `on` and `y` stay strings, `0755` and `1_000` stay
//! strings, `<<` is an ordinary key (Compose expands merge keys itself, see
//! `compose::resolve`), duplicate keys are an error. And they bound hostile
//! input explicitly: nesting depth, nodes, alias replays (billion laughs),
//! anchors, documents and scalar bytes all have a ceiling, so a small file
//! cannot make a large tree.
//!
//! Errors render with the file's name, line, column and a snippet of the
//! source around it ([`describe`]).

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{
    DuplicateKeyPolicy, MergeKeyPolicy, NonFiniteFloatPolicy, Options, Spanned, Tagged,
};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

pub use serde_saphyr::Error;

/// Deepest nesting read (serde_yaml stopped at 128 too; a Kubernetes object
/// or Compose file is a few dozen levels at most). Reading 128 levels takes
/// about 0.5 MiB of stack in a release build (4 MiB in a debug one).
pub const MAX_DEPTH: usize = 128;
/// Most nodes (scalars, sequences, mappings) in one read, aliases counted
/// as replayed: a large multi-document manifest has a few hundred thousand.
pub(crate) const MAX_NODES: usize = 2_000_000;
/// Most nodes that aliases may replay in one read, all aliases together: what
/// stops a billion-laughs file long before it is a billion of anything.
pub(crate) const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Most documents in one stream (`---` storms).
pub(crate) const MAX_DOCUMENTS: usize = 10_000;
/// Most scalar text in one read.
pub(crate) const MAX_SCALAR_BYTES: usize = 64 << 20;

/// The options of every read.
pub fn options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_events: 2 * MAX_NODES,
            max_documents: MAX_DOCUMENTS,
            max_total_scalar_bytes: MAX_SCALAR_BYTES,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_merge_keys: 10_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: 64,
            max_alias_expansions_per_anchor: 10_000,
        },
        // YAML 1.2 booleans only: `yes` and `on` stay the strings they are
        // to the API server (and were to serde_yaml).
        strict_booleans: true,
        // `0755` and `1_000` stay strings in untyped values, as before.
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        legacy_octal_numbers: false,
        // `.inf` and `.nan` reach the value as floats, as before.
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        // `!!binary` on a string is kept as written, not decoded.
        ignore_binary_tag_for_string: true,
        // Compose expands `<<` itself, with its own messages.
        merge_keys: MergeKeyPolicy::AsOrdinary,
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// One document of `text` as `T` (an empty text is `T`'s empty value, as
/// null would be).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Every document of a `---` separated stream as `T` (documents with no
/// content at all are skipped; an explicit `--- null` is `T`'s null).
///
/// A key twice in one mapping is left to `T` (`serde_json::Value` keeps the
/// last value at the first place): Kubernetes manifests in the wild have
/// such keys, and `preview` has always read them so.
pub fn documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    let mut options = options();
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    serde_saphyr::from_multiple_with_options(text, options)
}

/// [`documents`], each with the line its content starts on.
pub(crate) fn documents_at<T: DeserializeOwned>(text: &str) -> Result<Vec<(usize, T)>, Error> {
    let docs: Vec<Spanned<T>> = documents(text)?;
    Ok(docs
        .into_iter()
        .map(|d| ((d.referenced.line() as usize).max(1), d.value))
        .collect())
}

/// One document as a YAML value, custom tags (`!reset`, `!override`) kept as
/// [`Value::Tagged`] so that they are written back.
pub fn value(text: &str) -> Result<Value, Error> {
    let node: Tagged<Node> = from_str(text)?;
    Ok(tagged(node))
}

/// `file:line:column: message` followed by the lines around the place,
/// rustc style. The first line is the message alone.
pub fn describe(err: &Error, file: &str) -> String {
    let rendered = err.render_with_options(serde_saphyr::render_options! {
        source_name: Some(file),
    });
    let (head, snippet) = rendered.split_once('\n').unwrap_or((&rendered, ""));
    let message = message(head);
    if snippet.trim().is_empty() {
        message
    } else {
        format!("{message}\n{}", snippet.trim_end())
    }
}

/// `error: line 3 column 2: what` as `what`.
fn message(head: &str) -> String {
    let head = head.strip_prefix("error: ").unwrap_or(head);
    if let Some(rest) = head.strip_prefix("line ") {
        if let Some((_, what)) = rest.split_once(": ") {
            return what.to_string();
        }
    }
    head.to_string()
}

/// 1-based line and column of an error, when it has one.
pub fn location(err: &Error) -> Option<(usize, usize)> {
    err.location()
        .map(|l| (l.line() as usize, l.column() as usize))
}

/// A node of a YAML value; its tag comes with it through [`Tagged`].
struct Node(Value);

fn tagged(Tagged(Node(value), tag): Tagged<Node>) -> Value {
    match tag {
        // Application tags (`!reset`) are kept; the standard ones (`!!str`)
        // have done their work on the value already.
        Some(tag) if tag.starts_with('!') && tag.len() > 1 => {
            Value::Tagged(Box::new(TaggedValue {
                tag: Tag::new(tag),
                value,
            }))
        }
        _ => value,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node(Value::Number(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node(Value::Number(v.into())))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => u64::try_from(v)
                .map(|v| Node(Value::Number(v.into())))
                .map_err(|_| E::custom(format!("integer {v} is out of range"))),
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(|v| Node(Value::Number(v.into())))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node(Value::Number(v.into())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node(Value::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node(Value::String(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node(Value::String(String::from_utf8_lossy(v).into_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Tagged<Node>>()? {
            items.push(tagged(item));
        }
        Ok(Node(Value::Sequence(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Mapping::new();
        while let Some((k, v)) = map.next_entry::<Tagged<Node>, Tagged<Node>>()? {
            out.insert(tagged(k), tagged(v));
        }
        Ok(Node(Value::Mapping(out)))
    }
}

#[cfg(test)]
mod tests;
