//! `pod-hardener compose` end to end: the real binary writes an override file,
//! and a real Compose implementation (`docker-compose` 1.29, which runs
//! `config` without any container engine) merges it onto the user's file. The
//! merged configuration it prints must show `read_only: true` and the tmpfs
//! mounts on each service, for every fixture and every file format version.
//!
//! Without `docker-compose` those tests say what to install and return; the
//! exit-code tests at the end need nothing but the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::{Mapping, Value};

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");
const INSTALL: &str = "apt-get install -y docker-compose";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `docker-compose` when it is installed; otherwise one line saying what to install.
fn docker_compose(test: &str) -> bool {
    let found = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("{test}: skipped, docker-compose is not installed (Debian: `{INSTALL}`)");
    }
    found
}

fn hardener(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("POD_HARDENER_MODE")
        .output()
        .unwrap()
}

/// A scratch project: the file, and the build contexts Compose checks exist.
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    for context in ["api", "worker", "app"] {
        std::fs::create_dir_all(dir.path().join(context)).unwrap();
    }
    dir
}

/// Writes pod-hardener's override for `base`, then returns what
/// `docker-compose -f base -f override config` makes of the two.
fn compose_config(dir: &Path, base: &str, extra: &[&str]) -> Value {
    let mut args = vec!["compose", "-f", base];
    args.extend_from_slice(extra);
    let out = hardener(dir, &args);
    assert!(
        out.status.success(),
        "pod-hardener {args:?}: {}",
        text(&out.stderr)
    );
    std::fs::write(dir.join("hardened.yml"), &out.stdout).unwrap();
    let config = Command::new("docker-compose")
        .current_dir(dir)
        .args(["-f", base, "-f", "hardened.yml", "config"])
        .output()
        .unwrap();
    assert!(
        config.status.success(),
        "docker-compose config rejected the override of {base}:\n{}\n--- override:\n{}",
        text(&config.stderr),
        text(&out.stdout)
    );
    serde_yaml::from_slice(&config.stdout).unwrap()
}

/// A service's tmpfs mounts as docker-compose prints them: `tmpfs` entries
/// (path and options) and `volumes` entries of type tmpfs (target and size).
fn tmpfs_mounts(service: &Value) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let list = match service.get("tmpfs") {
        Some(Value::Sequence(s)) => s.clone(),
        Some(v @ Value::String(_)) => vec![v.clone()],
        _ => Vec::new(),
    };
    for entry in list {
        let s = entry.as_str().unwrap();
        let (path, options) = match s.split_once(':') {
            Some((p, o)) => (p, Some(o.to_string())),
            None => (s, None),
        };
        out.insert(path.to_string(), options);
    }
    for v in service
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if v.get("type").and_then(Value::as_str) == Some("tmpfs") {
            let size = v
                .get("tmpfs")
                .and_then(|t| t.get("size"))
                .map(|s| format!("size={}", serde_yaml::to_string(s).unwrap().trim()));
            out.insert(v["target"].as_str().unwrap().to_string(), size);
        }
    }
    out
}

/// Checks one service of the merged configuration: its `read_only` and that
/// every expected path is a tmpfs.
fn assert_service(config: &Value, name: &str, read_only: bool, paths: &[&str], context: &str) {
    let service = &config["services"][name];
    assert!(service.is_mapping(), "{context}: no service {name}");
    assert_eq!(
        service.get("read_only").and_then(Value::as_bool),
        Some(read_only),
        "{context}: read_only of {name}:\n{}",
        serde_yaml::to_string(service).unwrap()
    );
    let mounts = tmpfs_mounts(service);
    for p in paths {
        assert!(
            mounts.contains_key(*p),
            "{context}: {name} has no tmpfs at {p}: {mounts:?}"
        );
    }
}

/// A service's `read_only` after merging and the paths that must be tmpfs.
type Expected = (&'static str, bool, Vec<&'static str>);

