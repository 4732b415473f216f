//! The suggested profile entry as text, and the edit that puts it into a
//! profile file while keeping every other byte of that file.
//!
//! A YAML round trip would lose the file's comments and layout, which in a
//! profile file carry the sources of each path. So the file is edited as
//! lines: the entry's `writablePaths` list gets new items after its last one,
//! or a whole new entry goes after the last line of `profiles:`. The result is
//! validated like any profile file before it is written.

use super::suggest::Directory;
use crate::profile::model::{Profile, WritablePath, API_VERSION, KIND};
use crate::profile::validate::{parse_profile_set, ProfileError};

/// A directory to add, with the log line that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    pub directory: Directory,
    /// Short provenance, written as a comment beside the path.
    pub because: String,
}

/// The profile entry doctor proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The entry: a copy of the profile the image resolved to (same name,
    /// patterns, paths) or a new one, without the additions.
    pub profile: Profile,
    /// Where the copied profile came from (`<built-in>`, a file), if any.
    pub extends: Option<String>,
    pub additions: Vec<Addition>,
}

/// Quotes a scalar when YAML would read it as something else.
pub fn scalar(s: &str) -> String {
    let special = s.is_empty()
        || s.starts_with([
            '-', '?', ' ', '!', '&', '*', '%', '@', '`', '|', '>', '\'', '"',
        ])
        || s.ends_with(' ')
        || s.contains([',', '[', ']', '{', '}', '#', ':', '*', '\'', '"', '\t'])
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        )
        || s.parse::<f64>().is_ok();
    if special {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        s.to_string()
    }
}

