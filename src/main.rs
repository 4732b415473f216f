//! The `pod-hardener` binary: parses arguments and hands each subcommand to
//! `cli` or `server`. All decisions live in the library.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use pod_hardener::cli::{self, preview::Output, EXIT_BAD_INPUT};

/// Makes every pod's containers immutable at runtime without breaking them:
/// a read-only root filesystem, an emptyDir for each path the image writes to,
/// and secret mounts moved off shared directories.
#[derive(Parser)]
#[command(
    name = "pod-hardener",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what the webhook would change in any manifest (Pod, Deployment,
    /// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
    /// PodTemplate, List); other kinds pass through untouched.
    ///
    /// Examples:
    ///   pod-hardener preview -f deploy.yaml
    ///   kubectl get deploy web -o yaml | pod-hardener preview -f - --output patch
    ///   pod-hardener preview -f app.yaml --output manifest > app.hardened.yaml
    ///   pod-hardener preview -f app.yaml --write    # edit app.yaml, comments and all
    #[command(verbatim_doc_comment)]
    Preview {
        /// Manifest file (YAML or JSON, several documents allowed), or - for stdin.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: PathBuf,
        /// diff: unified diff; patch: JSON patch per object; manifest: hardened YAML; json: plan, patch and warnings.
        #[arg(short, long, value_enum, default_value = "diff")]
        output: Output,
        #[command(flatten)]
        profiles: ProfileArgs,
        /// Configuration file (rule modes, shared directories, ...), as for `serve`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Harden FILE in place, keeping its comments, key order, quoting and
        /// indentation (the edit `-o diff` shows); refused, file untouched, where
        /// that cannot be faithful (anchors, JSON).
        #[arg(long, conflicts_with = "output")]
        write: bool,
    },
    /// Run the admission webhook (HTTPS on --address, metrics on --metrics-address).
    ///
    /// Values come from built-in defaults < --config file < POD_HARDENER_* environment
    /// (nested with __, e.g. POD_HARDENER_SERVER__WORKERS=4) < these flags.
    ///
    /// Examples:
    ///   pod-hardener serve --self-signed --address 127.0.0.1:8443
    ///   pod-hardener serve --config /etc/pod-hardener/config.yaml
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Check, list and explain profiles.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Before you enforce: report what the webhook would change in the live cluster.
    ///
    /// Lists Deployments, StatefulSets, DaemonSets, CronJobs, Jobs, ReplicaSets,
    /// ReplicationControllers and bare pods (objects owned by one of those are audited
    /// through their owner) through KUBECONFIG or the in-cluster account, runs each
    /// through the engine with the webhook's profiles and configuration, and reports
    /// per workload: containers made read-only, emptyDirs added, secret mounts moved,
    /// explicit readOnlyRootFilesystem: false, opt-outs, and images matched by no
    /// profile (only the defaults' /tmp: the likeliest to break). Read-only: it never
    /// writes to the cluster (RBAC: manifests/rbac/audit-clusterrole.yaml).
    /// Exit code 3: the report is printed but some lists failed (e.g. RBAC).
    ///
    /// Examples:
    ///   pod-hardener audit
    ///   pod-hardener audit -n shop -l app=web
    ///   pod-hardener audit --from-cluster pod-hardener -o markdown > audit.md
    ///   pod-hardener audit -o policyreport | kubectl apply -f -
    ///   pod-hardener audit --profiles team-profiles.yaml --config webhook.yaml -o json | jq '.totals'
    #[command(verbatim_doc_comment)]
    Audit(AuditCommand),
    /// When a pod breaks: find the writes its read-only root refused and the profile entry that fixes them.
    ///
    /// Reads the pod's termination messages (terminationMessagePolicy:
    /// FallbackToLogsOnError puts the log tail there), the previous and current logs
    /// of each container and the pod's events; recognises "Read-only file system" /
    /// EROFS errors of nginx, Apache, Java, Python, Node, Go, Ruby, PHP, .NET, Postgres,
    /// Redis, MySQL and shell tools; and suggests the directories to add, as an entry of
    /// the profile the image resolves to (or a new profile for the image), ready to paste
    /// or written into a profile file with --write (the rest of the file kept as it is).
    ///
    /// Examples:
    ///   pod-hardener doctor web-7d9c8-x2x9q -n shop
    ///   pod-hardener doctor web-7d9c8-x2x9q -n shop --write profiles/team.yaml
    ///   kubectl logs web-7d9c8-x2x9q --previous | pod-hardener doctor --logs - --image nginx:1.27
    ///   pod-hardener doctor --logs crash.log --image registry.example.com/shop/api:2.1 --workdir /srv/api
    #[command(verbatim_doc_comment)]
    Doctor(DoctorCommand),
    /// Harden Docker Compose services the same way: read_only: true and a tmpfs for
    /// each path the image writes to (from the same profiles), secret files on shared
    /// directories reported. Several -f files merge in order, as Compose does.
    ///
    /// The default output is an override file with only the additions, so your own
    /// file stays untouched.
    ///
    /// Examples:
    ///   pod-hardener compose -f docker-compose.yml > docker-compose.hardened.yml
    ///   docker compose -f docker-compose.yml -f docker-compose.hardened.yml up
    ///   pod-hardener compose -f compose.yaml -f compose.prod.yaml --output diff
    ///   pod-hardener compose -f compose.yaml --profile-for api=nginx --output json
    #[command(verbatim_doc_comment)]
    Compose(ComposeArgs),
    /// Make a private CA and a serving certificate for the webhook's Service,
    /// for an install without cert-manager. Writes ca.crt, tls.crt, tls.key
    /// and webhook-ca-bundle.yaml (a kustomize patch that puts the CA into the
    /// webhook configuration). Run it again to rotate; the webhook reloads the
    /// new pair from its Secret without a restart.
    ///
    /// Examples:
    ///   pod-hardener certs --out-dir manifests/overlays/self-signed
    ///   kubectl apply -k manifests/overlays/self-signed
    ///   pod-hardener certs --out-dir /tmp/ph --local     # a webhook on this host
    #[command(verbatim_doc_comment)]
    Certs(CertsArgs),
}

