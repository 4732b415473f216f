//! Black-box tests of `preview --write` and `-o diff`, the real binary on
//! temporary copies: the file is hardened in place, reads back as exactly
//! `-o manifest`, keeps every line it did not have to touch, is stable, and
//! the diff `patch` applies makes the same bytes; refusals leave it untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pod_hardener::cli::preview::parse_documents;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("POD_HARDENER_MODE")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(path: &Path) -> Output {
    run(&["preview", "-f", path.to_str().unwrap(), "--write"])
}

fn values(text: &str, what: &str) -> Vec<Value> {
    parse_documents(text)
        .unwrap_or_else(|e| panic!("{what} does not parse: {e}\n{text}"))
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Whether every line of `before` is in `after`, in order: unchanged (line
/// ending included), or edited only inside one value: same start past its
/// indentation, same end (a comment, a closing `}`), and at most one plain
/// word taken out (`false` for `true`, a path made longer, `, readOnly: true`
/// added before a flow mapping's `}`).
fn lines_kept(before: &str, after: &str) -> bool {
    let mut after = after.split_inclusive('\n');
    before
        .split_inclusive('\n')
        .all(|line| after.any(|new| same_or_value_edited(line, new)))
}

fn same_or_value_edited(old: &str, new: &str) -> bool {
    let (old, new) = (old.trim_end_matches('\n'), new.trim_end_matches('\n'));
    if old == new {
        return true;
    }
    let prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let room = old.len().min(new.len()) - prefix;
    let suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    let indentation = old.len() - old.trim_start().len();
    // Not on a character boundary: not one edited value either.
    let taken_out = old.get(prefix..old.len() - suffix).unwrap_or("#");
    prefix > indentation && !taken_out.contains([' ', '#', ',', '{', '}', '[', ']', ':'])
}

/// Hardens a copy of `source` every way there is and checks they agree.
/// Returns whether the file changed.
fn round_trip(source: &Path, dir: &Path) -> bool {
    let name = source.file_name().unwrap().to_str().unwrap();
    let original = std::fs::read_to_string(source).unwrap();
    let copy = dir.join(name);
    std::fs::write(&copy, &original).unwrap();

    let manifest = run(&["preview", "-f", source.to_str().unwrap(), "-o", "manifest"]);
    assert!(manifest.status.success(), "{name}: {}", stderr(&manifest));

    let out = write(&copy);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let edited = std::fs::read_to_string(&copy).unwrap();
    assert_eq!(
        values(&edited, name),
        values(&String::from_utf8_lossy(&manifest.stdout), "-o manifest"),
        "{name}: --write and -o manifest disagree"
    );
    assert!(
        lines_kept(&original, &edited),
        "{name}: an original line was changed or moved:\n{edited}"
    );

    let again = write(&copy);
    assert!(again.status.success(), "{name}: {}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        edited,
        "{name}: a second --write changed it"
    );
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );

    // The diff of a second copy, named as the user would (relative), applied there.
    let by_patch = dir.join("by-patch");
    std::fs::create_dir_all(&by_patch).unwrap();
    std::fs::write(by_patch.join(name), &original).unwrap();
    let diff = Command::new(BIN)
        .args(["preview", "-f", name, "-o", "diff"])
        .current_dir(&by_patch)
        .output()
        .unwrap();
    assert!(diff.status.success(), "{name}: {}", stderr(&diff));
    if edited == original {
        assert!(
            diff.stdout.is_empty(),
            "{name}: a diff with nothing to change"
        );
    } else {
        apply_patch(&by_patch, &diff.stdout, name);
    }
    assert_eq!(
        std::fs::read_to_string(by_patch.join(name)).unwrap(),
        edited,
        "{name}: -o diff through patch differs from --write"
    );
    edited != original
}

/// Applies a `-p0` diff in `dir` with the system `patch`, or `git apply`
/// where there is no `patch` (a CI image with git only).
fn apply_patch(dir: &Path, diff: &[u8], what: &str) {
    let feed = |mut cmd: Command| {
        let mut child = cmd
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .spawn()?;
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), diff)?;
        child.wait()
    };
    let mut patch = Command::new("patch");
    patch.args(["-p0", "--quiet", "--forward", "-i", "-"]);
    let status = match feed(patch) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut git = Command::new("git");
            git.args(["apply", "-p0", "-"]);
            feed(git)
        }
        other => other,
    };
    assert!(status.unwrap().success(), "{what}: the diff does not apply");
}

fn manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "tests/corpus/kubernetes-examples",
        "examples",
        "tests/fixtures/in_place",
    ] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".hardened.") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_file_and_example_round_trips_through_write() {
    let dir = tempfile::tempdir().unwrap();
    let files = manifests();
    let changed = files.iter().filter(|f| round_trip(f, dir.path())).count();
    assert!(files.len() >= 55, "{} files", files.len());
    assert!(
        changed >= 50,
        "only {changed} of {} files changed",
        files.len()
    );
}

