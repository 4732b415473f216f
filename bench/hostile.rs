//! The hostile-input suite behind `make hostile` (bench/hostile): every input
//! of issue 11's table and more, sent over TLS to the release binary started
//! with its defaults; each row reports the wall time, the server's peak RSS
//! during the row (VmHWM, reset through /proc/PID/clear_refs before each row)
//! and the answer.
//!
//! Run: `bench/hostile` (builds and runs), or directly
//!   cargo run --release --example bench-hostile -- --bin target/release/pod-hardener
//! `--bin` may name an older build: keys it does not know are never passed
//! (the idle-connection row checks `config print` for `idle_timeout_s`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const FIXTURE: &str = "tests/fixtures/admission/pod-create-simple.json";
const NORMAL: &str = "tests/fixtures/admission/pod-create-deployment-like.json";

struct Server {
    child: Child,
    port: u16,
    ca: Vec<u8>,
}

impl Server {
    fn start(bin: &Path, dir: &Path, env: &[(&str, String)]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--self-signed")
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(["--metrics-address", &format!("127.0.0.1:{}", free_port())])
            .env("POD_HARDENER_SERVER__SELF_SIGNED_DIR", dir)
            .env("POD_HARDENER_SERVER__SHUTDOWN_DELAY_MS", "0")
            .env("POD_HARDENER_LOG__LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Owned at once, so that its Drop kills and reaps it on every path.
        let mut server = Server {
            child: cmd.spawn().expect("start the server"),
            port,
            ca: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "the server did not start");
            if let (Ok(ca), Ok(_)) = (
                std::fs::read(dir.join("ca.crt")),
                TcpStream::connect(("127.0.0.1", port)),
            ) {
                server.ca = ca;
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status_kib(&self, key: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// Starts a new peak: VmHWM drops to the current RSS.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/mutate", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client(ca: &[u8], http2: bool) -> reqwest::blocking::Client {
    let b = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        // The API server gives up after 5 s; a minute says enough.
        .timeout(Duration::from_secs(60));
    if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    }
    .build()
    .unwrap()
}

/// Sends one review; returns the time to its whole answer (read, not yet
/// parsed: the client's own parsing is not the server's time) and what came
/// back, in a few words: status, and for a 200 the review's verdict.
fn send(client: &reqwest::blocking::Client, url: &str, body: Vec<u8>) -> (f64, String) {
    let started = Instant::now();
    let answer = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .and_then(|r| {
            let status = r.status().as_u16();
            r.bytes().map(|b| (status, b))
        });
    let seconds = started.elapsed().as_secs_f64();
    (seconds, describe(answer))
}

fn describe(answer: reqwest::Result<(u16, actix_web::web::Bytes)>) -> String {
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            return format!("error: {}", text.chars().take(90).collect::<String>());
        }
    };
    if status != 200 {
        let text = String::from_utf8_lossy(&body);
        return format!("{status}: {}", text.chars().take(70).collect::<String>());
    }
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return "200, not JSON".into();
    };
    let r = &review["response"];
    let verdict = if r["allowed"] == true {
        if r["patch"].is_string() {
            "allowed, patched"
        } else {
            "allowed, unchanged"
        }
    } else {
        "denied"
    };
    let warnings = r["warnings"].as_array().map_or(0, |w| w.len());
    let first = r["warnings"][0]
        .as_str()
        .or(r["status"]["message"].as_str())
        .unwrap_or("");
    format!(
        "200 {verdict}, {warnings} warnings{}",
        if first.is_empty() {
            String::new()
        } else {
            format!(" ({})", first.chars().take(60).collect::<String>())
        }
    )
}

/// The simple fixture with its pod changed by `edit`.
fn review_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(&std::fs::read(FIXTURE).unwrap()).unwrap();
    edit(&mut review["request"]["object"]);
    serde_json::to_vec(&review).unwrap()
}

/// The simple fixture with a raw JSON text spliced in as the pod's
/// `spec.nodeSelector` (a field the decoder keeps whole), for shapes serde_json
/// would not build: deep nesting, a million empty objects.
fn review_with_raw_field(raw: &str) -> Vec<u8> {
    let text = String::from_utf8(review_with(|pod| {
        pod["spec"]["nodeSelector"] = json!("@@RAW@@");
    }))
    .unwrap();
    text.replace("\"@@RAW@@\"", raw).into_bytes()
}

fn writable_paths(n: usize) -> Vec<u8> {
    let paths: Vec<String> = (0..n).map(|i| format!("/w/{i}")).collect();
    review_with(|pod| {
        pod["metadata"]["annotations"] =
            json!({"pod-hardener.dev/writable-paths.app": paths.join(",")});
    })
}

