use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::mounts::{looks_secret, parse_volume, tmpfs_size, MountKind};
use super::plan::{ProjectPlan, ServicePlan, TmpfsSyntax};
use super::render::{apply, override_file, render, Output};
use super::resolve::interpolate;
use super::*;
use crate::harden::{Options, RuleMode};
use crate::profile::Catalog;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/compose/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn project(texts: &[&str]) -> Project {
    let files: Vec<(String, String)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yml"), t.to_string()))
        .collect();
    load(&files).unwrap_or_else(|e| panic!("{e}"))
}

fn plan_of(p: &Project) -> ProjectPlan {
    plan(
        p,
        &Catalog::builtin(),
        &Options::default(),
        &BTreeMap::new(),
    )
    .unwrap()
}

fn service<'a>(plan: &'a ProjectPlan, name: &str) -> &'a ServicePlan {
    plan.services
        .iter()
        .find(|s| s.service == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn tmpfs_paths(s: &ServicePlan) -> Vec<&str> {
    s.tmpfs.iter().map(|t| t.path.as_str()).collect()
}

fn error(text: &str) -> ComposeError {
    load(&[("compose.yml".into(), text.into())]).expect_err("should be rejected")
}

const NGINX_BODY: &str =
    "services:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"8080:80\"\n";

#[test]
fn every_format_version_gets_the_same_additions_and_keeps_its_version() {
    for version in [
        None,
        Some("\"2\""),
        Some("\"2.1\""),
        Some("\"2.4\""),
        Some("\"3\""),
        Some("'3.3'"),
        Some("\"3.8\""),
        Some("3.9"),
    ] {
        let text = match version {
            Some(v) => format!("version: {v}\n{NGINX_BODY}"),
            None => NGINX_BODY.to_string(),
        };
        let p = project(&[&text]);
        let plan = plan_of(&p);
        let web = service(&plan, "web");
        assert!(web.set_read_only, "{version:?}");
        assert_eq!(
            tmpfs_paths(web),
            ["/var/cache/nginx", "/run"],
            "{version:?}"
        );
        let over = override_file(&p, &plan, TmpfsSyntax::Short);
        let expected = version.map(|v| v.trim_matches(['"', '\'']).to_string());
        assert_eq!(
            over.get("version")
                .and_then(Value::as_str)
                .map(str::to_string),
            expected,
            "{version:?}"
        );
        match version.map(|v| v.trim_matches(['"', '\'']).chars().next().unwrap()) {
            None => assert_eq!(p.format, Format::Spec),
            Some('2') => assert!(matches!(p.format, Format::V2(_))),
            Some(_) => assert!(matches!(p.format, Format::V3(_))),
        }
    }
}

#[test]
fn wordpress_and_mariadb_get_their_profiles_paths_and_keep_compose_secrets() {
    let p = project(&[&fixture("wordpress-mariadb.yml")]);
    let plan = plan_of(&p);
    let db = service(&plan, "db");
    assert_eq!(db.profile, "mariadb");
    assert!(db.set_read_only);
    assert_eq!(tmpfs_paths(db), ["/run/mysqld", "/tmp"]);
    let wp = service(&plan, "wordpress");
    assert_eq!(wp.profile, "wordpress");
    assert_eq!(tmpfs_paths(wp), ["/tmp", "/run"]);
    // Compose secrets (in /run/secrets) are neither reported nor mounts to cover.
    assert!(db.secret_mounts.is_empty() && wp.secret_mounts.is_empty());
    // Data paths have named volumes: no warning.
    assert!(db.warnings.is_empty(), "{:?}", db.warnings);
    assert!(wp.warnings.is_empty(), "{:?}", wp.warnings);
}

#[test]
fn nginx_app_redis_reports_the_secret_file_on_the_working_dir() {
    let p = project(&[&fixture("nginx-app-redis.yml")]);
    let plan = plan_of(&p);
    let proxy = service(&plan, "proxy");
    assert_eq!(proxy.profile, "nginx");
    assert_eq!(tmpfs_paths(proxy), ["/var/cache/nginx", "/run"]);
    // The TLS key sits in /etc/nginx, which is not a shared directory itself.
    assert!(proxy.secret_mounts.is_empty());
    let app = service(&plan, "app");
    assert_eq!(app.profile, "defaults");
    assert_eq!(tmpfs_paths(app), ["/tmp"]);
    assert_eq!(app.secret_mounts.len(), 1);
    assert_eq!(app.secret_mounts[0].target, "/app/api-token");
    assert_eq!(
        app.secret_mounts[0].suggested_target,
        "/app/secrets/api-token"
    );
    let cache = service(&plan, "cache");
    assert_eq!(cache.profile, "redis");
    assert!(cache.set_read_only && cache.tmpfs.is_empty());
}

#[test]
fn build_only_services_get_the_defaults_or_the_named_profile() {
    let p = project(&[&fixture("build-only.yml")]);
    let plan = plan_of(&p);
    let api = service(&plan, "api");
    assert_eq!(
        (api.profile.as_str(), api.image.as_deref()),
        ("defaults", None)
    );
    assert_eq!(tmpfs_paths(api), ["/tmp"]);
    // worker already has `tmpfs: /tmp` as a single string.
    let worker = service(&plan, "worker");
    assert!(worker.set_read_only && worker.tmpfs.is_empty());

    let chosen = BTreeMap::from([("api".to_string(), "nginx".to_string())]);
    let plan = super::plan(&p, &Catalog::builtin(), &Options::default(), &chosen).unwrap();
    let api = service(&plan, "api");
    assert_eq!(api.profile, "nginx");
    assert_eq!(tmpfs_paths(api), ["/var/cache/nginx", "/run"]);

    let unknown_service = BTreeMap::from([("nope".to_string(), "nginx".to_string())]);
    let e = super::plan(
        &p,
        &Catalog::builtin(),
        &Options::default(),
        &unknown_service,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no service \"nope\"") && e.contains("api, worker"),
        "{e}"
    );
    let unknown_profile = BTreeMap::from([("api".to_string(), "nope".to_string())]);
    let e = super::plan(
        &p,
        &Catalog::builtin(),
        &Options::default(),
        &unknown_profile,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no profile named \"nope\""), "{e}");
}

