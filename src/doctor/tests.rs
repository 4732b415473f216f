use super::edit::{apply, render_file, Addition, Proposal};
use super::suggest::Directory;
use super::*;
use crate::profile::validate::parse_profile_set;

fn input(image: &str, log: &str) -> ContainerInput {
    ContainerInput {
        name: "app".into(),
        image: image.into(),
        workdir: None,
        evidence: vec![Evidence {
            source: "previous log".into(),
            text: log.into(),
        }],
    }
}

const NGINX_LOG: &str = r#"/docker-entrypoint.sh: Configuration complete; ready for start up
2024/05/02 09:14:11 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)
2024/05/02 09:14:11 [emerg] 1#1: open() "/srv/nginx/state/upstream.state" failed (30: Read-only file system)
nginx: [emerg] open() "/srv/nginx/state/other.state" failed (30: Read-only file system)
"#;

#[test]
fn known_paths_are_not_suggested_again_and_the_builtin_profile_is_extended() {
    let catalog = Catalog::builtin();
    let d = diagnose(&input("nginx:1.27", NGINX_LOG), &catalog);
    assert_eq!(d.profile, "nginx");
    assert_eq!(d.seen.len(), 3);
    assert!(d.seen[0].directory.is_none());
    assert!(
        d.seen[0]
            .note
            .as_deref()
            .unwrap()
            .contains("already writable"),
        "{:?}",
        d.seen[0]
    );
    let p = d.proposal.expect("a proposal");
    assert_eq!(p.profile.name, "nginx");
    assert_eq!(p.extends.as_deref(), Some("<built-in>"));
    let added: Vec<&str> = p
        .additions
        .iter()
        .map(|a| a.directory.path.as_str())
        .collect();
    assert_eq!(added, ["/srv/nginx/state"]);

    // The printed file is a valid profile file that, tried before the
    // catalog, gives nginx the old paths and the new one.
    let text = render_file(&p);
    parse_profile_set("suggested.yaml", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let with = Catalog::load(&[("suggested.yaml".into(), text.clone())], true).unwrap();
    let r = with.resolve("nginx:1.27");
    assert_eq!(r.profile.unwrap().source, "suggested.yaml");
    assert_eq!(
        paths(r.writable_paths()),
        ["/var/cache/nginx", "/run", "/srv/nginx/state"]
    );
    assert_eq!(r.app_dirs(), ["/usr/share/nginx/html"]);
}

#[test]
fn an_unknown_image_gets_a_new_profile_with_an_images_pattern() {
    let catalog = Catalog::builtin();
    let log = "Traceback (most recent call last):\nOSError: [Errno 30] Read-only file system: '/var/lib/shop/uploads/a.png'\nmkdir: cannot create directory '/var/lib/shop/uploads/thumbs': Read-only file system\n";
    let d = diagnose(
        &input(
            "registry.example.com:5000/team/Shop-API:2.1"
                .to_lowercase()
                .as_str(),
            log,
        ),
        &catalog,
    );
    assert_eq!(d.profile, "defaults");
    let p = d.proposal.expect("proposal");
    assert_eq!(p.profile.name, "shop-api");
    assert_eq!(
        p.profile.patterns,
        ["registry.example.com:5000/team/shop-api"]
    );
    // /var/lib/shop/uploads/thumbs is inside /var/lib/shop/uploads: one addition
    let added: Vec<&str> = p
        .additions
        .iter()
        .map(|a| a.directory.path.as_str())
        .collect();
    assert_eq!(added, ["/var/lib/shop/uploads"]);
    let text = render_file(&p);
    let c = Catalog::load(&[("s.yaml".into(), text.clone())], true).unwrap();
    let r = c.resolve("registry.example.com:5000/team/shop-api:2.2");
    assert_eq!(r.name(), "shop-api", "{text}");
    assert_eq!(paths(r.writable_paths()), ["/tmp", "/var/lib/shop/uploads"]);
}

#[test]
fn a_name_taken_by_the_catalog_is_not_reused() {
    let catalog = Catalog::builtin();
    let d = diagnose(
        &input(
            "ghcr.io/acme/nginx:1",
            "open /srv/cache/x: read-only file system",
        ),
        &catalog,
    );
    assert_eq!(d.proposal.unwrap().profile.name, "nginx-2");
}

#[test]
fn data_paths_and_nothing_found() {
    let catalog = Catalog::builtin();
    let d = diagnose(
        &input("redis:7", "1:M 02 May 2024 09:14:11.123 # Failed opening the temp RDB file temp-7.rdb (in server root dir /data) for saving: Read-only file system"),
        &catalog,
    );
    assert!(d.proposal.is_none());
    assert!(d.seen[0]
        .note
        .as_deref()
        .unwrap()
        .contains("PersistentVolume"));
    let d = diagnose(
        &input("redis:7", "Ready to accept connections tcp"),
        &catalog,
    );
    assert!(d.seen.is_empty() && d.proposal.is_none());
    let out = render("offline", &[d]);
    assert!(
        out.contains("no read-only filesystem errors found"),
        "{out}"
    );
    assert!(out.contains("nothing to add"), "{out}");
}

fn proposal(name: &str, patterns: &[&str], add: &[(&str, bool)]) -> Proposal {
    Proposal {
        profile: crate::profile::model::Profile {
            name: name.into(),
            description: None,
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            writable_paths: vec![WritablePath::Path("/tmp".into())],
            data_paths: vec![],
            read_only_root_filesystem: None,
            secret_mounts: None,
            app_dirs: vec![],
        },
        extends: None,
        additions: add
            .iter()
            .map(|(p, seed)| Addition {
                directory: Directory {
                    path: p.to_string(),
                    seed: *seed,
                },
                because: format!("mkdir {p}/x: read-only file system"),
            })
            .collect(),
    }
}

const USER_FILE: &str = "# Our team's profiles.\napiVersion: pod-hardener.dev/v1\nkind: ProfileSet\n\nprofiles:\n  # the shop API (see wiki)\n  - name: shop\n    match: [registry.example.com/shop]\n    writablePaths:\n      - /tmp   # scratch\n      - path: /var/cache/shop\n        sizeLimit: 64Mi\n    appDirs: [/srv/shop]\n\n  - name: flow\n    match: [\"registry.example.com/flow*\"]\n    writablePaths: [/tmp]   # keep short\n  - name: bare\n    match: [registry.example.com/bare]\n\n# trailing remark\n";

/// The result holds every original line, in order, and only `added` besides.
fn assert_only_added(before: &str, after: &str, added: &[&str]) {
    let mut rest: Vec<&str> = after.lines().collect();
    for want in added {
        let i = rest
            .iter()
            .rposition(|l| l == want)
            .unwrap_or_else(|| panic!("line {want:?} not in:\n{after}"));
        rest.remove(i);
    }
    assert_eq!(rest, before.lines().collect::<Vec<_>>(), "\n{after}");
}

#[test]
fn extends_a_block_list_keeping_every_other_byte() {
    let p = proposal(
        "shop",
        &["registry.example.com/shop"],
        &[("/var/lib/shop", false), ("/etc/shop", true)],
    );
    let out = apply(USER_FILE, "team.yaml", &p).unwrap();
    assert_only_added(
        USER_FILE,
        &out,
        &[
            "      - /var/lib/shop  # doctor: mkdir /var/lib/shop/x: read-only file system",
            "      - {path: /etc/shop, seed: true}  # doctor: mkdir /etc/shop/x: read-only file system",
        ],
    );
    // inserted after the detailed item's last line, before appDirs
    let idx = |s: &str| out.find(s).unwrap();
    assert!(
        idx("sizeLimit: 64Mi") < idx("- /var/lib/shop") && idx("{path: /etc/shop") < idx("appDirs")
    );
    let set = parse_profile_set("team.yaml", &out).unwrap();
    assert_eq!(
        paths(&set.profiles[0].writable_paths),
        ["/tmp", "/var/cache/shop", "/var/lib/shop", "/etc/shop"]
    );
    assert!(set.profiles[0].writable_paths[3].spec().seed);
    // a second run adds nothing
    assert_eq!(apply(&out, "team.yaml", &p).unwrap(), out);
}

#[test]
fn extends_a_flow_list_and_an_entry_without_the_key() {
    let p = proposal(
        "flow",
        &["registry.example.com/flow*"],
        &[("/data/x", false)],
    );
    let out = apply(USER_FILE, "team.yaml", &p).unwrap();
    assert!(
        out.contains("    writablePaths: [/tmp, /data/x]   # keep short\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), USER_FILE.lines().count());

    let p = proposal(
        "bare",
        &["registry.example.com/bare"],
        &[("/run/bare", false)],
    );
    let out = apply(USER_FILE, "team.yaml", &p).unwrap();
    assert_only_added(
        USER_FILE,
        &out,
        &[
            "    writablePaths:",
            "      - /run/bare  # doctor: mkdir /run/bare/x: read-only file system",
        ],
    );
    let set = parse_profile_set("team.yaml", &out).unwrap();
    assert_eq!(paths(&set.profiles[2].writable_paths), ["/run/bare"]);
}

#[test]
fn appends_a_new_entry_after_the_last_one() {
    let p = proposal(
        "nginx",
        &["docker.io/library/nginx"],
        &[("/srv/state", false)],
    );
    let out = apply(USER_FILE, "team.yaml", &p).unwrap();
    let entry = [
        "  - name: nginx",
        "    match: [docker.io/library/nginx]",
        "    writablePaths:",
        "      - /tmp",
        "      - /srv/state  # doctor: mkdir /srv/state/x: read-only file system",
    ];
    assert_only_added(USER_FILE, &out, &entry);
    // after the `bare` entry, before the trailing remark
    assert!(out.find("name: nginx").unwrap() > out.find("name: bare").unwrap());
    assert!(out.find("name: nginx").unwrap() < out.find("# trailing remark").unwrap());
    let set = parse_profile_set("team.yaml", &out).unwrap();
    assert_eq!(set.profiles.len(), 4);
    let c = Catalog::load(&[("team.yaml".into(), out)], true).unwrap();
    assert_eq!(
        paths(c.resolve("nginx").writable_paths()),
        ["/tmp", "/srv/state"]
    );
}

#[test]
fn new_empty_and_bracketed_files() {
    let p = proposal("svc", &["registry.example.com/svc"], &[("/srv/svc", false)]);
    let fresh = apply("", "new.yaml", &p).unwrap();
    assert!(
        fresh.contains(
            "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: svc\n"
        ),
        "{fresh}"
    );
    let empty = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles: []  # none yet\n";
    let out = apply(empty, "e.yaml", &p).unwrap();
    assert!(out.starts_with("apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:  # none yet\n  - name: svc\n"), "{out}");
    parse_profile_set("e.yaml", &out).unwrap();
    let no_key =
        "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\ndefaults:\n  writablePaths: [/tmp]";
    let out = apply(no_key, "d.yaml", &p).unwrap();
    assert!(out.starts_with(no_key), "{out}");
    assert_eq!(parse_profile_set("d.yaml", &out).unwrap().profiles.len(), 1);
    // CRLF files stay CRLF
    let crlf = USER_FILE.replace('\n', "\r\n");
    let out = apply(&crlf, "w.yaml", &p).unwrap();
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "bare LF in {out:?}"
    );
}

#[test]
fn invalid_files_and_invalid_results_are_refused() {
    let p = proposal("svc", &["registry.example.com/svc"], &[("/srv/svc", false)]);
    let bad = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writeablePaths: [/tmp]\n";
    let e = apply(bad, "bad.yaml", &p).unwrap_err().to_string();
    assert!(e.contains("bad.yaml:6"), "{e}");
    // a proposal whose own entry is invalid never reaches the file
    let mut wrong = p.clone();
    wrong.profile.name = "Not A Label".into();
    let e = apply(USER_FILE, "team.yaml", &wrong)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("would not be valid") && e.contains("DNS-1123"),
        "{e}"
    );
}

#[test]
fn other_layouts_of_an_entry() {
    // name not the first key; list items at the key's own indent; a comment inside
    let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n- match: [registry.example.com/a]\n  name: \"a\"\n  writablePaths:\n  - /tmp\n  # more to come\n  dataPaths: [/data]\n";
    let p = proposal("a", &["registry.example.com/a"], &[("/srv/a", false)]);
    let out = apply(text, "l.yaml", &p).unwrap();
    assert_eq!(
        out,
        text.replace(
            "  - /tmp\n",
            "  - /tmp\n  - /srv/a  # doctor: mkdir /srv/a/x: read-only file system\n"
        )
    );
    let set = parse_profile_set("l.yaml", &out).unwrap();
    assert_eq!(paths(&set.profiles[0].writable_paths), ["/tmp", "/srv/a"]);
    assert_eq!(set.profiles[0].data_paths, ["/data"]);
    // an empty flow list
    let text = "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [registry.example.com/a]\n    writablePaths: []\n";
    let out = apply(text, "l.yaml", &proposal("a", &["x"], &[("/srv/a", true)])).unwrap();
    assert!(
        out.ends_with("    writablePaths: [{path: /srv/a, seed: true}]\n"),
        "{out}"
    );
    assert!(
        parse_profile_set("l.yaml", &out).unwrap().profiles[0].writable_paths[0]
            .spec()
            .seed
    );
}
