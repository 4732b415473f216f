//! `config print`: the effective configuration and where each value came from.

use std::fmt::Write as _;
use std::path::Path;

/// Renders `key = value  # origin` lines.
pub fn render(file: Option<&Path>, flags: serde_json::Value) -> Result<String, String> {
    let rows = crate::config::provenance(file, flags)?;
    let width = rows
        .iter()
        .map(|(k, v, _)| k.len() + v.len() + 3)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value, origin) in rows {
        let kv = format!("{key} = {value}");
        let _ = writeln!(out, "{kv:<width$}  # {origin}");
    }
    Ok(out)
}