#[test]
fn partly_hardened_services_get_only_what_is_missing() {
    let p = project(&[&fixture("partly-hardened.yml")]);
    let plan = plan_of(&p);
    // nginx: read_only already, /var/cache/nginx by short tmpfs, /run by long-syntax tmpfs.
    assert!(service(&plan, "web").is_empty());
    assert!(service(&plan, "web").warnings.is_empty());
    assert!(service(&plan, "tools").is_empty());
    let db = service(&plan, "db");
    assert!(!db.set_read_only, "explicit read_only: false is kept");
    assert!(db
        .warnings
        .iter()
        .any(|w| w.contains("read_only: false kept")));
    // Its root stays writable: no tmpfs it would not need.
    assert!(db.tmpfs.is_empty() && db.seed_volumes.is_empty(), "{db:?}");
    assert!(db.warnings.iter().any(|w| w.contains("stays writable")));
    assert!(plan.is_empty());

    // With override_explicit_false the configuration wins.
    let options = Options {
        override_explicit_false: true,
        ..Options::default()
    };
    let plan = super::plan(&p, &Catalog::builtin(), &options, &BTreeMap::new()).unwrap();
    let db = service(&plan, "db");
    assert!(db.set_read_only);
    assert!(db.changes.iter().any(|c| c.reason.contains("overridden")));
    assert_eq!(tmpfs_paths(db), ["/run/postgresql", "/tmp"]);
    let merged = apply(&p, &plan, TmpfsSyntax::Short);
    assert_eq!(merged["services"]["db"]["read_only"], Value::Bool(true));
}

#[test]
fn running_again_on_the_merged_output_adds_nothing() {
    for name in [
        "wordpress-mariadb.yml",
        "nginx-app-redis.yml",
        "build-only.yml",
    ] {
        for syntax in [TmpfsSyntax::Short, TmpfsSyntax::Long] {
            let p = project(&[&fixture(name)]);
            let first = plan_of(&p);
            assert!(!first.is_empty(), "{name}");
            let merged = crate::yaml::to_string(&apply(&p, &first, syntax));
            let again = plan_of(&project(&[&merged]));
            assert!(again.is_empty(), "{name} {syntax:?}: {again:#?}");
            // Base plus override, merged as Compose would, is just as final.
            let over = crate::yaml::to_string(&override_file(&p, &first, syntax));
            let layered = plan_of(&project(&[&fixture(name), &over]));
            assert!(layered.is_empty(), "{name} {syntax:?}: {layered:#?}");
        }
    }
}