/// Per fixture: (service, read_only after merging, tmpfs paths), from the
/// built-in profiles (mariadb: /run/mysqld and /tmp; nginx: /var/cache/nginx
/// and /run; ...) and what each file already had.
fn expectations() -> Vec<(&'static str, Vec<Expected>)> {
    vec![
        (
            "wordpress-mariadb.yml",
            vec![
                ("db", true, vec!["/run/mysqld", "/tmp"]),
                ("wordpress", true, vec!["/tmp", "/run"]),
            ],
        ),
        (
            "nginx-app-redis.yml",
            vec![
                ("proxy", true, vec!["/var/cache/nginx", "/run"]),
                ("app", true, vec!["/tmp"]),
                ("cache", true, vec![]),
            ],
        ),
        (
            "build-only.yml",
            vec![("api", true, vec!["/tmp"]), ("worker", true, vec!["/tmp"])],
        ),
        (
            "partly-hardened.yml",
            vec![
                ("web", true, vec!["/var/cache/nginx", "/run"]),
                // read_only: false is the user's explicit choice and stays;
                // a writable root needs no tmpfs.
                ("db", false, vec![]),
                ("tools", true, vec!["/tmp"]),
            ],
        ),
    ]
}

#[test]
fn docker_compose_merges_the_override_of_every_fixture() {
    if !docker_compose("docker_compose_merges_the_override_of_every_fixture") {
        return;
    }
    for (file, services) in expectations() {
        let content = std::fs::read_to_string(fixture_dir().join(file)).unwrap();
        let dir = workspace(&[(file, &content)]);
        for syntax in ["short", "long"] {
            let config = compose_config(dir.path(), file, &["--tmpfs-syntax", syntax]);
            for (name, read_only, paths) in &services {
                assert_service(
                    &config,
                    name,
                    *read_only,
                    paths,
                    &format!("{file} {syntax}"),
                );
            }
        }
    }
}

/// The same services written in each Compose file format.
const BODY: &str = r#"services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    volumes:
      - ./html:/usr/share/nginx/html:ro
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: example
    volumes:
      - pgdata:/var/lib/postgresql/data
  app:
    build: ./app
    tmpfs: /run
volumes:
  pgdata: {}
"#;

#[test]
fn docker_compose_accepts_the_override_in_every_format_version() {
    if !docker_compose("docker_compose_accepts_the_override_in_every_format_version") {
        return;
    }
    for version in [
        "2", "2.0", "2.1", "2.2", "2.3", "2.4", "3", "3.0", "3.3", "3.6", "3.8", "3.9", "",
    ] {
        let content = if version.is_empty() {
            BODY.to_string()
        } else {
            format!("version: \"{version}\"\n{BODY}")
        };
        let dir = workspace(&[("docker-compose.yml", &content)]);
        for syntax in ["short", "long"] {
            let context = format!("version {version:?} {syntax}");
            let config = compose_config(
                dir.path(),
                "docker-compose.yml",
                &["--tmpfs-syntax", syntax],
            );
            assert_service(
                &config,
                "web",
                true,
                &["/var/cache/nginx", "/run"],
                &context,
            );
            assert_service(&config, "db", true, &["/run/postgresql", "/tmp"], &context);
            // Built from source: the defaults (/tmp) beside its own /run.
            assert_service(&config, "app", true, &["/tmp", "/run"], &context);
            // The override keeps the base's version, so Compose merges without complaint.
            let written = std::fs::read_to_string(dir.path().join("hardened.yml")).unwrap();
            let written: Value = serde_yaml::from_str(&written).unwrap();
            let expected = (!version.is_empty()).then(|| Value::from(version));
            assert_eq!(written.get("version").cloned(), expected, "{context}");
        }
    }
}

#[test]
fn docker_compose_shows_sizes_from_the_profile() {
    if !docker_compose("docker_compose_shows_sizes_from_the_profile") {
        return;
    }
    let profiles = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: api\n    match: [example.com/api]\n    writablePaths:\n      - {path: /tmp, medium: Memory, sizeLimit: 16Mi}\n      - {path: /var/cache/api, sizeLimit: 1Gi}\n";
    for version in ["version: \"2.4\"\n", "version: \"3.8\"\n", ""] {
        let compose = format!("{version}services:\n  api:\n    image: example.com/api:1\n");
        let dir = workspace(&[("compose.yml", &compose), ("profiles.yaml", profiles)]);
        let short = compose_config(dir.path(), "compose.yml", &["--profiles", "profiles.yaml"]);
        let mounts = tmpfs_mounts(&short["services"]["api"]);
        assert_eq!(mounts["/tmp"].as_deref(), Some("size=16m"), "{version}");
        assert_eq!(mounts["/var/cache/api"].as_deref(), Some("size=1g"));
        let long = compose_config(
            dir.path(),
            "compose.yml",
            &["--profiles", "profiles.yaml", "--tmpfs-syntax", "long"],
        );
        let mounts = tmpfs_mounts(&long["services"]["api"]);
        if version.contains("2.4") {
            // Version 2 files get the short syntax, which carries the size.
            assert_eq!(mounts["/tmp"].as_deref(), Some("size=16m"), "{version}");
            continue;
        }
        assert_eq!(
            mounts["/tmp"].as_deref(),
            Some("size=16777216"),
            "{version}"
        );
        assert_eq!(mounts["/var/cache/api"].as_deref(), Some("size=1073741824"));
    }
}

