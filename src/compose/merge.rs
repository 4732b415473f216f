//! Several `-f` files merged in order, as Compose merges them.
//!
//! Later files win for single values; mappings merge key by key; lists follow
//! the Compose rules that matter for hardening and for a faithful `merged`
//! output: `volumes` and `devices` by container path, `secrets` and `configs`
//! by source, `environment`-like entries by variable, `depends_on` and
//! `networks` by name (a list and a mapping combine), `links` by alias,
//! `logging` options only while the driver stays the same, `tmpfs`, `ports`
//! and friends appended without duplicates; `command`, `entrypoint` and other
//! lists are replaced.

use serde_yaml::{Mapping, Value};

use super::mounts;
use super::value::as_list;

/// `over` merged onto `base` (two whole files).
pub(crate) fn merge_files(mut base: Mapping, over: Mapping) -> Mapping {
    for (key, value) in over {
        let merged = match (key.as_str(), base.get(&key)) {
            (Some("services"), Some(Value::Mapping(services))) => match value {
                Value::Mapping(over_services) => {
                    Value::Mapping(merge_services(services.clone(), over_services))
                }
                other => other,
            },
            (_, Some(Value::Mapping(existing))) => match value {
                Value::Mapping(m) => Value::Mapping(deep_merge(existing.clone(), m)),
                other => other,
            },
            _ => value,
        };
        base.insert(key, merged);
    }
    base
}

fn merge_services(mut base: Mapping, over: Mapping) -> Mapping {
    for (name, service) in over {
        let merged = match (base.get(&name), service) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => {
                Value::Mapping(merge_service(b.clone(), o))
            }
            (_, other) => other,
        };
        base.insert(name, merged);
    }
    base
}

/// One service's definition merged onto another's.
pub(crate) fn merge_service(mut base: Mapping, over: Mapping) -> Mapping {
    for (key, value) in over {
        let merged = match (key.as_str().unwrap_or(""), base.get(&key)) {
            (_, None) => value,
            ("volumes" | "devices", Some(b)) => merge_keyed(b, &value, mounts::target_of),
            ("secrets" | "configs", Some(b)) => merge_keyed(b, &value, source_of),
            ("environment" | "labels" | "sysctls" | "extra_hosts" | "annotations", Some(b)) => {
                merge_assignments(b, &value)
            }
            (
                "tmpfs"
                | "dns"
                | "dns_search"
                | "env_file"
                | "ports"
                | "expose"
                | "cap_add"
                | "cap_drop"
                | "external_links"
                | "volumes_from"
                | "security_opt"
                | "device_cgroup_rules"
                | "profiles",
                Some(b),
            ) => append_unique(b, &value),
            ("depends_on", Some(b)) => merge_named(b, &value, "service_started"),
            ("networks", Some(b)) => merge_named(b, &value, ""),
            ("links", Some(b)) => merge_keyed(b, &value, link_alias),
            ("logging", Some(Value::Mapping(b))) => merge_logging(b, value),
            ("ulimits" | "storage_opt", Some(Value::Mapping(b))) => match value {
                Value::Mapping(o) => {
                    let mut m = b.clone();
                    m.extend(o);
                    Value::Mapping(m)
                }
                other => other,
            },
            ("build", Some(b)) => {
                Value::Mapping(deep_merge(build_mapping(b), build_mapping(&value)))
            }
            ("command" | "entrypoint", Some(_)) => value,
            (_, Some(Value::Mapping(b))) => match value {
                Value::Mapping(o) => Value::Mapping(deep_merge(b.clone(), o)),
                other => other,
            },
            (_, Some(_)) => value,
        };
        base.insert(key, merged);
    }
    base
}

/// Mappings merged key by key, recursively; anything else is replaced.
fn deep_merge(mut base: Mapping, over: Mapping) -> Mapping {
    for (key, value) in over {
        let merged = match (base.get(&key), value) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => {
                Value::Mapping(deep_merge(b.clone(), o))
            }
            (_, v) => v,
        };
        base.insert(key, merged);
    }
    base
}

