//! YAML output that YAML 1.1 readers read back as written.
//!
//! `serde_yaml` writes YAML 1.2, where `yes`, `on` or `8080:80` are plain
//! strings. kubectl (sigs.k8s.io/yaml, go-yaml v2) and docker-compose 1.x
//! (PyYAML) read YAML 1.1, where they are a boolean and a base-60 number: a
//! hardened manifest that said `args: [--appendonly, yes]` would come back
//! with `true` in it and be rejected. Both `preview --output manifest` and
//! `compose` write through here. So every string that a 1.1 or 1.2 reader
//! could take for anything else is double-quoted; the rest stay plain.

use std::fmt::Write as _;

pub mod read;

use serde_yaml::{Mapping, Value};

/// A block-style YAML document of `doc`.
pub fn to_string(doc: &Mapping) -> String {
    let mut out = String::new();
    if doc.is_empty() {
        out.push_str("{}\n");
    } else {
        mapping(&mut out, doc, 0);
    }
    out
}

/// A JSON document as YAML that kubectl's YAML 1.1 reader reads back as
/// written (`yes` stays a string): `preview` manifests and PolicyReports.
pub(crate) fn from_json(v: &serde_json::Value) -> String {
    match serde_yaml::to_value(v) {
        Ok(Value::Mapping(m)) => to_string(&m),
        Ok(_) | Err(_) => {
            serde_yaml::to_string(v).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn mapping(out: &mut String, m: &Mapping, indent: usize) {
    for (k, v) in m {
        pad(out, indent);
        out.push_str(&scalar(k));
        out.push(':');
        value_after_key(out, v, indent);
    }
}

/// A value after `key:` (or after `- ` for items, with `indent` of the item content).
fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            mapping(out, m, indent + 2);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            sequence(out, s, indent + 2);
        }
        Value::Tagged(t) => {
            let _ = write!(out, " {}", t.tag);
            value_after_key(out, &t.value, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, s: &[Value], indent: usize) {
    for item in s {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                // The first key on the dash line, the others aligned under it.
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        pad(out, indent + 2);
                    }
                    first = false;
                    out.push_str(&scalar(k));
                    out.push(':');
                    value_after_key(out, v, indent + 2);
                }
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) on one line.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Sequence(_) => "[]".into(),
        Value::Mapping(_) => "{}".into(),
        Value::Tagged(t) => format!("{} {}", t.tag, scalar(&t.value)),
    }
}

/// A string as a plain or double-quoted scalar, as a YAML 1.1 reader reads it back.
pub(crate) fn string(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        // A JSON string is a valid YAML double-quoted scalar once the
        // characters JSON leaves raw but YAML readers do not take literally
        // (line separators, non-printable ones) are escaped too.
        let json = serde_json::to_string(s).expect("strings serialise");
        let mut out = String::with_capacity(json.len());
        for c in json.chars() {
            if safe_in_yaml(c) {
                out.push(c);
            } else if u32::from(c) <= 0xFFFF {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            } else {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
        out
    }
}

/// A character every YAML reader takes literally: YAML's printable set
/// without the YAML 1.1 line breaks (U+0085, U+2028, U+2029), which PyYAML
/// splits lines at, and without the byte order mark.
fn safe_in_yaml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Words YAML 1.1 reads as booleans or null.
const SPECIAL_WORDS: [&str; 12] = [
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "<<", "=",
];

fn plain_is_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let second = chars.next();
    if SPECIAL_WORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Numbers of every kind (ints, floats, hex, octal, base 60, dates, .inf)
    // start with a digit, or a sign or dot before one: all quoted.
    let numeric = first.is_ascii_digit()
        || ("+-.".contains(first)
            && second.is_some_and(|c| c.is_ascii_digit() || ".iInN".contains(c)));
    // Indicators that mean something at the start of a plain scalar; a dash
    // only when a space or nothing follows (`--flag` is fine).
    let indicator = "?:,[]{}#&*!|>'\"%@`= ".contains(first)
        || (first == '-' && second.is_none_or(|c| c == ' '));
    !(numeric
        || indicator
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || s.contains(['{', '}', '[', ']', ','])
        || s.chars().any(|c| c.is_control() || !safe_in_yaml(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_a_yaml_1_1_reader_would_misread_are_quoted() {
        for s in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "null",
            "~",
            "",
            "8080:80",
            "3.8",
            "1e3",
            "0x1f",
            "2024-01-01",
            "10m",
            ".5",
            "-1",
            "+1",
            "a: b",
            "x #y",
            "*ref",
            "&a",
            "!tag",
            "{a}",
            "[a]",
            "a,b",
            "trailing ",
            "multi\nline",
            "@x",
            "`x`",
            "%x",
            "'q'",
            "\"q\"",
            "<<",
            "-",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{85}b",
            "\u{FEFF}x",
            "del\u{7F}",
            "c1\u{9F}",
        ] {
            assert!(!plain_is_safe(s), "{s:?} should be quoted");
            let doc = read::value(&format!("k: {}", string(s))).unwrap();
            assert_eq!(doc["k"], Value::from(s), "{s:?} round-trips");
        }
        for s in [
            "nginx:1.27",
            "/tmp:size=64m",
            "./html:/usr/share/nginx/html:ro",
            "REDIS_URL=redis://cache:6379/0",
            "--appendonly",
            "redis-server",
            "CMD",
            "ph-es-usr-share-elasticsearch-config",
            "-c",
        ] {
            assert!(plain_is_safe(s), "{s:?} may stay plain");
        }
    }

    #[test]
    fn json_documents_are_written_yaml_1_1_safe() {
        // A PolicyReport result for a pod named `no` in namespace `on`.
        let v = serde_json::json!({"scope": {"name": "no", "namespace": "on"}, "count": 1});
        assert_eq!(
            from_json(&v),
            "scope:\n  name: \"no\"\n  namespace: \"on\"\ncount: 1\n"
        );
    }

    #[test]
    fn documents_round_trip() {
        let text = "version: '3.8'\nservices:\n  cache:\n    command: [redis-server, --appendonly, 'yes']\n    ports: ['6379:6379']\n    healthcheck: {test: [CMD, redis-cli, ping], interval: 10s, retries: 3}\n    labels: {}\n    tmpfs: []\n    environment: {A: null, B: 'on'}\n    volumes:\n      - type: tmpfs\n        target: /run\n        tmpfs: {size: 1048576}\n      - [nested, list]\nx-n: 1.5\n";
        let doc = read::value(text).unwrap().as_mapping().unwrap().clone();
        let written = to_string(&doc);
        let back = read::value(&written).unwrap().as_mapping().unwrap().clone();
        assert_eq!(back, doc, "{written}");
        assert!(written.contains("- \"yes\""), "{written}");
        assert!(written.contains("version: \"3.8\""), "{written}");
    }

    #[test]
    fn line_separators_are_escaped_not_written_raw() {
        let mut doc = Mapping::new();
        doc.insert(
            "k".into(),
            "one\u{2028}two\u{2029}\u{85}\u{FEFF}\u{1F600}".into(),
        );
        let written = to_string(&doc);
        assert_eq!(
            written,
            "k: \"one\\u2028two\\u2029\\u0085\\uFEFF\u{1F600}\"\n"
        );
        let back = read::value(&written).unwrap();
        assert_eq!(back.as_mapping(), Some(&doc));
    }
}
