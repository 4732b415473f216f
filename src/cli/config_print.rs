//! `config print`: the effective configuration and where each value came from.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::CliError;

/// Renders `key = value  # origin` lines; an invalid configuration is a usage error.
pub fn render(file: Option<&Path>, flags: serde_json::Value) -> Result<String, CliError> {
    let rows = crate::config::provenance(file, flags).map_err(CliError::usage)?;
    // Origins line up in a column, but one long list value must not push every
    // line past a terminal's width: longer rows just get two spaces.
    const MAX_WIDTH: usize = 48;
    let width = rows
        .iter()
        .map(|(k, v, _)| k.len() + v.len() + 3)
        .filter(|w| *w <= MAX_WIDTH)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value, origin) in rows {
        let kv = format!("{key} = {value}");
        let _ = writeln!(out, "{kv:<width$}  # {origin}");
    }
    Ok(out)
}