/// One secret volume mounted `n` times (35 bytes a mount: 80,000 fit in 2.8 MB).
fn secret_mounts(n: usize) -> Vec<u8> {
    review_with(|pod| {
        pod["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "s"}}]);
        let mounts: Vec<Value> = (0..n)
            .map(|i| json!({"name": "s", "mountPath": format!("/a/{i}")}))
            .collect();
        pod["spec"]["containers"][0]["volumeMounts"] = Value::Array(mounts);
    })
}

/// `n` minimal env entries (13 bytes each: 230,000 fit in 3 MB).
fn env_entries(n: usize) -> Vec<u8> {
    review_with(|pod| {
        let env: Vec<Value> = (0..n).map(|_| json!({"name": "E"})).collect();
        pod["spec"]["containers"][0]["env"] = Value::Array(env);
    })
}

fn container_args(n: usize) -> Vec<u8> {
    review_with(|pod| {
        pod["spec"]["containers"][0]["args"] = Value::Array(vec![json!("a"); n]);
    })
}

fn containers(n: usize) -> Vec<u8> {
    review_with(|pod| {
        let cs: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("c{i}"), "image": "nginx:1.25"}))
            .collect();
        pod["spec"]["containers"] = Value::Array(cs);
    })
}

fn volumes(n: usize) -> Vec<u8> {
    review_with(|pod| {
        let vs: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("v{i}"), "emptyDir": {}}))
            .collect();
        pod["spec"]["volumes"] = Value::Array(vs);
    })
}

/// `bytes` of `{},` in an array the engine has no use for.
fn empty_objects(bytes: usize) -> Vec<u8> {
    let mut raw = String::with_capacity(bytes + 2);
    raw.push('[');
    while raw.len() + 4 < bytes {
        raw.push_str("{},");
    }
    raw.push_str("{}]");
    review_with_raw_field(&raw)
}

fn deep_nesting(depth: usize) -> Vec<u8> {
    review_with_raw_field(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
}

fn duplicate_keys(n: usize) -> Vec<u8> {
    let mut raw = String::from("{");
    for i in 0..n {
        if i > 0 {
            raw.push(',');
        }
        raw.push_str("\"k\":\"value\"");
    }
    raw.push('}');
    let text = String::from_utf8(review_with(|pod| {
        pod["metadata"]["annotations"] = json!("@@RAW@@");
    }))
    .unwrap();
    text.replace("\"@@RAW@@\"", &raw).into_bytes()
}

fn huge_image_name(bytes: usize) -> Vec<u8> {
    review_with(|pod| pod["spec"]["containers"][0]["image"] = json!("x".repeat(bytes)))
}

struct Row {
    input: String,
    size: usize,
    seconds: f64,
    peak_mib: f64,
    answer: String,
}

/// Sends `bodies` at once (one thread each, HTTP/2), timing until the last answer.
fn run_row(server: &mut Server, input: &str, bodies: Vec<Vec<u8>>) -> Row {
    let size = bodies.iter().map(Vec::len).max().unwrap_or(0);
    server.reset_peak();
    let ca = server.ca.clone();
    let url = server.url();
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (ca, url) = (ca.clone(), url.clone());
            std::thread::spawn(move || send(&client(&ca, true), &url, body))
        })
        .collect();
    let results: Vec<(f64, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // The last answer's time (all were sent at once), not the threads' set-up.
    let seconds = results.iter().map(|r| r.0).fold(0.0, f64::max);
    let mut answers: Vec<String> = results.into_iter().map(|r| r.1).collect();
    answers.dedup();
    let mut answer = answers.join(" / ");
    if !server.alive() {
        answer = format!("{answer} (SERVER EXITED)");
    }
    Row {
        input: input.into(),
        size,
        seconds,
        peak_mib: server.status_kib("VmHWM:") as f64 / 1024.0,
        answer,
    }
}

/// `n` reviews of `body` in a row over one HTTP/2 connection; the time is
/// the median per review.
fn normal_reviews(server: &mut Server, input: &str, body: &[u8], n: usize) -> Row {
    server.reset_peak();
    let c = client(&server.ca, true);
    let url = server.url();
    let mut times = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..n {
        let (seconds, answer) = send(&c, &url, body.to_vec());
        times.push(seconds);
        answers.push(answer);
    }
    times.sort_by(f64::total_cmp);
    answers.dedup();
    Row {
        input: format!("{input} (median per review)"),
        size: body.len(),
        seconds: times[n / 2],
        peak_mib: server.status_kib("VmHWM:") as f64 / 1024.0,
        answer: answers.join(" / "),
    }
}

