//! A JSON tree whose strings are borrowed where they can be and whose
//! objects are their members in order: the admission decoder's pod, built
//! and dropped per request with most members looked up once or never, and
//! the copy the result check patches. For either, a copy per string and an
//! ordered hash map per object (what a `serde_json::Value` costs) bought
//! nothing.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::harden::document::{Document, SCANNED_MEMBERS};
use crate::hashing::HashMap;

/// A JSON value of a tree: the decoded pod, or the result check's copy.
#[derive(Debug, PartialEq)]
pub(crate) enum Node<'de> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'de, str>),
    Array(Vec<Node<'de>>),
    Object(Members<'de>),
}

impl<'a> Node<'a> {
    /// A scalar as the reader returns it (`null`, a boolean or a number).
    pub(crate) fn scalar(value: Value) -> Self {
        match value {
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => Node::Number(n),
            _ => Node::Null,
        }
    }

    /// A copy of `value` whose strings borrow from it.
    pub(crate) fn copy_of<D: Document>(value: &'a D) -> Self {
        if let Some(items) = value.as_array() {
            return Node::Array(items.iter().map(Node::copy_of).collect());
        }
        if value.is_object() {
            let mut entries = Vec::with_capacity(value.entries().count());
            entries.extend(
                value
                    .entries()
                    .map(|(k, v)| (Cow::Borrowed(k), Node::copy_of(v))),
            );
            return Node::Object(Members::of_distinct(entries));
        }
        if let Some(s) = value.as_str() {
            return Node::String(Cow::Borrowed(s));
        }
        if let Some(b) = value.as_bool() {
            return Node::Bool(b);
        }
        value
            .as_number()
            .map_or(Node::Null, |n| Node::Number(n.clone()))
    }

    pub(crate) fn member_mut(&mut self, key: &str) -> Option<&mut Self> {
        let Node::Object(members) = self else {
            return None;
        };
        let i = members.position(key)?;
        Some(&mut members.entries[i].1)
    }
}

/// An object's members in the order first seen. A repeated key replaces the
/// earlier value in place, as serde_json's `Value` does (and the API
/// server's decoder). Past `SCANNED_MEMBERS` members an index by key keeps
/// each lookup, and the repeated-key check while building, O(1): a hostile
/// object of a million keys costs linear time, not quadratic.
#[derive(Debug, Default)]
pub(crate) struct Members<'de> {
    entries: Vec<(Cow<'de, str>, Node<'de>)>,
    index: Option<Box<HashMap<Cow<'de, str>, usize>>>,
}

impl PartialEq for Members<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<'de> Members<'de> {
    /// Members whose keys are known to differ (they come from one object),
    /// in this order.
    pub(crate) fn of_distinct(entries: Vec<(Cow<'de, str>, Node<'de>)>) -> Self {
        let index = (entries.len() > SCANNED_MEMBERS).then(|| Self::index_of(&entries));
        Members { entries, index }
    }

    /// Each key's position among `entries`.
    fn index_of(entries: &[(Cow<'de, str>, Node<'de>)]) -> Box<HashMap<Cow<'de, str>, usize>> {
        let by_key = entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i));
        Box::new(by_key.collect())
    }

    pub(crate) fn insert(&mut self, key: Cow<'de, str>, value: Node<'de>) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        let at = self.entries.len();
        match &mut self.index {
            Some(index) => {
                index.insert(key.clone(), at);
            }
            None if at == SCANNED_MEMBERS => {
                let mut index = Self::index_of(&self.entries);
                index.insert(key.clone(), at);
                self.index = Some(index);
            }
            None => {}
        }
        self.entries.push((key, value));
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }
}

impl<'de> Document for Node<'de> {
    fn member(&self, key: &str) -> Option<&Self> {
        let Node::Object(members) = self else {
            return None;
        };
        members.position(key).map(|i| &members.entries[i].1)
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &Self)> {
        let entries = match self {
            Node::Object(members) => &members.entries[..],
            _ => &[],
        };
        entries.iter().map(|(k, v)| (&**k, v))
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&Number> {
        match self {
            Node::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Self]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }

    fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => {
                let mut map = Map::with_capacity(members.entries.len());
                for (k, v) in &members.entries {
                    map.insert(k.to_string(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(keys: &[&'static str]) -> Node<'static> {
        let mut members = Members::default();
        for (i, k) in keys.iter().enumerate() {
            members.insert(Cow::Borrowed(*k), Node::Number(i.into()));
        }
        Node::Object(members)
    }

    /// As serde_json's `Value`: a repeated key keeps its first place and
    /// its last value, below and past the indexed size.
    #[test]
    fn a_repeated_key_replaces_in_place() {
        for n in [3, SCANNED_MEMBERS, SCANNED_MEMBERS + 1, 40] {
            let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let mut keys: Vec<&'static str> = names.iter().map(|s| &*s.clone().leak()).collect();
            keys.extend(["k0", "k1", &*format!("k{}", n - 1).leak()]);
            let node = object(&keys);
            let text = format!(
                "{{{}}}",
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| format!("{k:?}:{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let expected: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(node.to_value(), expected, "{n} members");
            assert_eq!(
                serde_json::to_string(&node.to_value()).unwrap(),
                serde_json::to_string(&expected).unwrap(),
                "{n} members, in order"
            );
            for (k, v) in expected.as_object().unwrap() {
                assert_eq!(node.member(k).map(Node::to_value).as_ref(), Some(v));
            }
            assert_eq!(node.member("absent"), None);
            assert_eq!(node.entries().count(), n);
            // A copy, built at its size with `of_distinct`, finds the same.
            let copy = Node::copy_of(&expected);
            assert_eq!(copy, node, "{n} members, copied");
            for (k, v) in expected.as_object().unwrap() {
                assert_eq!(copy.member(k).map(Node::to_value).as_ref(), Some(v));
            }
            assert_eq!(copy.member("absent"), None);
        }
    }
}
