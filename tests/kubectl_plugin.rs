//! The binary as a kubectl plugin: installed as `kubectl-pod_hardener`, it
//! names itself `kubectl pod-hardener` in usage, help and examples, and
//! kubectl finds and runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/deployment.yaml");

/// A directory holding the binary under its plugin name (a copy: a symlink
/// would do for kubectl, but a copy is what krew installs).
fn install(dir: &Path) -> PathBuf {
    let plugin = dir.join("kubectl-pod_hardener");
    std::fs::copy(BIN, &plugin).unwrap();
    // Run once here, where a busy copy is retried (see `run`): once it has
    // run, no process holds its write handle, so kubectl can run it too.
    let version = run(&plugin, &["--version"], None);
    assert!(version.status.success(), "{}", text(&version.stderr));
    plugin
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(program: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).env_remove("POD_HARDENER_MODE");
    if let Some(dir) = path {
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&old));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    // A copy just written can be "busy" for a moment: another test's child,
    // forked before it execs, still holds this test's write handle.
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
    panic!("{} stayed busy for a second", program.display())
}

#[test]
fn under_its_plugin_name_help_and_usage_say_kubectl_pod_hardener() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = install(dir.path());

    let help = run(&plugin, &["--help"], None);
    assert!(help.status.success());
    let out = text(&help.stdout);
    assert!(
        out.contains("Usage: kubectl pod-hardener <COMMAND>"),
        "{out}"
    );

    let audit = text(&run(&plugin, &["audit", "--help"], None).stdout);
    assert!(
        audit.contains("Usage: kubectl pod-hardener audit [OPTIONS]"),
        "{audit}"
    );
    assert!(
        audit.contains("  kubectl pod-hardener audit -n shop -l app=web"),
        "{audit}"
    );
    // the namespace named pod-hardener stays a namespace
    assert!(
        audit.contains("kubectl pod-hardener audit --from-cluster pod-hardener -o markdown"),
        "{audit}"
    );
    assert!(!audit.contains("\n  pod-hardener audit"), "{audit}");

    let preview = text(&run(&plugin, &["preview", "--help"], None).stdout);
    assert!(
        preview.contains("| kubectl pod-hardener preview -f -"),
        "{preview}"
    );

    let usage = run(&plugin, &["preview", "--no-such-flag"], None);
    assert_eq!(usage.status.code(), Some(2));
    let err = text(&usage.stderr);
    assert!(err.contains("Usage: kubectl pod-hardener preview"), "{err}");

    let version = text(&run(&plugin, &["--version"], None).stdout);
    assert!(version.starts_with("kubectl pod-hardener "), "{version}");

    // Under its own name nothing changes.
    let own = text(&run(Path::new(BIN), &["audit", "--help"], None).stdout);
    assert!(own.contains("Usage: pod-hardener audit"), "{own}");
    assert!(own.contains("\n  pod-hardener audit -n shop"), "{own}");
}

#[test]
fn the_plugin_works_like_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = install(dir.path());
    let direct = run(
        Path::new(BIN),
        &["preview", "-f", EXAMPLE, "-o", "patch"],
        None,
    );
    let as_plugin = run(&plugin, &["preview", "-f", EXAMPLE, "-o", "patch"], None);
    assert!(as_plugin.status.success(), "{}", text(&as_plugin.stderr));
    assert!(!as_plugin.stdout.is_empty());
    assert_eq!(as_plugin.stdout, direct.stdout);
}

/// kubectl itself finds the plugin on PATH and runs it (where kubectl is installed).
#[test]
fn kubectl_runs_the_plugin() {
    let kubectl =
        std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
    if Command::new(&kubectl)
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl_runs_the_plugin: skipped: no kubectl on PATH (set KUBECTL)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    install(dir.path());
    let out = run(
        &kubectl,
        &["pod-hardener", "preview", "-f", EXAMPLE, "-o", "patch"],
        Some(dir.path()),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let direct = run(
        Path::new(BIN),
        &["preview", "-f", EXAMPLE, "-o", "patch"],
        None,
    );
    assert_eq!(out.stdout, direct.stdout);
    let list = run(&kubectl, &["plugin", "list"], Some(dir.path()));
    assert!(
        text(&list.stdout).contains("kubectl-pod_hardener"),
        "{}{}",
        text(&list.stdout),
        text(&list.stderr)
    );
}

/// The krew manifest template, filled in as krew-release-bot fills it, is a
/// krew Plugin whose link name is the name the binary recognises.
#[test]
fn the_krew_manifest_template_fills_in_to_a_plugin_manifest() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plugins/krew/pod-hardener.yaml"
    ))
    .unwrap();
    let tag = "v0.1.0";
    let sha = "ab".repeat(32);
    let uri_and_sha = regex::Regex::new(r#"\{\{addURIAndSha "([^"]+)" \.TagName \}\}"#).unwrap();
    let filled = uri_and_sha.replace_all(&template, |c: &regex::Captures<'_>| {
        format!("uri: {}\n      sha256: {sha}", &c[1])
    });
    let filled = filled.replace("{{ .TagName }}", tag);
    assert!(!filled.contains("{{"), "a placeholder is left:\n{filled}");
    let m: serde_json::Value = serde_yaml::from_str(&filled).unwrap();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    let name = m["metadata"]["name"].as_str().unwrap();
    // krew links the binary as kubectl-<name with - as _>.
    assert_eq!(
        format!("kubectl-{}", name.replace('-', "_")),
        "kubectl-pod_hardener"
    );
    assert_eq!(m["spec"]["version"], tag);
    assert!(m["spec"]["shortDescription"].as_str().unwrap().len() <= 60);
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 4);
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        let uri = p["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("https://") && uri.ends_with(&format!("{tag}_{os}_{arch}.tar.gz")),
            "{uri}"
        );
        assert_eq!(p["sha256"], sha.as_str());
        assert_eq!(p["bin"], "pod-hardener");
    }
}
