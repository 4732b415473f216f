//! AdmissionReview bytes in -> decision -> AdmissionReview bytes out. Pure.
//!
//! `decode` reads the request in one bounded pass: the envelope into borrowed
//! fields, the pod into a `Node` tree pruned of what no rule reads, so the
//! patch is computed against the JSON the API server sent (a typed decode of
//! the whole pod would drop or reorder fields the indices depend on). The response is
//! written by our own `write_review`, in one buffer: kube-core's
//! `AdmissionResponse` serialises its `patch: Vec<u8>` as an array of
//! numbers, which the API server rejects; the wire format wants a base64
//! string (see `tests::patch_is_base64_on_the_wire`).

mod decode;
mod json;
mod policy;

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use kube::core::admission::Operation;
use serde::Serialize;
use serde_json::Value;

use decode::Request;
pub use decode::{Limits, Overrun, MAX_DEPTH, MAX_KEPT_BYTES};
pub use policy::{Mode, OnError, Policy};

use crate::harden::tree::Node;
use crate::harden::{harden, Action, Document, Location, Plan, Rule};
use crate::profile::Catalog;

/// Most warnings a response carries; the API server keeps 4096 bytes in all.
const MAX_WARNINGS: usize = 12;

/// Everything a review needs besides the body.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub policy: &'a Policy,
    /// The largest body `review` accepts; `review_within` takes a body
    /// already checked against it.
    pub max_body_bytes: usize,
}

/// A request that is not a well-formed AdmissionReview: an HTTP 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body did not arrive within {after_ms} ms")]
    Timeout { after_ms: u64 },
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::UnsupportedMediaType(_) => 415,
            Rejection::TooLarge { .. } => 413,
            Rejection::BadRequest(_) => 400,
            Rejection::Timeout { .. } => 408,
        }
    }

    /// Metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::UnsupportedMediaType(_) => "content-type",
            Rejection::TooLarge { .. } => "too-large",
            Rejection::BadRequest(_) => "bad-request",
            Rejection::Timeout { .. } => "timeout",
        }
    }

    /// The JSON error body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": self.to_string(), "status": self.status()}))
            .expect("json serialises")
    }
}

/// What happened to a review, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Ops were returned.
    Patched,
    /// A pod CREATE that needed nothing.
    Unchanged,
    /// Dry-run: changes described, none applied.
    DryRun,
    /// Skipped by namespace, annotation, mirror or OS.
    Skipped,
    /// Not a pod CREATE.
    Ignored,
    /// The pod could not be processed; allowed per `onError: allow`.
    Error,
    /// The pod could not be processed; denied per `onError: deny`.
    Denied,
    /// The review's time budget ran out; allowed unchanged per `onError: allow`.
    OverBudget,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Patched => "patched",
            Outcome::Unchanged => "unchanged",
            Outcome::DryRun => "dry-run",
            Outcome::Skipped => "skipped",
            Outcome::Ignored => "ignored",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::OverBudget => "over-budget",
        }
    }
}

/// An answered review: the response bytes and what the log line needs.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub body: Vec<u8>,
    pub outcome: Outcome,
    pub mode: Mode,
    pub uid: String,
    pub namespace: String,
    /// The pod's name, or its generateName.
    pub pod: String,
    pub ops: usize,
    /// Ops per rule, for metrics.
    pub ops_by_rule: Vec<(Rule, usize)>,
}

/// The response half of an AdmissionReview, written by `write_review`.
#[derive(Default)]
struct Response {
    uid: String,
    allowed: bool,
    /// `{"code": 400, "message": ...}` of a denial.
    denial: Option<String>,
    /// The JSON ops, written base64-encoded with `patchType: JSONPatch`.
    patch: Option<Vec<u8>>,
    warnings: Vec<String>,
    audit_annotations: BTreeMap<String, String>,
}

