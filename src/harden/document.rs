//! The JSON the engine reads a pod from: serde_json's `Value` (manifests,
//! Compose, tests), or the admission decoder's own tree, whose strings point
//! into the request (one review's pod, built without an ordered map or a
//! copy per string). The engine only reads through this trait; what it
//! writes (volumes, mounts, seed containers, the patch) is `Value`.

use serde_json::{Number, Value};

/// Objects with at most this many members are searched entry by entry.
pub(crate) const SCANNED_MEMBERS: usize = 12;

/// A JSON value as the engine reads it. The methods that share a name with
/// `Value`'s mean what they mean there.
pub trait Document: Sized {
    /// The member `key` of an object; `None` for anything else.
    fn member(&self, key: &str) -> Option<&Self>;
    /// An object's members in order; nothing for anything else.
    fn entries(&self) -> impl Iterator<Item = (&str, &Self)>;
    fn as_str(&self) -> Option<&str>;
    fn as_bool(&self) -> Option<bool>;
    fn as_number(&self) -> Option<&Number>;
    fn as_array(&self) -> Option<&[Self]>;
    fn is_object(&self) -> bool;
    fn is_null(&self) -> bool;
    /// A copy as a `Value`, for what the engine carries into the patch.
    fn to_value(&self) -> Value;

    /// The value at a JSON pointer (RFC 6901), as `Value::pointer` finds it.
    fn pointer(&self, pointer: &str) -> Option<&Self> {
        find(self, pointer)
    }
}

/// `Document::pointer`, step by step.
fn find<'d, D: Document>(document: &'d D, pointer: &str) -> Option<&'d D> {
    if pointer.is_empty() {
        return Some(document);
    }
    let tokens = pointer.strip_prefix('/')?;
    tokens.split('/').try_fold(document, |value, token| {
        let token = unescape(token);
        match value.as_array() {
            Some(items) => items.get(array_index(&token)?),
            None => value.member(&token),
        }
    })
}

/// A pointer token unescaped, borrowed when it has no escape.
pub(crate) fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

/// An array index as `Value::pointer` reads one: digits, no leading zero.
pub(crate) fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

/// A pod's objects are small, and `serde_json`'s ordered map hashes every
/// key looked up with SipHash: comparing a dozen short keys costs less than
/// hashing one (the 9.6 KB fixture's four containers alone look up about
/// 120). Larger objects are hashed, so a lookup stays O(1) whatever a pod
/// holds.
impl Document for Value {
    fn member(&self, key: &str) -> Option<&Value> {
        let Value::Object(members) = self else {
            return None;
        };
        if members.len() > SCANNED_MEMBERS {
            return members.get(key);
        }
        members.iter().find_map(|(k, v)| (k == key).then_some(v))
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn as_number(&self) -> Option<&Number> {
        Value::as_number(self)
    }

    fn as_array(&self) -> Option<&[Value]> {
        Value::as_array(self).map(Vec::as_slice)
    }

    fn is_object(&self) -> bool {
        Value::is_object(self)
    }

    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn to_value(&self) -> Value {
        self.clone()
    }

    fn pointer(&self, pointer: &str) -> Option<&Value> {
        Value::pointer(self, pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The pointer walk other documents use finds what `Value::pointer` finds.
    #[test]
    fn pointer_walk_agrees_with_serde_json() {
        let doc = json!({"a": {"b/c": [1, {"d~e": true}], "": {"x": null}}, "01": 2});
        let pointers = [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/2",
            "/a//x",
            "/01",
            "a",
            "/a/b~1c/1/d~0e/x",
            "/a/b~1c/-",
            "/a/b~1c/1/",
        ];
        for p in pointers {
            assert_eq!(find(&doc, p), doc.pointer(p), "pointer {p:?}");
        }
    }
}
