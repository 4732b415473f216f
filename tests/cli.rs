//! Black-box tests of the built binary's commands.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("POD_HARDENER_MODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn preview_runs_over_every_corpus_file_in_every_format() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/kubernetes-examples"
    );
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        n += 1;
        let p = path.to_str().unwrap();
        for format in ["diff", "patch", "manifest", "json"] {
            let out = run(&["preview", "-f", p, "-o", format], None);
            assert!(out.status.success(), "{p} {format}: {}", text(&out.stderr));
        }
        // The manifest output is itself stable: previewing it again changes nothing.
        let manifest = run(&["preview", "-f", p, "-o", "manifest"], None);
        let again = run(
            &["preview", "-f", "-", "-o", "json"],
            Some(&text(&manifest.stdout)),
        );
        let records: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        for r in records.as_array().unwrap() {
            assert_eq!(r["patch"], serde_json::json!([]), "{p}: {}", r["object"]);
            assert_eq!(r["problems"], serde_json::json!([]), "{p}");
        }
    }
    assert!(n >= 50);
}

#[test]
fn preview_json_reports_plan_and_patch() {
    let out = run(
        &[
            "preview",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/deployment.yaml"),
            "-o",
            "json",
        ],
        None,
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["object"], "Deployment demo/shop");
    assert_eq!(v[0]["templatePath"], "/spec/template/spec");
    let patch = v[0]["patch"].as_array().unwrap();
    assert!(patch.iter().any(|op| op["path"]
        == "/spec/template/spec/containers/1/volumeMounts/0/mountPath"
        && op["value"] == "/app/secrets"));
    assert!(v[0]["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["reason"].as_str().is_some_and(|r| !r.is_empty())));
}

#[test]
fn other_kinds_pass_through_untouched() {
    let input = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: redis}]}}\n";
    let out = run(&["preview", "-f", "-", "-o", "manifest"], Some(input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let docs = pod_hardener::cli::preview::parse_documents(&text(&out.stdout)).unwrap();
    assert_eq!(docs[0].1["kind"], "Service");
    assert_eq!(
        docs[0].1["spec"],
        serde_json::json!({"ports": [{"port": 80}]})
    );
    assert_eq!(
        docs[1].1["items"][0],
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    );
    assert_eq!(
        docs[1].1["items"][1]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
}

#[test]
fn bad_input_exits_1_with_document_and_line() {
    let input = "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nspec:\n  containers: [\n";
    let out = run(&["preview", "-f", "-"], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("document 2") && err.contains("line"), "{err}");

    let out = run(&["preview", "-f", "/nonexistent/file.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/file.yaml"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["preview"], None).status.code(), Some(2));
    assert_eq!(
        run(&["preview", "-f", "-", "-o", "xml"], None)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn profiles_check_list_explain() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: mine\n    match: [nginx]\n    writablePaths: [/srv/cache]\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: mine\n    match: [nginx]\n    writablePaths: [srv/cache]\n").unwrap();

    let out = run(&["profiles", "check", good.to_str().unwrap()], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("ok (1 profiles)"));
    let out = run(
        &[
            "profiles",
            "check",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&format!("{}:6: ", bad.display())),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["profiles", "list"], None);
    let listing = text(&out.stdout);
    for name in [
        "nginx",
        "postgres",
        "elasticsearch",
        "keycloak",
        "(defaults)",
    ] {
        assert!(listing.contains(name), "{name} missing from list");
    }
    let out = run(
        &[
            "profiles",
            "explain",
            "nginx:1.27",
            "--profiles",
            good.to_str().unwrap(),
        ],
        None,
    );
    let explained = text(&out.stdout);
    assert!(explained.contains("profile:     mine"), "{explained}");
    assert!(explained.contains("/srv/cache"));
    let out = run(
        &[
            "profiles",
            "explain",
            "nginx:1.27",
            "--profiles",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_print_names_the_origin() {
    let out = Command::new(BIN)
        .args(["config", "print"])
        .env("POD_HARDENER_MODE", "dry-run")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    let line = shown.lines().find(|l| l.starts_with("mode = ")).unwrap();
    assert!(
        line.contains("dry-run") && line.contains("environment"),
        "{line}"
    );
    let out = Command::new(BIN)
        .args(["config", "print"])
        .env("POD_HARDENER_SERVER__WORKERS", "zero")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).to_lowercase().contains("server.workers"));
}

/// A first-hour user hears what was found, not silence: kinds without a pod
/// template, an empty input, images no profile knows; a `containers` mapping
/// is refused with the document and line.
#[test]
fn preview_says_what_it_found() {
    let out = run(
        &["preview", "-f", "-"],
        Some("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("document 1 (line 1): no pod template (Service)"),
        "{err}"
    );

    let out = run(&["preview", "-f", "-"], Some("# nothing here\n"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no documents found"),
        "{}",
        text(&out.stderr)
    );

    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: api\n    image: registry.example.com/shop/api:2\n";
    let out = run(&["preview", "-f", "-"], Some(pod));
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("container api: no profile matches image registry.example.com/shop/api:2")
            && err.contains("profiles explain")
            && err.contains("doctor"),
        "{err}"
    );
    // A known image gets no such note.
    let out = run(
        &["preview", "-f", "-"],
        Some(&pod.replace("registry.example.com/shop/api:2", "nginx:1.27")),
    );
    assert!(
        !text(&out.stderr).contains("no profile matches"),
        "{}",
        text(&out.stderr)
    );

    let map = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    web: {image: nginx}\n";
    let out = run(&["preview", "-f", "-"], Some(map));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("document 1 (line 2): Pod p: spec.containers is a mapping"),
        "{err}"
    );
}

/// An unnamed List is called that, not `List ?`.
#[test]
fn an_unnamed_list_is_named_as_such() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers: [{name: a, image: nginx}]\n";
    let out = run(&["preview", "-f", "-"], Some(list));
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("List (unnamed)") && !shown.contains('?'),
        "{shown}"
    );
}

/// `config print` says "built-in default", not a Rust type and source line;
/// a bad key names file, line and the keys that exist, with no doubled backticks.
#[test]
fn config_print_and_errors_read_well() {
    let out = run(&["config", "print"], None);
    let shown = text(&out.stdout);
    let line = shown.lines().find(|l| l.starts_with("mode = ")).unwrap();
    assert!(line.ends_with("# built-in default"), "{line}");
    assert!(!shown.contains("src/config.rs"), "{shown}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "mode: enforce\nserver:\n  workerz: 3\n").unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("c.yaml:3: key server.workerz"), "{err}");
    assert!(err.contains("workers") && !err.contains("``"), "{err}");
    assert_eq!(err.matches("workerz").count(), 2, "said once: {err}");
}

#[test]
fn a_writable_path_typo_names_the_field_the_allowed_values_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let head = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: m\n    match: [example.com/m]\n    writablePaths:\n      - /ok\n";
    for (entry, expected) in [
        (
            "{path: /scratch, seeed: true}",
            "unknown field `seeed`, expected one of path, medium, sizeLimit, seed, exec",
        ),
        (
            "{path: /scratch, medium: memory}",
            "unknown variant `memory`, expected one of Memory",
        ),
        (
            "42",
            "expected a path (\"/tmp\") or a mapping {path, medium, sizeLimit, seed, exec}",
        ),
    ] {
        let file = dir.path().join("typo.yaml");
        std::fs::write(&file, format!("{head}      - {entry}\n")).unwrap();
        let out = run(&["profiles", "check", file.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1), "{entry}");
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(said.contains(&format!("{}:8: ", file.display())), "{said}");
        assert!(said.contains(expected), "{entry}: {said}");
        // The lines around the place, under the file's name.
        assert!(
            said.contains(&format!("--> {}:8:", file.display())),
            "{said}"
        );
        assert!(said.contains(&format!("8 |       - {entry}")), "{said}");
        assert!(!said.contains("untagged"), "{said}");
    }
}

// YAML input: errors name file, line and column and show the lines around
// the place; hostile input (alias bombs, deep nesting) is refused quickly
// instead of read.

/// Nine levels of nine aliases each: 9^9 nodes if it were expanded.
fn alias_bomb() -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn a_bad_manifest_names_file_document_line_and_column_with_the_lines_around() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n labels: {}\n",
    )
    .unwrap();
    let out = run(&["preview", "-f", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let name = file.display().to_string();
    assert!(
        err.contains(&format!("{name}: document 2 (line 9, column 2): ")),
        "{err}"
    );
    assert!(err.contains(&format!("--> {name}:9:2")), "{err}");
    assert!(err.contains("9 |  labels: {}"), "{err}");
}

#[test]
fn an_alias_bomb_is_refused_by_preview_and_compose() {
    let bomb = alias_bomb();
    let out = run(&["preview", "-f", "-", "-o", "manifest"], Some(&bomb));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("budget") || err.contains("alias"), "{err}");

    let compose = format!(
        "services:\n  web:\n    image: nginx\nx-bomb:\n{}",
        &bomb[bomb.find("  a0").unwrap()..]
    );
    let out = run(&["compose", "-f", "-"], Some(&compose));
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("budget") || err.contains("alias"), "{err}");
}