/// Writes the whole AdmissionReview response in one buffer, in the member
/// order serde's derive used (the tests compare bytes). The patch goes
/// straight from the ops' bytes to base64 in place: no intermediate string,
/// and no escaping pass over the alphabet, which needs none.
fn write_review(api_version: &str, response: &Response) -> Vec<u8> {
    let base64 = &base64::engine::general_purpose::STANDARD;
    let patch_len = response
        .patch
        .as_ref()
        .map_or(0, |p| base64::encoded_len(p.len(), true).unwrap_or(0));
    let text_len: usize = response.warnings.iter().map(|w| w.len() + 3).sum::<usize>()
        + response
            .audit_annotations
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>();
    let mut out = Vec::with_capacity(192 + patch_len + text_len);
    out.extend_from_slice(b"{\"apiVersion\":");
    write_string(&mut out, api_version);
    out.extend_from_slice(b",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    write_string(&mut out, &response.uid);
    out.extend_from_slice(if response.allowed {
        b",\"allowed\":true"
    } else {
        b",\"allowed\":false"
    });
    if let Some(message) = &response.denial {
        out.extend_from_slice(b",\"status\":{\"code\":400,\"message\":");
        write_string(&mut out, message);
        out.push(b'}');
    }
    if let Some(patch) = &response.patch {
        out.extend_from_slice(b",\"patchType\":\"JSONPatch\",\"patch\":\"");
        let start = out.len();
        out.resize(start + patch_len, 0);
        let written = base64
            .encode_slice(patch, &mut out[start..])
            .expect("sized by encoded_len");
        out.truncate(start + written);
        out.push(b'"');
    }
    if !response.warnings.is_empty() {
        out.extend_from_slice(b",\"warnings\":[");
        for (i, w) in response.warnings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(&mut out, w);
        }
        out.push(b']');
    }
    if !response.audit_annotations.is_empty() {
        out.extend_from_slice(b",\"auditAnnotations\":{");
        for (i, (k, v)) in response.audit_annotations.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(&mut out, k);
            out.push(b':');
            write_string(&mut out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    out
}

/// `application/json`, with or without parameters.
fn is_json_content_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a request that does not declare a JSON body. The server checks
/// the header before it reads the body; `review` for a request held whole.
pub(crate) fn check_content_type(content_type: Option<&str>) -> Result<(), Rejection> {
    match content_type {
        Some(ct) if is_json_content_type(ct) => Ok(()),
        other => Err(Rejection::UnsupportedMediaType(
            other.unwrap_or("").to_string(),
        )),
    }
}

/// Refuses a body of `size` bytes past `limit`: the declared size, each
/// growth of a body being read, or a body held whole.
pub(crate) fn check_size(size: usize, limit: usize) -> Result<(), Rejection> {
    if size > limit {
        return Err(Rejection::TooLarge { size, limit });
    }
    Ok(())
}

/// Reviews one whole AdmissionReview request: checks its content type and
/// size, then reviews it with the default limits and no time budget.
/// `dry_run_path` is true when the request came in on the dry-run URL.
pub fn review(
    body: &[u8],
    content_type: Option<&str>,
    dry_run_path: bool,
    ctx: &Context<'_>,
) -> Result<Reviewed, Rejection> {
    check_content_type(content_type)?;
    check_size(body.len(), ctx.max_body_bytes)?;
    review_within(body, dry_run_path, ctx, &Limits::default())
}

/// Reviews a body whose content type and size were checked (by `review`, or
/// by the server as it read it) within `limits`: a pod past them is answered
/// per `on_error`.
pub(crate) fn review_within(
    body: &[u8],
    dry_run_path: bool,
    ctx: &Context<'_>,
    limits: &Limits,
) -> Result<Reviewed, Rejection> {
    // One pass, keeping only what a review reads. Only a body that fails is
    // looked at again, by serde_json, to say what is wrong with it. UTF-8 is
    // checked first, at once: the reader borrows strings from the text.
    let text = std::str::from_utf8(body)
        .map_err(|e| Rejection::BadRequest(format!("body is not JSON: not UTF-8: {e}")))?;
    let review = decode::decode(text, limits).map_err(|e| why_not_a_review(body, e))?;
    let api_version = review.api_version.unwrap_or_default();
    let kind = review.kind;
    if kind.as_deref() != Some("AdmissionReview")
        || !matches!(
            &*api_version,
            "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
        )
    {
        return Err(Rejection::BadRequest(format!(
            "not an AdmissionReview: kind {:?}, apiVersion {api_version:?}; expected kind AdmissionReview, apiVersion admission.k8s.io/v1",
            kind.unwrap_or_default()
        )));
    }
    let request = review
        .request
        .ok_or_else(|| Rejection::BadRequest("AdmissionReview has no request".into()))?;
    if request.uid.is_empty() {
        return Err(Rejection::BadRequest(
            "AdmissionReview request has no uid".into(),
        ));
    }
    let mode = if dry_run_path {
        Mode::DryRun
    } else {
        ctx.policy.mode
    };
    let (response, outcome, ops_by_rule, ops) = decide(&request, mode, ctx, limits);
    let pod = request
        .object
        .as_ref()
        .and_then(|o| o.member("metadata"))
        .and_then(|m| {
            m.member("name")
                .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()))
                .or_else(|| m.member("generateName"))
        })
        .and_then(Node::as_str)
        .or(request.name.as_deref())
        .unwrap_or("")
        .to_string();
    let body = write_review(&api_version, &response);
    Ok(Reviewed {
        body,
        outcome,
        mode,
        uid: request.uid,
        namespace: request.namespace.map(Cow::into_owned).unwrap_or_default(),
        pod,
        ops,
        ops_by_rule,
    })
}

