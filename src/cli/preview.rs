//! `preview`: the exact change the webhook would make, for any manifest.
//!
//! Every document of the input is read; each workload's pod template goes
//! through the same engine the webhook uses, with patch paths that point into
//! the workload. Other kinds pass through untouched.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::harden::{claim_names, harden, validate_pod_spec, Options};
use crate::profile::Catalog;
use crate::workload::{describe, find_pods};

/// `--output` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A unified diff of each changed object (coloured on a terminal).
    Diff,
    /// The JSON patch of each object.
    Patch,
    /// The hardened YAML of every document, ready to commit.
    Manifest,
    /// Plan, patch and warnings of each workload, for scripts.
    Json,
}

/// One input document after hardening.
#[derive(Debug, Clone)]
pub struct Previewed {
    /// 1-based document number in the input.
    pub index: usize,
    pub line: usize,
    pub before: Value,
    pub after: Value,
    /// One entry per pod template found in the document.
    pub workloads: Vec<Value>,
}

/// Splits a YAML or JSON stream into documents; errors give document and line.
pub fn parse_documents(text: &str) -> Result<Vec<(usize, Value)>, String> {
    let starts = document_lines(text);
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let line = starts.get(i).copied().unwrap_or(1);
        let value = Value::deserialize(de).map_err(|e| {
            let at = e.location().map(|l| l.line()).unwrap_or(line);
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            format!("document {} (line {at}): {msg}", i + 1)
        })?;
        if value.is_null() {
            continue;
        }
        if !value.is_object() {
            return Err(format!(
                "document {} (line {line}): expected a Kubernetes object (a mapping with kind)",
                i + 1
            ));
        }
        docs.push((line, value));
    }
    Ok(docs)
}

/// First line of each document: line 1, and the line after each `---`.
fn document_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pending = true;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("---") {
            pending = true;
            continue;
        }
        let content = !l.trim().is_empty() && !l.trim_start().starts_with('#');
        if pending && content {
            starts.push(i + 1);
            pending = false;
        }
    }
    starts
}

/// Container lists that are present but not lists: the API server refuses such
/// a pod, and the engine would see no containers in it and say nothing.
fn misshapen_container_lists(doc: &Value, spec_pointer: &str) -> Option<String> {
    let spec = doc.pointer(spec_pointer)?;
    ["initContainers", "containers"].iter().find_map(|field| {
        let found = spec.get(*field)?;
        let shape = match found {
            Value::Array(_) | Value::Null => return None,
            Value::Object(_) => "a mapping",
            Value::String(_) => "a string",
            _ => "a scalar",
        };
        Some(format!(
            "spec.{field} is {shape}; it must be a list of containers (`- name: ...`)"
        ))
    })
}

/// Hardens every pod template in every document.
pub fn preview(text: &str, catalog: &Catalog, options: &Options) -> Result<Vec<Previewed>, String> {
    let docs = parse_documents(text)?;
    let mut out = Vec::new();
    for (n, (line, doc)) in docs.into_iter().enumerate() {
        let mut after = doc.clone();
        let mut workloads = Vec::new();
        for found in find_pods(&doc) {
            if let Some(problem) = misshapen_container_lists(&doc, &found.location.spec) {
                let object = doc.pointer(&found.object).unwrap_or(&doc);
                return Err(format!(
                    "document {} (line {line}): {}: {problem}",
                    n + 1,
                    describe(object)
                ));
            }
            let hardened = harden(&doc, &found.location, catalog, options);
            json_patch::patch(&mut after, &hardened.ops).map_err(|e| {
                format!(
                    "document {} (line {line}): internal error, patch does not apply: {e}",
                    n + 1
                )
            })?;
            let object = doc.pointer(&found.object).unwrap_or(&doc);
            let spec_after = after
                .pointer(&found.location.spec)
                .cloned()
                .unwrap_or(Value::Null);
            workloads.push(json!({
                "document": n + 1,
                "object": describe(object),
                "kind": found.kind,
                "templatePath": found.location.spec,
                "plan": hardened.plan,
                "patch": hardened.ops,
                "problems": validate_pod_spec(&spec_after, &claim_names(&after, &found.location)),
            }));
        }
        out.push(Previewed {
            index: n + 1,
            line,
            before: doc,
            after,
            workloads,
        });
    }
    Ok(out)
}