fn append_unique(base: &Value, over: &Value) -> Value {
    let mut out = as_list(base);
    for item in as_list(over) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Value::Sequence(out)
}

/// Lists whose entries are identified by a key: a later entry with the same
/// key replaces the earlier one in place; new entries are appended.
fn merge_keyed(base: &Value, over: &Value, key: impl Fn(&Value) -> Option<String>) -> Value {
    let mut out = as_list(base);
    for item in as_list(over) {
        let k = key(&item);
        match out
            .iter()
            .position(|existing| k.is_some() && key(existing) == k)
        {
            Some(i) => out[i] = item,
            None => out.push(item),
        }
    }
    Value::Sequence(out)
}

/// `depends_on` or `networks`: a list of names or a mapping of name to
/// options. Two lists stay a list; otherwise names from a list become
/// entries with no options, or with `condition` (for `depends_on`, which
/// needs one in the mapping form: `service_started`, Compose's default).
fn merge_named(base: &Value, over: &Value, condition: &str) -> Value {
    if let (Value::Sequence(_), Value::Sequence(_)) = (base, over) {
        return append_unique(base, over);
    }
    let to_map = |v: &Value| -> Mapping {
        match v {
            Value::Mapping(m) => m.clone(),
            other => as_list(other)
                .into_iter()
                .map(|name| {
                    let mut options = Mapping::new();
                    if !condition.is_empty() {
                        options.insert("condition".into(), condition.into());
                    }
                    (name, Value::Mapping(options))
                })
                .collect(),
        }
    };
    Value::Mapping(deep_merge(to_map(base), to_map(over)))
}

/// A link's alias: `db:database` is reached as `database`, `db` as `db`.
fn link_alias(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    Some(s.rsplit(':').next().unwrap_or(s).to_string())
}

/// `logging`: a different driver brings its own options (or none); the same
/// driver merges them.
fn merge_logging(base: &Mapping, over: Value) -> Value {
    let Value::Mapping(over) = over else {
        return over;
    };
    let same_driver = match (base.get("driver"), over.get("driver")) {
        (_, None) | (None, _) => true,
        (Some(b), Some(o)) => b == o,
    };
    if same_driver {
        return Value::Mapping(deep_merge(base.clone(), over));
    }
    let mut out = base.clone();
    out.remove("options");
    out.extend(over);
    Value::Mapping(out)
}

/// `build: ./dir` as `{context: ./dir}`, so that both forms merge.
fn build_mapping(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::String(s) => [(Value::from("context"), Value::from(s.as_str()))]
            .into_iter()
            .collect(),
        _ => Mapping::new(),
    }
}

fn source_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Mapping(m) => m.get("source").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `environment`-style values: a mapping, or a list of `KEY=value` (or
/// `host:ip` for extra_hosts). Both forms merge by key; a mapping wins as the
/// output form when the two differ.
fn merge_assignments(base: &Value, over: &Value) -> Value {
    fn key_of(s: &str) -> &str {
        s.split(['=', ':']).next().unwrap_or(s)
    }
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => Value::Mapping(deep_merge(b.clone(), o.clone())),
        (Value::Sequence(_), Value::Sequence(_)) => {
            merge_keyed(base, over, |v| v.as_str().map(|s| key_of(s).to_string()))
        }
        _ => {
            let to_map = |v: &Value| -> Mapping {
                match v {
                    Value::Mapping(m) => m.clone(),
                    Value::Sequence(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|s| match s.split_once(['=', ':']) {
                            Some((k, v)) => (Value::from(k), Value::from(v)),
                            None => (Value::from(s), Value::Null),
                        })
                        .collect(),
                    _ => Mapping::new(),
                }
            };
            Value::Mapping(deep_merge(to_map(base), to_map(over)))
        }
    }
}
