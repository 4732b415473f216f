//! The unified diff that `preview` and `compose` print: three lines of
//! context, green additions and red removals on a terminal.

/// A unified diff of `before` and `after`, coloured when `colour` is set.
pub fn unified(before: &str, after: &str, old_name: &str, new_name: &str, colour: bool) -> String {
    let text = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let paint = match line.chars().next() {
            _ if !colour => None,
            Some('+') => Some("32"),
            Some('-') => Some("31"),
            Some('@') => Some("36"),
            _ => None,
        };
        match paint {
            Some(code) => out.push_str(&format!("\x1b[{code}m{line}\x1b[0m\n")),
            None => {
                out.push_str(line);
                out.push('\n');
            }
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
