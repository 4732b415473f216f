//! The audit report as a table per namespace, as JSON, or as Markdown.

use std::fmt::Write as _;

use serde_json::json;

use super::{Report, Totals, WorkloadAudit};

/// `--output` formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table per namespace and a summary line.
    Table,
    /// One record per workload with its patch, totals and errors.
    Json,
    /// A report to share (issue, wiki, pull request).
    Markdown,
    /// wgpolicyk8s.io/v1alpha2 PolicyReports per namespace and a ClusterPolicyReport, as YAML.
    PolicyReport,
}

/// Renders `report`. PolicyReports rendered here assume every rule enforced
/// and are stamped with the current time; `audit` passes its configuration
/// to `policyreport::render` instead.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::PolicyReport => super::policyreport::render(
            report,
            &crate::harden::Options::default(),
            super::policyreport::unix_now(),
        ),
        Format::Table => table(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json!({
                "workloads": report.workloads,
                "totals": report.totals(),
                "errors": report.errors,
                "defaultWritablePaths": report.default_paths,
            }))
            .expect("the report serialises");
            s.push('\n');
            s
        }
        Format::Markdown => markdown(report),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary sentence, shared by the table and Markdown.
pub fn summary(t: &Totals, default_paths: &[String]) -> String {
    format!(
        "{} in {} ({} would change, {} skipped): {} made read-only, {} added, {} moved, {}, {}, {} (only {}); {}",
        plural(t.workloads, "workload", "workloads"),
        plural(t.namespaces, "namespace", "namespaces"),
        t.changed,
        t.skipped,
        plural(t.read_only, "container", "containers"),
        plural(t.empty_dirs, "emptyDir", "emptyDirs"),
        plural(t.secret_moves, "secret mount", "secret mounts"),
        plural(t.explicit_false, "explicit readOnlyRootFilesystem: false", "explicit readOnlyRootFilesystem: false"),
        plural(t.opt_outs, "opt-out", "opt-outs"),
        plural(t.unprofiled, "image matched by no profile", "images matched by no profile"),
        if default_paths.is_empty() { "nothing".to_string() } else { default_paths.join(", ") },
        plural(t.errors, "error", "errors"),
    )
}

/// Namespaces in order, each with its workloads.
fn by_namespace(report: &Report) -> Vec<(&str, Vec<&WorkloadAudit>)> {
    let mut out: Vec<(&str, Vec<&WorkloadAudit>)> = Vec::new();
    for w in &report.workloads {
        match out.last_mut() {
            Some((ns, list)) if *ns == w.namespace => list.push(w),
            _ => out.push((w.namespace.as_str(), vec![w])),
        }
    }
    out
}

fn count(n: usize, skipped: bool) -> String {
    if skipped {
        "-".into()
    } else {
        n.to_string()
    }
}

/// What an operator should look at before enforcing, one line each.
fn attention(w: &WorkloadAudit, default_paths: &[String]) -> Vec<String> {
    let only = if default_paths.is_empty() {
        "nothing".to_string()
    } else {
        default_paths.join(", ")
    };
    let mut out = Vec::new();
    for u in &w.unprofiled {
        out.push(format!(
            "container {:?} (image {}) matches no profile: only {only} will be writable",
            u.container, u.image
        ));
    }
    for e in &w.explicit_false {
        out.push(if e.overridden {
            format!(
                "container {:?} sets readOnlyRootFilesystem: false; the configuration overrides it",
                e.container
            )
        } else {
            format!(
                "container {:?} sets readOnlyRootFilesystem: false; kept",
                e.container
            )
        });
    }
    for m in &w.secret_moves {
        out.push(format!(
            "container {:?}: secret mount {} moves to {}",
            m.container, m.from, m.to
        ));
    }
    out
}

const HEADERS: [&str; 9] = [
    "KIND",
    "NAME",
    "CONTAINERS",
    "READ-ONLY",
    "EMPTYDIRS",
    "SECRETS-MOVED",
    "EXPLICIT-FALSE",
    "OPT-OUTS",
    "NO-PROFILE",
];

