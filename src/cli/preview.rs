//! `preview`: the exact change the webhook would make, for any manifest.
//!
//! Every document of the input is read; each workload's pod template goes
//! through the same engine the webhook uses, with patch paths that point into
//! the workload. Other kinds pass through untouched. `--write` and `-o diff`
//! carry the ops out on the file's own text (`crate::manifest_edit`), so the
//! diff is the edit `--write` makes and `patch` applies it.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::harden::{claim_names, harden, validate_pod_spec, Options};
use crate::manifest_edit::{self, Op};
use crate::profile::Catalog;
use crate::workload::{describe, find_pods};

/// `--output` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The unified diff of the in-place edit, for `patch -p0` (coloured on a terminal).
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

/// Why an input could not be read, hardened or edited in place; each text
/// says the document and line.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// A YAML or JSON syntax error, as [`crate::yaml::read::describe`] shows it,
    /// with the document, line and column when the reader knows them.
    #[error("{0}")]
    Syntax(String),
    #[error("document {doc} (line {line}): expected a Kubernetes object (a mapping with kind)")]
    NotAnObject { doc: usize, line: usize },
    /// A container list of the wrong shape, in `object`.
    #[error("document {doc} (line {line}): {object}: {problem}")]
    Misshapen {
        doc: usize,
        line: usize,
        object: String,
        problem: String,
    },
    #[error("document {doc} (line {line}): internal error, patch does not apply: {source}")]
    PatchFailed {
        doc: usize,
        line: usize,
        source: json_patch::PatchError,
    },
    /// A patch op that cannot be carried out as a text edit.
    #[error("document {doc} (line {line}): {source}")]
    Op {
        doc: usize,
        line: usize,
        source: manifest_edit::OpError,
    },
    #[error("line {line}: cannot edit in place: {reason}")]
    EditRefused { line: usize, reason: String },
    #[error("cannot edit in place: the edited text does not parse: {0}")]
    EditUnparsable(Box<PreviewError>),
    #[error("line {line}: cannot edit in place: the edited document {doc} would not read back as the hardened one")]
    ReadsBackDifferently { line: usize, doc: usize },
}

/// Splits a YAML or JSON stream into documents; errors give document and line.
pub fn parse_documents(text: &str) -> Result<Vec<(usize, Value)>, PreviewError> {
    parse_documents_in("-", text)
}

/// [`parse_documents`] of the file `name`: a YAML error says document, line
/// and column, and shows the lines around it under the file's name.
pub(crate) fn parse_documents_in(
    name: &str,
    text: &str,
) -> Result<Vec<(usize, Value)>, PreviewError> {
    let name = if name == "-" { "stdin" } else { name };
    let starts = document_lines(text);
    let values: Vec<(usize, Value)> = crate::yaml::read::documents_at(text).map_err(|e| {
        let shown = crate::yaml::read::describe(&e, name);
        PreviewError::Syntax(match crate::yaml::read::location(&e) {
            Some((line, column)) => {
                let doc = starts.iter().filter(|&&s| s <= line).count().max(1);
                format!("document {doc} (line {line}, column {column}): {shown}")
            }
            None => shown,
        })
    })?;
    let mut docs = Vec::new();
    for (i, (line, value)) in values.into_iter().enumerate() {
        if value.is_null() {
            continue;
        }
        if !value.is_object() {
            return Err(PreviewError::NotAnObject { doc: i + 1, line });
        }
        docs.push((line, value));
    }
    Ok(docs)
}

/// First line of each document: line 1, and the line after each `---` (for
/// the document number of a YAML error).
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
pub fn preview(
    text: &str,
    catalog: &Catalog,
    options: &Options,
) -> Result<Vec<Previewed>, PreviewError> {
    preview_file("-", text, catalog, options)
}