#[derive(Args)]
struct CertsArgs {
    /// Directory to write the four files into (created if needed).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// The webhook's Service name.
    #[arg(long, default_value = "pod-hardener")]
    service: String,
    /// The webhook's namespace.
    #[arg(long, default_value = "pod-hardener")]
    namespace: String,
    /// A further DNS name or IP address for the certificate (repeatable).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Add localhost, 127.0.0.1 and ::1 (a webhook reached by URL on this host).
    #[arg(long)]
    local: bool,
    /// Validity of the serving certificate in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// How many webhook entries the CA-bundle patch fills in.
    #[arg(long, default_value_t = 2)]
    webhooks: usize,
}

#[derive(Args)]
struct ComposeArgs {
    /// Compose file (repeatable; later files merge onto earlier ones), or - for stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    compose_files: Vec<PathBuf>,
    /// override: additions only; merged: the whole file hardened; diff; json: changes and reasons.
    #[arg(short, long, value_enum, default_value = "override")]
    output: pod_hardener::compose::render::Output,
    /// Use this profile for a service (e.g. one built from source): SERVICE=NAME (repeatable).
    #[arg(long = "profile-for", value_name = "SERVICE=NAME")]
    profile_for: Vec<String>,
    /// short: tmpfs: [/tmp:size=64m]; long: volumes entries of type tmpfs (honoured by Swarm).
    #[arg(long, value_enum, default_value = "short")]
    tmpfs_syntax: pod_hardener::compose::TmpfsSyntax,
    /// builtin: resolve anchors, extends, .env and -f files in-process; compose: use
    /// `docker compose config` (or `docker-compose config`) from PATH.
    #[arg(long, value_enum, default_value = "builtin")]
    resolve_with: cli::compose::Resolver,
    #[command(flatten)]
    profiles: ProfileArgs,
    /// Configuration file (rule modes, shared_directories, ...), as for `serve`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct AuditCommand {
    /// Only this namespace (default: all namespaces).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Only workloads with these labels, e.g. app=web,tier!=cache.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<String>,
    /// table: per namespace with a summary line; json: one record per workload with its patch; markdown: a report to share;
    /// policyreport: wgpolicyk8s.io/v1alpha2 PolicyReports per namespace and a ClusterPolicyReport (YAML, for kubectl apply).
    #[arg(short, long, value_enum, default_value = "table")]
    output: pod_hardener::audit::render::Format,
    #[command(flatten)]
    profiles: ProfileArgs,
    /// The webhook's configuration file (rules, skipped namespaces, profile files).
    #[arg(long, value_name = "FILE", conflicts_with = "from_cluster")]
    config: Option<PathBuf>,
    /// Read the webhook's ConfigMaps (pod-hardener-config, pod-hardener-profiles) from this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    from_cluster: Option<String>,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
struct DoctorCommand {
    /// The pod that broke (read from the cluster).
    #[arg(
        value_name = "POD",
        required_unless_present = "logs",
        conflicts_with = "logs"
    )]
    pod: Option<String>,
    /// The pod's namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Only this container (offline: the name to report).
    #[arg(short = 'c', long, value_name = "NAME")]
    container: Option<String>,
    /// Read this log file instead of the cluster (- for stdin); needs --image.
    #[arg(long, value_name = "FILE", requires = "image")]
    logs: Option<PathBuf>,
    /// The image of the container that wrote --logs.
    #[arg(long, value_name = "IMAGE", requires = "logs")]
    image: Option<String>,
    /// Working directory for relative paths in the messages (offline, or when the pod sets none).
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// Put the suggested entries into this profile file (created if absent; other lines kept byte for byte).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Print JSON instead of the report: subject, containers (findings, directories, notes), profileFiles.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    profiles: ProfileArgs,
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(future))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file (see config/pod-hardener.yaml for every key).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Make a throw-away CA and certificate for 127.0.0.1 and localhost; the log names the CA bundle.
    #[arg(long)]
    self_signed: bool,
    /// HTTPS address, e.g. 0.0.0.0:8443.
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// Plain-HTTP address of /metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_address: Option<String>,
    /// PEM certificate chain (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    cert_file: Option<PathBuf>,
    /// PEM private key (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// enforce: patch pods; dry-run: only warn and annotate the audit log.
    #[arg(long, value_parser = ["enforce", "dry-run"])]
    mode: Option<String>,
    /// Worker threads that accept connections and answer reviews (default 2).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// text or json.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(flatten)]
    profiles: ProfileArgs,
}

