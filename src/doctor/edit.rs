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
use crate::profile::validate::parse_profile_set;

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
pub fn render_entry(p: &Proposal, indent: usize, eol: &str) -> String {
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

/// Puts the proposal into a profile file's text: extends the entry of the same
/// name, or appends the entry to `profiles:`. Everything else stays byte for
/// byte. The result must pass profile validation; `file` names it in errors.
pub fn apply(text: &str, file: &str, p: &Proposal) -> Result<String, String> {
    if text.trim().is_empty() {
        return validated(file, render_file(p), p);
    }
    let set = parse_profile_set(file, text).map_err(|errors| {
        format!(
            "{file} is not a valid profile file; fix it first:\n{}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut() {
        if !last.ends_with('\n') {
            last.push_str(eol);
        }
    }
    let stripped = |l: &String| l.trim_end_matches(['\n', '\r']).to_string();

    let Some(profiles_at) = lines
        .iter()
        .position(|l| key_value(&stripped(l), "profiles").is_some() && !l.starts_with([' ', '\t']))
    else {
        let mut out = lines.concat();
        out.push_str(&format!("profiles:{eol}"));
        out.push_str(&render_entry(p, 2, eol));
        return validated(file, out, p);
    };
    let profiles_line = stripped(&lines[profiles_at]);
    let inline = key_value(&profiles_line, "profiles").unwrap_or("");
    if inline == "[]" {
        let after = &profiles_line[profiles_line.find("[]").expect("seen") + 2..];
        lines[profiles_at] = format!("profiles:{after}{eol}");
        lines.insert(profiles_at + 1, render_entry(p, 2, eol));
        return validated(file, lines.concat(), p);
    }
    if !inline.is_empty() {
        return Err(format!(
            "{file}:{}: profiles is written as a flow list; add the entry by hand:\n{}",
            profiles_at + 1,
            render_entry(p, 2, "\n")
        ));
    }
    // The block of profiles: until the next top-level key.
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(profiles_at + 1) {
        let s = stripped(l);
        if is_blank_or_comment(&s) || s.starts_with([' ', '\t']) || s.starts_with('-') && s != "---"
        {
            continue;
        }
        end = i;
        break;
    }
    let item_starts: Vec<usize> = (profiles_at + 1..end)
        .filter(|&i| {
            let t = stripped(&lines[i]);
            let t = t.trim_start();
            t == "-" || t.starts_with("- ")
        })
        .collect();
    let item_indent = item_starts.first().map(|&i| indent_of(&lines[i]));
    let items: Vec<(usize, usize)> = match item_indent {
        None => Vec::new(),
        Some(ind) => {
            let starts: Vec<usize> = item_starts
                .into_iter()
                .filter(|&i| indent_of(&lines[i]) == ind)
                .collect();
            starts
                .iter()
                .enumerate()
                .map(|(k, &s)| (s, starts.get(k + 1).copied().unwrap_or(end)))
                .collect()
        }
    };
    let last_content = |from: usize, to: usize, lines: &[String]| -> usize {
        (from..to)
            .rev()
            .find(|&i| !is_blank_or_comment(&stripped(&lines[i])))
            .unwrap_or(from)
    };

    let wanted = &p.profile.name;
    let existing = set.profiles.iter().find(|e| &e.name == wanted);
    let Some(existing) = existing else {
        let at = match items.last() {
            Some(&(s, e)) => last_content(s, e, &lines) + 1,
            None => profiles_at + 1,
        };
        let entry = render_entry(p, item_indent.unwrap_or(2), eol);
        lines.insert(at, entry);
        return validated(file, lines.concat(), p);
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
        return Ok(lines.concat());
    }
    let ind = item_indent.expect("an entry exists, so items do");
    let content_indent = ind + 2;
    let (start, stop) = items
        .iter()
        .copied()
        .find(|&(s, e)| {
            (s..e).any(|i| {
                entry_key_content(&stripped(&lines[i]), i == s, content_indent)
                    .is_some_and(|c| key_value(&c, "name").is_some_and(|v| unquote(v) == wanted))
            })
        })
        .ok_or_else(|| format!("{file}: cannot find the lines of profile {wanted:?}"))?;
    let key_line = (start..stop).find(|&i| {
        entry_key_content(&stripped(&lines[i]), i == start, content_indent)
            .is_some_and(|c| key_value(&c, "writablePaths").is_some())
    });
    let Some(k) = key_line else {
        let at = last_content(start, stop, &lines) + 1;
        let pad = " ".repeat(content_indent);
        let mut block = format!("{pad}writablePaths:{eol}");
        for a in &new {
            block.push_str(&format!(
                "{pad}  - {}  # doctor: {}{eol}",
                addition_item(a),
                comment(&a.because)
            ));
        }
        lines.insert(at, block);
        return validated(file, lines.concat(), p);
    };
    let l = stripped(&lines[k]);
    let content = entry_key_content(&l, k == start, content_indent)
        .expect("the key line was found by this test");
    let value = key_value(&content, "writablePaths").unwrap_or("");
    if value.starts_with('[') {
        if !value.ends_with(']') {
            return Err(format!(
                "{file}:{}: writablePaths spans lines as a flow list; add {} by hand",
                k + 1,
                new.iter()
                    .map(|a| a.directory.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let close = l.rfind(']').expect("seen");
        let inner_empty = l[..close].trim_end().ends_with('[');
        let items: Vec<String> = new.iter().map(|a| addition_item(a)).collect();
        let joined = items.join(", ");
        let insert = if inner_empty {
            joined
        } else {
            format!(", {joined}")
        };
        lines[k] = format!("{}{insert}{}{eol}", &l[..close], &l[close..]);
        return validated(file, lines.concat(), p);
    }
    if !value.is_empty() {
        return Err(format!(
            "{file}:{}: writablePaths is not a list; add {} by hand",
            k + 1,
            new[0].directory.path
        ));
    }
    // A block list: items at the key's indent or deeper.
    let key_indent = indent_of(&l) + if k == start { 2 } else { 0 };
    let mut last = k;
    let mut dash_indent = None;
    for (i, line) in lines.iter().enumerate().take(stop).skip(k + 1) {
        let s = stripped(line);
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
    let mut block = String::new();
    for a in &new {
        block.push_str(&format!(
            "{pad}- {}  # doctor: {}{eol}",
            addition_item(a),
            comment(&a.because)
        ));
    }
    lines.insert(last + 1, block);
    validated(file, lines.concat(), p)
}

/// The edited text, if it is a valid profile file whose entry now holds every addition.
fn validated(file: &str, text: String, p: &Proposal) -> Result<String, String> {
    let set = parse_profile_set(file, &text).map_err(|errors| {
        format!(
            "the edited {file} would not be valid (nothing written):\n{}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let entry = set
        .profiles
        .iter()
        .find(|e| e.name == p.profile.name)
        .ok_or_else(|| {
            format!(
                "internal error: profile {:?} missing after the edit",
                p.profile.name
            )
        })?;
    for a in &p.additions {
        if !entry
            .writable_paths
            .iter()
            .any(|w| crate::harden::paths::is_within(&a.directory.path, w.path()))
        {
            return Err(format!(
                "internal error: {} missing from profile {:?} after the edit",
                a.directory.path, p.profile.name
            ));
        }
    }
    Ok(text)
}
