//! Lossless edits of a YAML manifest: the engine's JSON-patch ops carried out
//! as text edits, so that `preview --write` leaves every comment, key order,
//! quote and indentation of the user's file as it was.
//!
//! The file is read once more with an event parser that reports positions
//! (`granit-parser`, the parser under kube's YAML reader); the events become a
//! small tree of nodes with byte spans. Each op then becomes an insertion or a
//! replacement: a new key goes on the line after its mapping's last content,
//! at the column of the mapping's keys; an append to a block sequence goes
//! after its last item with the file's own dash column; flow collections are
//! extended before their closing bracket; a scalar is replaced in its span.
//! New block content is written with the indentation the file already uses.
//! Where that cannot be faithful (an anchor or alias on the way, a JSON or
//! flow-style document, a block collection to replace) the edit is refused
//! with the line and the reason, and nothing is written.

use std::fmt;

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};
use serde_json::Value;

/// Why a faithful edit is not possible, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line in the file.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

fn refuse<T>(line: usize, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        line,
        reason: reason.into(),
    })
}

/// An RFC 6902 op that cannot be carried out as a text edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("a `{0}` op cannot be carried out in place")]
    Unsupported(String),
    #[error("an op without a path")]
    NoPath,
}

/// An `add` or `replace` op of a document, its pointer split into tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub path: Vec<String>,
    pub value: Value,
}

impl Op {
    /// Reads an RFC 6902 op as the engine renders it (only `add` and `replace` occur).
    pub fn from_json(op: &Value) -> Result<Op, OpError> {
        let kind = op["op"].as_str().unwrap_or("");
        if kind != "add" && kind != "replace" {
            return Err(OpError::Unsupported(kind.to_string()));
        }
        let path = op["path"].as_str().ok_or(OpError::NoPath)?;
        let tokens = path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        Ok(Op {
            path: tokens,
            value: op["value"].clone(),
        })
    }
}

#[derive(Debug)]
enum Shape {
    /// A scalar and its value (keys are compared by it).
    Scalar(String),
    Alias,
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug)]
struct Node {
    shape: Shape,
    flow: bool,
    anchored: bool,
    /// A `|` or `>` scalar: its span runs to the next token, over the
    /// trailing blank lines that a `|+` scalar keeps as content.
    block_scalar: bool,
    /// Byte offset where the node's text starts.
    start: usize,
    /// Byte offset after the node's text: scalars, aliases and flow
    /// collections (after the closing bracket); unused for block collections.
    end: usize,
    /// 1-based line and 0-based column (in characters) of `start`.
    line: usize,
    col: usize,
}

/// Nesting deeper than this is refused (`yaml::read` stops at 128 already).
const MAX_DEPTH: usize = 256;

type Events<'a> = Parser<'a, granit_parser::StrInput<'a>>;

fn offset(s: &Span, text: &str) -> (usize, usize) {
    let start = s.start.byte_offset().unwrap_or(0).min(text.len());
    let end = s.end.byte_offset().unwrap_or(start).min(text.len());
    (start, end)
}

fn next_event<'a>(events: &mut Events<'a>, text: &str) -> Result<(Event<'a>, Span), Refusal> {
    loop {
        return match events.next() {
            // Comments stay where they are in the text; the tree needs none.
            Some(Ok((Event::Comment(..), _))) => continue,
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => refuse(e.marker().line(), format!("YAML: {}", e.info())),
            None => refuse(text.lines().count().max(1), "YAML: unexpected end of input"),
        };
    }
}

/// Reads one node whose first event is `first`.
fn node<'a>(
    first: (Event<'a>, Span),
    events: &mut Events<'a>,
    text: &str,
    depth: usize,
) -> Result<Node, Refusal> {
    let mut n = node_body(first, events, text, depth)?;
    if n.anchored {
        // A refusal names the line of the `&anchor`, which may precede the node's.
        let above = text[..n.start]
            .rfind('&')
            .map_or(0, |amp| text[amp..n.start].matches('\n').count());
        n.line -= above.min(n.line - 1);
    }
    Ok(n)
}