impl ServeArgs {
    /// The flags that were given, as the top configuration layer.
    fn overrides(&self) -> serde_json::Value {
        let mut top = serde_json::Map::new();
        let mut server = serde_json::Map::new();
        let put = |m: &mut serde_json::Map<String, serde_json::Value>,
                   k: &str,
                   v: Option<serde_json::Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put(&mut server, "address", self.address.clone().map(Into::into));
        put(
            &mut server,
            "metrics_address",
            self.metrics_address.clone().map(Into::into),
        );
        put(
            &mut server,
            "cert_file",
            self.cert_file
                .as_ref()
                .map(|p| p.display().to_string().into()),
        );
        put(
            &mut server,
            "key_file",
            self.key_file
                .as_ref()
                .map(|p| p.display().to_string().into()),
        );
        put(&mut server, "workers", self.workers.map(Into::into));
        put(
            &mut server,
            "self_signed",
            self.self_signed.then_some(true.into()),
        );
        put(&mut top, "mode", self.mode.clone().map(Into::into));
        if let Some(f) = &self.log_format {
            top.insert("log".into(), serde_json::json!({ "format": f }));
        }
        let mut profiles = serde_json::Map::new();
        if !self.profiles.files.is_empty() {
            profiles.insert("files".into(), serde_json::json!(self.profiles.files));
        }
        if self.profiles.no_builtin_profiles {
            profiles.insert("builtin".into(), false.into());
        }
        if !profiles.is_empty() {
            top.insert("profiles".into(), profiles.into());
        }
        if !server.is_empty() {
            top.insert("server".into(), server.into());
        }
        serde_json::Value::Object(top)
    }
}