/// curl (nghttp2) over HTTP/2, the client of the report: the status it saw.
fn curl_status(server: &Server, dir: &Path, body: &[u8], content_type: &str) -> String {
    let file = dir.join("curl-body");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg("--cacert")
        .arg(dir.join("ca.crt"))
        .args(["-H", &format!("Content-Type: {content_type}")])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(server.url())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "curl failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .replace("curl: ", "")
        ),
        Err(e) => format!("curl not run: {e}"),
    }
}

fn early_answers(server: &mut Server, dir: &Path) -> Row {
    let max = 4 << 20;
    server.reset_peak();
    let started = Instant::now();
    let mut seen = Vec::new();
    for (body, ct, what) in [
        (vec![b' '; 3 << 20], "text/plain", "415"),
        (vec![b' '; max + (1 << 20)], "application/json", "413"),
    ] {
        let statuses: Vec<String> = (0..5)
            .map(|_| curl_status(server, dir, &body, ct))
            .collect();
        let right = statuses.iter().filter(|s| *s == what).count();
        let other = statuses.iter().find(|s| *s != what).cloned();
        seen.push(format!(
            "{what}: {right}/5 intact{}",
            other.map(|o| format!(" ({o})")).unwrap_or_default()
        ));
    }
    Row {
        input: "early 415 (3 MiB text/plain) and 413 (5 MiB) over HTTP/2, curl, 5 each".into(),
        size: 5 << 20,
        seconds: started.elapsed().as_secs_f64(),
        peak_mib: server.status_kib("VmHWM:") as f64 / 1024.0,
        answer: seen.join("; "),
    }
}