fn node_body<'a>(
    first: (Event<'a>, Span),
    events: &mut Events<'a>,
    text: &str,
    depth: usize,
) -> Result<Node, Refusal> {
    let (event, span) = first;
    let (start, end) = offset(&span, text);
    let (line, col) = (span.start.line(), span.start.col());
    if depth > MAX_DEPTH {
        return refuse(line, "nested too deeply");
    }
    let make = |shape, flow, anchored, end| Node {
        shape,
        flow,
        anchored,
        block_scalar: false,
        start,
        end,
        line,
        col,
    };
    match event {
        Event::Scalar(value, style, anchor, _) => Ok(Node {
            block_scalar: matches!(style, ScalarStyle::Literal | ScalarStyle::Folded),
            ..make(Shape::Scalar(value.into_owned()), false, anchor != 0, end)
        }),
        Event::Alias(_) => Ok(make(Shape::Alias, false, false, end)),
        Event::MappingStart(style, anchor, _) => {
            let mut entries = Vec::new();
            loop {
                let e = next_event(events, text)?;
                if matches!(e.0, Event::MappingEnd) {
                    let end = offset(&e.1, text).1;
                    return Ok(make(
                        Shape::Map(entries),
                        style == StructureStyle::Flow,
                        anchor != 0,
                        end,
                    ));
                }
                let key = node(e, events, text, depth + 1)?;
                let e = next_event(events, text)?;
                let value = node(e, events, text, depth + 1)?;
                entries.push((key, value));
            }
        }
        Event::SequenceStart(style, anchor, _) => {
            let mut items = Vec::new();
            loop {
                let e = next_event(events, text)?;
                if matches!(e.0, Event::SequenceEnd) {
                    let end = offset(&e.1, text).1;
                    return Ok(make(
                        Shape::Seq(items),
                        style == StructureStyle::Flow,
                        anchor != 0,
                        end,
                    ));
                }
                items.push(node(e, events, text, depth + 1)?);
            }
        }
        other => refuse(line, format!("YAML: unexpected {other:?}")),
    }
}

/// The documents of `text` that hold something (empty ones are skipped, as
/// `preview` skips them), each as its root node.
fn documents(text: &str) -> Result<Vec<Node>, Refusal> {
    let mut events: Events<'_> = Parser::new_from_str(text);
    let mut docs = Vec::new();
    loop {
        let (event, _) = next_event(&mut events, text)?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(docs),
            Event::DocumentStart(..) => {
                let first = next_event(&mut events, text)?;
                let root = node(first, &mut events, text, 0)?;
                let empty = matches!(&root.shape, Shape::Scalar(v) if v.is_empty() || v == "~" || v == "null");
                if !empty {
                    docs.push(root);
                }
            }
            _ => {}
        }
    }
}

/// How the file indents: a nested mapping's offset from its key, a block
/// sequence's dash from its key (0 for kubectl's indentless `- name:`), and
/// the dash's distance to the item's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    step: usize,
    seq_indent: usize,
    dash_gap: usize,
    newline: &'static str,
}

/// Byte offset of the `-` that introduces the block sequence item at `start`.
fn dash_before(text: &str, start: usize) -> Option<usize> {
    let before = text[..start].trim_end_matches([' ', '\t']);
    before.ends_with('-').then(|| before.len() - 1)
}

fn column(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count()
}

fn detect_layout(text: &str, docs: &[Node]) -> Layout {
    let mut layout = Layout {
        step: 0,
        seq_indent: usize::MAX,
        dash_gap: 0,
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
    };
    let mut stack: Vec<&Node> = docs.iter().collect();
    while let Some(n) = stack.pop() {
        match &n.shape {
            Shape::Map(entries) if !n.flow => {
                for (k, v) in entries {
                    match &v.shape {
                        Shape::Map(_) if !v.flow && layout.step == 0 && v.col > k.col => {
                            layout.step = v.col - k.col;
                        }
                        Shape::Seq(items) if !v.flow && layout.seq_indent == usize::MAX => {
                            if let Some(dash) =
                                items.first().and_then(|i| dash_before(text, i.start))
                            {
                                layout.seq_indent = column(text, dash).saturating_sub(k.col);
                            }
                        }
                        _ => {}
                    }
                    stack.push(v);
                }
            }
            Shape::Map(entries) => stack.extend(entries.iter().map(|(_, v)| v)),
            Shape::Seq(items) => {
                if !n.flow && layout.dash_gap == 0 {
                    if let Some(first) = items.first() {
                        if let Some(dash) = dash_before(text, first.start) {
                            layout.dash_gap = first.col.saturating_sub(column(text, dash)).max(2);
                        }
                    }
                }
                stack.extend(items.iter());
            }
            _ => {}
        }
    }
    if layout.step == 0 {
        layout.step = 2;
    }
    if layout.seq_indent == usize::MAX {
        layout.seq_indent = layout.step;
    }
    if layout.dash_gap == 0 {
        layout.dash_gap = 2;
    }
    layout
}