#[test]
fn docker_compose_accepts_the_merged_output_and_a_second_run_adds_nothing() {
    let have_compose =
        docker_compose("docker_compose_accepts_the_merged_output_and_a_second_run_adds_nothing");
    for (file, services) in expectations() {
        let content = std::fs::read_to_string(fixture_dir().join(file)).unwrap();
        let dir = workspace(&[(file, &content)]);
        let merged = hardener(dir.path(), &["compose", "-f", file, "--output", "merged"]);
        assert!(merged.status.success(), "{file}: {}", text(&merged.stderr));
        std::fs::write(dir.path().join("merged.yml"), &merged.stdout).unwrap();
        let again = hardener(
            dir.path(),
            &["compose", "-f", "merged.yml", "--output", "json"],
        );
        let plan: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        for s in plan["services"].as_array().unwrap() {
            assert_eq!(s["changes"], serde_json::json!([]), "{file}: {s}");
        }
        if have_compose {
            let config = Command::new("docker-compose")
                .current_dir(dir.path())
                .args(["-f", "merged.yml", "config"])
                .output()
                .unwrap();
            assert!(config.status.success(), "{file}: {}", text(&config.stderr));
            let config: Value = serde_yaml::from_slice(&config.stdout).unwrap();
            for (name, read_only, paths) in &services {
                assert_service(&config, name, *read_only, paths, &format!("{file} merged"));
            }
        }
    }
}

