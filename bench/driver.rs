//! The soak and flood runs behind `bench/soak` and `bench/flood`.
//!
//! h2load measures throughput but cannot check what each response says, and
//! the soak must check every one against the profiles in force, with the
//! certificate and the profile file changing under the server. So this driver
//! starts the release binary itself, owns the clock that both the file
//! changes and the requests are timed on, and reads every response.
//!
//! Run through the scripts (they build it with `--release`):
//!   bench/soak                      # SOAK_MINUTES (default 10) at SOAK_RATE (default 2000)/s
//!   bench/flood                     # FLOOD_SECONDS (default 20) of idle/slow connections, held and churning
//! or directly:
//!   cargo run --release --example bench-driver -- soak --bin target/release/pod-hardener --seconds 120

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use pod_hardener::server::tls::write_self_signed;
use serde_json::{json, Value};

/// The body every review sends: the real API server's simple nginx pod CREATE.
const FIXTURE: &str = "tests/fixtures/admission/pod-create-simple.json";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else {
        eprintln!("usage: bench-driver soak|flood --bin PATH [--seconds N] [--rate N]");
        std::process::exit(2);
    };
    let mut opts: HashMap<String, String> = HashMap::new();
    for pair in args[1..].chunks(2) {
        match pair {
            [k, v] if k.starts_with("--") => {
                opts.insert(k[2..].to_string(), v.clone());
            }
            _ => {
                eprintln!("bad arguments: {pair:?} (expected --key value pairs)");
                std::process::exit(2);
            }
        }
    }
    let bin = PathBuf::from(
        opts.get("bin")
            .cloned()
            .unwrap_or_else(|| "target/release/pod-hardener".into()),
    );
    let num = |k: &str, d: u64| {
        opts.get(k)
            .map(|v| v.parse::<u64>().expect("a number"))
            .unwrap_or(d)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let passed = match command.as_str() {
        "soak" => runtime.block_on(soak(&bin, num("seconds", 600), num("rate", 2000))),
        "abuse" => {
            let ca = std::fs::read(opts.get("ca").expect("--ca FILE")).unwrap();
            let results = abuse_for(
                num("port", 0) as u16,
                &ca,
                num("idle", 1000) as usize,
                num("slow", 100) as usize,
                Duration::from_secs(num("seconds", 20)),
            );
            println!("{results}");
            true
        }
        "flood" => runtime.block_on(flood(
            &bin,
            num("seconds", 20),
            num("rate", 2000),
            num("idle", 1000) as usize,
            num("slow", 100) as usize,
            (
                num("request-timeout-ms", 2000),
                num("handshake-timeout-ms", 1000),
            ),
            num("gate-latency", 1) == 1,
        )),
        other => {
            eprintln!("unknown command {other}: soak or flood");
            std::process::exit(2);
        }
    };
    std::process::exit(if passed { 0 } else { 1 });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server under test; killed when dropped.
struct Server {
    child: Child,
    https: String,
    metrics: String,
    port: u16,
}

impl Server {
    fn start(bin: &Path, dir: &Path, args: &[String], env: &[(&str, String)]) -> Server {
        let (port, mport) = (free_port(), free_port());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(["--metrics-address", &format!("127.0.0.1:{mport}")])
            .args(args)
            .env("POD_HARDENER_LOG__LEVEL", "warn")
            .env("POD_HARDENER_SERVER__SHUTDOWN_DELAY_MS", "0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        Server {
            child,
            https: format!("https://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{mport}/metrics"),
            port,
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/readyz", self.https)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready; see its log");
    }

    fn status_kib(&self, key: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(cas: &[Vec<u8>], http2: bool, pooled: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        for cert in reqwest::Certificate::from_pem_bundle(ca).unwrap() {
            b = b.add_root_certificate(cert);
        }
    }
    b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    // actix answers 408 on a connection whose first request has not come
    // within request_timeout_ms; Go's client (the API server's) ignores a 408
    // on an idle connection, hyper hands it to the next request. Dropping
    // idle connections sooner keeps the driver from counting that as a failure.
    b = b.pool_idle_timeout(Duration::from_millis(1000));
    if !pooled {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().unwrap()
}

/// Latencies in microseconds; summarised as percentiles in milliseconds.
#[derive(Default)]
struct Latencies(Mutex<Vec<u32>>);

impl Latencies {
    fn push(&self, d: Duration) {
        self.0
            .lock()
            .unwrap()
            .push(d.as_micros().min(u32::MAX as u128) as u32);
    }

    fn summary(&self) -> Value {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_unstable();
        let p = |q: f64| -> f64 {
            if v.is_empty() {
                return f64::NAN;
            }
            let i = ((q / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v[i] as f64 / 1000.0
        };
        json!({"count": v.len(), "p50_ms": p(50.0), "p99_ms": p(99.0), "p99_9_ms": p(99.9), "max_ms": p(100.0)})
    }
}

/// Counts of what came back, with the first few failures spelled out.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicUsize,
    examples: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut e = self.examples.lock().unwrap();
        if e.len() < 10 {
            e.push(why);
        }
    }
}

/// The writable mount paths the patch adds, from a response body.
fn patched_paths(body: &[u8], uid: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let r = &v["response"];
    if r["uid"] != uid {
        return Err(format!("uid {} instead of {uid}", r["uid"]));
    }
    if r["allowed"] != true {
        return Err(format!("not allowed: {r}"));
    }
    let patch = r["patch"].as_str().ok_or("no patch")?;
    let ops: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| format!("patch not base64: {e}"))?,
    )
    .map_err(|e| format!("patch not JSON: {e}"))?;
    Ok(ops
        .as_array()
        .ok_or("patch not an array")?
        .iter()
        .filter(|o| {
            o["path"]
                .as_str()
                .is_some_and(|p| p.contains("volumeMounts"))
        })
        .filter_map(|o| o["value"]["mountPath"].as_str().map(str::to_string))
        .collect())
}

/// Valid profile generations and when each was written (atomically, by rename).
type Timeline = Mutex<Vec<(Instant, u64)>>;

/// The soak's consistency rule. Generation `g` of the profile file makes nginx
/// write to `/soak/gen-g` (besides its usual paths). A response sent at `s`
/// and received at `r` must carry exactly one such path, and its generation
/// must be valid and lie between the valid generation before the one in force
/// at `s` (the reload of the newest may still be under way) and the newest
/// valid generation written before `r`. An invalid generation never counts.
fn check_generation(
    paths: &[String],
    timeline: &Timeline,
    s: Instant,
    r: Instant,
) -> Result<(), String> {
    let gens: Vec<u64> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("/soak/gen-"))
        .filter_map(|g| g.parse().ok())
        .collect();
    let [g] = gens[..] else {
        return Err(format!("expected one /soak/gen-N path, got {paths:?}"));
    };
    let t = timeline.lock().unwrap();
    let at_send = t.iter().rposition(|(w, _)| *w <= s).unwrap_or(0);
    let lowest = t[at_send.saturating_sub(1)].1;
    let highest = t
        .iter()
        .rev()
        .find(|(w, _)| *w <= r)
        .map(|x| x.1)
        .unwrap_or(0);
    if !t.iter().any(|(_, v)| *v == g) {
        return Err(format!("generation {g} was never valid"));
    }
    if g < lowest || g > highest {
        return Err(format!(
            "generation {g} outside [{lowest}, {highest}] in force at that moment"
        ));
    }
    Ok(())
}

