//! The harness of the end-to-end suite: it finds or starts a Kubernetes
//! control plane, runs pod-hardener where the API server can call it, and
//! stops exactly what it started.
//!
//! Where the API server comes from, first match wins:
//! - `KUBEBUILDER_ASSETS`: a directory holding `kube-apiserver` and `etcd`
//!   (what `setup-envtest` fills);
//! - `KUBE_APISERVER` and `ETCD`: the two binaries (what
//!   `hack/control-plane` prints);
//! - `KUBECONFIG`: an existing cluster, used as it is.
//!
//! With binaries, like controller-runtime's envtest, etcd and kube-apiserver
//! start on free loopback ports with throw-away certificates, a token for an
//! admin and one for a user with no rights, and a kubeconfig is written for
//! kubectl. A bare control plane has no controller-manager: the harness makes
//! each namespace's `default` ServiceAccount itself, pods stay Pending and
//! Deployments make no pods, so cases assert on the admitted object.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{json, Value};

/// The one line the suite prints when it has no API server to run against.
pub const HOW_TO_RUN: &str = "set KUBE_APISERVER and ETCD (e.g. `eval $(hack/control-plane)`), \
     or KUBEBUILDER_ASSETS (setup-envtest), or KUBECONFIG (an existing cluster); `make e2e` does the first";

/// Where the API server comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Start etcd and kube-apiserver from these binaries.
    Binaries { apiserver: PathBuf, etcd: PathBuf },
    /// Use the cluster of this kubeconfig.
    Kubeconfig(PathBuf),
}

impl Source {
    /// Reads the environment; `None` when nothing is set.
    pub fn from_env() -> Option<Source> {
        if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS") {
            let dir = PathBuf::from(dir);
            return Some(Source::Binaries {
                apiserver: dir.join("kube-apiserver"),
                etcd: dir.join("etcd"),
            });
        }
        if let (Some(a), Some(e)) = (std::env::var_os("KUBE_APISERVER"), std::env::var_os("ETCD")) {
            return Some(Source::Binaries {
                apiserver: a.into(),
                etcd: e.into(),
            });
        }
        std::env::var_os("KUBECONFIG").map(|k| Source::Kubeconfig(k.into()))
    }
}

/// Child processes that die with this value: whatever the harness started
/// is stopped on every way out, a failed case included.
#[derive(Default)]
pub struct Processes {
    children: Vec<(String, Child, PathBuf)>,
}

impl Processes {
    /// Starts `command` with its output in `log`.
    pub fn spawn(&mut self, name: &str, mut command: Command, log: &Path) -> Result<u32> {
        let out = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        let pid = child.id();
        self.children.push((name.into(), child, log.to_path_buf()));
        Ok(pid)
    }

    /// Fails, with the tail of its log, when a child has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (name, child, log) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}); its log ends:\n{}", tail(log, 30));
            }
        }
        Ok(())
    }

    /// Stops the named child and waits for it.
    pub fn stop(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, ..)| n == name) {
            let (_, mut child, _) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        // Reverse order: the API server before etcd, webhooks first.
        while let Some((_, mut child, _)) = self.children.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration, processes: &mut Processes) -> Result<()> {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        processes.check_alive()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}

/// A serving certificate for 127.0.0.1 and localhost with its CA, on disk.
pub struct LocalCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_pem: String,
}

impl LocalCert {
    pub fn make(dir: &Path) -> Result<LocalCert> {
        let pair = pod_hardener::certs::make(&pod_hardener::certs::Request {
            names: pod_hardener::certs::local_names(),
            days: 2,
        })
        .map_err(|e| anyhow!(e))?;
        let written = pod_hardener::certs::write(dir, &pair).map_err(|e| anyhow!(e))?;
        Ok(LocalCert {
            cert: written.cert,
            key: written.key,
            ca_pem: pair.ca_pem,
        })
    }

