//! Readers of Compose values that several steps share (merging, reading
//! mounts, planning, rendering), kept apart so that none of those modules
//! reaches into another for a YAML helper.

use serde_yaml::Value;

/// A string or a list, as a list (`tmpfs: /run` and `tmpfs: [/run]` alike).
pub(crate) fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}