/// Generation `g`: every fifth is invalid (a relative path), the rest valid.
fn profile_text(g: u64) -> (String, bool) {
    let valid = !g.is_multiple_of(5);
    let extra = if valid {
        String::new()
    } else {
        format!(", relative/gen-{g}")
    };
    (
        format!(
            "apiVersion: pod-hardener.dev/v1\nkind: ProfileSet\nprofiles:\n  - name: soak-nginx\n    match: [nginx]\n    writablePaths: [/var/cache/nginx, /var/run, /soak/gen-{g}{extra}]\n"
        ),
        valid,
    )
}

/// Writes like a ConfigMap update or an editor's save: a new file, renamed over.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `..data -> ..vN` swapped atomically, as the kubelet does for a Secret volume.
fn point_data_at(root: &Path, version: usize) {
    let tmp = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..v{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, root.join("..data")).unwrap();
}

fn metric_lines(text: &str, names: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && names.iter().any(|n| l.starts_with(n)))
        .map(str::to_string)
        .collect()
}

/// Judges a response body, given when its request was sent and answered.
type Check = Arc<dyn Fn(&[u8], Instant, Instant) -> Result<(), String> + Send + Sync>;

/// Sends `rate` reviews per second, open loop (a slow answer does not slow the
/// sender), round-robin over the clients, until `stop`; `check` judges each body.
async fn offer_load(
    clients: Vec<reqwest::Client>,
    url: String,
    rate: u64,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    latencies: Arc<Latencies>,
    check: Check,
) {
    let body = bytes_of_fixture();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let which = (sent % clients.len() as u64) as usize;
            let c = clients[which].clone();
            sent += 1;
            let (url, body, tally, latencies, check) = (
                url.clone(),
                body.clone(),
                tally.clone(),
                latencies.clone(),
                check.clone(),
            );
            tally.sent.fetch_add(1, Ordering::Relaxed);
            tally.in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let s = Instant::now();
                let result = async {
                    let resp = c
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .map_err(|e| format!("transport: {e:?}"))?;
                    let status = resp.status();
                    let bytes = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
                    let r = Instant::now();
                    if status != 200 {
                        return Err(format!(
                            "status {status}: {}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                    latencies.push(r - s);
                    check(&bytes, s, r)
                }
                .await;
                match result {
                    Ok(()) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tally.fail(format!("client {which}: {e}")),
                }
                tally.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while tally.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fixture as a cheaply clonable buffer (one per request).
fn bytes_of_fixture() -> actix_web::web::Bytes {
    actix_web::web::Bytes::from(
        std::fs::read(FIXTURE)
            .unwrap_or_else(|e| panic!("{FIXTURE}: {e} (run from the repository root)")),
    )
}

fn fixture_uid() -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(FIXTURE).unwrap()).unwrap();
    v["request"]["uid"].as_str().unwrap().to_string()
}

/// Every certificate a run rotates to, `..v1` to `..vN` in `certs`, made up
/// front so the clients can trust all their CAs and keep handshaking across
/// rotations; `tls.crt`, `tls.key` and `ca.crt` point at `..v1` through
/// `..data`, as a kubelet-mounted Secret does. Returns the CA bundles.
fn rotating_certificates(certs: &Path, versions: usize) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(certs).unwrap();
    let mut cas = Vec::new();
    for v in 1..=versions {
        let d = certs.join(format!("..v{v}"));
        write_self_signed(&d, &[]).unwrap();
        cas.push(std::fs::read(d.join("ca.crt")).unwrap());
    }
    point_data_at(certs, 1);
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::os::unix::fs::symlink(format!("..data/{f}"), certs.join(f)).unwrap();
    }
    cas
}

