//! The `pod-hardener` binary: `cli::run` parses the arguments and runs the
//! subcommand. All decisions live in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// See the note on `mimalloc` in Cargo.toml (bench/RESULTS.md has before and after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    pod_hardener::cli::run()
}
