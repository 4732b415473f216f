//! Black-box tests of `doctor` offline (a log file or stdin) and of `audit`
//! without a cluster.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const TOMCAT_LOG: &str = "02-May-2024 09:14:11.123 SEVERE [main] java.util.logging.FileHandler.publish\njava.io.FileNotFoundException: /usr/local/tomcat/logs/catalina.2024-05-02.log (Read-only file system)\nException in thread \"main\" java.nio.file.FileSystemException: /srv/uploads/tmp-1.part: Read-only file system\n";

#[test]
fn offline_from_stdin_prints_a_valid_profile_file() {
    let out = run(
        &["doctor", "--logs", "-", "--image", "tomcat:10.1"],
        TOMCAT_LOG,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // /usr/local/tomcat/logs is already in the built-in tomcat profile
    assert!(
        stdout.contains("already writable in profile tomcat"),
        "{stdout}"
    );
    assert!(stdout.contains("add /srv/uploads"), "{stdout}");
    let doc = stdout.split("---\n").nth(1).expect("a profile document");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suggested.yaml");
    std::fs::write(&file, doc).unwrap();
    let check = run(&["profiles", "check", file.to_str().unwrap()], "");
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let explain = run(
        &[
            "profiles",
            "explain",
            "tomcat:10.1",
            "--profiles",
            file.to_str().unwrap(),
        ],
        "",
    );
    let explained = text(&explain.stdout);
    assert!(
        explained.contains("/srv/uploads") && explained.contains("/usr/local/tomcat/logs"),
        "{explained}"
    );
}

#[test]
fn write_extends_the_file_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    let original = "# team profiles (reviewed weekly)\napiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: shop\n    match: [registry.example.com/shop/api]\n    writablePaths:\n      - /tmp  # scratch\n";
    std::fs::write(&file, original).unwrap();
    let log = dir.path().join("crash.log");
    std::fs::write(
        &log,
        "Errno::EROFS: Read-only file system @ rb_sysopen - /srv/api/tmp/pids/server.pid\n",
    )
    .unwrap();
    let args = [
        "doctor",
        "--logs",
        log.to_str().unwrap(),
        "--image",
        "registry.example.com/shop/api:2.1",
        "--write",
        file.to_str().unwrap(),
    ];
    let out = run(&args, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        after,
        format!("{original}      - /srv/api/tmp/pids  # doctor: Errno::EROFS: Read-only file system @ rb_sysopen - /srv/api/tmp/pids/server.pid\n")
    );
    // a second run finds the path writable and leaves the file alone
    let again = run(&args, "");
    assert!(again.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
    assert!(
        text(&again.stdout).contains("already writable in profile shop"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn bad_arguments_and_no_cluster() {
    let out = run(&["doctor"], "");
    assert!(!out.status.success());
    let out = run(&["doctor", "--logs", "-"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--image"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &["doctor", "--logs", "/nonexistent.log", "--image", "nginx"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent.log: cannot read"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["audit", "-q"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot reach the cluster"),
        "{}",
        text(&out.stderr)
    );
    let help = run(&["audit", "--help"], "");
    assert!(
        text(&help.stdout).contains("pod-hardener audit --from-cluster pod-hardener -o markdown")
    );
}

#[test]
fn json_output_for_scripts() {
    let out = run(
        &[
            "doctor",
            "--logs",
            "-",
            "--image",
            "tomcat:10.1",
            "--json",
            "-c",
            "web",
        ],
        TOMCAT_LOG,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["subject"], "stdin (image tomcat:10.1)");
    let c = &v["containers"][0];
    assert_eq!(c["container"], "web");
    assert_eq!(c["profile"], "tomcat");
    assert_eq!(c["seen"][0]["finding"]["form"], "java");
    assert_eq!(c["seen"][1]["directory"]["path"], "/srv/uploads");
    let file = v["profileFiles"][0].as_str().unwrap();
    assert!(file.contains("  - name: tomcat\n"), "{file}");
}

/// A crash loop repeats its lines: each is reported once, and offline the
/// image names the container (there is no pod to name it).
#[test]
fn repeated_lines_are_reported_once_offline() {
    let log = "touch: cannot touch /data/x: Read-only file system\n".repeat(3);
    let out = run(&["doctor", "--logs", "-", "--image", "nginx:1.27"], &log);
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert_eq!(
        shown.matches("# /data/x").count() + shown.matches("#   /data/x").count(),
        1,
        "{shown}"
    );
    assert!(
        shown.contains("# image nginx:1.27 (profile nginx)"),
        "{shown}"
    );
    assert!(!shown.contains("\"container\""), "{shown}");
}