/// RSS growth over a run of `seconds`: the baseline after warm-up (10% of the
/// run, at least 10 s), the largest RSS seen in the last 10% of the run, and
/// the growth between them in percent (NaN without a baseline).
fn rss_growth(rss: &[(f64, u64)], seconds: u64) -> (u64, u64, f64) {
    let warm = (seconds as f64 * 0.1).max(10.0);
    let baseline = rss
        .iter()
        .find(|(t, _)| *t >= warm)
        .map(|x| x.1)
        .unwrap_or(0);
    let tail_from = seconds as f64 * 0.9;
    let end = rss
        .iter()
        .filter(|(t, _)| *t >= tail_from)
        .map(|x| x.1)
        .max()
        .unwrap_or(0);
    let growth = if baseline > 0 {
        (end as f64 / baseline as f64 - 1.0) * 100.0
    } else {
        f64::NAN
    };
    (baseline, end, growth)
}

async fn soak(bin: &Path, seconds: u64, rate: u64) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let versions = (seconds / 20 + 2) as usize;
    let cas = rotating_certificates(&certs, versions);
    let profiles_dir = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles_dir).unwrap();
    let profiles = profiles_dir.join("profiles.yaml");
    let timeline: Arc<Timeline> = Arc::new(Mutex::new(Vec::new()));
    write_atomically(&profiles, &profile_text(1).0);
    timeline.lock().unwrap().push((Instant::now(), 1));

    let server = Server::start(
        bin,
        dir.path(),
        &[
            "--cert-file".into(),
            certs.join("tls.crt").display().to_string(),
            "--key-file".into(),
            certs.join("tls.key").display().to_string(),
            "--profiles".into(),
            profiles.display().to_string(),
        ],
        &[],
    );
    let h1 = client(&cas, false, true);
    server.wait_ready(&h1).await;
    // Two pooled HTTP/1.1 and one HTTP/2 client carry the load; one in fifty
    // reviews goes on a fresh connection, so handshakes span every rotation.
    let fresh = client(&cas, false, false);
    let mut clients = vec![h1.clone(), h1.clone(), client(&cas, true, true)];
    clients = (0..50)
        .map(|i| {
            if i == 0 {
                fresh.clone()
            } else {
                clients[i % 3].clone()
            }
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let latencies = Arc::new(Latencies::default());
    let uid = fixture_uid();
    let tl = timeline.clone();
    let check: Check =
        Arc::new(move |body, s, r| check_generation(&patched_paths(body, &uid)?, &tl, s, r));
    let load = tokio::spawn(offer_load(
        clients,
        format!("{}/mutate?timeout=10s", server.https),
        rate,
        stop.clone(),
        tally.clone(),
        latencies.clone(),
        check,
    ));

    // Changes and RSS samples, on the same clock as the requests.
    let started = Instant::now();
    let (mut rotations, mut valid_writes, mut invalid_writes) = (0u64, 0u64, 0u64);
    let mut generation = 1u64;
    let mut rss: Vec<(f64, u64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_report = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let t = started.elapsed().as_secs();
        rss.push((started.elapsed().as_secs_f64(), server.status_kib("VmRSS:")));
        if t > 0 && t.is_multiple_of(2) {
            generation += 1;
            let (text, valid) = profile_text(generation);
            write_atomically(&profiles, &text);
            if valid {
                timeline.lock().unwrap().push((Instant::now(), generation));
                valid_writes += 1;
            } else {
                invalid_writes += 1;
            }
        }
        if t > 0 && t.is_multiple_of(20) && (rotations as usize + 2) <= versions {
            rotations += 1;
            point_data_at(&certs, rotations as usize + 1);
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "soak: {t}s sent {} ok {} failed {} rss {} KiB",
                tally.sent.load(Ordering::Relaxed),
                tally.ok.load(Ordering::Relaxed),
                tally.failed.load(Ordering::Relaxed),
                rss.last().unwrap().1
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = reqwest::get(&server.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hwm = server.status_kib("VmHWM:");
    let (baseline, end, growth) = rss_growth(&rss, seconds);
    let sent = tally.sent.load(Ordering::Relaxed);
    let ok = tally.ok.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let summary = json!({
        "seconds": elapsed,
        "offered_rate": rate,
        "sent": sent,
        "answered_and_consistent": ok,
        "failed": failed,
        "achieved_rate": ok as f64 / elapsed,
        "failure_examples": *tally.examples.lock().unwrap(),
        "latency": latencies.summary(),
        "certificate_rotations": rotations,
        "profile_writes_valid": valid_writes,
        "profile_writes_invalid": invalid_writes,
        "server_reload_metrics": metric_lines(&metrics, &["pod_hardener_certificate_reloads", "pod_hardener_profile_reloads"]),
        "rss_kib_baseline": baseline,
        "rss_kib_end": end,
        "rss_growth_percent": growth,
        "vmhwm_kib": hwm,
        "rss_kib_every_10s": rss.iter().step_by(10).map(|x| x.1).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    let unanswered = sent - ok - failed;
    let passed = failed == 0 && unanswered == 0 && growth < 10.0;
    eprintln!(
        "soak {}: {ok}/{sent} reviews answered consistently, {failed} failed, {unanswered} unanswered, RSS {baseline} -> {end} KiB ({growth:+.1}%)",
        if passed { "PASSED" } else { "FAILED" }
    );
    passed
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = after_name
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

/// Seconds until the server cut each flood connection off.
#[derive(Default)]
struct Closes(Mutex<Vec<f64>>);

impl Closes {
    fn summary(&self, opened: usize) -> Value {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_by(|a, b| a.total_cmp(b));
        json!({
            "clients": opened,
            "connections_cut_off": v.len(),
            "median_s": v.get(v.len() / 2),
            "max_s": v.last(),
        })
    }
}

fn tls_config(ca_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// The kinds of bad client the flood sends.
#[derive(Clone, Copy, Debug)]
enum Abuse {
    /// TCP connected, never a TLS ClientHello.
    NoHandshake,
    /// Handshake done, then nothing.
    IdleTls,
    /// Handshake done, then one header line every 300 ms, never the blank line.
    SlowHead,
    /// Whole head, then 10 bytes of the body every 300 ms.
    SlowBody,
}

/// One abusive client: a connection reopened each time the server cuts it off,
/// until `stop`. Records, per connection, the time until the server answered
/// (a 408) or closed it.
fn abuse(
    kind: Abuse,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    stop: Arc<AtomicBool>,
    closes: Arc<Closes>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        tcp.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let opened = Instant::now();
        let closed = match kind {
            Abuse::NoHandshake => wait_for_close(&mut tcp, &stop),
            _ => {
                let name = "localhost".try_into().unwrap();
                let conn = rustls::ClientConnection::new(tls.clone(), name).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut handshake = Ok(());
                while s.conn.is_handshaking() {
                    if let Err(e) = s.conn.complete_io(&mut s.sock) {
                        handshake = Err(e);
                        break;
                    }
                }
                if handshake.is_err() {
                    Some(())
                } else {
                    misbehave(kind, &mut s, &stop)
                }
            }
        };
        if closed.is_some() {
            closes
                .0
                .lock()
                .unwrap()
                .push(opened.elapsed().as_secs_f64());
        }
    }
}

/// Runs every kind of abusive client against `port` for `how_long`; returns,
/// per kind, how many clients there were and how soon they were cut off.
fn abuse_for(port: u16, ca: &[u8], idle: usize, slow: usize, how_long: Duration) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let tls = tls_config(ca);
    let kinds = [
        (Abuse::IdleTls, idle),
        (Abuse::NoHandshake, idle / 5),
        (Abuse::SlowHead, slow),
        (Abuse::SlowBody, slow / 2),
    ];
    let mut results = Vec::new();
    let mut threads = Vec::new();
    for (kind, n) in kinds {
        let closes = Arc::new(Closes::default());
        for _ in 0..n {
            let (tls, stop, closes) = (tls.clone(), stop.clone(), closes.clone());
            threads.push(
                std::thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || abuse(kind, port, tls, stop, closes))
                    .unwrap(),
            );
        }
        results.push((kind, n, closes));
    }
    std::thread::sleep(how_long);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut out = serde_json::Map::new();
    for (kind, n, closes) in results {
        out.insert(format!("{kind:?}"), closes.summary(n));
    }
    Value::Object(out)
}

/// Some(()) once the server closed the connection; None when told to stop.
fn wait_for_close(tcp: &mut TcpStream, stop: &AtomicBool) -> Option<()> {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match tcp.read(&mut buf) {
            Ok(0) => return Some(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(()),
        }
    }
    None
}

fn misbehave(
    kind: Abuse,
    s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    stop: &AtomicBool,
) -> Option<()> {
    let mut step = 0u64;
    let mut buf = [0u8; 4096];
    let mut last_write = Instant::now() - Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        if last_write.elapsed() >= Duration::from_millis(300) {
            last_write = Instant::now();
            let bytes: Vec<u8> = match (kind, step) {
                (Abuse::SlowHead, 0) => b"POST /mutate HTTP/1.1\r\nHost: localhost\r\n".to_vec(),
                (Abuse::SlowHead, n) => format!("X-Slow-{n}: x\r\n").into_bytes(),
                (Abuse::SlowBody, 0) => b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n".to_vec(),
                (Abuse::SlowBody, _) => b"          ".to_vec(),
                _ => Vec::new(),
            };
            step += 1;
            if !bytes.is_empty() && (s.write_all(&bytes).is_err() || s.flush().is_err()) {
                return Some(());
            }
        }
        match s.read(&mut buf) {
            // The server's answer (a 408) cuts the client off as surely as a close.
            Ok(_) => return Some(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(()),
        }
    }
    None
}

async fn flood(
    bin: &Path,
    seconds: u64,
    rate: u64,
    idle: usize,
    slow: usize,
    (request_timeout_ms, handshake_timeout_ms): (u64, u64),
    gate_latency: bool,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    write_self_signed(&certs, &[]).unwrap();
    let ca = std::fs::read(certs.join("ca.crt")).unwrap();
    let server = Server::start(
        bin,
        dir.path(),
        &[
            "--cert-file".into(),
            certs.join("tls.crt").display().to_string(),
            "--key-file".into(),
            certs.join("tls.key").display().to_string(),
        ],
        &[
            (
                "POD_HARDENER_SERVER__REQUEST_TIMEOUT_MS",
                request_timeout_ms.to_string(),
            ),
            (
                "POD_HARDENER_SERVER__HANDSHAKE_TIMEOUT_MS",
                handshake_timeout_ms.to_string(),
            ),
        ],
    );
    let h1 = client(std::slice::from_ref(&ca), false, true);
    let h2 = client(std::slice::from_ref(&ca), true, true);
    server.wait_ready(&h1).await;
    let uid = fixture_uid();
    let url = format!("{}/mutate?timeout=10s", server.https);
    let check_uid = uid.clone();
    let check: Check = Arc::new(move |body, _, _| patched_paths(body, &check_uid).map(|_| ()));

    // Normal reviews alone, then the same reviews while the flood goes on.
    let run = |secs: u64| {
        let (clients, url, check) = (vec![h1.clone(), h2.clone()], url.clone(), check.clone());
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let tally = Arc::new(Tally::default());
            let lat = Arc::new(Latencies::default());
            let task = tokio::spawn(offer_load(
                clients,
                url,
                rate,
                stop.clone(),
                tally.clone(),
                lat.clone(),
                check,
            ));
            tokio::time::sleep(Duration::from_secs(secs)).await;
            stop.store(true, Ordering::Relaxed);
            task.await.unwrap();
            json!({
                "sent": tally.sent.load(Ordering::Relaxed),
                "ok": tally.ok.load(Ordering::Relaxed),
                "failed": tally.failed.load(Ordering::Relaxed),
                "failure_examples": *tally.examples.lock().unwrap(),
                "latency": lat.summary(),
            })
        }
    };
    let quiet = run(seconds.min(10)).await;

    // The abusive clients run in a process of their own under SCHED_IDLE: on
    // a shared machine their ~1,300 threads of TLS work would otherwise starve
    // the client that times the normal reviews (nice is per thread, so 1,300
    // niced threads still outweigh it), and what is measured is whether the
    // server keeps answering, not how much CPU the attacker has.
    let abuser = Command::new("chrt")
        .args(["--idle", "0"])
        .arg(std::env::current_exe().unwrap())
        .arg("abuse")
        .args(["--port", &server.port.to_string()])
        .args(["--ca", &certs.join("ca.crt").display().to_string()])
        .args(["--idle", &idle.to_string(), "--slow", &slow.to_string()])
        .args(["--seconds", &(seconds + 2).to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Let the flood connect before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_fds = std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .map(|d| d.count())
        .unwrap_or(0);
    let cpu_before = cpu_seconds(server.child.id());
    let flood_started = Instant::now();
    let flooded = run(seconds).await;
    let server_cores =
        (cpu_seconds(server.child.id()) - cpu_before) / flood_started.elapsed().as_secs_f64();
    let out = abuser.wait_with_output().unwrap();
    let results: Value = serde_json::from_slice(&out.stdout).expect("abuse prints JSON");
    let limits = |kind: &str| match kind {
        "NoHandshake" => handshake_timeout_ms,
        _ => request_timeout_ms,
    };
    let mut passed = flooded["failed"] == 0
        && (!gate_latency || flooded["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX) < 5.0);
    let mut abusers = serde_json::Map::new();
    for (kind, s) in results.as_object().unwrap() {
        let n = s["clients"].as_u64().unwrap_or(0);
        // Every kind must be cut off, and no later than its limit plus a second.
        let max = s["max_s"].as_f64().unwrap_or(f64::MAX);
        // (Only when the limit is shorter than the run: with long limits the
        // flood is meant to stay connected.)
        let expected = limits(kind) < seconds * 1000;
        let within = !expected
            || (s["connections_cut_off"].as_u64().unwrap_or(0) >= n
                && max <= limits(kind) as f64 / 1000.0 + 1.0);
        passed &= within;
        abusers.insert(
            kind.clone(),
            json!({"limit_ms": limits(kind), "within_limit": within, "closes": s}),
        );
    }
    let summary = json!({
        "request_timeout_ms": request_timeout_ms,
        "handshake_timeout_ms": handshake_timeout_ms,
        "offered_rate": rate,
        "server_fds_during_flood": open_fds,
        "server_cpu_cores_during_flood": server_cores,
        "latency_gated": gate_latency,
        "quiet": quiet,
        "flooded": flooded,
        "abusive_connections": abusers,
        "vmhwm_kib": server.status_kib("VmHWM:"),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    eprintln!("flood {}", if passed { "PASSED" } else { "FAILED" });
    passed
}
