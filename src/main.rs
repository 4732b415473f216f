//! The `pod-hardener` binary: parses arguments and hands each subcommand to
//! `cli` or `server`. All decisions live in the library.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
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
    #[arg(long)]
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
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn fail(code: i32, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code as u8)
}

/// See the note on `mimalloc` in Cargo.toml (bench/RESULTS.md has before and after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Preview {
            file,
            output,
            profiles,
            config,
        } => {
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
                    print!("{}", cli::preview::render(&docs, output, colour));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_BAD_INPUT, format!("{}: {e}", file.display())),
            }
        }
        Command::Serve(args) => {
            let config = match pod_hardener::config::load(args.config.as_deref(), args.overrides())
            {
                Ok(c) => c,
                Err(e) => return fail(2, format!("invalid configuration: {e}")),
            };
            init_logging(&config);
            let source = pod_hardener::server::reload::ConfigSource {
                file: args.config.clone(),
                flags: args.overrides(),
            };
            match actix_web::rt::System::new().block_on(pod_hardener::server::run(config, source)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "cannot serve");
                    fail(2, e)
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
                    print!("{}", cli::profiles::list(&c));
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
