//! Black-box tests of `pod-hardener serve`: the real binary on free ports, real
//! TLS with rcgen certificates, real HTTP/1.1 and HTTP/2 clients, real files
//! swapped under it.

mod serve;
use serve::free_port;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use pod_hardener::server::tls::write_self_signed;
use reqwest::blocking::Client;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A certificate directory laid out the way the kubelet mounts a Secret:
/// `tls.crt -> ..data/tls.crt`, `..data -> ..<version>`.
struct SecretDir {
    root: PathBuf,
    version: usize,
}

impl SecretDir {
    fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let mut d = SecretDir {
            root: root.to_path_buf(),
            version: 0,
        };
        d.rotate();
        for f in ["tls.crt", "tls.key", "ca.crt"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), root.join(f)).unwrap();
        }
        d
    }

    /// Writes a fresh pair into a new version directory and swaps `..data` atomically.
    fn rotate(&mut self) -> Vec<u8> {
        self.version += 1;
        let v = self.root.join(format!("..v{}", self.version));
        write_self_signed(&v, &[]).unwrap();
        self.swap_to(&v);
        std::fs::read(v.join("ca.crt")).unwrap()
    }

    fn swap_to(&self, v: &Path) {
        let tmp = self.root.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(v.file_name().unwrap(), &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
    }

    fn ca(&self) -> Vec<u8> {
        std::fs::read(self.root.join("ca.crt")).unwrap()
    }
}