/// [`preview`] of the file `name` (the name its YAML errors show).
pub(crate) fn preview_file(
    name: &str,
    text: &str,
    catalog: &Catalog,
    options: &Options,
) -> Result<Vec<Previewed>, PreviewError> {
    let docs = parse_documents_in(name, text)?;
    let mut out = Vec::new();
    for (n, (line, doc)) in docs.into_iter().enumerate() {
        let mut after = doc.clone();
        let mut workloads = Vec::new();
        for found in find_pods(&doc) {
            if let Some(problem) = misshapen_container_lists(&doc, &found.location.spec) {
                let object = doc.pointer(&found.object).unwrap_or(&doc);
                return Err(PreviewError::Misshapen {
                    doc: n + 1,
                    line,
                    object: describe(object),
                    problem,
                });
            }
            let hardened = harden(&doc, &found.location, catalog, options);
            json_patch::patch(&mut after, &hardened.ops).map_err(|source| {
                PreviewError::PatchFailed {
                    doc: n + 1,
                    line,
                    source,
                }
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

/// Each workload's skip reason and warnings, for the user to read beside a diff or a write.
pub fn warnings(docs: &[Previewed]) -> Vec<String> {
    let mut out = Vec::new();
    for d in docs {
        for w in &d.workloads {
            let object = w["object"].as_str().unwrap_or("");
            if let Some(reason) = w["plan"]["skipped"].as_str() {
                out.push(format!("document {}: {object}: skipped: {reason}", d.index));
            }
            for warning in w["plan"]["warnings"].as_array().into_iter().flatten() {
                out.push(format!(
                    "document {}: {object}: warning: {}",
                    d.index,
                    warning["message"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out
}

/// `text` with every workload's ops carried out as text edits that keep its
/// comments, order, quoting and indentation. An edit that would not read back
/// as exactly the hardened documents is refused, never returned.
pub fn in_place(text: &str, docs: &[Previewed]) -> Result<String, PreviewError> {
    let mut ops = Vec::with_capacity(docs.len());
    for d in docs {
        let mut doc_ops = Vec::new();
        for op in d
            .workloads
            .iter()
            .flat_map(|w| w["patch"].as_array().into_iter().flatten())
        {
            doc_ops.push(Op::from_json(op).map_err(|source| PreviewError::Op {
                doc: d.index,
                line: d.line,
                source,
            })?);
        }
        ops.push(doc_ops);
    }
    let edited = manifest_edit::edit(text, &ops).map_err(|r| PreviewError::EditRefused {
        line: r.line,
        reason: r.reason,
    })?;
    let back = parse_documents(&edited).map_err(|e| PreviewError::EditUnparsable(Box::new(e)))?;
    let differs = (0..docs.len().max(back.len()))
        .find(|&i| back.get(i).map(|(_, v)| v) != docs.get(i).map(|d| &d.after));
    if let Some(i) = differs {
        let line = docs.get(i).map_or(1, |d| d.line);
        return Err(PreviewError::ReadsBackDifferently { line, doc: i + 1 });
    }
    Ok(edited)
}

/// Writes `text` over `path` at once: a temporary file in the same directory
/// with the file's mode, then a rename, so a failure never leaves half a file.
pub(crate) fn write_in_place(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("manifest");
    let temp = dir.join(format!(".{name}.pod-hardener-{}.tmp", std::process::id()));
    let result = (|| {
        let permissions = std::fs::metadata(path)?.permissions();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::set_permissions(&temp, permissions)?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// The `-o diff` output: the unified diff of the in-place edit of `text`
/// (named `path`), each hunk headed by its object; notes say when there is
/// nothing to change, or why the edit is refused and only the re-serialised
/// objects can be compared (that diff does not apply to the file).
pub fn diff(text: &str, docs: &[Previewed], path: &str, colour: bool) -> (String, Vec<String>) {
    match in_place(text, docs) {
        Ok(edited) if edited == text => (String::new(), vec!["no changes".to_string()]),
        Ok(edited) => {
            let heading = |line: usize| {
                docs.iter()
                    .rev()
                    .find(|d| d.line <= line)
                    .or(docs.first())
                    .map(|d| format!("{} (document {})", describe(&d.before), d.index))
                    .unwrap_or_default()
            };
            let shown = crate::diff::file_patch(text, &edited, path, heading, colour);
            (shown, Vec::new())
        }
        Err(reason) => (
            render(docs, Output::Diff, colour),
            vec![format!(
                "{reason}; the diff below compares re-serialised objects and does not apply to the file"
            )],
        ),
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
                out.push_str(&crate::yaml::from_json(&d.after));
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
        // The objects re-serialised, for input that cannot be edited in place
        // (`diff` above prefers the diff of the edit itself).
        Output::Diff => {
            for d in docs {
                if d.workloads.is_empty() {
                    continue;
                }
                let name = describe(&d.before);
                let (a, b) = (
                    crate::yaml::from_json(&d.before),
                    crate::yaml::from_json(&d.after),
                );
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
        let back: Value = crate::yaml::read::from_str(&out).unwrap();
        assert_eq!(back["spec"]["containers"][0]["args"][1], "yes");
        assert_eq!(
            back["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
    }
}