#[test]
fn several_files_are_merged_before_hardening() {
    let base = "version: \"3.8\"\nservices:\n  web:\n    image: example.com/web:1\n";
    let prod = "version: \"3.8\"\nservices:\n  web:\n    image: nginx:1.27\n    tmpfs: [/run]\n";
    let dir = workspace(&[("base.yml", base), ("prod.yml", prod)]);
    let out = hardener(
        dir.path(),
        &["compose", "-f", "base.yml", "-f", "prod.yml", "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["files"], serde_json::json!(["base.yml", "prod.yml"]));
    assert_eq!(plan["services"][0]["profile"], "nginx");
    assert_eq!(
        plan["services"][0]["tmpfs"],
        serde_json::json!([{ "path": "/var/cache/nginx" }])
    );
    if docker_compose("several_files_are_merged_before_hardening") {
        let over = hardener(dir.path(), &["compose", "-f", "base.yml", "-f", "prod.yml"]);
        std::fs::write(dir.path().join("hardened.yml"), &over.stdout).unwrap();
        let config = Command::new("docker-compose")
            .current_dir(dir.path())
            .args([
                "-f",
                "base.yml",
                "-f",
                "prod.yml",
                "-f",
                "hardened.yml",
                "config",
            ])
            .output()
            .unwrap();
        assert!(config.status.success(), "{}", text(&config.stderr));
        let config: Value = serde_yaml::from_slice(&config.stdout).unwrap();
        assert_service(
            &config,
            "web",
            true,
            &["/run", "/var/cache/nginx"],
            "three files",
        );
    }
}

#[test]
fn bad_input_exits_1_with_file_and_line_and_usage_errors_exit_2() {
    let dir = workspace(&[
        (
            "bad.yml",
            "services:\n  web:\n    image: nginx\n    read_only: \"yes\"\n",
        ),
        ("broken.yml", "services:\n  web:\n    image: [nginx\n"),
        ("ok.yml", "services:\n  web:\n    image: nginx\n"),
    ]);
    let out = hardener(dir.path(), &["compose", "-f", "bad.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.yml:4: service \"web\": `read_only` must be true or false"),
        "{}",
        text(&out.stderr)
    );
    let out = hardener(dir.path(), &["compose", "-f", "broken.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("broken.yml:"),
        "{}",
        text(&out.stderr)
    );
    let out = hardener(dir.path(), &["compose", "-f", "missing.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.yml: cannot read"));

    for args in [
        vec!["compose", "-f", "ok.yml", "--profile-for", "web"],
        vec!["compose", "-f", "ok.yml", "--profile-for", "db=nginx"],
        vec![
            "compose",
            "-f",
            "ok.yml",
            "--profile-for",
            "web=no-such-profile",
        ],
        vec!["compose"],
        vec!["compose", "-f", "ok.yml", "--output", "yaml"],
        vec!["compose", "-f", "-", "--resolve-with", "compose"],
    ] {
        let out = hardener(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = hardener(
        dir.path(),
        &[
            "compose",
            "-f",
            "ok.yml",
            "--profile-for",
            "web=redis",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["services"][0]["profile"], "redis");
}

#[test]
fn docker_compose_declares_the_named_volume_of_a_seeded_path() {
    if !docker_compose("docker_compose_declares_the_named_volume_of_a_seeded_path") {
        return;
    }
    // Elasticsearch ships files in config/ and writes there (profile: seed: true).
    let compose = "version: \"2.4\"\nservices:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.15.0\n    volumes:\n      - esdata:/usr/share/elasticsearch/data\nvolumes:\n  esdata: {}\n";
    let dir = workspace(&[("compose.yml", compose)]);
    let config = compose_config(dir.path(), "compose.yml", &[]);
    assert_service(&config, "es", true, &["/tmp"], "elasticsearch");
    let volumes: Vec<&str> = config["services"]["es"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let seeded = volumes
        .iter()
        .find(|v| v.contains(":/usr/share/elasticsearch/config"))
        .unwrap_or_else(|| panic!("no volume at config/: {volumes:?}"));
    let name = seeded.split(':').next().unwrap();
    assert!(
        config["volumes"].get(name).is_some(),
        "{name} is not declared: {:?}",
        config["volumes"]
    );
    assert!(config["volumes"].get("esdata").is_some());
}

/// The corpus: real-world style stacks (awesome-compose style, ELK, Kafka,
/// Gitea, ...) and one project per case of issue 18, each as (directory
/// under tests/compose/corpus, its `-f` files in order).
const CORPUS: [(&str, &[&str]); 12] = [
    ("wordpress-mysql", &["compose.yaml"]),
    ("elk", &["docker-compose.yml"]),
    ("prometheus-grafana", &["compose.yaml"]),
    ("nginx-flask-postgres", &["compose.yaml"]),
    ("gitea-postgres", &["compose.yaml"]),
    ("kafka-sonarqube", &["compose.yaml"]),
    ("version-3-4", &["docker-compose.yml"]),
    ("version-2-4", &["docker-compose.yml"]),
    ("anchors", &["compose.yaml"]),
    ("extends", &["compose.yaml"]),
    ("env-interpolation", &["compose.yaml"]),
    ("multi-file", &["compose.yaml", "compose.prod.yaml"]),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `docker-compose -f ... config`, parsed; panics with Compose's message.
fn docker_compose_config(dir: &Path, files: &[&str], context: &str) -> Value {
    let mut command = Command::new("docker-compose");
    command.current_dir(dir);
    for f in files {
        command.args(["-f", f]);
    }
    let out = command.arg("config").output().unwrap();
    assert!(
        out.status.success(),
        "{context}: docker-compose -f {files:?} config:\n{}",
        text(&out.stderr)
    );
    serde_yaml::from_slice(&out.stdout).unwrap()
}

/// A configuration printed by Compose with what its merging alone changes
/// set aside: merged lists come out sorted and their numbers as strings
/// (`expose: ["3306"]`), networks listed by name come out as `{}` rather
/// than null, while a single file keeps its own order and types.
fn without_mount_order(mut config: Value) -> Value {
    if let Some(Value::Mapping(services)) = config.get_mut("services") {
        for (_, service) in services.iter_mut() {
            if let Some(Value::Mapping(networks)) = service.get_mut("networks") {
                for (_, options) in networks.iter_mut() {
                    if options.is_null() {
                        *options = Value::Mapping(Mapping::new());
                    }
                }
            }
            for key in [
                "volumes", "tmpfs", "secrets", "configs", "expose", "cap_add", "cap_drop", "links",
                "ports",
            ] {
                if let Some(Value::Sequence(list)) = service.get_mut(key) {
                    for item in list.iter_mut() {
                        if let Value::Number(n) = item {
                            *item = Value::from(n.to_string());
                        }
                    }
                    list.sort_by_key(|v| serde_yaml::to_string(v).unwrap());
                }
            }
        }
    }
    config
}

/// What a plan decides, without the file names and the wording of warnings.
fn decisions(plan_json: &[u8]) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_slice(plan_json).unwrap();
    let mut services = plan["services"].as_array().unwrap().clone();
    // Compose's `config` lists services by name.
    services.sort_by_key(|s| s["service"].as_str().unwrap_or_default().to_string());
    services
        .iter()
        .map(|s| {
            serde_json::json!([
                s["service"],
                s["profile"],
                s["setReadOnly"],
                s["tmpfs"],
                s["seedVolumes"],
                s["changes"]
            ])
        })
        .collect()
}

/// Checks one corpus project; returns the configuration Compose makes of the
/// project plus the override, for the case-specific checks.
fn check_corpus_case(name: &str, files: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir().join("corpus").join(name), dir.path());
    let dir = dir.path();
    let with_files = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["compose".to_string()];
        for f in files {
            args.extend(["-f".to_string(), f.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| -> Vec<u8> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = hardener(dir, &args);
        assert!(
            out.status.success(),
            "{name}: {args:?}: {}",
            text(&out.stderr)
        );
        out.stdout
    };
    // 1. In-process resolution decides what Compose's own resolution decides.
    let builtin = decisions(&run(with_files(&["-o", "json"])));
    let through_compose = decisions(&run(with_files(&[
        "-o",
        "json",
        "--resolve-with",
        "compose",
    ])));
    assert_eq!(
        builtin, through_compose,
        "{name}: builtin and compose resolution differ"
    );
    // 2. The override is valid on top of the project.
    std::fs::write(dir.join("hardened.yml"), run(with_files(&[]))).unwrap();
    let mut layered: Vec<&str> = files.to_vec();
    layered.push("hardened.yml");
    let with_override = docker_compose_config(dir, &layered, name);
    // 3. The merged output is valid and is the same configuration.
    std::fs::write(dir.join("merged.yml"), run(with_files(&["-o", "merged"]))).unwrap();
    let merged = docker_compose_config(dir, &["merged.yml"], name);
    assert_eq!(
        without_mount_order(merged.clone()),
        without_mount_order(with_override.clone()),
        "{name}: merged output differs from the project plus the override"
    );
    // 4. A second run on the merged output changes nothing, and its
    //    (empty) override is still a valid Compose file.
    let again = hardener(dir, &["compose", "-f", "merged.yml", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for s in plan["services"].as_array().unwrap() {
        assert_eq!(
            s["changes"],
            serde_json::json!([]),
            "{name}: second run: {s}"
        );
    }
    let over = hardener(dir, &["compose", "-f", "merged.yml"]);
    std::fs::write(dir.join("again.yml"), &over.stdout).unwrap();
    let final_config = docker_compose_config(dir, &["merged.yml", "again.yml"], name);
    assert_eq!(
        without_mount_order(final_config),
        without_mount_order(merged),
        "{name}: the second override changed something"
    );
    with_override
}

#[test]
fn corpus_resolves_like_docker_compose_and_every_output_is_valid() {
    if !docker_compose("corpus_resolves_like_docker_compose_and_every_output_is_valid") {
        return;
    }
    let configs: BTreeMap<&str, Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = CORPUS
            .iter()
            .map(|(name, files)| (*name, scope.spawn(|| check_corpus_case(name, files))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().unwrap_or_else(|_| panic!("{name} failed"))))
            .collect()
    });
    let tmpfs = |case: &str, service: &str| tmpfs_mounts(&configs[case]["services"][service]);
    // Merge keys: the anchor's image decides the profile; the anchor's named
    // volume and its read_only: false are respected.
    assert_service(
        &configs["anchors"],
        "site",
        true,
        &["/var/cache/nginx", "/run"],
        "anchors",
    );
    assert!(!tmpfs("anchors", "cached").contains_key("/var/cache/nginx"));
    assert_service(&configs["anchors"], "loose", false, &[], "anchors");
    assert!(tmpfs("anchors", "loose").is_empty());
    // extends: the base service's image decides the profile.
    assert_service(
        &configs["extends"],
        "web-admin",
        true,
        &["/var/cache/nginx", "/run"],
        "extends",
    );
    // .env: the image is nginx, and ${APP_LOGS} is a volume at /var/log/nginx.
    assert_service(&configs["env-interpolation"], "app", true, &["/run"], "env");
    assert!(!tmpfs("env-interpolation", "app").contains_key("/var/cache/nginx"));
    // Several files: /var/cache//nginx/ and /run are volumes already.
    assert!(
        tmpfs("multi-file", "web").is_empty(),
        "{:?}",
        tmpfs("multi-file", "web")
    );
    // exec where the profile says the image runs code from the tmpfs.
    for (case, service, path) in [
        ("elk", "elasticsearch", "/tmp"),
        ("kafka-sonarqube", "kafka", "/tmp"),
        ("kafka-sonarqube", "sonarqube", "/opt/sonarqube/temp"),
    ] {
        let options = tmpfs(case, service)
            .remove(path)
            .flatten()
            .unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "exec"),
            "{case} {service} {path}: {options:?}"
        );
    }
}

/// `docker stack config` (Swarm's reader, in the docker CLI; no daemon
/// needed) when it is installed.
fn docker_stack(test: &str) -> bool {
    let found = Command::new("docker")
        .args(["stack", "config", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("{test}: skipped, the docker CLI (docker stack config) is not installed");
    }
    found
}

#[test]
fn docker_stack_config_accepts_the_long_syntax_override_of_swarm_ready_stacks() {
    if !docker_stack("docker_stack_config_accepts_the_long_syntax_override_of_swarm_ready_stacks") {
        return;
    }
    // The corpus stacks Swarm reads at all (no depends_on conditions, extends or version 2).
    for (name, file) in [
        ("anchors", "compose.yaml"),
        ("gitea-postgres", "compose.yaml"),
        ("kafka-sonarqube", "compose.yaml"),
        ("prometheus-grafana", "compose.yaml"),
        ("version-3-4", "docker-compose.yml"),
        ("wordpress-mysql", "compose.yaml"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture_dir().join("corpus").join(name), dir.path());
        for (output, stack_files) in [
            ("override", vec![file, "out.yml"]),
            ("merged", vec!["out.yml"]),
        ] {
            let out = hardener(
                dir.path(),
                &[
                    "compose",
                    "-f",
                    file,
                    "--tmpfs-syntax",
                    "long",
                    "-o",
                    output,
                ],
            );
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            std::fs::write(dir.path().join("out.yml"), &out.stdout).unwrap();
            let mut command = Command::new("docker");
            command.current_dir(dir.path()).args(["stack", "config"]);
            for f in &stack_files {
                command.args(["-c", f]);
            }
            let config = command.output().unwrap();
            assert!(
                config.status.success(),
                "{name} {output}: docker stack config:\n{}\n--- written:\n{}",
                text(&config.stderr),
                text(&out.stdout)
            );
            let config: Value = serde_yaml::from_slice(&config.stdout).unwrap();
            let services = config["services"].as_mapping().unwrap();
            // Swarm prints no `read_only: false`; every service given a
            // tmpfs got a read-only root with it.
            for (service, definition) in services {
                if !tmpfs_mounts(definition).is_empty() {
                    assert_eq!(
                        definition["read_only"],
                        Value::Bool(true),
                        "{name} {output}: {service:?}"
                    );
                }
            }
            assert!(
                services.values().any(|s| !tmpfs_mounts(s).is_empty()),
                "{name} {output}: no tmpfs at all"
            );
        }
    }
}

#[test]
fn a_mistyped_service_key_is_named_with_its_line_and_the_key_meant() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    imagee: nginx:1.27\n    x-team: web\n    prots: [\"80:80\"]\n    zzzzzzzz: 1\n",
    )
    .unwrap();
    let out = hardener(dir.path(), &["compose", "-f", "compose.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains(
            "compose.yaml:3: service \"web\": unknown key `imagee` (did you mean `image`?)"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "compose.yaml:5: service \"web\": unknown key `prots` (did you mean `ports`?)"
        ),
        "{said}"
    );
    assert!(said.contains("unknown key `zzzzzzzz`;"), "{said}");
    assert!(!said.contains("x-team"), "{said}");
    assert!(!text(&out.stdout).contains("warning: compose.yaml"));
}
