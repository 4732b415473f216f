//! The command line: every subcommand, argument and flag (clap derive), and
//! the flags of `serve` as the top configuration layer.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::audit::render::Format;
use crate::compose::render::Output;
use crate::compose::TmpfsSyntax;

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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
        output: crate::cli::preview::Output,
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
pub struct CertsArgs {
    /// Directory to write the four files into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// The webhook's Service name.
    #[arg(long, default_value = "pod-hardener")]
    pub service: String,
    /// The webhook's namespace.
    #[arg(long, default_value = "pod-hardener")]
    pub namespace: String,
    /// A further DNS name or IP address for the certificate (repeatable).
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Add localhost, 127.0.0.1 and ::1 (a webhook reached by URL on this host).
    #[arg(long)]
    pub local: bool,
    /// Validity of the serving certificate in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// How many webhook entries the CA-bundle patch fills in.
    #[arg(long, default_value_t = 2)]
    pub webhooks: usize,
}

#[derive(Args)]
pub struct ComposeArgs {
    /// Compose file (repeatable; later files merge onto earlier ones), or - for stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    pub compose_files: Vec<PathBuf>,
    /// override: additions only; merged: the whole file hardened; diff; json: changes and reasons.
    #[arg(short, long, value_enum, default_value = "override")]
    pub output: ComposeOutput,
    /// Use this profile for a service (e.g. one built from source): SERVICE=NAME (repeatable).
    #[arg(long = "profile-for", value_name = "SERVICE=NAME")]
    pub profile_for: Vec<String>,
    /// short: tmpfs: [/tmp:size=64m]; long: volumes entries of type tmpfs (honoured by Swarm).
    #[arg(long, value_enum, default_value = "short")]
    pub tmpfs_syntax: TmpfsSyntaxArg,
    /// builtin: resolve anchors, extends, .env and -f files in-process; compose: use
    /// `docker compose config` (or `docker-compose config`) from PATH.
    #[arg(long, value_enum, default_value = "builtin")]
    pub resolve_with: crate::cli::compose::Resolver,
    #[command(flatten)]
    pub profiles: ProfileArgs,
    /// Configuration file (rule modes, shared_directories, ...), as for `serve`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct AuditCommand {
    /// Only this namespace (default: all namespaces).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only workloads with these labels, e.g. app=web,tier!=cache.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// table: per namespace with a summary line; json: one record per workload with its patch; markdown: a report to share;
    /// policyreport: wgpolicyk8s.io/v1alpha2 PolicyReports per namespace and a ClusterPolicyReport (YAML, for kubectl apply).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: AuditFormat,
    #[command(flatten)]
    pub profiles: ProfileArgs,
    /// The webhook's configuration file (rules, skipped namespaces, profile files).
    #[arg(long, value_name = "FILE", conflicts_with = "from_cluster")]
    pub config: Option<PathBuf>,
    /// Read the webhook's ConfigMaps (pod-hardener-config, pod-hardener-profiles) from this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub from_cluster: Option<String>,
    /// No progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct DoctorCommand {
    /// The pod that broke (read from the cluster).
    #[arg(
        value_name = "POD",
        required_unless_present = "logs",
        conflicts_with = "logs"
    )]
    pub pod: Option<String>,
    /// The pod's namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only this container (offline: the name to report).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Read this log file instead of the cluster (- for stdin); needs --image.
    #[arg(long, value_name = "FILE", requires = "image")]
    pub logs: Option<PathBuf>,
    /// The image of the container that wrote --logs.
    #[arg(long, value_name = "IMAGE", requires = "logs")]
    pub image: Option<String>,
    /// Working directory for relative paths in the messages (offline, or when the pod sets none).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Put the suggested entries into this profile file (created if absent; other lines kept byte for byte).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Print JSON instead of the report: subject, containers (findings, directories, notes), profileFiles.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profiles: ProfileArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (see config/pod-hardener.yaml for every key).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Make a throw-away CA and certificate for 127.0.0.1 and localhost; the log names the CA bundle.
    #[arg(long)]
    pub self_signed: bool,
    /// HTTPS address, e.g. 0.0.0.0:8443.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
    /// Plain-HTTP address of /metrics.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_address: Option<String>,
    /// PEM certificate chain (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// enforce: patch pods; dry-run: only warn and annotate the audit log.
    #[arg(long, value_parser = ["enforce", "dry-run"])]
    pub mode: Option<String>,
    /// Worker threads that accept connections and answer reviews (default 2).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// text or json.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    #[command(flatten)]
    pub profiles: ProfileArgs,
}

impl ServeArgs {
    /// The flags that were given, as the top configuration layer.
    pub(crate) fn overrides(&self) -> serde_json::Value {
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

#[derive(Args, Clone)]
pub struct ProfileArgs {
    /// A profile file, tried before the built-in catalog (repeatable; first match wins).
    #[arg(long = "profiles", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Leave the built-in catalog out.
    #[arg(long)]
    pub no_builtin_profiles: bool,
}

#[derive(Subcommand)]
pub enum ProfilesCommand {
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
pub enum ConfigCommand {
    /// Print the effective configuration and where each value came from
    /// (default, config file, POD_HARDENER_* environment).
    Print {
        /// Configuration file to layer over the built-in defaults (as for `serve`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

// The core's format enums stay free of clap: these are their command-line
// spellings and help, each mapped onto the core's enum.

/// `compose --output`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ComposeOutput {
    /// A Compose override file with only the additions:
    /// `docker compose -f docker-compose.yml -f docker-compose.hardened.yml up`.
    Override,
    /// The whole project (all -f files merged), hardened.
    Merged,
    /// A unified diff of the merged project before and after (coloured on a terminal).
    Diff,
    /// Per service: profile, changes with reasons, warnings.
    Json,
}

impl From<ComposeOutput> for Output {
    fn from(output: ComposeOutput) -> Self {
        match output {
            ComposeOutput::Override => Output::Override,
            ComposeOutput::Merged => Output::Merged,
            ComposeOutput::Diff => Output::Diff,
            ComposeOutput::Json => Output::Json,
        }
    }
}

/// `compose --tmpfs-syntax`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TmpfsSyntaxArg {
    /// `tmpfs: [/tmp:size=64m]`, understood by every Compose version and
    /// merged by appending.
    Short,
    /// `volumes: [{type: tmpfs, target: /tmp, tmpfs: {size: 67108864}}]`,
    /// which `docker stack deploy` (Swarm) honours.
    Long,
}

impl From<TmpfsSyntaxArg> for TmpfsSyntax {
    fn from(syntax: TmpfsSyntaxArg) -> Self {
        match syntax {
            TmpfsSyntaxArg::Short => TmpfsSyntax::Short,
            TmpfsSyntaxArg::Long => TmpfsSyntax::Long,
        }
    }
}

/// `audit --output`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum AuditFormat {
    /// A table per namespace and a summary line.
    Table,
    /// One record per workload with its patch, totals and errors.
    Json,
    /// A report to share (issue, wiki, pull request).
    Markdown,
    /// wgpolicyk8s.io/v1alpha2 PolicyReports per namespace and a ClusterPolicyReport, as YAML.
    #[value(name = "policyreport")]
    PolicyReport,
}

impl From<AuditFormat> for Format {
    fn from(format: AuditFormat) -> Self {
        match format {
            AuditFormat::Table => Format::Table,
            AuditFormat::Json => Format::Json,
            AuditFormat::Markdown => Format::Markdown,
            AuditFormat::PolicyReport => Format::PolicyReport,
        }
    }
}