/// The rejection for a body that did not decode as an AdmissionReview.
fn why_not_a_review(body: &[u8], error: json::Error) -> Rejection {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Rejection::BadRequest(format!("body is not JSON: {e}"));
    }
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Rejection::BadRequest(
            "body is not a JSON object: expected an AdmissionReview".into(),
        );
    }
    Rejection::BadRequest(format!("not an AdmissionReview: {error}"))
}

type Decision = (Response, Outcome, Vec<(Rule, usize)>, usize);

fn decide(request: &Request, mode: Mode, ctx: &Context<'_>, limits: &Limits) -> Decision {
    let mut response = Response {
        uid: request.uid.clone(),
        allowed: true,
        ..Default::default()
    };
    let is_pod = request
        .resource
        .as_ref()
        .is_some_and(|r| r.group.is_empty() && r.resource == "pods");
    let is_subresource = request.sub_resource.as_ref().is_some_and(|s| !s.is_empty());
    if !is_pod || is_subresource || request.operation != Some(Operation::Create) {
        return (response, Outcome::Ignored, Vec::new(), 0);
    }
    let namespace = request.namespace.as_deref().unwrap_or("");
    if ctx.policy.skip_namespaces.iter().any(|n| n == namespace) {
        response.audit_annotations.insert(
            "skipped".into(),
            format!("namespace {namespace} is skipped"),
        );
        return (response, Outcome::Skipped, Vec::new(), 0);
    }
    let object = match (&request.object, request.overrun) {
        (_, Some(overrun)) => return unprocessable(response, ctx.policy.on_error, overrun),
        (Some(o), None) if o.member("spec").is_some_and(Node::is_object) => o,
        _ => {
            return cannot_process(
                response,
                ctx.policy.on_error,
                "request.object has no spec",
                Outcome::Error,
            )
        }
    };
    if limits.expired() {
        return unprocessable(response, ctx.policy.on_error, Overrun::Deadline);
    }
    let hardened = harden(object, &Location::pod(), ctx.catalog, &ctx.policy.options);
    // A patch finished past the budget is not sent either: the budget is what
    // the server promises, and it may already have answered for this review.
    if limits.expired() {
        return unprocessable(response, ctx.policy.on_error, Overrun::Deadline);
    }
    let plan = &hardened.plan;
    if let Some(problem) = plan.invalid.first() {
        // The engine refused to send a result that fails validation.
        let reason = format!("pod-hardener could not harden this pod: {problem}");
        response
            .audit_annotations
            .insert("error".into(), reason.clone());
        response.warnings =
            limit_warnings(plan.warnings.iter().map(|w| w.message.clone()).collect());
        return if ctx.policy.on_error == OnError::Deny {
            response.allowed = false;
            response.denial = Some(reason);
            (response, Outcome::Denied, Vec::new(), 0)
        } else {
            (response, Outcome::Error, Vec::new(), 0)
        };
    }
    if let Some(reason) = &plan.skipped {
        response
            .audit_annotations
            .insert("skipped".into(), reason.clone());
        return (response, Outcome::Skipped, Vec::new(), 0);
    }
    let by_rule: Vec<(Rule, usize)> = [Rule::SecretMounts, Rule::WritablePaths, Rule::ReadOnlyRoot]
        .into_iter()
        .map(|r| (r, plan.count(r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let summary = summarise(plan);
    if hardened.ops.is_empty() {
        response.warnings =
            limit_warnings(plan.warnings.iter().map(|w| w.message.clone()).collect());
        return (response, Outcome::Unchanged, Vec::new(), 0);
    }
    match mode {
        Mode::DryRun => {
            let mut warnings = vec![format!("pod-hardener dry-run: would {summary}")];
            warnings.extend(plan.warnings.iter().map(|w| w.message.clone()));
            response.warnings = limit_warnings(warnings);
            response
                .audit_annotations
                .insert("would-change".into(), summary);
            (response, Outcome::DryRun, by_rule, 0)
        }
        Mode::Enforce => {
            response.patch = Some(ops_json(&hardened.ops));
            response.warnings =
                limit_warnings(plan.warnings.iter().map(|w| w.message.clone()).collect());
            response.audit_annotations.insert("changed".into(), summary);
            let n = hardened.ops.len();
            (response, Outcome::Patched, by_rule, n)
        }
    }
}

/// The ops as JSON, as serde writes them (`{"op":..,"path":..,"value":..}`):
/// `add` and `replace`, all that `render` makes, by hand into one buffer,
/// since serde's tagged-enum path buffers each op's members first.
fn ops_json(ops: &[json_patch::PatchOperation]) -> Vec<u8> {
    use json_patch::PatchOperation;
    let mut out = Vec::with_capacity(256 * ops.len());
    out.push(b'[');
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (name, path, value) = match op {
            PatchOperation::Add(add) => ("add", &add.path, &add.value),
            PatchOperation::Replace(replace) => ("replace", &replace.path, &replace.value),
            other => {
                serde_json::to_writer(&mut out, other).expect("ops serialise");
                continue;
            }
        };
        out.extend_from_slice(b"{\"op\":\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\",\"path\":");
        write_string(&mut out, path.as_str());
        out.extend_from_slice(b",\"value\":");
        write_value(&mut out, value);
        out.push(b'}');
    }
    out.push(b']');
    out
}

/// A JSON string as serde_json writes it. Most of ours (paths, names, the
/// summary) need no escape and are copied as they are; one that does is
/// serde_json's to write, so the bytes stay serde_json's.
fn write_string(out: &mut Vec<u8>, s: &str) {
    if json::plain_run_end(s.as_bytes(), 0) == s.len() {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a string serialises");
    }
}

/// A value as serde_json writes it compactly, without its serialiser's
/// generic path for each member (see
/// `tests::values_are_written_as_serde_json_writes_them`).
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => serde_json::to_writer(&mut *out, n).expect("a number serialises"),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

/// A pod past the decoder's limits or the time budget.
fn unprocessable(response: Response, on_error: OnError, overrun: Overrun) -> Decision {
    let allowed_outcome = match overrun {
        Overrun::Deadline => Outcome::OverBudget,
        Overrun::Depth { .. } | Overrun::Size { .. } => Outcome::Error,
    };
    cannot_process(response, on_error, &overrun.to_string(), allowed_outcome)
}

/// Allowed unchanged with a warning, or denied, per `on_error`.
fn cannot_process(
    mut response: Response,
    on_error: OnError,
    why: &str,
    allowed_outcome: Outcome,
) -> Decision {
    let reason = format!("pod-hardener could not process this pod: {why}");
    response
        .audit_annotations
        .insert("error".into(), reason.clone());
    if on_error == OnError::Deny {
        response.allowed = false;
        response.denial = Some(reason);
        (response, Outcome::Denied, Vec::new(), 0)
    } else {
        response.warnings.push(reason);
        (response, allowed_outcome, Vec::new(), 0)
    }
}

/// "make 2 container(s) read-only, add 3 emptyDir mount(s), move 1 secret
/// mount(s)": counted in one pass, written into one string.
fn summarise(plan: &Plan) -> String {
    use std::fmt::Write as _;
    const PARTS: [(&str, &str); 5] = [
        ("make ", " container(s) read-only"),
        ("add ", " emptyDir mount(s)"),
        ("move ", " secret mount(s)"),
        ("make ", " secret mount(s) readOnly"),
        ("add ", " seed init container(s)"),
    ];
    let mut counts = [0usize; PARTS.len()];
    for change in &plan.changes {
        // Indices into PARTS, in its order.
        let part = match change.action {
            Action::SetReadOnlyRoot { .. } => 0,
            Action::AddMount { .. } => 1,
            Action::MoveMount { .. } => 2,
            Action::MakeMountReadOnly { .. } => 3,
            Action::AddInitContainer { .. } => 4,
            Action::AddVolume { .. } => continue,
        };
        counts[part] += 1;
    }
    let mut text = String::with_capacity(96);
    for (n, (verb, what)) in counts.iter().zip(PARTS) {
        if *n == 0 {
            continue;
        }
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(verb);
        let _ = write!(text, "{n}");
        text.push_str(what);
    }
    if text.is_empty() {
        text.push_str("change nothing");
    }
    text
}

fn limit_warnings(mut warnings: Vec<String>) -> Vec<String> {
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - (MAX_WARNINGS - 1);
        warnings.truncate(MAX_WARNINGS - 1);
        warnings.push(format!(
            "pod-hardener: {more} more warnings; run `pod-hardener preview` for all"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests;
