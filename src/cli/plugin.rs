//! Running as a kubectl plugin: installed as `kubectl-pod_hardener` (by krew
//! or by hand on `PATH`), the binary is run by `kubectl pod-hardener ...`,
//! and its usage, help and examples say so.

use std::ffi::OsStr;
use std::path::Path;

use clap::builder::StyledStr;
use clap::Command;
use regex::{Captures, Regex};

/// The file name kubectl looks for: `kubectl pod-hardener` runs the first
/// `kubectl-pod_hardener` on `PATH` (kubectl maps `-` in a command to `_`).
pub(crate) const PLUGIN_FILE: &str = "kubectl-pod_hardener";
/// How a user types the command as a plugin.
pub(crate) const PLUGIN_COMMAND: &str = "kubectl pod-hardener";

/// Whether the binary was started under its plugin name (`argv[0]`), with
/// any directory and a `.exe` suffix ignored.
pub(crate) fn invoked_as_plugin(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.strip_suffix(".exe").unwrap_or(n) == PLUGIN_FILE)
}

/// Rewrites `cmd` (the root command) for plugin use: usage lines and error
/// messages name `kubectl pod-hardener`, and so do the examples in every
/// help text (`pod-hardener audit` becomes `kubectl pod-hardener audit`;
/// the namespace, labels and image names that merely contain the word stay).
pub(crate) fn as_kubectl_plugin(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| regex::escape(s.get_name()))
        .collect();
    let example = Regex::new(&format!(
        r"(^|[^\w./-])pod-hardener ({})\b",
        names.join("|")
    ))
    .expect("subcommand names make a valid pattern");
    retitle(cmd, &example)
        .bin_name(PLUGIN_COMMAND)
        .display_name(PLUGIN_COMMAND)
}

fn retitle(cmd: Command, example: &Regex) -> Command {
    let fix = |text: Option<&StyledStr>| -> Option<String> {
        let text = text?.to_string();
        let fixed = example.replace_all(&text, |c: &Captures<'_>| {
            format!("{}{PLUGIN_COMMAND} {}", &c[1], &c[2])
        });
        Some(fixed.into_owned())
    };
    let about = fix(cmd.get_about());
    let long_about = fix(cmd.get_long_about());
    let after_help = fix(cmd.get_after_help());
    let mut cmd = cmd.mut_subcommands(|sub| retitle(sub, example));
    if let Some(t) = about {
        cmd = cmd.about(t);
    }
    if let Some(t) = long_about {
        cmd = cmd.long_about(t);
    }
    if let Some(t) = after_help {
        cmd = cmd.after_help(t);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_name_is_recognised_wherever_it_is_installed() {
        assert!(invoked_as_plugin(OsStr::new("kubectl-pod_hardener")));
        assert!(invoked_as_plugin(OsStr::new(
            "/home/u/.krew/bin/kubectl-pod_hardener"
        )));
        assert!(invoked_as_plugin(OsStr::new("kubectl-pod_hardener.exe")));
        assert!(!invoked_as_plugin(OsStr::new("/usr/bin/pod-hardener")));
        assert!(!invoked_as_plugin(OsStr::new("kubectl-pod_hardener-old")));
    }

    #[test]
    fn examples_name_the_plugin_and_other_mentions_stay() {
        let cmd = Command::new("pod-hardener").subcommand(Command::new("audit").long_about(
            "Examples:\n  pod-hardener audit --from-cluster pod-hardener -o json\n  \
                 kubectl get pod x -o yaml | pod-hardener audit\n  \
                 image ghcr.io/pod-hardener/pod-hardener audit; label pod-hardener.dev/skip",
        ));
        let mut cmd = as_kubectl_plugin(cmd);
        cmd.build();
        let audit = cmd.find_subcommand("audit").unwrap();
        assert_eq!(
            audit.get_long_about().unwrap().to_string(),
            "Examples:\n  kubectl pod-hardener audit --from-cluster pod-hardener -o json\n  \
             kubectl get pod x -o yaml | kubectl pod-hardener audit\n  \
             image ghcr.io/pod-hardener/pod-hardener audit; label pod-hardener.dev/skip"
        );
        assert_eq!(audit.get_bin_name(), Some("kubectl pod-hardener audit"));
    }
}