/// A scalar as one line of YAML that YAML 1.1 readers read back as written.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => crate::yaml::string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A value in flow style, for a flow collection or an inline replacement.
fn flow(v: &Value) -> String {
    match v {
        Value::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) if !m.is_empty() => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", crate::yaml::string(k), flow(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        other => scalar(other),
    }
}

impl Layout {
    fn pad(&self, out: &mut String, col: usize) {
        out.extend(std::iter::repeat_n(' ', col));
    }

    /// What follows `key:` for a key at `col`, through the end of its last line.
    fn after_key(&self, out: &mut String, v: &Value, col: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str(self.newline);
                self.mapping(out, m, col + self.step);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push_str(self.newline);
                self.sequence(out, items, col + self.seq_indent);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push_str(self.newline);
            }
        }
    }

    fn entry(&self, out: &mut String, key: &str, v: &Value, col: usize) {
        out.push_str(&crate::yaml::string(key));
        out.push(':');
        self.after_key(out, v, col);
    }

    fn mapping(&self, out: &mut String, m: &serde_json::Map<String, Value>, col: usize) {
        for (k, v) in m {
            self.pad(out, col);
            self.entry(out, k, v, col);
        }
    }

    fn sequence(&self, out: &mut String, items: &[Value], dash: usize) {
        for item in items {
            self.item(out, item, dash);
        }
    }

    /// One block sequence item with its dash at column `dash`.
    fn item(&self, out: &mut String, item: &Value, dash: usize) {
        let content = dash + self.dash_gap;
        self.pad(out, dash);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                self.pad(out, self.dash_gap - 1);
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        self.pad(out, content);
                    }
                    self.entry(out, k, v, content);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push_str(self.newline);
                self.sequence(out, inner, content);
            }
            other => {
                self.pad(out, self.dash_gap - 1);
                out.push_str(&scalar(other));
                out.push_str(self.newline);
            }
        }
    }
}

/// The node whose text ends a node's content (a block collection's content
/// ends with its last child's).
fn last_leaf(n: &Node) -> &Node {
    match &n.shape {
        Shape::Map(entries) if !n.flow => entries.last().map_or(n, |(_, v)| last_leaf(v)),
        Shape::Seq(items) if !n.flow => items.last().map_or(n, last_leaf),
        _ => n,
    }
}

/// Where lines that follow a node go: the start of the line after its last
/// content (a trailing comment stays on its line); after a block scalar, the
/// start of the line its span runs into, past the blank lines it may keep.
fn line_after(text: &str, n: &Node) -> usize {
    let leaf = last_leaf(n);
    let end = leaf.end;
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    if leaf.block_scalar && text[line_start..end].trim().is_empty() {
        return line_start;
    }
    let last = text[..end].trim_end_matches([' ', '\t', '\r', '\n']).len();
    text[last..].find('\n').map_or(text.len(), |i| last + i + 1)
}

/// One text edit: `delete` bytes at `at` replaced by `insert`.
#[derive(Debug)]
struct Edit {
    at: usize,
    delete: usize,
    insert: String,
    /// Depth of the collection edited: at one offset, deeper content goes first.
    depth: usize,
}

struct Editor<'t> {
    text: &'t str,
    layout: Layout,
    edits: Vec<Edit>,
}