    /// The CA bundle as a webhook configuration wants it.
    pub fn ca_bundle(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// A cluster to run against, with what the harness started for it.
pub struct Cluster {
    pub client: kube::Client,
    /// For kubectl: `--kubeconfig` of the admin.
    pub kubeconfig: PathBuf,
    /// A bearer token of a user with no RBAC rights (control plane only).
    pub powerless_token: Option<String>,
    /// True when the harness started the control plane (so the API server
    /// runs on this host and reaches a webhook on 127.0.0.1).
    pub started_here: bool,
    pub work_dir: PathBuf,
    pub processes: Processes,
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts or connects to the cluster `source` names.
    pub async fn connect(source: &Source) -> Result<Cluster> {
        match source {
            Source::Binaries { apiserver, etcd } => start_control_plane(apiserver, etcd).await,
            Source::Kubeconfig(path) => {
                let config = kube::Config::infer()
                    .await
                    .with_context(|| format!("cannot read KUBECONFIG {}", path.display()))?;
                let client = kube::Client::try_from(config)?;
                client
                    .apiserver_version()
                    .await
                    .context("the cluster of KUBECONFIG does not answer")?;
                let temp = tempfile::tempdir()?;
                Ok(Cluster {
                    client,
                    kubeconfig: path.clone(),
                    powerless_token: None,
                    started_here: false,
                    work_dir: temp.path().to_path_buf(),
                    processes: Processes::default(),
                    _temp: Some(temp),
                })
            }
        }
    }

    /// A fresh namespace `<prefix>-<n>` with `labels`, and its `default`
    /// ServiceAccount (which a bare control plane never makes).
    pub async fn namespace(&self, prefix: &str, labels: Value) -> Result<String> {
        let name = format!("{prefix}-{}", unique_suffix());
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": labels }
        }))?;
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("create namespace {name}"))?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &name);
        let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "default"}}))?;
        match accounts.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).context("create the default ServiceAccount"),
        }
        Ok(name)
    }

    /// Runs kubectl against this cluster; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<(bool, String, String)> {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("kubectl is not on PATH")?;
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(text.as_bytes())?;
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Namespaces deleted in a bare control plane stay Terminating forever, so
/// every case gets a name never used before.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000)
        .unwrap_or(0);
    format!("{t}{n}")
}

async fn start_control_plane(apiserver: &Path, etcd: &Path) -> Result<Cluster> {
    for (what, path) in [("kube-apiserver", apiserver), ("etcd", etcd)] {
        if !path.is_file() {
            bail!("{what} not found at {}: {HOW_TO_RUN}", path.display());
        }
    }
    let temp = tempfile::Builder::new()
        .prefix("pod-hardener-e2e-")
        .tempdir()?;
    let dir = temp.path().to_path_buf();
    let mut processes = Processes::default();

    let etcd_port = free_port()?;
    let peer_port = free_port()?;
    let mut command = Command::new(etcd);
    command
        .arg("--name=e2e")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
        .arg(format!(
            "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
        ))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
        ))
        .arg(format!(
            "--initial-cluster=e2e=http://127.0.0.1:{peer_port}"
        ))
        .arg("--unsafe-no-fsync");
    // etcd 3.4 does not know --unsafe-no-fsync: drop it when it says so.
    let etcd_help = Command::new(etcd).arg("--help").output()?;
    if !String::from_utf8_lossy(&etcd_help.stdout).contains("unsafe-no-fsync")
        && !String::from_utf8_lossy(&etcd_help.stderr).contains("unsafe-no-fsync")
    {
        let args: Vec<_> = command
            .get_args()
            .filter(|a| *a != "--unsafe-no-fsync")
            .map(|a| a.to_owned())
            .collect();
        command = Command::new(etcd);
        command.args(args);
    }
    processes.spawn("etcd", command, &dir.join("etcd.log"))?;
    wait_for_port(etcd_port, Duration::from_secs(30), &mut processes)?;

    let serving = LocalCert::make(&dir.join("apiserver"))?;
    let sa_key = service_account_key(&dir)?;
    let admin_token = format!("admin-{}", unique_suffix());
    let powerless_token = format!("nobody-{}", unique_suffix());
    let tokens = dir.join("tokens.csv");
    std::fs::write(
        &tokens,
        format!(
            "{admin_token},e2e-admin,e2e-admin,\"system:masters\"\n{powerless_token},e2e-nobody,e2e-nobody\n"
        ),
    )?;
    let api_port = free_port()?;
    let mut command = Command::new(apiserver);
    command
        .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--secure-port={api_port}"))
        .arg(format!("--tls-cert-file={}", serving.cert.display()))
        .arg(format!("--tls-private-key-file={}", serving.key.display()))
        .arg(format!("--cert-dir={}", dir.join("apiserver").display()))
        .arg(format!("--token-auth-file={}", tokens.display()))
        .arg("--authorization-mode=RBAC")
        .arg("--service-cluster-ip-range=10.96.0.0/24")
        .arg("--allow-privileged=true")
        .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
        .arg(format!("--service-account-key-file={}", sa_key.1.display()))
        .arg(format!(
            "--service-account-signing-key-file={}",
            sa_key.0.display()
        ))
        .arg("--api-audiences=https://kubernetes.default.svc.cluster.local")
        // As envtest: no `kubernetes` Service endpoints (current releases
        // refuse a loopback advertise address for them).
        .arg("--endpoint-reconciler-type=none");
    let version = Command::new(apiserver).arg("--version").output()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    // Before 1.24 the insecure port exists (and defaults to 8080) and the
    // bound token volume is behind a feature gate; later servers reject both flags.
    if let Some(minor) = minor_version(&version) {
        if minor < 24 {
            command.arg("--insecure-port=0");
        }
        if minor < 22 {
            command.arg("--feature-gates=BoundServiceAccountTokenVolume=true");
        }
    }
    processes.spawn("kube-apiserver", command, &dir.join("kube-apiserver.log"))?;
    wait_for_port(api_port, Duration::from_secs(60), &mut processes)?;

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_yaml(api_port, &serving.ca_pem, &admin_token),
    )?;
    let parsed = Kubeconfig::read_from(&kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;
    // Ready when the default namespace (made by the API server's own
    // bootstrap) exists and RBAC answers.
    let start = Instant::now();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    loop {
        match namespaces.get("default").await {
            Ok(_) => break,
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                bail!(
                    "kube-apiserver ({version}) not ready after 60 s: {e}\n{}",
                    tail(&dir.join("kube-apiserver.log"), 30)
                )
            }
            Err(_) => {
                processes.check_alive()?;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    eprintln!(
        "e2e: started etcd on :{etcd_port} and {version} on :{api_port} in {:.1?} (work dir {})",
        start.elapsed(),
        dir.display()
    );
    let keep = std::env::var_os("E2E_KEEP").is_some();
    Ok(Cluster {
        client,
        kubeconfig,
        powerless_token: Some(powerless_token),
        started_here: true,
        work_dir: dir,
        processes,
        _temp: if keep {
            let _ = temp.keep();
            None
        } else {
            Some(temp)
        },
    })
}

/// `Kubernetes v1.20.2` -> 20.
pub fn minor_version(version: &str) -> Option<u32> {
    let v = version.split_whitespace().last()?.trim_start_matches('v');
    v.split('.').nth(1)?.parse().ok()
}

/// The service-account signing key pair: (private, public) PEM files.
fn service_account_key(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (private_pem, public_pem) = pod_hardener::certs::signing_key().map_err(|e| anyhow!(e))?;
    let private = dir.join("sa.key");
    std::fs::write(&private, private_pem)?;
    let public = dir.join("sa.pub");
    std::fs::write(&public, public_pem)?;
    Ok((private, public))
}

fn kubeconfig_yaml(port: u16, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca}
users:
- name: e2e-admin
  user:
    token: {token}
contexts:
- name: e2e
  context: {{cluster: e2e, user: e2e-admin}}
current-context: e2e
"
    )
}