struct Server {
    child: Child,
    https: String,
    metrics: String,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, extra_env: &[(&str, String)]) -> Server {
        let (port, mport) = (free_port(), free_port());
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(["--metrics-address", &format!("127.0.0.1:{mport}")])
            .args(["--cert-file", dir.join("certs/tls.crt").to_str().unwrap()])
            .args(["--key-file", dir.join("certs/tls.key").to_str().unwrap()])
            .args(["--log-format", "json"])
            .env("POD_HARDENER_SERVER__SHUTDOWN_DELAY_MS", "800")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let s = Server {
            child,
            https: format!("https://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{mport}/metrics"),
            log,
        };
        let client = client(&std::fs::read(dir.join("certs/ca.crt")).unwrap(), false);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if client
                .get(format!("{}/readyz", s.https))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready: {:?}", s.log.lock().unwrap());
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(&self.metrics)
            .unwrap()
            .text()
            .unwrap()
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(ca: &[u8], http2: bool) -> Client {
    let mut b = Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .timeout(Duration::from_secs(10));
    b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    b.build().unwrap()
}

fn post(c: &Client, url: &str, body: Vec<u8>, ct: &str) -> reqwest::blocking::Response {
    c.post(url)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .unwrap()
}

fn profiles_file(dir: &Path, path: &str) -> PathBuf {
    let f = dir.join("profiles.yaml");
    std::fs::write(&f, format!("apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: local-nginx\n    match: [nginx]\n    writablePaths: [{path}]\n")).unwrap();
    f
}

/// The mount paths the patch for the simple fixture adds.
fn added_paths(response: &Value) -> Vec<String> {
    let b64 = response["response"]["patch"].as_str().unwrap();
    let ops: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    ops.as_array()
        .unwrap()
        .iter()
        .filter(|o| o["path"].as_str().unwrap().contains("volumeMounts"))
        .map(|o| o["value"]["mountPath"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fixtures_bad_input_health_and_metrics_over_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let server = Server::start(dir.path(), &[]);
    for http2 in [false, true] {
        let c = client(&certs.ca(), http2);
        let want = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        for entry in std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/admission"
        ))
        .unwrap()
        {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let r = post(
                &c,
                &format!("{}/mutate?timeout=5s", server.https),
                body.clone(),
                "application/json",
            );
            assert_eq!(r.version(), want);
            assert_eq!(r.status(), 200, "{}", path.display());
            let v: Value = r.json().unwrap();
            let req: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["response"]["uid"], req["request"]["uid"]);
            assert_eq!(v["response"]["allowed"], true);
            let is_pod_create = req["request"]["operation"] == "CREATE"
                && req["request"]["resource"]["resource"] == "pods";
            assert_eq!(
                v["response"]["patch"].is_string(),
                is_pod_create,
                "{}",
                path.display()
            );
        }
        // Dry-run path: no patch, a warning.
        let r = post(
            &c,
            &format!("{}/mutate/dry-run", server.https),
            fixture("pod-create-simple.json"),
            "application/json",
        );
        let v: Value = r.json().unwrap();
        assert!(v["response"].get("patch").is_none());
        assert!(v["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("dry-run"));

        for (body, ct, status) in [
            (b"{}".to_vec(), "text/plain", 415),
            (b"nope".to_vec(), "application/json", 400),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_vec(), "application/json", 400),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"operation":"CREATE"}}"#.to_vec(), "application/json", 400),
            (vec![b' '; 5 << 20], "application/json", 413),
        ] {
            let r = post(&c, &format!("{}/mutate", server.https), body, ct);
            assert_eq!(r.status().as_u16(), status);
            let v: Value = r.json().unwrap();
            assert_eq!(v["status"], status);
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        assert_eq!(
            c.get(format!("{}/healthz", server.https))
                .send()
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            c.get(format!("{}/readyz", server.https))
                .send()
                .unwrap()
                .status(),
            200
        );
    }
    let m = server.metrics();
    assert!(
        m.contains(r#"pod_hardener_reviews_total{outcome="patched",mode="enforce"} 8"#),
        "{m}"
    );
    assert!(
        m.contains(r#"pod_hardener_reviews_total{outcome="dry-run",mode="dry-run"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"pod_hardener_rejected_requests_total{reason="too-large"} 2"#),
        "{m}"
    );
    assert!(m.contains("pod_hardener_review_duration_seconds_bucket"));
    assert!(m.contains("pod_hardener_certificate_expiry_timestamp_seconds"));
    assert!(m.trim_end().ends_with("# EOF"));
    // One log line per review, with uid and namespace.
    let log = server.log.lock().unwrap().clone();
    let review = log
        .iter()
        .find(|l| l.contains("56d1b8f8-cd34-4ee6-8cee-09a760688039"))
        .expect("review logged");
    let v: Value = serde_json::from_str(review).unwrap();
    assert_eq!(v["namespace"], "webhook-test");
    assert_eq!(v["pod"], "simple");
}

/// A response bigger than a TLS record, and than what an HTTP/2 connection
/// gathers for one write, comes out whole and the same over both protocols.
#[test]
fn a_response_bigger_than_a_tls_record_is_the_same_over_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let server = Server::start(dir.path(), &[]);
    let mut review: Value = serde_json::from_slice(&fixture("pod-create-simple.json")).unwrap();
    let containers = review["request"]["object"]["spec"]["containers"]
        .as_array_mut()
        .unwrap();
    let first = containers[0].clone();
    containers.clear();
    for i in 0..60 {
        let mut c = first.clone();
        c["name"] = Value::String(format!("c{i}"));
        containers.push(c);
    }
    let body = serde_json::to_vec(&review).unwrap();
    // Over HTTP/2 a body past one 16 KiB DATA frame reaches the handler in
    // several chunks, which the server joins before the review.
    assert!(
        body.len() > 16 * 1024,
        "{} bytes: one DATA frame",
        body.len()
    );
    let answers = [false, true].map(|http2| {
        let r = post(
            &client(&certs.ca(), http2),
            &format!("{}/mutate", server.https),
            body.clone(),
            "application/json",
        );
        assert_eq!(r.status(), 200);
        r.bytes().unwrap().to_vec()
    });
    assert!(
        answers[0].len() > 2 * 16 * 1024,
        "{} bytes: not bigger than two TLS records",
        answers[0].len()
    );
    assert!(
        answers[0] == answers[1],
        "HTTP/1.1 and HTTP/2 answers differ"
    );
    let v: Value = serde_json::from_slice(&answers[1]).unwrap();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().unwrap())
        .unwrap();
    let ops: Value = serde_json::from_slice(&patch).unwrap();
    assert!(ops.as_array().unwrap().len() >= 60);
}