/// Opens `n` HTTP/2 connections that answer SETTINGS and PING and send
/// nothing else; reports how many the server accepted, its RSS with them, and
/// how many it had closed after `wait`.
fn idle_connections(server: &mut Server, n: usize, wait: Duration, note: &str) -> Row {
    server.reset_peak();
    let started = Instant::now();
    let before_kib = server.status_kib("VmRSS:");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&server.ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let mut open = Vec::new();
    for _ in 0..n {
        let Ok(tcp) = TcpStream::connect(("127.0.0.1", server.port)) else {
            break;
        };
        tcp.set_read_timeout(Some(Duration::from_millis(2000)))
            .unwrap();
        let conn =
            rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut ok = true;
        while s.conn.is_handshaking() {
            if s.conn.complete_io(&mut s.sock).is_err() {
                ok = false;
                break;
            }
        }
        if !ok {
            break; // the server stopped accepting: its connection limit
        }
        let _ = s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
        let _ = s.flush();
        open.push(s);
    }
    let accepted = open.len();
    let with_kib = server.status_kib("VmRSS:");
    // Keep every connection alive: acknowledge SETTINGS, answer PINGs.
    let deadline = Instant::now() + wait;
    let mut closed = vec![false; accepted];
    for s in &open {
        s.sock.set_nonblocking(true).unwrap();
    }
    while Instant::now() < deadline {
        for (i, s) in open.iter_mut().enumerate() {
            if closed[i] {
                continue;
            }
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(0) => closed[i] = true,
                Ok(n) => {
                    // Enough of a client for this purpose: ACK whatever SETTINGS
                    // and PINGs arrive in this read (frames are small here).
                    let mut at = 0;
                    while at + 9 <= n {
                        let len =
                            u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
                        let (kind, flags) = (buf[at + 3], buf[at + 4]);
                        let payload = &buf[(at + 9).min(n)..(at + 9 + len).min(n)];
                        if kind == 4 && flags & 1 == 0 {
                            let _ = s.write_all(b"\0\0\0\x04\x01\0\0\0\0");
                        } else if kind == 6 && flags & 1 == 0 && payload.len() == 8 {
                            let mut pong = b"\0\0\x08\x06\x01\0\0\0\0".to_vec();
                            pong.extend_from_slice(payload);
                            let _ = s.write_all(&pong);
                        }
                        at += 9 + len;
                    }
                    let _ = s.flush();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => closed[i] = true,
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let gone = closed.iter().filter(|c| **c).count();
    Row {
        input: format!("{n} idle HTTP/2 connections answering SETTINGS and PING{note}"),
        size: 0,
        seconds: started.elapsed().as_secs_f64(),
        peak_mib: server.status_kib("VmHWM:") as f64 / 1024.0,
        answer: format!(
            "{accepted} accepted, {:.0} KiB each; {gone} closed by the server after {} s",
            (with_kib.saturating_sub(before_kib)) as f64 / accepted.max(1) as f64,
            wait.as_secs()
        ),
    }
}

fn supports(bin: &Path, key: &str) -> bool {
    Command::new(bin)
        .args(["config", "print"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(key))
        .unwrap_or(false)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = args
        .iter()
        .position(|a| a == "--bin")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/pod-hardener"));
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&bin, dir.path(), &[]);
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "hostile: {} on {} cores",
        bin.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    type Make = Box<dyn Fn() -> Vec<Vec<u8>>>;
    let cases: Vec<(&str, Make)> = vec![
        (
            "normal review (the 9.6 KB fixture), 100 in a row",
            Box::new(|| vec![std::fs::read(NORMAL).unwrap()]),
        ),
        (
            "writable-paths annotation, 8,000 paths",
            Box::new(|| vec![writable_paths(8_000)]),
        ),
        (
            "writable-paths annotation, 32,000 paths",
            Box::new(|| vec![writable_paths(32_000)]),
        ),
        (
            "a container with 32,000 secret mounts",
            Box::new(|| vec![secret_mounts(32_000)]),
        ),
        (
            "a container with 80,000 secret mounts",
            Box::new(|| vec![secret_mounts(80_000)]),
        ),
        (
            "4 concurrent ~3 MB pods (230,000 env; 700,000 args; 80,000 mounts; 230,000 env)",
            Box::new(|| {
                vec![
                    env_entries(230_000),
                    container_args(700_000),
                    secret_mounts(80_000),
                    env_entries(230_000),
                ]
            }),
        ),
        (
            "4 MB of empty JSON objects",
            Box::new(|| vec![empty_objects(4_000_000)]),
        ),
        (
            "4 concurrent 3 MB bodies of empty JSON objects",
            Box::new(|| vec![empty_objects(3_000_000); 4]),
        ),
        (
            "nesting 100,000 arrays deep",
            Box::new(|| vec![deep_nesting(100_000)]),
        ),
        (
            "a 3 MB image name",
            Box::new(|| vec![huge_image_name(3_000_000)]),
        ),
        ("10,000 containers", Box::new(|| vec![containers(10_000)])),
        ("50,000 volumes", Box::new(|| vec![volumes(50_000)])),
        (
            "one annotation key repeated 100,000 times",
            Box::new(|| vec![duplicate_keys(100_000)]),
        ),
    ];
    let mut rows = Vec::new();
    for (name, make) in &cases {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let bodies = make();
        eprintln!("  {name} ({:.2} MiB)", mib(bodies[0].len()));
        // A fresh server per row: a row that outlasts the client's timeout
        // must not leave workers busy for the next, nor its peak RSS.
        drop(server);
        server = Server::start(&bin, dir.path(), &[]);
        let row = if name.starts_with("normal") {
            normal_reviews(&mut server, name, &bodies[0], 100)
        } else {
            run_row(&mut server, name, bodies)
        };
        rows.push(row);
    }
    if only.as_deref().is_none_or(|o| "early".contains(o)) {
        rows.push(early_answers(&mut server, dir.path()));
    }
    if only.as_deref().is_none_or(|o| "idle".contains(o)) {
        drop(server);
        let idle = if supports(&bin, "idle_timeout_s") {
            vec![("POD_HARDENER_SERVER__IDLE_TIMEOUT_S", "10".to_string())]
        } else {
            Vec::new()
        };
        let note = if idle.is_empty() {
            " (this build has no idle timeout)"
        } else {
            " (idle_timeout_s=10 for this row)"
        };
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(&bin, dir.path(), &idle);
        rows.push(idle_connections(
            &mut server,
            3000,
            Duration::from_secs(20),
            note,
        ));
    }

    println!("| input | body | time | peak RSS | answer |");
    println!("|---|---:|---:|---:|---|");
    for r in rows {
        let size = if r.size == 0 {
            "-".into()
        } else if r.size < 1 << 20 {
            format!("{:.0} KiB", r.size as f64 / 1024.0)
        } else {
            format!("{:.1} MiB", mib(r.size))
        };
        let time = if r.seconds < 0.1 {
            format!("{:.1} ms", r.seconds * 1000.0)
        } else {
            format!("{:.2} s", r.seconds)
        };
        println!(
            "| {} | {size} | {time} | {:.0} MiB | {} |",
            r.input,
            r.peak_mib,
            r.answer.replace('|', "/")
        );
    }
}