impl Editor<'_> {
    /// Lines inserted after `end`; a file without a final newline gets one before them.
    fn insert_lines(&mut self, after: &Node, lines: String, depth: usize) {
        let at = line_after(self.text, after);
        let insert = if at == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n')
        {
            let body = lines.strip_suffix(self.layout.newline).unwrap_or(&lines);
            format!("{}{body}", self.layout.newline)
        } else {
            lines
        };
        self.edits.push(Edit {
            at,
            delete: 0,
            insert,
            depth,
        });
    }

    /// Inserts before a flow collection's closing bracket.
    fn insert_flow(&mut self, n: &Node, empty: bool, piece: String, depth: usize) {
        let at = n.end.saturating_sub(1);
        let insert = if empty { piece } else { format!(", {piece}") };
        self.edits.push(Edit {
            at,
            delete: 0,
            insert,
            depth,
        });
    }

    fn add_key(
        &mut self,
        map: &Node,
        key: &str,
        value: &Value,
        depth: usize,
    ) -> Result<(), Refusal> {
        let Shape::Map(entries) = &map.shape else {
            unreachable!("add_key is called on mappings")
        };
        if map.flow {
            let piece = format!("{}: {}", crate::yaml::string(key), flow(value));
            self.insert_flow(map, entries.is_empty(), piece, depth);
            return Ok(());
        }
        let Some((first_key, _)) = entries.first() else {
            return refuse(map.line, "an empty block mapping");
        };
        let mut lines = String::new();
        self.layout.pad(&mut lines, first_key.col);
        self.layout.entry(&mut lines, key, value, first_key.col);
        self.insert_lines(map, lines, depth);
        Ok(())
    }

    fn append(&mut self, seq: &Node, value: &Value, depth: usize) -> Result<(), Refusal> {
        let Shape::Seq(items) = &seq.shape else {
            unreachable!("append is called on sequences")
        };
        if seq.flow {
            self.insert_flow(seq, items.is_empty(), flow(value), depth);
            return Ok(());
        }
        let Some(dash) = items.first().and_then(|i| dash_before(self.text, i.start)) else {
            return refuse(
                seq.line,
                "a sequence item whose content starts on the line after its dash",
            );
        };
        let mut lines = String::new();
        self.layout.item(&mut lines, value, column(self.text, dash));
        self.insert_lines(seq, lines, depth);
        Ok(())
    }

    /// Replaces the value of `key` (a mapping key) with `value`.
    fn replace(&mut self, key: &Node, old: &Node, value: &Value) -> Result<(), Refusal> {
        let block_collection = !old.flow && matches!(old.shape, Shape::Map(_) | Shape::Seq(_));
        if block_collection {
            return refuse(
                old.line,
                "a block collection would have to be replaced as a whole",
            );
        }
        let text = flow(value);
        // An empty value (`key:`) has an empty span at the key's end, before
        // the colon: the new value goes right after the colon.
        let colon = (old.start == old.end)
            .then(|| self.text[key.end..].find(':'))
            .flatten();
        let (at, insert) = match colon {
            Some(i) => (key.end + i + 1, format!(" {text}")),
            None => (old.start, text),
        };
        self.edits.push(Edit {
            at,
            delete: old.end - old.start,
            insert,
            depth: usize::MAX,
        });
        Ok(())
    }

    fn apply(&mut self, root: &Node, op: &Op) -> Result<(), Refusal> {
        let Some((last, parents)) = op.path.split_last() else {
            return refuse(root.line, "an op on the whole document");
        };
        let mut at = root;
        for (depth, token) in parents.iter().enumerate() {
            check_plain(at)?;
            at = child(at, token).ok_or_else(|| Refusal {
                line: at.line,
                reason: format!("internal: no `{token}` at depth {depth} of the op's path"),
            })?;
        }
        check_plain(at)?;
        let depth = parents.len();
        match &at.shape {
            Shape::Map(entries) => match entries.iter().find(|(k, _)| is_key(k, last)) {
                Some((key, old)) => {
                    check_plain(old)?;
                    self.replace(key, old, &op.value)
                }
                None => self.add_key(at, last, &op.value, depth),
            },
            Shape::Seq(_) if last == "-" => self.append(at, &op.value, depth),
            _ => refuse(at.line, format!("internal: cannot set `{last}` here")),
        }
    }
}