#[test]
fn deep_nesting_is_refused_with_its_line() {
    let mut deep = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
    for i in 0..200 {
        deep.push_str(&" ".repeat(2 + i));
        deep.push_str("a:\n");
    }
    let out = run(&["preview", "-f", "-"], Some(&deep));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Depth"), "{err}");
    assert!(err.contains("document 1 (line "), "{err}");

    let flow = format!("services: {}1{}\n", "[".repeat(300), "]".repeat(300));
    let out = run(&["compose", "-f", "-"], Some(&flow));
    assert_ne!(out.status.code(), Some(0));
    // Flow collections stop at the parser's own nesting limit.
    let err = text(&out.stderr);
    assert!(err.contains("recursion limit exceeded"), "{err}");
}

#[test]
fn a_bad_compose_file_and_profile_file_show_where() {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("compose.yaml");
    std::fs::write(
        &compose,
        "services:\n  web:\n    image: nginx\n    ports: [\"80:80\"\n",
    )
    .unwrap();
    let out = run(&["compose", "-f", compose.to_str().unwrap()], None);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    let name = compose.display().to_string();
    assert!(
        err.contains(&format!("{name}:4: not valid YAML: ")),
        "{err}"
    );
    assert!(err.contains(&format!("--> {name}:4:")), "{err}");

    let profiles = dir.path().join("profiles.yaml");
    std::fs::write(
        &profiles,
        "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: m\n    match: [example.com/m]\n    writablePaths: [/tmp]\n    writablePaths: [/run]\n",
    )
    .unwrap();
    let out = run(&["profiles", "check", profiles.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout) + &text(&out.stderr);
    let name = profiles.display().to_string();
    assert!(
        said.contains(&format!("{name}:7: duplicate mapping key: writablePaths")),
        "{said}"
    );
    assert!(said.contains(&format!("--> {name}:7:5")), "{said}");
}