fn init_logging(config: &pod_hardener::config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr);
    match config.log.format {
        pod_hardener::config::LogFormat::Json => builder.json().flatten_event(true).init(),
        pod_hardener::config::LogFormat::Text => builder.init(),
    }
}

#[derive(Args, Clone)]
struct ProfileArgs {
    /// A profile file, tried before the built-in catalog (repeatable; first match wins).
    #[arg(long = "profiles", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Leave the built-in catalog out.
    #[arg(long)]
    no_builtin_profiles: bool,
}

#[derive(Subcommand)]
enum ProfilesCommand {
    /// Validate profile files; errors name file, line and the fix.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the profiles in matching order.
    List {
        #[command(flatten)]
        profiles: ProfileArgs,
    },
    /// Say which profile an image gets, by which pattern, and the resulting paths.
    Explain {
        /// An image reference, e.g. nginx:1.27 or quay.io/keycloak/keycloak:26.0
        image: String,
        #[command(flatten)]
        profiles: ProfileArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration and where each value came from
    /// (default, config file, POD_HARDENER_* environment).
    Print {
        /// Configuration file to layer over the built-in defaults (as for `serve`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn fail(code: i32, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code as u8)
}

/// `preview --write`: the edit made, or why the file was left as it was.
fn preview_write(
    file: &std::path::Path,
    text: &str,
    docs: &[cli::preview::Previewed],
) -> Result<String, String> {
    let edited = cli::preview::in_place(text, docs)
        .map_err(|e| format!("{}: {e}; the file was not changed", file.display()))?;
    if edited == text {
        return Ok("nothing to change: the file was not written".into());
    }
    cli::preview::write_in_place(file, &edited)
        .map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    let added = edited.lines().count().saturating_sub(text.lines().count());
    Ok(format!(
        "hardened in place ({added} lines more; -o diff shows the edit)"
    ))
}

/// See the note on `mimalloc` in Cargo.toml (bench/RESULTS.md has before and after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut command = Cli::command();
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| cli::plugin::invoked_as_plugin(&argv0))
    {
        command = cli::plugin::as_kubectl_plugin(command);
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Preview {
            file,
            output,
            profiles,
            config,
            write,
        } => {
            if write && file.as_os_str() == "-" {
                return fail(
                    EXIT_BAD_INPUT,
                    "--write edits a file in place: give its path, not - (stdin)",
                );
            }
            let config = match pod_hardener::config::load(config.as_deref(), serde_json::json!({}))
            {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            let catalog = match cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            let mut text = String::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map(|_| ())
            } else {
                std::fs::read_to_string(&file).map(|t| text = t)
            };
            if let Err(e) = read {
                return fail(EXIT_BAD_INPUT, format!("{}: {e}", file.display()));
            }
            match cli::preview::preview(&text, &catalog, &config.options()) {
                Ok(docs) => {
                    let colour =
                        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                    let mut notes = cli::preview::notes(&docs);
                    if write {
                        match preview_write(&file, &text, &docs) {
                            Ok(done) => notes.push(done),
                            Err(e) => return fail(EXIT_BAD_INPUT, e),
                        }
                    } else if output == Output::Diff {
                        let name = file.display().to_string();
                        let name = if name == "-" { "stdin" } else { &name };
                        let (shown, diff_notes) = cli::preview::diff(&text, &docs, name, colour);
                        print!("{shown}");
                        notes.extend(diff_notes);
                    } else {
                        print!("{}", cli::preview::render(&docs, output, colour));
                    }
                    if write || output == Output::Diff {
                        notes.extend(cli::preview::warnings(&docs));
                    }
                    for note in notes {
                        eprintln!("pod-hardener: {}: {note}", file.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_BAD_INPUT, format!("{}: {e}", file.display())),
            }
        }
        Command::Serve(args) => {
            let config = match pod_hardener::config::load(args.config.as_deref(), args.overrides())
            {
                Ok(c) => c,
                Err(e) => {
                    let message = format!("invalid configuration: {e}");
                    pod_hardener::server::write_termination_message(&message);
                    return fail(2, message);
                }
            };
            init_logging(&config);
            let source = pod_hardener::server::reload::ConfigSource {
                file: args.config.clone(),
                flags: args.overrides(),
            };
            match actix_web::rt::System::new().block_on(pod_hardener::server::run(config, source)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Once: the log is where an operator reads it (stderr).
                    tracing::error!(error = %e, "cannot serve");
                    pod_hardener::server::write_termination_message(&format!("cannot serve: {e}"));
                    ExitCode::from(2)
                }
            }
        }
        Command::Profiles(ProfilesCommand::Check { files }) => {
            let (out, ok) = cli::profiles::check(&files);
            print!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_BAD_INPUT as u8)
            }
        }
        Command::Profiles(ProfilesCommand::List { profiles }) => {
            match cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles) {
                Ok(c) => {
                    print!(
                        "{}",
                        cli::profiles::list(&c, std::io::stdout().is_terminal())
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_BAD_INPUT, e),
            }
        }
        Command::Profiles(ProfilesCommand::Explain { image, profiles }) => {
            let result = cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles)
                .and_then(|c| cli::profiles::explain(&c, &image));
            match result {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_BAD_INPUT, e),
            }
        }
        Command::Certs(args) => {
            let request = cli::certs::CertsRequest {
                out_dir: &args.out_dir,
                service: &args.service,
                namespace: &args.namespace,
                extra_names: &args.names,
                local: args.local,
                days: args.days,
                webhooks: args.webhooks,
            };
            match cli::certs::run(&request) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_BAD_INPUT, e),
            }
        }
        Command::Compose(args) => {
            let config =
                match pod_hardener::config::load(args.config.as_deref(), serde_json::json!({})) {
                    Ok(c) => c,
                    Err(e) => return fail(2, e),
                };
            let catalog =
                match cli::load_catalog(&args.profiles.files, !args.profiles.no_builtin_profiles) {
                    Ok(c) => c,
                    Err(e) => return fail(EXIT_BAD_INPUT, e),
                };
            let files = match cli::compose::read_files(&args.compose_files) {
                Ok(f) => f,
                Err(e) => return fail(e.code, e.message),
            };
            let request = cli::compose::Request {
                catalog: &catalog,
                options: &config.options(),
                profile_for: &args.profile_for,
                output: args.output,
                tmpfs_syntax: args.tmpfs_syntax,
                resolver: args.resolve_with,
                colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            match cli::compose::run(&files, &request) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.code, e.message),
            }
        }
        Command::Audit(a) => {
            let args = cli::audit::AuditArgs {
                namespace: a.namespace,
                selector: a.selector,
                profile_files: a.profiles.files,
                no_builtin_profiles: a.profiles.no_builtin_profiles,
                config: a.config,
                from_cluster: a.from_cluster,
                output: a.output,
                quiet: a.quiet,
            };
            match block_on(cli::audit::run(&args)) {
                Ok(Ok((out, code))) => {
                    print!("{out}");
                    ExitCode::from(code as u8)
                }
                Ok(Err((code, e))) => fail(code, e),
                Err(e) => fail(2, e),
            }
        }
        Command::Doctor(d) => {
            let source = match (d.pod, d.logs, d.image) {
                (_, Some(file), Some(image)) => cli::doctor::Source::Logs { file, image },
                (Some(name), _, _) => cli::doctor::Source::Pod {
                    name,
                    namespace: d.namespace,
                },
                _ => {
                    return fail(
                        EXIT_BAD_INPUT,
                        "give a POD, or --logs FILE with --image IMAGE",
                    )
                }
            };
            let args = cli::doctor::DoctorArgs {
                source,
                container: d.container,
                workdir: d.workdir,
                profile_files: d.profiles.files,
                no_builtin_profiles: d.profiles.no_builtin_profiles,
                write: d.write,
                json: d.json,
            };
            match block_on(cli::doctor::run(&args)) {
                Ok(Ok(out)) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Ok(Err((code, e))) => fail(code, e),
                Err(e) => fail(2, e),
            }
        }
        Command::Config(ConfigCommand::Print { config }) => {
            match cli::config_print::render(config.as_deref(), serde_json::json!({})) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, e),
            }
        }
    }
}