/// Comments, quotes, 4-space indentation, kubectl's indentless `- name:`,
/// several documents and a List: the edit is exactly the expected one.
#[test]
fn keeps_comments_quotes_and_the_files_own_indentation() {
    let fixtures = Path::new(ROOT).join("tests/fixtures/in_place");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("web.yaml");
    std::fs::copy(fixtures.join("web.yaml"), &copy).unwrap();
    let out = write(&copy);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        std::fs::read_to_string(fixtures.join("web.hardened.yaml")).unwrap()
    );
}

/// The diff names the file for `patch -p0` and each hunk's object.
#[test]
fn the_diff_is_a_patch_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("examples/deployment.yaml"),
        dir.path().join("deployment.yaml"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["preview", "-f", "deployment.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.starts_with("--- deployment.yaml\n+++ deployment.yaml\n@@ "),
        "{diff}"
    );
    assert!(
        diff.contains("@@ Deployment demo/shop (document 1)\n"),
        "{diff}"
    );
    assert!(diff.contains("-            - {name: tls, mountPath: /etc/nginx/certs}\n"));
    assert!(
        diff.contains("+            - {name: tls, mountPath: /etc/nginx/certs, readOnly: true}\n")
    );
    // Warnings go to stderr, so that stdout is nothing but the patch.
    assert!(
        stderr(&out).contains("; the app must now read it there"),
        "{}",
        stderr(&out)
    );
    let before = std::fs::read_to_string(dir.path().join("deployment.yaml")).unwrap();
    apply_patch(dir.path(), &out.stdout, "deployment.yaml");
    // git applies it as well (`git diff` and this diff agree).
    let by_git = dir.path().join("git");
    std::fs::create_dir(&by_git).unwrap();
    std::fs::write(by_git.join("deployment.yaml"), before).unwrap();
    let mut git = Command::new("git")
        .args(["apply", "-p0", "-"])
        .current_dir(&by_git)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(git.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    assert!(
        git.wait().unwrap().success(),
        "git apply -p0 refused the diff"
    );
    assert_eq!(
        std::fs::read_to_string(by_git.join("deployment.yaml")).unwrap(),
        std::fs::read_to_string(dir.path().join("deployment.yaml")).unwrap()
    );
    let patched = std::fs::read_to_string(dir.path().join("deployment.yaml")).unwrap();
    assert!(
        patched.contains("mountPath: /app/secrets, readOnly: true}"),
        "{patched}"
    );
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pod.yaml");
    let text = "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: web\r\n    image: nginx:1.27\r\n";
    std::fs::write(&copy, text).unwrap();
    let out = write(&copy);
    assert!(out.status.success(), "{}", stderr(&out));
    let edited = std::fs::read_to_string(&copy).unwrap();
    assert!(edited.len() > text.len());
    assert_eq!(
        edited.matches('\n').count(),
        edited.matches("\r\n").count(),
        "{edited:?}"
    );
    assert!(lines_kept(text, &edited));
}

#[cfg(unix)]
#[test]
fn write_keeps_the_file_mode_and_leaves_no_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("deployment.yaml");
    std::fs::copy(Path::new(ROOT).join("examples/deployment.yaml"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(write(&copy).status.success());
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Where the edit cannot be faithful the file is left byte for byte as it was,
/// the exit code is 1 and the message names file, line and reason.
#[test]
fn refuses_what_it_cannot_edit_faithfully() {
    let anchored = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - &web\n    name: web\n    image: nginx:1.27\n";
    let aliased = "x-base: &base\n  - name: web\n    image: nginx:1.27\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: *base\n";
    let json = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}"#;
    let dir = tempfile::tempdir().unwrap();
    for (name, text, line, reason) in [
        ("anchored.yaml", anchored, "line 6", "anchor"),
        ("aliased.yaml", aliased, "line 8", "alias"),
        ("pod.json", json, "line 1", "JSON"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = write(&path);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(line) && err.contains(reason),
            "{name}: {err}"
        );
        assert!(err.contains("the file was not changed"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
        // `-o diff` still shows the change, and says why it will not apply.
        let diff = run(&["preview", "-f", path.to_str().unwrap()]);
        assert_eq!(diff.status.code(), Some(0), "{name}");
        assert!(
            stderr(&diff).contains("does not apply to the file"),
            "{}",
            stderr(&diff)
        );
        assert!(
            String::from_utf8_lossy(&diff.stdout).contains("+"),
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "a temporary file was left"
    );

    let out = run(&["preview", "-f", "-", "--write"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
}
