//! The audit report as `wgpolicyk8s.io/v1alpha2` PolicyReports, the format
//! Kyverno, Kubewarden and trivy-operator write and Policy Reporter shows.
//!
//! One PolicyReport per namespace (`pod-hardener-audit`) with one result per
//! workload and rule: `fail` when enforcement would change the workload (the
//! would-be changes in the result's `properties`), `warn` for what is kept
//! but risky (an explicit `readOnlyRootFilesystem: false`, an image no
//! profile knows), `pass` when nothing would change, `skip` for skipped
//! workloads and rules switched off. One ClusterPolicyReport holds the lists
//! the audit could not make (`error`), so a partial audit is visible too.
//! Severities stay within `high`/`medium`/`low`: the first v1alpha2 CRDs
//! published knew no others.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Report, WorkloadAudit};
use crate::harden::{Options, Rule, RuleMode};

/// The name of every report written, in each namespace and cluster-wide.
pub(crate) const REPORT_NAME: &str = "pod-hardener-audit";
const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
const SOURCE: &str = "pod-hardener";
const CATEGORY: &str = "Runtime immutability";

/// The outcome of one rule on one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Pass,
    Fail,
    Warn,
    Error,
    Skip,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Error => "error",
            Outcome::Skip => "skip",
        }
    }
}

/// The API version a workload kind is listed with (what `resources[]` refers to).
fn api_version(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "CronJob" | "Job" => "batch/v1",
        _ => "v1",
    }
}

fn severity(rule: Rule) -> &'static str {
    match rule {
        // A writable root is what the webhook exists to remove.
        Rule::ReadOnlyRoot => "high",
        // A secret on a shared directory can be read or shadowed by other files.
        Rule::SecretMounts => "medium",
        Rule::WritablePaths => "low",
    }
}

fn mode(options: &Options, rule: Rule) -> RuleMode {
    match rule {
        Rule::ReadOnlyRoot => options.read_only_root,
        Rule::WritablePaths => options.writable_paths,
        Rule::SecretMounts => options.secret_mounts,
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(", ")
}

/// Outcome, message and properties of `rule` on a workload that is not skipped.
fn judge(w: &WorkloadAudit, rule: Rule, only: &str) -> (Outcome, String, Map<String, Value>) {
    let mut props = Map::new();
    let mut prop = |k: &str, v: String| {
        props.insert(k.to_string(), Value::String(v));
    };
    let (outcome, message) = match rule {
        Rule::ReadOnlyRoot => {
            let kept: Vec<&str> = w
                .explicit_false
                .iter()
                .filter(|e| !e.overridden)
                .map(|e| e.container.as_str())
                .collect();
            if !kept.is_empty() {
                prop("explicitFalseKept", kept.join(", "));
            }
            if !w.read_only.is_empty() {
                prop("containers", w.read_only.join(", "));
                (
                    Outcome::Fail,
                    format!(
                        "readOnlyRootFilesystem: true would be set on {}",
                        w.read_only.join(", ")
                    ),
                )
            } else if !kept.is_empty() {
                (
                    Outcome::Warn,
                    format!(
                        "{} set readOnlyRootFilesystem: false; kept",
                        kept.join(", ")
                    ),
                )
            } else {
                (
                    Outcome::Pass,
                    "every container has a read-only root filesystem".into(),
                )
            }
        }
        Rule::WritablePaths => {
            if !w.unprofiled.is_empty() {
                prop(
                    "unprofiledImages",
                    join(&w.unprofiled, |u| format!("{}={}", u.container, u.image)),
                );
            }
            if !w.empty_dirs.is_empty() {
                prop(
                    "emptyDirs",
                    join(&w.empty_dirs, |e| format!("{}:{}", e.container, e.path)),
                );
                (
                    Outcome::Fail,
                    format!(
                        "{} emptyDir(s) would be mounted: {}",
                        w.empty_dirs.len(),
                        join(&w.empty_dirs, |e| format!("{} {}", e.container, e.path))
                    ),
                )
            } else if !w.unprofiled.is_empty() {
                (
                    Outcome::Warn,
                    format!(
                        "{} match(es) no profile: only {only} would be writable",
                        join(&w.unprofiled, |u| format!("{} ({})", u.container, u.image))
                    ),
                )
            } else {
                (
                    Outcome::Pass,
                    "every writable path of the profiles is mounted".into(),
                )
            }
        }
        Rule::SecretMounts => {
            if w.secret_moves.is_empty() {
                (
                    Outcome::Pass,
                    "no secret mount on a shared directory".into(),
                )
            } else {
                let moves = join(&w.secret_moves, |m| {
                    format!("{}:{}->{}", m.container, m.from, m.to)
                });
                prop("moves", moves);
                (
                    Outcome::Fail,
                    format!(
                        "secret mount(s) would move: {}",
                        join(&w.secret_moves, |m| format!(
                            "{} {} to {}",
                            m.container, m.from, m.to
                        ))
                    ),
                )
            }
        }
    };
    if outcome == Outcome::Fail {
        prop("patchOperations", w.patch.len().to_string());
    }
    (outcome, message, props)
}

/// Counts per outcome, in the `summary` shape.
fn summary(results: &[Value]) -> Value {
    let mut counts: BTreeMap<&str, u64> = ["pass", "fail", "warn", "error", "skip"]
        .into_iter()
        .map(|k| (k, 0))
        .collect();
    for r in results {
        if let Some(n) = r["result"].as_str().and_then(|k| counts.get_mut(k)) {
            *n += 1;
        }
    }
    json!(counts)
}

fn result(rule: &str, outcome: Outcome, severity: &str, message: String, seconds: u64) -> Value {
    json!({
        "source": SOURCE,
        "policy": SOURCE,
        "rule": rule,
        "category": CATEGORY,
        "severity": severity,
        "result": outcome.as_str(),
        "scored": true,
        "message": message,
        "timestamp": {"seconds": seconds, "nanos": 0},
    })
}

fn report_object(kind: &str, namespace: Option<&str>, results: Vec<Value>) -> Value {
    let mut metadata = json!({
        "name": REPORT_NAME,
        "labels": {"app.kubernetes.io/managed-by": SOURCE},
    });
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "summary": summary(&results),
        "results": results,
    })
}