/// What a user should hear about the input besides the changes: documents that
/// hold no pod template, an input with no documents at all, and images that no
/// profile knows (they get only the defaults, and are the likeliest to break).
pub fn notes(docs: &[Previewed]) -> Vec<String> {
    if docs.is_empty() {
        return vec!["no documents found: the input is empty or holds only comments".into()];
    }
    let mut notes = Vec::new();
    for d in docs {
        if d.workloads.is_empty() {
            let kind = d.before.get("kind").and_then(Value::as_str).unwrap_or("");
            let kind = if kind.is_empty() { "no kind" } else { kind };
            notes.push(format!(
                "document {} (line {}): no pod template ({kind}): passed through unchanged",
                d.index, d.line
            ));
        }
        for w in &d.workloads {
            for c in w["plan"]["containers"].as_array().into_iter().flatten() {
                if c["profile"] == "defaults" && c.get("skipped").is_none() {
                    notes.push(format!(
                        "document {}: {} container {}: no profile matches image {}: it gets only the defaults; \
                         `pod-hardener profiles explain IMAGE` shows why, `pod-hardener doctor` finds what it writes if it fails",
                        d.index,
                        w["object"].as_str().unwrap_or(""),
                        c["name"].as_str().unwrap_or(""),
                        c["image"].as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    notes
}

/// YAML that kubectl's YAML 1.1 reader reads back as written (`yes` stays a string).
fn to_yaml(v: &Value) -> String {
    match serde_yaml::to_value(v) {
        Ok(serde_yaml::Value::Mapping(m)) => crate::yaml::to_string(&m),
        Ok(_) | Err(_) => {
            serde_yaml::to_string(v).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
        }
    }
}

/// Renders the previewed documents in the chosen format.
pub fn render(docs: &[Previewed], output: Output, colour: bool) -> String {
    let mut out = String::new();
    match output {
        Output::Manifest => {
            for (i, d) in docs.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&to_yaml(&d.after));
            }
        }
        Output::Json => {
            let all: Vec<&Value> = docs.iter().flat_map(|d| &d.workloads).collect();
            out = serde_json::to_string_pretty(&all).expect("values serialise");
            out.push('\n');
        }
        Output::Patch => {
            for d in docs {
                for w in &d.workloads {
                    let _ = writeln!(
                        out,
                        "# {} (document {}, line {})",
                        w["object"].as_str().unwrap_or(""),
                        d.index,
                        d.line
                    );
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(&w["patch"]).expect("values serialise")
                    );
                }
            }
        }
        Output::Diff => {
            for d in docs {
                if d.workloads.is_empty() {
                    continue;
                }
                let name = describe(&d.before);
                let (a, b) = (to_yaml(&d.before), to_yaml(&d.after));
                if a == b {
                    let _ = writeln!(out, "= {name} (document {}): no changes", d.index);
                } else {
                    out.push_str(&crate::diff::unified(
                        &a,
                        &b,
                        &format!("{name} (document {})", d.index),
                        &format!("{name} (hardened)"),
                        colour,
                    ));
                }
                for w in &d.workloads {
                    if let Some(reason) = w["plan"]["skipped"].as_str() {
                        let _ = writeln!(out, "  skipped: {reason}");
                    }
                    for warning in w["plan"]["warnings"].as_array().into_iter().flatten() {
                        let _ = writeln!(
                            out,
                            "  warning: {}",
                            warning["message"].as_str().unwrap_or("")
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl reads YAML 1.1: `yes`, `on` and `0x10` must come out quoted or
    /// they turn into a boolean and a number there.
    #[test]
    fn manifest_output_keeps_yaml_1_1_lookalikes_strings() {
        let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: r}\nspec:\n  containers:\n  - name: r\n    image: redis:7.4\n    args: [--appendonly, \"yes\", --port, \"0x10\"]\n    env: [{name: A, value: \"on\"}]\n";
        let docs = preview(input, &Catalog::builtin(), &Options::default()).unwrap();
        let out = render(&docs, Output::Manifest, false);
        for quoted in ["\"yes\"", "\"0x10\"", "\"on\""] {
            assert!(out.contains(quoted), "{quoted} not quoted in:\n{out}");
        }
        let back: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(back["spec"]["containers"][0]["args"][1], "yes");
        assert_eq!(
            back["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
    }
}