fn child<'n>(n: &'n Node, token: &str) -> Option<&'n Node> {
    match &n.shape {
        Shape::Map(entries) => entries
            .iter()
            .find(|(k, _)| is_key(k, token))
            .map(|(_, v)| v),
        Shape::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn is_key(k: &Node, token: &str) -> bool {
    matches!(&k.shape, Shape::Scalar(s) if s == token)
}

/// An anchored node is shared with its aliases: editing it would edit them too.
fn check_plain(n: &Node) -> Result<(), Refusal> {
    if n.anchored {
        return refuse(
            n.line,
            "an anchor (&) on the way to an edit: its aliases would change too",
        );
    }
    if matches!(n.shape, Shape::Alias) {
        return refuse(n.line, "an alias (*) on the way to an edit");
    }
    Ok(())
}

/// Carries out each document's ops on `text`. `ops[i]` belongs to the i-th
/// non-empty document. Returns the edited text, or why it cannot be done.
pub fn edit(text: &str, ops: &[Vec<Op>]) -> Result<String, Refusal> {
    if ops.iter().all(Vec::is_empty) {
        return Ok(text.to_string());
    }
    let docs = documents(text)?;
    if docs.len() != ops.len() {
        return refuse(
            1,
            format!(
                "internal: {} documents found where the manifest reader found {}",
                docs.len(),
                ops.len()
            ),
        );
    }
    let mut editor = Editor {
        text,
        layout: detect_layout(text, &docs),
        edits: Vec::new(),
    };
    for (root, ops) in docs.iter().zip(ops) {
        if ops.is_empty() {
            continue;
        }
        if root.flow {
            return refuse(
                root.line,
                "a JSON or flow-style document: --write edits block-style YAML only (-o manifest prints it hardened)",
            );
        }
        for op in ops {
            editor.apply(root, op)?;
        }
    }
    let mut edits = editor.edits;
    edits.sort_by_key(|e| (e.at, std::cmp::Reverse(e.depth)));
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|e| e.insert.len()).sum::<usize>());
    let mut pos = 0;
    for e in &edits {
        if e.at < pos {
            return refuse(
                text[..e.at].lines().count().max(1),
                "internal: two edits overlap",
            );
        }
        out.push_str(&text[pos..e.at]);
        out.push_str(&e.insert);
        pos = e.at + e.delete;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(path: &str, value: Value) -> Op {
        Op::from_json(&json!({"op": "add", "path": path, "value": value})).unwrap()
    }

    #[test]
    fn pointer_tokens_are_unescaped() {
        let o = op(
            "/metadata/annotations/pod-hardener.dev~1applied~0x",
            json!("v"),
        );
        assert_eq!(
            o.path,
            ["metadata", "annotations", "pod-hardener.dev/applied~x"]
        );
        assert!(Op::from_json(&json!({"op": "remove", "path": "/a"})).is_err());
    }

    #[test]
    fn new_content_follows_the_files_layout() {
        let indented = "a:\n    b:\n        - x: 1\n";
        let docs = documents(indented).unwrap();
        let l = detect_layout(indented, &docs);
        assert_eq!((l.step, l.seq_indent, l.dash_gap), (4, 4, 2));
        let kubectl = "a:\n  b:\n  - x: 1\n";
        let l = detect_layout(kubectl, &documents(kubectl).unwrap());
        assert_eq!((l.step, l.seq_indent), (2, 0));

        let out = edit(
            kubectl,
            &[vec![op("/a/c", json!([{"name": 1, "m": [2], "n": "on"}]))]],
        )
        .unwrap();
        assert_eq!(
            out,
            "a:\n  b:\n  - x: 1\n  c:\n  - name: 1\n    m:\n    - 2\n    \"n\": \"on\"\n"
        );
        let out = edit(indented, &[vec![op("/a/b/-", json!({"k": {"z": true}}))]]).unwrap();
        assert_eq!(
            out,
            "a:\n    b:\n        - x: 1\n        - k:\n              z: true\n"
        );
    }

    #[test]
    fn values_are_replaced_in_place_and_flow_collections_extended() {
        let text = "a: {b: [1]}   # keep\nc: false # why\nd:\n";
        let ops = vec![
            op("/a/b/-", json!("yes")),
            op("/a/e", json!({})),
            op("/c", json!(true)),
            op("/d", json!({"f": 1})),
        ];
        let out = edit(text, &[ops]).unwrap();
        assert_eq!(
            out,
            "a: {b: [1, \"yes\"], e: {}}   # keep\nc: true # why\nd: {f: 1}\n"
        );
    }

    #[test]
    fn refuses_where_an_edit_would_not_be_faithful() {
        let block = "a:\n  b: 1\n";
        let r = edit(block, &[vec![op("/a", json!({"c": 2}))]]).unwrap_err();
        assert_eq!(r.line, 2, "{r}");
        assert!(r.reason.contains("block collection"), "{r}");
        let anchored = "a: &x\n  b: 1\nc: *x\n";
        let r = edit(anchored, &[vec![op("/a/d", json!(1))]]).unwrap_err();
        assert!(r.reason.contains("anchor"), "{r}");
        let r = edit(anchored, &[vec![op("/c/d", json!(1))]]).unwrap_err();
        assert_eq!(r.line, 3, "{r}");
        let r = edit("{\"a\": 1}", &[vec![op("/b", json!(1))]]).unwrap_err();
        assert!(r.reason.contains("JSON"), "{r}");
    }
}