/// The report objects: a PolicyReport per namespace in the report's order,
/// then the ClusterPolicyReport. `options` says which rules are off;
/// `seconds` stamps every result (Unix time).
pub(crate) fn policy_reports(report: &Report, options: &Options, seconds: u64) -> Vec<Value> {
    let only = if report.default_paths.is_empty() {
        "nothing".to_string()
    } else {
        report.default_paths.join(", ")
    };
    let mut objects = Vec::new();
    let mut current: Option<(&str, Vec<Value>)> = None;
    for w in &report.workloads {
        if current.as_ref().is_some_and(|(ns, _)| *ns != w.namespace) {
            let (ns, results) = current.take().expect("checked above");
            objects.push(report_object("PolicyReport", Some(ns), results));
        }
        let results = &mut current.get_or_insert((w.namespace.as_str(), Vec::new())).1;
        for rule in [Rule::ReadOnlyRoot, Rule::WritablePaths, Rule::SecretMounts] {
            let (outcome, message, props) = match (&w.skipped, mode(options, rule)) {
                (Some(why), _) => (Outcome::Skip, why.clone(), Map::new()),
                (None, RuleMode::Off) => (
                    Outcome::Skip,
                    "the rule is off in the configuration".into(),
                    Map::new(),
                ),
                (None, _) => judge(w, rule, &only),
            };
            let mut r = result(rule.as_str(), outcome, severity(rule), message, seconds);
            r["resources"] = json!([{
                "apiVersion": api_version(&w.kind),
                "kind": w.kind,
                "name": w.name,
                "namespace": w.namespace,
            }]);
            if !props.is_empty() {
                r["properties"] = Value::Object(props);
            }
            results.push(r);
        }
    }
    if let Some((ns, results)) = current {
        objects.push(report_object("PolicyReport", Some(ns), results));
    }
    let errors = report
        .errors
        .iter()
        .map(|e| result("list", Outcome::Error, "medium", e.clone(), seconds))
        .collect();
    objects.push(report_object("ClusterPolicyReport", None, errors));
    objects
}

/// Seconds since the Unix epoch, for `timestamp`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The reports as a multi-document YAML stream, ready for `kubectl apply -f -`
/// (written YAML 1.1-safe: a pod named `no` stays a string for kubectl).
pub fn render(report: &Report, options: &Options, seconds: u64) -> String {
    policy_reports(report, options, seconds)
        .iter()
        .map(crate::yaml::from_json)
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests;
