//! The unified diff that `preview` and `compose` print: three lines of
//! context, green additions and red removals on a terminal.

/// A unified diff of `before` and `after`, coloured when `colour` is set.
pub fn unified(before: &str, after: &str, old_name: &str, new_name: &str, colour: bool) -> String {
    let text = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    paint(&text, colour)
}

/// The diff of an edit to the file `path`, as `patch -p0` and `git apply -p0`
/// take it: each hunk's `@@` line names what it touches (`heading` gets the
/// 1-based line of the first change), as git names a function there.
pub fn file_patch(
    before: &str,
    after: &str,
    path: &str,
    heading: impl Fn(usize) -> String,
    colour: bool,
) -> String {
    // Myers over a large file with thousands of scattered insertions is
    // quadratic (a 1000-document file took a minute): patience anchors on
    // unique lines, and past the timeout the diff is coarser but still exact.
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(before, after);
    let mut text = format!("--- {path}\n+++ {path}\n");
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let changed = hunk
            .ops()
            .iter()
            .find(|op| op.tag() != similar::DiffTag::Equal)
            .map_or(1, |op| op.old_range().start.max(1));
        let body = hunk.to_string();
        let rest = body.split_once('\n').map_or("", |(_, rest)| rest);
        text.push_str(&format!("{} {}\n{rest}", hunk.header(), heading(changed)));
    }
    paint(&text, colour)
}

/// Green additions, red removals and cyan hunk headers, on request; line
/// endings are kept as they are (a CRLF file's patch must keep its `\r`).
fn paint(text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        match body.chars().next() {
            Some('+') => out.push_str(&format!("\x1b[32m{body}\x1b[0m\n")),
            Some('-') => out.push_str(&format!("\x1b[31m{body}\x1b[0m\n")),
            Some('@') => out.push_str(&format!("\x1b[36m{body}\x1b[0m\n")),
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_changes_and_colours_only_on_request() {
        let plain = super::unified("a\nb\n", "a\nc\n", "x", "x (hardened)", false);
        assert!(plain.contains("-b\n") && plain.contains("+c\n"), "{plain}");
        assert!(!plain.contains('\x1b'));
        let coloured = super::unified("a\nb\n", "a\nc\n", "x", "y", true);
        assert!(coloured.contains("\x1b[32m+c\x1b[0m"), "{coloured}");
    }
}