#[test]
fn merged_output_keeps_unknown_keys_and_key_order() {
    let text = "x-common: &c\n  restart: always\nname: demo\nservices:\n  web:\n    labels: {z: 1, a: 2}\n    image: nginx\n    x-custom: {keep: me}\n    restart: unless-stopped\n  zeta:\n    image: busybox\n  alpha:\n    image: busybox\n";
    let p = project(&[text]);
    let merged = apply(&p, &plan_of(&p), TmpfsSyntax::Short);
    let top: Vec<&str> = merged.keys().filter_map(Value::as_str).collect();
    assert_eq!(top, ["x-common", "name", "services"]);
    let services: Vec<&str> = merged["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(services, ["web", "zeta", "alpha"]);
    let web: Vec<&str> = merged["services"]["web"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        web,
        [
            "labels",
            "image",
            "x-custom",
            "restart",
            "read_only",
            "tmpfs"
        ]
    );
    assert_eq!(merged["services"]["web"]["x-custom"]["keep"], "me");
    assert_eq!(merged["name"], "demo");
}

#[test]
fn sizes_follow_the_profile_in_compose_syntax() {
    assert_eq!(tmpfs_size("64Mi"), Some(("64m".into(), 64 << 20)));
    assert_eq!(tmpfs_size("1Gi"), Some(("1g".into(), 1 << 30)));
    assert_eq!(tmpfs_size("512Ki"), Some(("512k".into(), 512 << 10)));
    assert_eq!(tmpfs_size("500M"), Some(("500000000".into(), 500_000_000)));
    assert_eq!(
        tmpfs_size("1.5Gi"),
        Some(("1610612736".into(), 1_610_612_736))
    );
    assert_eq!(tmpfs_size("1024"), Some(("1024".into(), 1024)));
    assert_eq!(tmpfs_size("100m"), None, "millibytes are not a size");
    assert_eq!(tmpfs_size("0"), None);
    assert_eq!(tmpfs_size("1e3"), Some(("1000".into(), 1000)));
    assert_eq!(tmpfs_size("64E6"), Some(("64000000".into(), 64_000_000)));
    assert_eq!(tmpfs_size("1.5e3"), Some(("1500".into(), 1500)));
    assert_eq!(tmpfs_size("1e-3"), None);
    assert_eq!(tmpfs_size("1e40"), None);
    assert_eq!(tmpfs_size("1Ei"), Some(((1u64 << 60).to_string(), 1 << 60)));

    let user = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: app\n    match: [example.com/app]\n    writablePaths:\n      - {path: /tmp, medium: Memory, sizeLimit: 16Mi}\n      - /var/cache/app\n";
    let catalog = Catalog::load(&[("u.yaml".into(), user.into())], false).unwrap();
    let p = project(&["version: \"3.8\"\nservices:\n  app:\n    image: example.com/app:1\n"]);
    let plan = super::plan(&p, &catalog, &Options::default(), &BTreeMap::new()).unwrap();
    let short = override_file(&p, &plan, TmpfsSyntax::Short);
    assert_eq!(
        short["services"]["app"]["tmpfs"],
        serde_yaml::from_str::<Value>("[/tmp:size=16m, /var/cache/app]").unwrap()
    );
    let long = override_file(&p, &plan, TmpfsSyntax::Long);
    let volumes = long["services"]["app"]["volumes"].as_sequence().unwrap();
    assert_eq!(volumes[0]["type"], "tmpfs");
    assert_eq!(volumes[0]["target"], "/tmp");
    assert_eq!(volumes[0]["tmpfs"]["size"], Value::from(16u64 << 20));
    assert!(volumes[1].get("tmpfs").is_none());
    assert!(long["services"]["app"].get("tmpfs").is_none());
}

#[test]
fn existing_mounts_cover_writable_paths_in_every_syntax() {
    let cases = [
        ("tmpfs: /run", vec!["/var/cache/nginx"]),
        ("tmpfs: [/run, /var/cache/nginx:size=8m]", vec![]),
        ("volumes: [cache:/var/cache]", vec!["/run"]),
        ("volumes: [\"./run:/run:rw\"]", vec!["/var/cache/nginx"]),
        (
            "volumes: [{type: tmpfs, target: /var/cache/nginx}, {type: volume, target: /run}]",
            vec![],
        ),
        // A read-only mount does not cover; at the exact path it blocks.
        (
            "volumes: [\"./c:/var/cache:ro\"]",
            vec!["/var/cache/nginx", "/run"],
        ),
        ("volumes: [\"./r:/run:ro\"]", vec!["/var/cache/nginx"]),
    ];
    for (extra, expected) in cases {
        let text = format!("services:\n  web:\n    image: nginx\n    {extra}\n");
        let plan = plan_of(&project(&[&text]));
        let web = service(&plan, "web");
        assert_eq!(tmpfs_paths(web), expected, "{extra}");
        if extra.contains("/run:ro") {
            assert!(web
                .warnings
                .iter()
                .any(|w| w.contains("/run stays read-only")));
        }
    }
}

#[test]
fn profiles_that_keep_a_writable_root_and_rule_modes_are_honoured() {
    let user = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: legacy\n    match: [\"registry.example.com/legacy/*\"]\n    readOnlyRootFilesystem: false\n";
    let catalog = Catalog::load(&[("u.yaml".into(), user.into())], true).unwrap();
    let p = project(&["services:\n  old:\n    image: registry.example.com/legacy/erp:7\n"]);
    let plan = super::plan(&p, &catalog, &Options::default(), &BTreeMap::new()).unwrap();
    let old = service(&plan, "old");
    assert!(!old.set_read_only);
    assert!(old.warnings.iter().any(|w| w.contains("stays writable")));

    // The user's own read_only: true is no news.
    let p = project(&["services:\n  old:\n    image: registry.example.com/legacy/erp:7\n    read_only: true\n    volumes_from: [other]\n  other:\n    image: registry.example.com/legacy/erp:7\n"]);
    let plan = super::plan(&p, &catalog, &Options::default(), &BTreeMap::new()).unwrap();
    let old = service(&plan, "old");
    assert_eq!(old.warnings.len(), 1, "{:?}", old.warnings);
    assert!(old.warnings[0].contains("volumes_from"));

    let p = project(&[NGINX_BODY]);
    let warn = Options {
        read_only_root: RuleMode::Warn,
        writable_paths: RuleMode::Warn,
        ..Options::default()
    };
    let plan = super::plan(&p, &Catalog::builtin(), &warn, &BTreeMap::new()).unwrap();
    assert!(plan.is_empty());
    let web = service(&plan, "web");
    assert!(web
        .warnings
        .iter()
        .any(|w| w.contains("would set read_only")));
    assert!(web
        .warnings
        .iter()
        .any(|w| w.contains("would add a tmpfs at /run")));
    let off = Options {
        read_only_root: RuleMode::Off,
        writable_paths: RuleMode::Off,
        ..Options::default()
    };
    let plan = super::plan(&p, &Catalog::builtin(), &off, &BTreeMap::new()).unwrap();
    assert!(plan.is_empty() && service(&plan, "web").warnings.is_empty());
}

#[test]
fn seeded_paths_get_a_named_volume_docker_fills_from_the_image() {
    let text = "version: \"2.4\"\nservices:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.15.0\n    volumes:\n      - esdata:/usr/share/elasticsearch/data\nvolumes:\n  esdata: {}\n";
    let p = project(&[text]);
    let plan = plan_of(&p);
    let es = service(&plan, "es");
    assert_eq!(es.seed_volumes.len(), 1);
    assert_eq!(es.seed_volumes[0].path, "/usr/share/elasticsearch/config");
    assert!(!tmpfs_paths(es).contains(&"/usr/share/elasticsearch/config"));
    let name = es.seed_volumes[0].name.clone();
    let over = override_file(&p, &plan, TmpfsSyntax::Short);
    assert!(over["volumes"].get(name.as_str()).is_some());
    let mounts = over["services"]["es"]["volumes"].as_sequence().unwrap();
    assert!(mounts.contains(&Value::from(format!(
        "{name}:/usr/share/elasticsearch/config"
    ))));
    let merged = apply(&p, &plan, TmpfsSyntax::Short);
    let top: Vec<&str> = merged["volumes"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(top, ["esdata", name.as_str()]);
}

#[test]
fn secret_bind_mounts_on_shared_directories_are_reported_with_a_target() {
    let text = "services:\n  app:\n    image: example.com/app\n    volumes:\n      - ./secrets:/etc\n      - ./prod.env:/app/.env:ro\n      - ./db-password.txt:/srv/app/db-password.txt\n      - ./static:/app/static\n      - ./tls.key:/tmp/tls.key\n    secrets: [api_key]\nsecrets:\n  api_key: {file: ./api_key.txt}\n";
    let plan = plan_of(&project(&[text]));
    let app = service(&plan, "app");
    let reported: Vec<(&str, &str)> = app
        .secret_mounts
        .iter()
        .map(|r| (r.target.as_str(), r.suggested_target.as_str()))
        .collect();
    assert_eq!(
        reported,
        [
            ("/etc", "/etc/secrets"),
            ("/app/.env", "/app/secrets/.env"),
            ("/tmp/tls.key", "/tmp/secrets/tls.key"),
        ]
    );
    assert_eq!(app.warnings.len(), 3, "{:?}", app.warnings);
    // Reports change nothing.
    assert!(app.changes.iter().all(|c| !c.change.contains("secret")));

    let off = Options {
        secret_mounts: RuleMode::Off,
        ..Options::default()
    };
    let plan = super::plan(
        &project(&[text]),
        &Catalog::builtin(),
        &off,
        &BTreeMap::new(),
    )
    .unwrap();
    assert!(service(&plan, "app").secret_mounts.is_empty());

    let shared = Options {
        shared_dirs: ["/srv/app".to_string()].into_iter().collect(),
        ..Options::default()
    };
    let plan = super::plan(
        &project(&[text]),
        &Catalog::builtin(),
        &shared,
        &BTreeMap::new(),
    )
    .unwrap();
    let targets: Vec<&str> = service(&plan, "app")
        .secret_mounts
        .iter()
        .map(|r| r.target.as_str())
        .collect();
    assert_eq!(targets, ["/srv/app/db-password.txt", "/tmp/tls.key"]);
}

#[test]
fn several_files_merge_in_order_as_compose_does() {
    let base = "version: \"3.8\"\nservices:\n  web:\n    image: example.com/web:1\n    environment: [A=1, B=2]\n    volumes:\n      - ./tmp-a:/tmp\n      - ./logs:/var/log\n    ports: [\"80:80\"]\n";
    let over = "version: \"3.8\"\nservices:\n  web:\n    image: nginx:1.27\n    environment: [B=3, C=4]\n    volumes:\n      - ./tmp-b:/tmp:ro\n    tmpfs: [/run]\n    ports: [\"443:443\"]\n  extra:\n    image: redis\n";
    let p = project(&[base, over]);
    let web = &p.document["services"]["web"];
    assert_eq!(web["image"], "nginx:1.27");
    assert_eq!(
        web["volumes"],
        serde_yaml::from_str::<Value>("[\"./tmp-b:/tmp:ro\", \"./logs:/var/log\"]").unwrap()
    );
    assert_eq!(
        web["environment"],
        serde_yaml::from_str::<Value>("[A=1, B=3, C=4]").unwrap()
    );
    assert_eq!(
        web["ports"],
        serde_yaml::from_str::<Value>("[\"80:80\", \"443:443\"]").unwrap()
    );
    let plan = plan_of(&p);
    // The later image decides the profile; /run is covered by the later tmpfs.
    let w = service(&plan, "web");
    assert_eq!(w.profile, "nginx");
    assert_eq!(tmpfs_paths(w), ["/var/cache/nginx"]);
    assert_eq!(service(&plan, "extra").profile, "redis");
}

#[test]
fn bad_input_names_the_file_and_line() {
    let e = error("services:\n  web:\n    image: nginx\n   bad: [\n");
    assert_eq!(e.file, "compose.yml");
    assert!(e.message.starts_with("not valid YAML"), "{e}");
    assert!(e.line >= 4, "{e}");

    let e = error("services:\n  web:\n    image: nginx\n    read_only: \"yes\"\n");
    assert_eq!(
        (e.line, e.to_string().starts_with("compose.yml:4: ")),
        (4, true),
        "{e}"
    );
    assert!(e.message.contains("read_only"), "{e}");

    let e = error("version: \"3\"\nservices:\n  web:\n    image: nginx\n    volumes:\n      - ./a:/a\n      - 42\n");
    assert_eq!(e.line, 7, "{e}");
    let e = error("services:\n  web:\n    image: nginx\n    volumes:\n      - type: bind\n        source: ./a\n        target: relative\n      - type: bind\n        source: ./a\n");
    assert_eq!(e.line, 8, "{e}");
    assert!(
        e.message.contains("volume 2") && e.message.contains("target"),
        "{e}"
    );
    let e = error("services:\n  web:\n    image: nginx\n  db: just-a-string\n");
    assert_eq!(e.line, 4, "{e}");
    let e = error("services:\n  web:\n    image: [nginx]\n");
    assert_eq!(e.line, 3, "{e}");
    let e = error("services:\n  web:\n    image: nginx\n    tmpfs: {path: /tmp}\n");
    assert_eq!(e.line, 4, "{e}");
    let e = error("services: [web]\n");
    assert_eq!(e.line, 1, "{e}");
    let e = error("# old style\nweb:\n  image: nginx\n");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("version 1"), "{e}");
    let e = error("version: \"4\"\nservices: {}\n");
    assert!(e.message.contains("unknown Compose file version"), "{e}");
    let e = error("");
    assert!(e.message.contains("empty"), "{e}");
    let e = error("- a\n- b\n");
    assert!(e.message.contains("mapping"), "{e}");
}

#[test]
fn volume_strings_parse_like_compose_reads_them() {
    let m = parse_volume(&Value::from("/var/lib/mysql")).unwrap();
    assert_eq!(
        (m.kind, m.target.as_str()),
        (MountKind::Anonymous, "/var/lib/mysql")
    );
    let m = parse_volume(&Value::from("data:/data/:ro,z")).unwrap();
    assert_eq!(
        (m.kind, m.target.as_str(), m.read_only),
        (MountKind::Volume, "/data", true)
    );
    let m = parse_volume(&Value::from("~/conf:/etc/app")).unwrap();
    assert_eq!(m.kind, MountKind::Bind);
    assert!(parse_volume(&Value::from("a:b:c:d")).is_err());
    assert!(parse_volume(&Value::Mapping(Mapping::new())).is_err());
}

#[test]
fn images_are_interpolated_before_matching() {
    let lookup = |name: &str| (name == "TAG").then(|| "1.27".to_string());
    let expand = |text: &str| interpolate(text, &lookup).unwrap();
    assert_eq!(expand("nginx:${TAG}"), "nginx:1.27");
    assert_eq!(expand("${REG:-docker.io}/nginx"), "docker.io/nginx");
    assert_eq!(expand("${REG-x}${TAG:+y}"), "xy");
    assert_eq!(expand("$$HOME $TAG"), "$HOME 1.27");
    assert_eq!(
        interpolate("${REG:?set REG to your registry}", &lookup)
            .unwrap_err()
            .to_string(),
        "variable REG is missing: set REG to your registry"
    );
    assert!(interpolate("${TAG?}", &lookup).is_ok());
    let p = project(&["services:\n  web:\n    image: \"${PH_TEST_UNSET_REGISTRY:-docker.io/library}/nginx:${PH_TEST_UNSET_TAG:-1.27}\"\n"]);
    assert_eq!(service(&plan_of(&p), "web").profile, "nginx");
}

#[test]
fn secret_like_names() {
    for yes in [
        ".env",
        "prod.env",
        "tls.key",
        "id_rsa",
        "db_password.txt",
        "secrets",
        "api-token",
        "cert.pem",
    ] {
        assert!(looks_secret(&format!("/x/{yes}")), "{yes}");
    }
    for no in ["nginx.conf", "static", "html", "keycloak", "environment"] {
        assert!(!looks_secret(&format!("/x/{no}")), "{no}");
    }
}

#[test]
fn outputs_render_in_each_format() {
    let p = project(&[&fixture("wordpress-mariadb.yml")]);
    let plan = plan_of(&p);
    let over = render(&p, &plan, Output::Override, TmpfsSyntax::Short, false);
    assert!(over.starts_with("# Generated by pod-hardener compose"));
    let parsed: Mapping = serde_yaml::from_str(&over).unwrap();
    assert_eq!(parsed["version"], "3.9");
    assert_eq!(parsed["services"]["db"]["read_only"], Value::Bool(true));
    assert!(
        parsed["services"]["db"].get("image").is_none(),
        "additions only"
    );
    let diff = render(&p, &plan, Output::Diff, TmpfsSyntax::Short, false);
    assert!(diff.contains("+    read_only: true"), "{diff}");
    assert!(diff.contains("+      - /run/mysqld"), "{diff}");
    let json: serde_json::Value =
        serde_json::from_str(&render(&p, &plan, Output::Json, TmpfsSyntax::Short, false)).unwrap();
    assert_eq!(json["services"][0]["service"], "db");
    assert_eq!(json["services"][0]["changes"][0]["rule"], "writable-paths");
    assert!(json["services"][0]["changes"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("/run/mysqld"));
    let merged: Mapping = serde_yaml::from_str(&render(
        &p,
        &plan,
        Output::Merged,
        TmpfsSyntax::Short,
        false,
    ))
    .unwrap();
    assert_eq!(merged["services"]["db"]["image"], "mariadb:10.11");
    assert_eq!(merged["services"]["db"]["read_only"], Value::Bool(true));
    let nothing = project(&[&render(
        &p,
        &plan,
        Output::Merged,
        TmpfsSyntax::Short,
        false,
    )]);
    let again = render(
        &nothing,
        &plan_of(&nothing),
        Output::Diff,
        TmpfsSyntax::Short,
        false,
    );
    assert!(again.contains("no changes"), "{again}");
}

fn project_with(texts: &[(&str, &str)], env: &[(&str, &str)], others: &[(&str, &str)]) -> Project {
    let files: Vec<(String, String)> = texts
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let others: BTreeMap<String, String> = others
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| env.get(name).cloned();
    let read = |name: &str| {
        others
            .get(name)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("{name}: no such file")))
    };
    let sources = Sources {
        env: &lookup,
        read: &read,
    };
    load_with(&files, &sources).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn merge_keys_are_expanded_before_planning_and_never_written() {
    let text = "x-web: &web\n  image: nginx:1.27\n  read_only: false\n  volumes:\n    - cache:/var/cache/nginx\nx-log: &log\n  logging: {driver: local}\nservices:\n  front:\n    <<: [*web, *log]\n    ports: [\"80:80\"]\n  plain:\n    <<: *web\n    read_only: true\nvolumes:\n  cache: {}\n";
    let p = project(&[text]);
    let front = &p.document["services"]["front"];
    assert_eq!(front["image"], "nginx:1.27");
    assert_eq!(front["logging"]["driver"], "local");
    let plan = plan_of(&p);
    let f = service(&plan, "front");
    assert_eq!(f.profile, "nginx");
    assert!(!f.set_read_only, "the anchor's read_only: false is kept");
    assert!(f.tmpfs.is_empty(), "a writable root needs no tmpfs: {f:?}");
    let plain = service(&plan, "plain");
    // The anchor's named volume covers /var/cache/nginx: no second mount there.
    assert_eq!(tmpfs_paths(plain), ["/run"]);
    let merged = render(&p, &plan, Output::Merged, TmpfsSyntax::Short, false);
    assert!(!merged.contains("<<"), "{merged}");
    let again = project(&[&merged]);
    assert!(plan_of(&again).is_empty());
}

#[test]
fn variables_come_from_the_environment_and_dollars_stay_literal() {
    let text = "services:\n  web:\n    image: ${IMAGE:-busybox}\n    volumes:\n      - logs:${APP_LOGS}\n      - type: volume\n        source: cache\n        target: ${CACHE_DIR-/var/cache/nginx}\n    command: [sh, -c, \"echo $$HOME\"]\nvolumes:\n  logs: {}\n  cache: {}\n";
    let p = project_with(
        &[("compose.yml", text)],
        &[("IMAGE", "nginx:1.27"), ("APP_LOGS", "/var/log/nginx")],
        &[],
    );
    let web = &p.document["services"]["web"];
    assert_eq!(web["image"], "nginx:1.27");
    assert_eq!(web["command"][2], "echo $HOME");
    let plan = plan_of(&p);
    let w = service(&plan, "web");
    assert_eq!(w.profile, "nginx");
    assert_eq!(tmpfs_paths(w), ["/run"]);
    let merged = render(&p, &plan, Output::Merged, TmpfsSyntax::Short, false);
    assert!(merged.contains("echo $$HOME"), "{merged}");
    // A required variable that is missing names itself and its line.
    let files = [(
        "c.yml".to_string(),
        "services:\n  web:\n    image: nginx\n    environment:\n      KEY: ${KEY:?set KEY first}\n"
            .to_string(),
    )];
    let e = load_with(
        &files,
        &Sources {
            env: &|_| None,
            read: &|_| Err(std::io::Error::other("none")),
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (5, "variable KEY is missing: set KEY first")
    );
    // An unset long-syntax target is an empty path, refused rather than covering everything.
    let files = [("c.yml".to_string(), "services:\n  web:\n    image: nginx\n    volumes:\n      - type: volume\n        source: logs\n        target: ${UNSET_LOGS}\n".to_string())];
    assert!(load_with(
        &files,
        &Sources {
            env: &|_| None,
            read: &|_| Err(std::io::Error::other("none"))
        }
    )
    .is_err());
}

#[test]
fn extends_in_the_same_file_and_another_one_is_followed() {
    let base = "services:\n  proxy:\n    extends: web\n    ports: [\"8080:80\"]\n  web:\n    image: nginx:1.27\n    volumes: [\"./html:/usr/share/nginx/html:ro\"]\n  db:\n    extends:\n      file: common/db.yml\n      service: database\n    environment: {B: \"2\"}\n";
    let common = "services:\n  database:\n    image: postgres:16\n    environment: {A: \"1\"}\n    volumes: [\"./init:/docker-entrypoint-initdb.d:ro\"]\n";
    let p = project_with(&[("compose.yml", base)], &[], &[("common/db.yml", common)]);
    let services = &p.document["services"];
    assert!(services["proxy"].get("extends").is_none());
    assert_eq!(services["proxy"]["image"], "nginx:1.27");
    assert_eq!(services["db"]["image"], "postgres:16");
    assert_eq!(services["db"]["environment"]["A"], "1");
    assert_eq!(services["db"]["environment"]["B"], "2");
    // A host path of the other file, as seen from the project directory.
    assert_eq!(
        services["db"]["volumes"][0],
        "./common/init:/docker-entrypoint-initdb.d:ro"
    );
    let plan = plan_of(&p);
    assert_eq!(service(&plan, "proxy").profile, "nginx");
    assert_eq!(service(&plan, "db").profile, "postgres");
    let looped = [(
        "c.yml".to_string(),
        "services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n".to_string(),
    )];
    let e = load(&looped).unwrap_err();
    assert!(e.message.contains("circle"), "{e}");
    // A long chain: 5000 services, each extending the next, is refused
    // quickly rather than recursing without bound; 60 levels resolve.
    let chain = |n: usize| -> Vec<(String, String)> {
        let mut text = String::from("services:\n");
        for i in 0..n {
            text.push_str(&format!("  s{i}:\n    extends: s{}\n", i + 1));
        }
        text.push_str(&format!("  s{n}:\n    image: nginx:1.27\n"));
        vec![("c.yml".to_string(), text)]
    };
    let e = load(&chain(5000)).unwrap_err();
    assert!(e.message.contains("deeper than 64"), "{e}");
    let p = load(&chain(60)).unwrap();
    assert_eq!(p.document["services"]["s0"]["image"], "nginx:1.27");
}

#[test]
fn several_files_combine_names_and_logging_as_compose_does() {
    let base = "services:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n    networks: [front]\n    links: [\"db:database\"]\n    logging:\n      driver: json-file\n      options: {max-size: 10m}\n    volumes: [\"cache:/var/cache//nginx/\"]\n  db:\n    image: postgres:16\nvolumes:\n  cache: {}\nnetworks:\n  front: {}\n  back: {}\n";
    let over = "services:\n  web:\n    depends_on:\n      cache:\n        condition: service_healthy\n    networks:\n      back:\n        aliases: [www]\n    links: [\"cache\", \"db:database\"]\n    logging:\n      driver: syslog\n  cache:\n    image: redis:7\n";
    let p = project(&[base, over]);
    let web = &p.document["services"]["web"];
    let keys = |v: &Value| -> Vec<String> {
        v.as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys(&web["depends_on"]), ["db", "cache"]);
    assert_eq!(web["depends_on"]["cache"]["condition"], "service_healthy");
    assert_eq!(keys(&web["networks"]), ["front", "back"]);
    assert_eq!(web["links"].as_sequence().unwrap().len(), 2);
    assert_eq!(web["logging"]["driver"], "syslog");
    assert!(
        web["logging"].get("options").is_none(),
        "json-file options dropped"
    );
    // `/var/cache//nginx/` is /var/cache/nginx: covered, no second mount.
    assert_eq!(tmpfs_paths(service(&plan_of(&p), "web")), ["/run"]);
}

#[test]
fn tmpfs_syntax_follows_the_file_version() {
    let user = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: app\n    match: [example.com/app]\n    writablePaths:\n      - {path: /tmp, sizeLimit: \"1e6\", exec: true}\n      - {path: /scratch, sizeLimit: 2e3}\n      - {path: /cache, sizeLimit: 16Mi}\n      - /work\n";
    let catalog = Catalog::load(&[("u.yaml".into(), user.into())], false).unwrap();
    let written = |version: Option<&str>| -> (Vec<String>, Vec<String>) {
        let head = version
            .map(|v| format!("version: \"{v}\"\n"))
            .unwrap_or_default();
        let p = project(&[&format!(
            "{head}services:\n  app:\n    image: example.com/app:1\n"
        )]);
        let plan = super::plan(&p, &catalog, &Options::default(), &BTreeMap::new()).unwrap();
        let over = override_file(&p, &plan, TmpfsSyntax::Long);
        let app = &over["services"]["app"];
        let short = app
            .get("tmpfs")
            .map(|t| {
                t.as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let long = app
            .get("volumes")
            .map(|t| {
                t.as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v["target"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (short, long)
    };
    // exec only exists in the short syntax.
    let strings = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        written(None),
        (
            strings(&["/tmp:exec,size=1000000"]),
            strings(&["/scratch", "/cache", "/work"])
        )
    );
    assert_eq!(written(Some("3.8")).1, ["/scratch", "/cache", "/work"]);
    // 3.2 to 3.5: long syntax, but a size only in the short one.
    assert_eq!(
        written(Some("3.4")),
        (
            strings(&[
                "/tmp:exec,size=1000000",
                "/scratch:size=2000",
                "/cache:size=16m"
            ]),
            strings(&["/work"])
        )
    );
    for v in ["3", "3.1", "2.4"] {
        assert_eq!(written(Some(v)).0.len(), 4, "{v}");
    }
    // Each fallback is said in the override's header.
    let p = project(&["version: \"3.4\"\nservices:\n  app:\n    image: example.com/app:1\n"]);
    let plan = super::plan(&p, &catalog, &Options::default(), &BTreeMap::new()).unwrap();
    let header = render(&p, &plan, Output::Override, TmpfsSyntax::Long, false);
    assert!(header.contains("# note: service \"app\": tmpfs /tmp written in the short syntax: the long syntax has no `exec` option"), "{header}");
    assert!(header.contains("tmpfs /cache written in the short syntax: version 3.4 files have no tmpfs size in the long syntax (3.6 and later)"), "{header}");
    assert!(!header.contains("tmpfs /work written"), "{header}");
}

#[test]
fn nothing_to_add_still_makes_a_valid_override() {
    let hardened = "services:\n  web:\n    image: nginx:1.27\n    read_only: true\n    tmpfs: [/var/cache/nginx, /run]\n";
    let p = project(&[hardened]);
    let plan = plan_of(&p);
    assert!(plan.is_empty());
    let over = override_file(&p, &plan, TmpfsSyntax::Short);
    assert!(over.get("version").is_none());
    assert_eq!(over["services"]["web"], Value::Mapping(Mapping::new()));
}

#[test]
fn privilege_and_read_only_parents_are_warned() {
    let text = "services:\n  web:\n    image: nginx:1.27\n    privileged: true\n    cap_add: [CAP_SYS_ADMIN]\n    volumes: [\"./cache:/var/cache:ro\"]\n";
    let plan = plan_of(&project(&[text]));
    let w = service(&plan, "web");
    assert!(
        w.warnings.iter().any(|m| m.contains("privileged: true")),
        "{w:?}"
    );
    assert!(
        w.warnings.iter().any(|m| m.contains("CAP_SYS_ADMIN")),
        "{w:?}"
    );
    assert!(
        w.warnings
            .iter()
            .any(|m| m.contains("/var/cache/nginx lies under the read-only mount at /var/cache")),
        "{w:?}"
    );
}