fn flow_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| scalar(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// One writable path as a flow item: `/x` or `{path: /x, seed: true}`.
fn path_item(w: &WritablePath) -> String {
    match w {
        WritablePath::Path(p) => scalar(p),
        WritablePath::Detailed(d) => {
            let mut parts = vec![format!("path: {}", scalar(&d.path))];
            if d.medium.is_some() {
                parts.push("medium: Memory".into());
            }
            if let Some(s) = &d.size_limit {
                parts.push(format!("sizeLimit: {}", scalar(s)));
            }
            if d.seed {
                parts.push("seed: true".into());
            }
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn addition_item(a: &Addition) -> String {
    if a.directory.seed {
        format!("{{path: {}, seed: true}}", scalar(&a.directory.path))
    } else {
        scalar(&a.directory.path)
    }
}

/// A comment is one line: no line breaks, and not too long to read.
fn comment(text: &str) -> String {
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.trim();
    if one.chars().count() > 100 {
        format!("{}...", one.chars().take(97).collect::<String>())
    } else {
        one.to_string()
    }
}

/// The entry as a block list item at `indent`, each line ending in `eol`.
pub(crate) fn render_entry(p: &Proposal, indent: usize, eol: &str) -> String {
    let i = " ".repeat(indent);
    let profile = &p.profile;
    let mut out = format!("{i}- name: {}{eol}", scalar(&profile.name));
    if let Some(d) = &profile.description {
        out.push_str(&format!("{i}  description: {}{eol}", scalar(d)));
    }
    out.push_str(&format!(
        "{i}  match: {}{eol}",
        flow_list(&profile.patterns)
    ));
    out.push_str(&format!("{i}  writablePaths:{eol}"));
    for w in &profile.writable_paths {
        out.push_str(&format!("{i}    - {}{eol}", path_item(w)));
    }
    for a in &p.additions {
        out.push_str(&format!(
            "{i}    - {}  # doctor: {}{eol}",
            addition_item(a),
            comment(&a.because)
        ));
    }
    if !profile.data_paths.is_empty() {
        out.push_str(&format!(
            "{i}  dataPaths: {}{eol}",
            flow_list(&profile.data_paths)
        ));
    }
    if let Some(ro) = profile.read_only_root_filesystem {
        out.push_str(&format!("{i}  readOnlyRootFilesystem: {ro}{eol}"));
    }
    if let Some(s) = profile.secret_mounts {
        let s = serde_json::to_value(s).expect("serialises");
        out.push_str(&format!(
            "{i}  secretMounts: {}{eol}",
            s.as_str().unwrap_or("move")
        ));
    }
    if !profile.app_dirs.is_empty() {
        out.push_str(&format!(
            "{i}  appDirs: {}{eol}",
            flow_list(&profile.app_dirs)
        ));
    }
    out
}

/// A whole profile file holding the entry, ready for `--profiles`.
pub fn render_file(p: &Proposal) -> String {
    let mut out = String::new();
    match &p.extends {
        Some(source) => out.push_str(&format!(
            "# Extends profile {:?} from {source}: user files are tried before the built-in\n# catalog, so this entry replaces that one for its images and keeps its paths.\n",
            p.profile.name
        )),
        None => out.push_str(&format!(
            "# New profile {:?} for images that matched no profile.\n",
            p.profile.name
        )),
    }
    out.push_str(&format!(
        "apiVersion: {API_VERSION}\nkind: {KIND}\nprofiles:\n"
    ));
    out.push_str(&render_entry(p, 2, "\n"));
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The `key: value` text of a line of a profile entry: the first line
/// without its `- `, a later line only at the entry's own key indent (deeper
/// lines belong to a nested value).
fn entry_key_content(line: &str, first: bool, content_indent: usize) -> Option<String> {
    if first {
        Some(
            line.trim_start()
                .trim_start_matches('-')
                .trim_start()
                .to_string(),
        )
    } else if indent_of(line) == content_indent {
        Some(line.trim_start().to_string())
    } else {
        None
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The value after `key:` on a line (comment removed), if the line is that key.
fn key_value<'a>(content: &'a str, key: &str) -> Option<&'a str> {
    let rest = content.strip_prefix(key)?.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(strip_comment(rest).trim())
}

/// Cuts a ` #` comment (a `#` after a space, outside quotes).
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &s[..i],
            None => {}
        }
        prev = c;
    }
    s
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches(['"', '\''])
}

/// Why a proposal was not put into a profile file (nothing is written).
#[derive(Debug, Clone, thiserror::Error)]
pub enum EditError {
    #[error("{file} is not a valid profile file; fix it first:\n{}", one_per_line(.problems))]
    InvalidFile {
        file: String,
        problems: Vec<ProfileError>,
    },
    #[error("{file}:{line}: profiles is written as a flow list; add the entry by hand:\n{entry}")]
    FlowProfiles {
        file: String,
        line: usize,
        entry: String,
    },
    #[error("{file}: cannot find the lines of profile {name:?}")]
    EntryNotFound { file: String, name: String },
    #[error("{file}:{line}: writablePaths spans lines as a flow list; add {paths} by hand")]
    MultiLineFlow {
        file: String,
        line: usize,
        paths: String,
    },
    #[error("{file}:{line}: writablePaths is not a list; add {path} by hand")]
    NotAList {
        file: String,
        line: usize,
        path: String,
    },
    #[error("the edited {file} would not be valid (nothing written):\n{}", one_per_line(.problems))]
    InvalidResult {
        file: String,
        problems: Vec<ProfileError>,
    },
    #[error("internal error: profile {0:?} missing after the edit")]
    EntryLost(String),
    #[error("internal error: {path} missing from profile {name:?} after the edit")]
    PathLost { path: String, name: String },
}

fn one_per_line(problems: &[ProfileError]) -> String {
    problems
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A profile file as lines, each with its line break (the last one gets one).
struct Lines {
    lines: Vec<String>,
    eol: &'static str,
}

impl Lines {
    fn new(text: &str) -> Self {
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        if let Some(last) = lines.last_mut() {
            if !last.ends_with('\n') {
                last.push_str(eol);
            }
        }
        Lines { lines, eol }
    }

    /// Line `i` without its line break.
    fn stripped(&self, i: usize) -> String {
        self.lines[i].trim_end_matches(['\n', '\r']).to_string()
    }

    /// The last line of `from..to` that is neither blank nor a comment.
    fn last_content(&self, from: usize, to: usize) -> usize {
        (from..to)
            .rev()
            .find(|&i| !is_blank_or_comment(&self.stripped(i)))
            .unwrap_or(from)
    }

    fn text(&self) -> String {
        self.lines.concat()
    }
}

/// The entries of the `profiles:` block that starts at line `profiles_at`:
/// their item indent and each one's `(first line, end)`.
fn profile_items(lines: &Lines, profiles_at: usize) -> (Option<usize>, Vec<(usize, usize)>) {
    // The block of profiles: until the next top-level key.
    let mut end = lines.lines.len();
    for i in profiles_at + 1..lines.lines.len() {
        let s = lines.stripped(i);
        if is_blank_or_comment(&s) || s.starts_with([' ', '\t']) || s.starts_with('-') && s != "---"
        {
            continue;
        }
        end = i;
        break;
    }
    let item_starts: Vec<usize> = (profiles_at + 1..end)
        .filter(|&i| {
            let t = lines.stripped(i);
            let t = t.trim_start();
            t == "-" || t.starts_with("- ")
        })
        .collect();
    let item_indent = item_starts.first().map(|&i| indent_of(&lines.lines[i]));
    let items = match item_indent {
        None => Vec::new(),
        Some(ind) => {
            let starts: Vec<usize> = item_starts
                .into_iter()
                .filter(|&i| indent_of(&lines.lines[i]) == ind)
                .collect();
            starts
                .iter()
                .enumerate()
                .map(|(k, &s)| (s, starts.get(k + 1).copied().unwrap_or(end)))
                .collect()
        }
    };
    (item_indent, items)
}

/// Puts the proposal into a profile file's text: extends the entry of the same
/// name, or appends the entry to `profiles:`. Everything else stays byte for
/// byte. The result must pass profile validation; `file` names it in errors.
pub fn apply(text: &str, file: &str, p: &Proposal) -> Result<String, EditError> {
    if text.trim().is_empty() {
        return validated(file, render_file(p), p);
    }
    let set = parse_profile_set(file, text).map_err(|problems| EditError::InvalidFile {
        file: file.to_string(),
        problems,
    })?;
    let mut lines = Lines::new(text);
    let eol = lines.eol;

    let Some(profiles_at) = (0..lines.lines.len()).position(|i| {
        key_value(&lines.stripped(i), "profiles").is_some()
            && !lines.lines[i].starts_with([' ', '\t'])
    }) else {
        let mut out = lines.text();
        out.push_str(&format!("profiles:{eol}"));
        out.push_str(&render_entry(p, 2, eol));
        return validated(file, out, p);
    };
    let profiles_line = lines.stripped(profiles_at);
    let inline = key_value(&profiles_line, "profiles").unwrap_or("");
    if inline == "[]" {
        let after = &profiles_line[profiles_line.find("[]").expect("seen") + 2..];
        lines.lines[profiles_at] = format!("profiles:{after}{eol}");
        lines.lines.insert(profiles_at + 1, render_entry(p, 2, eol));
        return validated(file, lines.text(), p);
    }
    if !inline.is_empty() {
        return Err(EditError::FlowProfiles {
            file: file.to_string(),
            line: profiles_at + 1,
            entry: render_entry(p, 2, "\n"),
        });
    }
    let (item_indent, items) = profile_items(&lines, profiles_at);
    let Some(existing) = set.profiles.iter().find(|e| e.name == p.profile.name) else {
        let at = match items.last() {
            Some(&(s, e)) => lines.last_content(s, e) + 1,
            None => profiles_at + 1,
        };
        let entry = render_entry(p, item_indent.unwrap_or(2), eol);
        lines.lines.insert(at, entry);
        return validated(file, lines.text(), p);
    };
    // Extend the entry of that name with the paths it lacks.
    let new: Vec<&Addition> = p
        .additions
        .iter()
        .filter(|a| {
            !existing
                .writable_paths
                .iter()
                .any(|w| crate::harden::paths::is_within(&a.directory.path, w.path()))
        })
        .collect();
    if new.is_empty() {
        return Ok(lines.text());
    }
    let ind = item_indent.expect("an entry exists, so items do");
    let entry = Entry::find(&lines, &items, ind + 2, &p.profile.name).ok_or_else(|| {
        EditError::EntryNotFound {
            file: file.to_string(),
            name: p.profile.name.clone(),
        }
    })?;
    entry.add_paths(&mut lines, file, &new)?;
    validated(file, lines.text(), p)
}

/// The lines `start..stop` of one profile entry, whose keys are at `content_indent`.
struct Entry {
    start: usize,
    stop: usize,
    content_indent: usize,
}

impl Entry {
    /// The entry named `name` among `items`.
    fn find(
        lines: &Lines,
        items: &[(usize, usize)],
        content_indent: usize,
        name: &str,
    ) -> Option<Entry> {
        let (start, stop) = items.iter().copied().find(|&(s, e)| {
            (s..e).any(|i| {
                entry_key_content(&lines.stripped(i), i == s, content_indent)
                    .is_some_and(|c| key_value(&c, "name").is_some_and(|v| unquote(v) == name))
            })
        })?;
        Some(Entry {
            start,
            stop,
            content_indent,
        })
    }

    /// The entry's own `key:` text of line `i`, if it is one.
    fn key_content(&self, lines: &Lines, i: usize) -> Option<String> {
        entry_key_content(&lines.stripped(i), i == self.start, self.content_indent)
    }

    /// Adds `new` to the entry's `writablePaths`: a new key, the items of a
    /// one-line flow list, or items of a block list.
    fn add_paths(&self, lines: &mut Lines, file: &str, new: &[&Addition]) -> Result<(), EditError> {
        let key_line = (self.start..self.stop).find(|&i| {
            self.key_content(lines, i)
                .is_some_and(|c| key_value(&c, "writablePaths").is_some())
        });
        let Some(k) = key_line else {
            let at = lines.last_content(self.start, self.stop) + 1;
            let pad = " ".repeat(self.content_indent);
            let eol = lines.eol;
            let mut block = format!("{pad}writablePaths:{eol}");
            block.push_str(&addition_lines(&format!("{pad}  "), new, eol));
            lines.lines.insert(at, block);
            return Ok(());
        };
        let content = self
            .key_content(lines, k)
            .expect("the key line was found by this test");
        let value = key_value(&content, "writablePaths").unwrap_or("");
        if value.starts_with('[') {
            if !value.ends_with(']') {
                return Err(EditError::MultiLineFlow {
                    file: file.to_string(),
                    line: k + 1,
                    paths: new
                        .iter()
                        .map(|a| a.directory.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            add_to_flow_list(lines, k, new);
            return Ok(());
        }
        if !value.is_empty() {
            return Err(EditError::NotAList {
                file: file.to_string(),
                line: k + 1,
                path: new[0].directory.path.clone(),
            });
        }
        self.add_to_block_list(lines, k, new);
        Ok(())
    }

    /// Appends `new` after the last item of the block list whose key is on line `k`.
    fn add_to_block_list(&self, lines: &mut Lines, k: usize, new: &[&Addition]) {
        // A block list: items at the key's indent or deeper.
        let key_indent = indent_of(&lines.stripped(k)) + if k == self.start { 2 } else { 0 };
        let mut last = k;
        let mut dash_indent = None;
        for i in k + 1..self.stop {
            let s = lines.stripped(i);
            if is_blank_or_comment(&s) {
                continue;
            }
            let ind = indent_of(&s);
            let is_item = s.trim_start().starts_with("- ") || s.trim_start() == "-";
            if ind > key_indent || (ind == key_indent && is_item) {
                if is_item && dash_indent.is_none() {
                    dash_indent = Some(ind);
                }
                last = i;
            } else {
                break;
            }
        }
        let pad = " ".repeat(dash_indent.unwrap_or(key_indent + 2));
        let block = addition_lines(&pad, new, lines.eol);
        lines.lines.insert(last + 1, block);
    }
}

/// Each addition as a block item at `pad`, with its `# doctor:` comment.
fn addition_lines(pad: &str, new: &[&Addition], eol: &str) -> String {
    new.iter()
        .map(|a| {
            format!(
                "{pad}- {}  # doctor: {}{eol}",
                addition_item(a),
                comment(&a.because)
            )
        })
        .collect()
}

/// Adds `new` before the `]` of the one-line flow list on line `k`.
fn add_to_flow_list(lines: &mut Lines, k: usize, new: &[&Addition]) {
    let l = lines.stripped(k);
    let close = l.rfind(']').expect("seen");
    let inner_empty = l[..close].trim_end().ends_with('[');
    let joined = new
        .iter()
        .map(|a| addition_item(a))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = if inner_empty {
        joined
    } else {
        format!(", {joined}")
    };
    lines.lines[k] = format!("{}{insert}{}{}", &l[..close], &l[close..], lines.eol);
}

/// The edited text, if it is a valid profile file whose entry now holds every addition.
fn validated(file: &str, text: String, p: &Proposal) -> Result<String, EditError> {
    let set = parse_profile_set(file, &text).map_err(|problems| EditError::InvalidResult {
        file: file.to_string(),
        problems,
    })?;
    let entry = set
        .profiles
        .iter()
        .find(|e| e.name == p.profile.name)
        .ok_or_else(|| EditError::EntryLost(p.profile.name.clone()))?;
    for a in &p.additions {
        if !entry
            .writable_paths
            .iter()
            .any(|w| crate::harden::paths::is_within(&a.directory.path, w.path()))
        {
            return Err(EditError::PathLost {
                path: a.directory.path.clone(),
                name: p.profile.name.clone(),
            });
        }
    }
    Ok(text)
}
