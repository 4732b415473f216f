//! The command-line shells around the engine: each command reads its input,
//! calls the pure core, and prints. One file per command.

pub(crate) mod args;
pub mod audit;
pub(crate) mod certs;
pub(crate) mod compose;
pub(crate) mod config_print;
pub mod doctor;
pub(crate) mod plugin;
pub mod preview;
pub(crate) mod profiles;
mod run;

use std::path::PathBuf;

use crate::profile::Catalog;

pub use run::run;

/// Exit code for bad input (a file that does not parse, an invalid profile).
pub(crate) const EXIT_BAD_INPUT: i32 = 1;

/// Exit code for a command that cannot work as asked or cannot start: an
/// invalid configuration, an unknown service or profile, a server or async
/// runtime that does not start.
pub(crate) const EXIT_USAGE: i32 = 2;

/// A command that failed: the message printed after `error: ` and the exit
/// code it deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl std::fmt::Display) -> Self {
        CliError {
            code,
            message: message.to_string(),
        }
    }

    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        CliError::new(EXIT_BAD_INPUT, message)
    }

    pub fn usage(message: impl std::fmt::Display) -> Self {
        CliError::new(EXIT_USAGE, message)
    }
}

/// Reads profile files (bad input when one cannot be read), as
/// `(name, text)` pairs for [`catalog_of`].
fn read_profile_files(files: &[PathBuf]) -> Result<Vec<(String, String)>, CliError> {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|t| (f.display().to_string(), t))
                .map_err(|e| CliError::bad_input(format!("{}: cannot read: {e}", f.display())))
        })
        .collect()
}

/// Builds the catalog of profile files already read; an invalid one is bad
/// input, one error per line, each naming file and line.
fn catalog_of(texts: &[(String, String)], builtin: bool) -> Result<Catalog, CliError> {
    Catalog::load(texts, builtin).map_err(|errors| {
        CliError::bad_input(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

/// Reads profile files and builds the catalog; errors name file and line.
pub(crate) fn load_catalog(files: &[PathBuf], builtin: bool) -> Result<Catalog, CliError> {
    catalog_of(&read_profile_files(files)?, builtin)
}