fn row(w: &WorkloadAudit) -> Vec<String> {
    let s = w.skipped.is_some();
    vec![
        w.kind.clone(),
        w.name.clone(),
        w.containers.to_string(),
        count(w.read_only.len(), s),
        count(w.empty_dirs.len(), s),
        count(w.secret_moves.len(), s),
        count(w.explicit_false.len(), s),
        w.opt_outs.len().to_string(),
        count(w.unprofiled.len(), s),
    ]
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    for (ns, workloads) in by_namespace(report) {
        let _ = writeln!(
            out,
            "NAMESPACE {ns} ({})",
            plural(workloads.len(), "workload", "workloads")
        );
        let rows: Vec<Vec<String>> = workloads.iter().map(|w| row(w)).collect();
        let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (i, cell) in r.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<w$}  ", w = widths[i]);
                }
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(
            out,
            "{}",
            line(HEADERS.iter().map(|h| h.to_string()).collect())
        );
        for (w, r) in workloads.iter().zip(rows) {
            let mut l = line(r);
            if let Some(why) = &w.skipped {
                let _ = write!(l, "  (skipped: {why})");
            }
            let _ = writeln!(out, "{l}");
        }
        for w in &workloads {
            for a in attention(w, &report.default_paths) {
                let _ = writeln!(out, "  ! {}: {a}", w.id());
            }
        }
        out.push('\n');
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "Summary: {}",
        summary(&report.totals(), &report.default_paths)
    );
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

fn markdown(report: &Report) -> String {
    let t = report.totals();
    let mut out = String::from("# pod-hardener audit\n\n");
    let _ = writeln!(
        out,
        "**Summary:** {}.\n",
        md(&summary(&t, &report.default_paths))
    );
    for (ns, workloads) in by_namespace(report) {
        let _ = writeln!(out, "## Namespace `{ns}`\n");
        let _ = writeln!(
            out,
            "| Kind | Name | Containers | Read-only | emptyDirs | Secret mounts moved | Explicit false | Opt-outs | No profile |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for w in &workloads {
            let r = row(w);
            let name = match &w.skipped {
                Some(why) => format!("`{}` (skipped: {})", md(&r[1]), md(why)),
                None => format!("`{}`", md(&r[1])),
            };
            let _ = writeln!(out, "| {} | {name} | {} |", r[0], r[2..].join(" | "));
        }
        let details: Vec<String> = workloads
            .iter()
            .filter(|w| w.skipped.is_none() && !w.patch.is_empty())
            .map(|w| {
                let mut parts = Vec::new();
                if !w.read_only.is_empty() {
                    parts.push(format!(
                        "read-only root: {}",
                        w.read_only
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if !w.empty_dirs.is_empty() {
                    parts.push(format!(
                        "emptyDirs: {}",
                        w.empty_dirs
                            .iter()
                            .map(|e| format!("`{}` {}", e.container, md(&e.path)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if !w.secret_moves.is_empty() {
                    parts.push(format!(
                        "secret mounts: {}",
                        w.secret_moves
                            .iter()
                            .map(|m| format!("`{}` {} → {}", m.container, md(&m.from), md(&m.to)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                format!("- **{} `{}`**: {}", w.kind, md(&w.name), parts.join("; "))
            })
            .collect();
        if !details.is_empty() {
            let _ = writeln!(out, "\nWhat would change:\n\n{}", details.join("\n"));
        }
        let attention: Vec<String> = workloads
            .iter()
            .flat_map(|w| {
                attention(w, &report.default_paths)
                    .into_iter()
                    .map(move |a| format!("- {} `{}`: {}", w.kind, md(&w.name), md(&a)))
            })
            .collect();
        if !attention.is_empty() {
            let _ = writeln!(out, "\nLikeliest to break:\n\n{}", attention.join("\n"));
        }
        out.push('\n');
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "## Errors\n");
        for e in &report.errors {
            let _ = writeln!(out, "- {}", md(e));
        }
        out.push('\n');
    }
    out
}
