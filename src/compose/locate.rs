//! Line numbers for errors about a Compose file.
//!
//! `serde_yaml` values carry no positions, so a problem found after parsing
//! (a service that is not a mapping, a volume entry of the wrong type) is
//! located again in the text by walking its key path through the block-style
//! indentation Compose files are written in. When a step cannot be found (flow
//! style, anchors), the line of the deepest step found is given.

/// One step of a path into the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Indentation and content of a line that carries YAML (not blank, not a comment).
fn content(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with("---") {
        return None;
    }
    Some((line.len() - trimmed.len(), trimmed))
}

/// `key:` possibly quoted, at the start of `text` (after any `- ` markers).
fn starts_with_key(text: &str, key: &str) -> bool {
    let text = text.trim_start_matches(['-', ' ']);
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| {
        text.starts_with(k.as_str())
            && text[k.len()..]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t')
    })
}

/// The 1-based line of `path` in `text`, or of its deepest ancestor found; 1 if
/// nothing is found.
pub(crate) fn line_of(text: &str, path: &[Step<'_>]) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut node = Node {
        line: None,
        min_indent: 0,
        key_indent: None,
    };
    for step in path {
        let found = match step {
            Step::Key(key) => find_key(&lines, &node, key),
            Step::Index(n) => find_item(&lines, &node, *n),
        };
        match found {
            Some(next) => node = next,
            None => break,
        }
    }
    node.line.map_or(1, |i| i + 1)
}

/// Where the walk stands: the node's line, the least indentation of its
/// children, and (for a key) its own indentation, at which a block sequence
/// value may also start.
struct Node {
    line: Option<usize>,
    min_indent: usize,
    key_indent: Option<usize>,
}

/// A sequence item's content: indentation after the `- ` markers.
fn item_content(indent: usize, text: &str) -> (usize, &str) {
    let inner = text.trim_start_matches(['-', ' ']);
    (indent + (text.len() - inner.len()), inner)
}

fn find_key(lines: &[&str], node: &Node, key: &str) -> Option<Node> {
    let start = node.line.map_or(0, |i| i + 1);
    // The first key of a sequence item sits on the item's own line.
    if let Some(i) = node.line {
        if let Some((indent, text)) = content(lines[i]) {
            if text.starts_with("- ") {
                let (column, inner) = item_content(indent, text);
                if starts_with_key(inner, key) {
                    return Some(Node {
                        line: Some(i),
                        min_indent: column + 1,
                        key_indent: Some(column),
                    });
                }
            }
        }
    }
    let mut level = None;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let Some((indent, text)) = content(line) else {
            continue;
        };
        if indent < node.min_indent {
            return None;
        }
        let level = *level.get_or_insert(indent);
        if indent == level && starts_with_key(text, key) {
            return Some(Node {
                line: Some(i),
                min_indent: indent + 1,
                key_indent: Some(indent),
            });
        }
    }
    None
}

fn find_item(lines: &[&str], node: &Node, n: usize) -> Option<Node> {
    let start = node.line.map_or(0, |i| i + 1);
    let mut level = None;
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let Some((indent, text)) = content(line) else {
            continue;
        };
        let dash = text.starts_with('-');
        // A block sequence may sit at the same indentation as its key.
        let same_as_key = dash && Some(indent) == node.key_indent;
        if indent < node.min_indent && !same_as_key {
            return None;
        }
        if !dash {
            continue;
        }
        let level = *level.get_or_insert(indent);
        if indent != level {
            continue;
        }
        if seen == n {
            let (column, _) = item_content(indent, text);
            return Some(Node {
                line: Some(i),
                min_indent: column,
                key_indent: None,
            });
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    const TEXT: &str = "version: '3.8'\n# comment\nservices:\n  web:\n    image: nginx\n    volumes:\n      - ./a:/a\n      - type: bind\n        source: ./b\n        target: /b\n  db:\n    image: \"postgres\"\n    tmpfs:\n    - /tmp\n    - /run\n";

    #[test]
    fn finds_keys_and_items_by_indentation() {
        assert_eq!(line_of(TEXT, &[Key("services")]), 3);
        assert_eq!(line_of(TEXT, &[Key("services"), Key("web")]), 4);
        assert_eq!(
            line_of(TEXT, &[Key("services"), Key("db"), Key("image")]),
            12
        );
        assert_eq!(
            line_of(
                TEXT,
                &[Key("services"), Key("web"), Key("volumes"), Index(1)]
            ),
            8
        );
        assert_eq!(
            line_of(
                TEXT,
                &[
                    Key("services"),
                    Key("web"),
                    Key("volumes"),
                    Index(1),
                    Key("target")
                ]
            ),
            10
        );
        // A sequence at the same indentation as its key.
        assert_eq!(
            line_of(TEXT, &[Key("services"), Key("db"), Key("tmpfs"), Index(1)]),
            15
        );
    }

    #[test]
    fn falls_back_to_the_deepest_ancestor_found() {
        // `image` of web is not under db.
        assert_eq!(
            line_of(TEXT, &[Key("services"), Key("db"), Key("volumes")]),
            11
        );
        assert_eq!(line_of(TEXT, &[Key("nothing")]), 1);
        // A key of another service is not found inside this one.
        assert_eq!(
            line_of(TEXT, &[Key("services"), Key("web"), Key("tmpfs")]),
            4
        );
    }
}