#[test]
fn certificate_rotation_by_symlink_swap_while_requests_flow() {
    let dir = tempfile::tempdir().unwrap();
    let mut certs = SecretDir::new(&dir.path().join("certs"));
    let old_ca = certs.ca();
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/mutate", server.https);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let new_ca_holder: Arc<std::sync::Mutex<Option<Vec<u8>>>> = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, url, old_ca, new_ca) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                url.clone(),
                old_ca.clone(),
                new_ca_holder.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // A fresh connection each time, trusting whichever CA is current.
                    let mut b = Client::builder()
                        .tls_built_in_root_certs(false)
                        .add_root_certificate(reqwest::Certificate::from_pem(&old_ca).unwrap())
                        .pool_max_idle_per_host(0);
                    if let Some(ca) = new_ca.lock().unwrap().as_ref() {
                        b = b.add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap());
                    }
                    let c = b.build().unwrap();
                    match c
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(fixture("pod-create-simple.json"))
                        .send()
                    {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Make the new pair, trust it in the clients, then swap.
    let next = dir.path().join("certs/..v2");
    write_self_signed(&next, &[]).unwrap();
    let new_ca = std::fs::read(next.join("ca.crt")).unwrap();
    *new_ca_holder.lock().unwrap() = Some(new_ca.clone());
    certs.version = 2;
    certs.swap_to(&next);
    // The new certificate is served: a client trusting only the new CA succeeds.
    let only_new = client(&new_ca, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while only_new
        .get(format!("{}/healthz", server.https))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "new certificate never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A pair that does not parse: the good one stays.
    let bad = dir.path().join("certs/..v3");
    std::fs::create_dir_all(&bad).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::write(
            bad.join(f),
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
    }
    certs.swap_to(&bad);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .metrics()
        .contains(r#"pod_hardener_certificate_reloads_total{result="error"} 1"#)
    {
        assert!(
            Instant::now() < deadline,
            "bad certificate not counted: {}",
            server.metrics()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed requests during rotation"
    );
    assert!(ok.load(Ordering::SeqCst) > 10);
    assert!(
        only_new
            .get(format!("{}/healthz", server.https))
            .send()
            .is_ok(),
        "old good certificate kept"
    );
    assert!(server
        .metrics()
        .contains(r#"pod_hardener_certificate_reloads_total{result="success"} 1"#));
}

#[test]
fn profile_reload_applies_good_files_and_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let file = profiles_file(dir.path(), "/first");
    let server = Server::start(
        dir.path(),
        &[(
            "POD_HARDENER_PROFILES__FILES",
            format!("[{}]", file.display()),
        )],
    );
    let c = client(&certs.ca(), true);
    let review = || -> Value {
        post(
            &c,
            &format!("{}/mutate", server.https),
            fixture("pod-create-simple.json"),
            "application/json",
        )
        .json()
        .unwrap()
    };
    assert_eq!(added_paths(&review()), ["/first"]);

    // Atomic rewrite (write + rename), as editors and ConfigMap updates do.
    let tmp = dir.path().join("profiles.yaml.tmp");
    std::fs::write(&tmp, "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: local-nginx\n    match: [nginx]\n    writablePaths: [/second]\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while added_paths(&review()) != ["/second"] {
        assert!(Instant::now() < deadline, "profile change not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&tmp, "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: local-nginx\n    match: [nginx]\n    writablePaths: [relative]\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .metrics()
        .contains(r#"pod_hardener_profile_reloads_total{result="error"} 1"#)
    {
        assert!(Instant::now() < deadline, "invalid profile not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        added_paths(&review()),
        ["/second"],
        "last good profiles kept"
    );
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("must be absolute"), "the reason is logged");
}

#[test]
fn configuration_reload_switches_mode_and_keeps_the_last_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "mode: enforce\n").unwrap();
    // Started with --config, so that the file is watched.
    let (port, mport) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .args([
            "--address",
            &format!("127.0.0.1:{port}"),
            "--metrics-address",
            &format!("127.0.0.1:{mport}"),
        ])
        .args([
            "--cert-file",
            dir.path().join("certs/tls.crt").to_str().unwrap(),
        ])
        .args([
            "--key-file",
            dir.path().join("certs/tls.key").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = client(&certs.ca(), false);
    let url = format!("https://127.0.0.1:{port}/mutate");
    let metrics = format!("http://127.0.0.1:{mport}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .get(format!("https://127.0.0.1:{port}/readyz"))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let review = || -> Value {
        post(
            &c,
            &url,
            fixture("pod-create-simple.json"),
            "application/json",
        )
        .json()
        .unwrap()
    };
    assert!(review()["response"]["patch"].is_string());
    let tmp = dir.path().join("config.yaml.tmp");
    std::fs::write(&tmp, "mode: dry-run\n").unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while review()["response"]["patch"].is_string() {
        assert!(Instant::now() < deadline, "mode change not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&tmp, "mode: sometimes\n").unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reqwest::blocking::get(&metrics)
        .unwrap()
        .text()
        .unwrap()
        .contains(r#"pod_hardener_config_reloads_total{result="error"} 1"#)
    {
        assert!(
            Instant::now() < deadline,
            "invalid configuration not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(review()["response"].get("patch").is_none(), "dry-run kept");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_during_load_drops_no_request_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let mut server = Server::start(dir.path(), &[]);
    let url = format!("{}/mutate", server.https);
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let draining = Arc::new(AtomicBool::new(false));
    let ca = certs.ca();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (ok, failed, url, ca, draining, ready_url) = (
                ok.clone(),
                failed.clone(),
                url.clone(),
                ca.clone(),
                draining.clone(),
                format!("{}/readyz", server.https),
            );
            std::thread::spawn(move || {
                let c = client(&ca, i % 2 == 0);
                loop {
                    // Like an API server behind a Service: stop sending once not ready.
                    if draining.load(Ordering::SeqCst)
                        && c.get(&ready_url)
                            .send()
                            .map(|r| r.status() != 200)
                            .unwrap_or(true)
                    {
                        break;
                    }
                    match c
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(fixture("pod-create-deployment-like.json"))
                        .send()
                    {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    draining.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(failed.load(Ordering::SeqCst), 0);
    assert!(ok.load(Ordering::SeqCst) > 10);
}

#[test]
fn invalid_configuration_exits_2_before_binding() {
    let port = free_port();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--self-signed",
            "--address",
            &format!("127.0.0.1:{port}"),
        ])
        .env("POD_HARDENER_SERVER__WORKERS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workers"));
    // Nothing was bound.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    let out = Command::new(BIN)
        .args(["serve"])
        .env_remove("POD_HARDENER_SERVER__CERT_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--self-signed"));
}

#[test]
fn a_bad_profile_file_at_start_is_the_termination_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("team.yaml");
    std::fs::write(
        &bad,
        "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: a\n    match: [nginx]\n    writablePaths: [relative/path]\n",
    )
    .unwrap();
    // The kubelet creates the file; outside a pod nothing is written.
    let termination_log = dir.path().join("termination-log");
    std::fs::write(&termination_log, "").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--self-signed", "--address", "127.0.0.1:0"])
        .args(["--metrics-address", "127.0.0.1:0"])
        .arg("--profiles")
        .arg(&bad)
        .env(
            "POD_HARDENER_SERVER__SELF_SIGNED_DIR",
            dir.path().join("tls"),
        )
        .env("POD_HARDENER_TERMINATION_LOG", &termination_log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = std::fs::read_to_string(&termination_log).unwrap();
    let expected = format!("{}:6:", bad.display());
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains("relative/path"), "{message}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&expected),
        "the log says it too"
    );
}

#[test]
fn validate_config_refuses_a_configmap_that_would_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let certs = SecretDir::new(&dir.path().join("certs"));
    let server = Server::start(dir.path(), &[]);
    let review = |data: Value| {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "c-1",
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "operation": "UPDATE",
                "object": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "pod-hardener-config", "namespace": "pod-hardener"},
                    "data": data,
                },
            },
        }))
        .unwrap()
    };
    let url = format!("{}/validate-config", server.https);
    for http2 in [false, true] {
        let c = client(&certs.ca(), http2);
        let good = post(
            &c,
            &url,
            review(serde_json::json!({"config.yaml": "mode: dry-run\n"})),
            "application/json",
        );
        assert_eq!(good.status(), 200);
        let good: Value = good.json().unwrap();
        assert_eq!(good["response"]["allowed"], true);
        assert_eq!(good["response"]["uid"], "c-1");
        let bad: Value = post(
            &c,
            &url,
            review(serde_json::json!({"config.yaml": "mode: dry-run\nserver:\n  workers: 0\n"})),
            "application/json",
        )
        .json()
        .unwrap();
        assert_eq!(bad["response"]["allowed"], false);
        let message = bad["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("config.yaml") && message.contains("server.workers"),
            "{message}"
        );
        let not_a_review = post(&c, &url, b"[1]".to_vec(), "application/json");
        assert_eq!(not_a_review.status(), 400);
    }
}