/// pod-hardener serving on this host, for an API server on this host.
pub struct LocalWebhook {
    pub port: u16,
    pub metrics_port: u16,
    pub name: String,
}

impl LocalWebhook {
    /// Starts `bin serve` with `config` (YAML) and `cert`.
    pub fn start(
        cluster: &mut Cluster,
        bin: &Path,
        name: &str,
        config: &str,
        cert: &LocalCert,
    ) -> Result<LocalWebhook> {
        let work_dir = cluster.work_dir.clone();
        Self::start_in(
            &work_dir,
            &mut cluster.processes,
            bin,
            name,
            config,
            &[],
            cert,
        )
    }

    /// As `start`, with environment variables (`POD_HARDENER_*` override the
    /// file), its log in `work_dir`, its process kept in `processes`.
    pub fn start_in(
        work_dir: &Path,
        processes: &mut Processes,
        bin: &Path,
        name: &str,
        config: &str,
        env: &[(String, String)],
        cert: &LocalCert,
    ) -> Result<LocalWebhook> {
        let port = free_port()?;
        let metrics_port = free_port()?;
        let config_file = work_dir.join(format!("{name}.yaml"));
        std::fs::write(&config_file, config)?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_file)
            .arg("--address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--metrics-address")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--cert-file")
            .arg(&cert.cert)
            .arg("--key-file")
            .arg(&cert.key)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let log = work_dir.join(format!("{name}.log"));
        processes.spawn(name, command, &log)?;
        wait_for_port(port, Duration::from_secs(30), processes)?;
        Ok(LocalWebhook {
            port,
            metrics_port,
            name: name.into(),
        })
    }

    /// Reviews answered so far, every outcome: the sum of
    /// `pod_hardener_reviews_total` on the plain-HTTP metrics port.
    pub fn reviews(&self) -> Result<u64> {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("pod_hardener_reviews_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The webhook's log so far (one JSON or text line per review).
    pub fn log(&self, cluster: &Cluster) -> String {
        std::fs::read_to_string(cluster.work_dir.join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }
}

/// The pod-hardener binary the suite runs: `POD_HARDENER_BIN`, else the
/// workspace's debug or release build.
pub fn pod_hardener_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("POD_HARDENER_BIN") {
        return Ok(p.into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("pod-hardener");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "no pod-hardener binary under {}: run `cargo build` first or set POD_HARDENER_BIN",
        target.display()
    )
}
