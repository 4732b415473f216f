//! The HTTPS webhook: actix-web on rustls, health and readiness, metrics on
//! their own plain-HTTP port, certificate and profile reload, graceful stop.
//!
//! Each review is parse -> decide -> respond in `admission`; this module only
//! moves bytes, keeps the swappable state and records what happened.

pub mod connections;
mod io;
pub mod metrics;
pub mod reload;
pub mod tls;
pub mod validate;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;

use crate::admission::{self, Context, Limits, Mode, Policy, Rejection, Reviewed};
use crate::config::Config;
use crate::profile::Catalog;
use connections::{BodyBudget, BodyShare, Connection};
use metrics::{Metrics, ReasonLabels, ReviewLabels, RuleLabels};

/// What every request reads; catalog and policy are swapped on reload.
pub(crate) struct State {
    pub catalog: RwLock<Arc<Catalog>>,
    pub policy: RwLock<Arc<Policy>>,
    /// The configuration the server started with.
    pub config: Config,
    pub metrics: Metrics,
    pub ready: AtomicBool,
    /// Request-body bytes all connections together may hold in memory.
    pub body_budget: BodyBudget,
    /// Reviews running off the workers at once (see `review_off_worker`).
    pub review_slots: Arc<tokio::sync::Semaphore>,
}

impl State {
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Decrements the in-flight gauge however the handler ends.
struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

fn reject(state: &State, rejection: &Rejection) -> HttpResponse {
    reject_unread(state, rejection, None)
}

/// A 4xx answer; `unread` is the request body when the answer is given before
/// the body was read to its end. It is kept alive until the answer has been
/// sent: an HTTP/2 stream whose body is dropped first is reset with CANCEL,
/// and clients (curl, Go) then report a framing error instead of the status.
/// Dropped after the answer, the reset says NO_ERROR, which RFC 9113 section
/// 8.1 allows for exactly this case.
fn reject_unread(
    state: &State,
    rejection: &Rejection,
    unread: Option<web::Payload>,
) -> HttpResponse {
    let unread = unread.map(|p| Box::new(p) as Box<dyn std::any::Any>);
    state
        .metrics
        .rejected
        .get_or_create(&ReasonLabels {
            reason: rejection.reason(),
        })
        .inc();
    tracing::warn!(status = rejection.status(), error = %rejection, "rejected request");
    HttpResponse::build(actix_web::http::StatusCode::from_u16(rejection.status()).expect("4xx"))
        .content_type("application/json")
        .body(AnswerBeforeBody {
            answer: Some(Bytes::from(rejection.body())),
            _unread: unread,
        })
}

/// An early 4xx (415, 413) once the client has sent its body: read and thrown
/// away, up to twice `max_body_bytes` and within `request_timeout_ms`. A
/// client still sending when it gets its answer may take the stream's reset
/// for an error (curl 7.x over HTTP/2 reports a framing error and no status);
/// draining costs time and bandwidth but no memory.
async fn reject_after_draining(
    state: &State,
    rejection: &Rejection,
    mut payload: web::Payload,
) -> HttpResponse {
    let most = state.config.server.max_body_bytes.saturating_mul(2);
    let within = Duration::from_millis(state.config.server.request_timeout_ms);
    let _ = tokio::time::timeout(within, async {
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = payload.next().await {
            drained += chunk.len();
            if drained > most {
                break;
            }
        }
    })
    .await;
    reject_unread(state, rejection, Some(payload))
}

/// A fixed response body that also owns the request body it was given before;
/// see [`reject_unread`].
struct AnswerBeforeBody {
    answer: Option<Bytes>,
    _unread: Option<Box<dyn std::any::Any>>,
}

impl MessageBody for AnswerBeforeBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.answer.as_ref().map_or(0, |b| b.len() as u64))
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::task::Poll::Ready(self.answer.take().map(Ok))
    }
}

/// Counts every request on its connection (an idle connection is one with
/// none, see [`connections`]) and answers 503 to one over the connection's
/// stream limit before its body is read, so that it costs next to nothing.
async fn per_connection(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else {
        return next.call(req).await;
    };
    let max_streams = state.config.server.max_streams_per_connection;
    let _stream = match req.conn_data::<Connection>().map(|c| c.begin(max_streams)) {
        Some(None) => {
            let (http, payload) = req.into_parts();
            let answer = too_many_streams(&state, payload, max_streams);
            return Ok(actix_web::dev::ServiceResponse::new(http, answer));
        }
        Some(Some(stream)) => Some(stream),
        None => None,
    };
    next.call(req).await
}

/// 401 for a review without a client certificate when `server.client_ca_file`
/// asks for one.
fn unauthenticated(state: &State, payload: web::Payload) -> HttpResponse {
    state
        .metrics
        .rejected
        .get_or_create(&ReasonLabels {
            reason: "unauthenticated",
        })
        .inc();
    tracing::warn!("refused a review without a verified client certificate");
    HttpResponse::Unauthorized()
        .content_type("application/json")
        .body(AnswerBeforeBody {
            answer: Some(Bytes::from_static(
                b"{\"error\":\"a client certificate signed by server.client_ca_file is required\"}",
            )),
            _unread: Some(Box::new(payload)),
        })
}

fn too_many_streams(state: &State, payload: actix_web::dev::Payload, max: usize) -> HttpResponse {
    state
        .metrics
        .rejected
        .get_or_create(&ReasonLabels {
            reason: "too-many-streams",
        })
        .inc();
    tracing::warn!(
        max_streams = max,
        "refused a review: the connection already carries its maximum of reviews"
    );
    HttpResponse::ServiceUnavailable()
        .content_type("application/json")
        .insert_header(("Retry-After", "1"))
        .body(AnswerBeforeBody {
            answer: Some(Bytes::from(format!(
                "{{\"error\":\"this connection already carries {max} reviews (server.max_streams_per_connection)\"}}"
            ))),
            _unread: Some(Box::new(payload)),
        })
}

async fn mutate_enforce(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    handle(req, payload, state, false).await
}

async fn mutate_dry_run(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    handle(req, payload, state, true).await
}

async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
    dry_run_path: bool,
) -> HttpResponse {
    state.metrics.in_flight.inc();
    let _guard = InFlight(&state.metrics);
    let Received { body, slot, _share } = match receive(&req, payload, &state).await {
        Ok(received) => received,
        Err(answer) => return answer,
    };
    let started = Instant::now();
    let limits = Limits {
        deadline: Some(started + Duration::from_millis(state.config.server.review_budget_ms)),
        ..Limits::default()
    };
    let reviewed = match slot {
        None => review_now(&state, &body, dry_run_path, &limits),
        Some(slot) => review_off_worker(&state, body, dry_run_path, limits, slot).await,
    };
    match reviewed {
        Err(rejection) => reject(&state, &rejection),
        Ok(reviewed) => {
            let elapsed = started.elapsed();
            let mode = match reviewed.mode {
                Mode::Enforce => "enforce",
                Mode::DryRun => "dry-run",
            };
            let m = &state.metrics;
            m.reviews
                .get_or_create(&ReviewLabels {
                    outcome: reviewed.outcome.as_str(),
                    mode,
                })
                .inc();
            m.latency.observe(elapsed.as_secs_f64());
            for (rule, n) in &reviewed.ops_by_rule {
                m.patch_operations
                    .get_or_create(&RuleLabels {
                        rule: rule.as_str(),
                    })
                    .inc_by(*n as u64);
            }
            tracing::info!(
                uid = %reviewed.uid,
                namespace = %reviewed.namespace,
                pod = %reviewed.pod,
                mode,
                outcome = reviewed.outcome.as_str(),
                ops = reviewed.ops,
                duration_us = elapsed.as_micros() as u64,
                "review"
            );
            HttpResponse::Ok()
                .content_type("application/json")
                .body(reviewed.body)
        }
    }
}

/// Bodies declared up to this size are reviewed on the worker that read them:
/// well under a millisecond, cheaper than a hand-off. Larger ones (or of no
/// declared size) wait for a slot, are read, and go to a blocking thread, so
/// that health checks and small reviews never wait behind them.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// How long past the budget a review off the workers may take before the
/// handler answers without it (the engine finishes its current step first).
const LATE_ANSWER_GRACE: Duration = Duration::from_millis(50);

fn review_now(
    state: &State,
    body: &[u8],
    dry_run_path: bool,
    limits: &Limits,
) -> Result<Reviewed, Rejection> {
    let catalog = state.catalog();
    let policy = state.policy();
    let ctx = Context {
        catalog: &catalog,
        policy: &policy,
        max_body_bytes: state.config.server.max_body_bytes,
    };
    // Content type and size were checked by `receive`.
    admission::review_within(body, dry_run_path, &ctx, limits)
}

/// A large body's review on a blocking thread, holding its slot (at most
/// `server.workers` at once, so that memory stays bounded: each holds one
/// body and at most the decoder's budget). If the budget and a grace pass,
/// the answer is the over-budget one, computed from the envelope (the decoder
/// stops at the pod's first value), while the slot stays taken until the
/// review returns.
async fn review_off_worker(
    state: &web::Data<State>,
    body: web::Bytes,
    dry_run_path: bool,
    limits: Limits,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<Reviewed, Rejection> {
    let deadline = tokio::time::Instant::from_std(limits.deadline.expect("set by the handler"));
    let (worker_state, worker_body) = (state.clone(), body.clone());
    let review = web::block(move || {
        let _slot = slot;
        review_now(&worker_state, &worker_body, dry_run_path, &limits)
    });
    if let Ok(Ok(reviewed)) = tokio::time::timeout_at(deadline + LATE_ANSWER_GRACE, review).await {
        return reviewed;
    }
    // Past the budget: every pod the webhook would change is answered per
    // on_error, without building the pod.
    let spent = Limits {
        deadline: Some(std::time::Instant::now()),
        ..limits
    };
    review_now(state, &body, dry_run_path, &spent)
}

/// A request body read whole, with what it holds of the body budget and, for
/// a large body, its review slot.
struct Received {
    body: web::Bytes,
    /// Taken before a large body is read (see `INLINE_BODY_BYTES`).
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Held until the answer is built: the body and what is decoded from it
    /// stay in memory that long.
    _share: BodyShare,
}

/// What every review path does before its review: client certificate (when
/// required), content type, size, and the body within request_timeout_ms;
/// `Err` is the answer already made.
async fn receive(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &State,
) -> Result<Received, HttpResponse> {
    if state.config.server.client_ca_file.is_some()
        && !req
            .conn_data::<tls::ClientIdentity>()
            .is_some_and(|id| id.verified)
    {
        return Err(unauthenticated(state, payload));
    }
    let limit = state.config.server.max_body_bytes;
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Err(rejection) = admission::check_content_type(content_type.as_deref()) {
        return Err(reject_after_draining(state, &rejection, payload).await);
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(Err(rejection)) = declared.map(|size| admission::check_size(size, limit)) {
        return Err(reject_after_draining(state, &rejection, payload).await);
    }
    // actix's client_request_timeout covers only the head: without this a
    // client that dribbles its body holds a connection and a handler forever.
    let timeout_ms = state.config.server.request_timeout_ms;
    let timeout = Rejection::Timeout {
        after_ms: timeout_ms,
    };
    let read_deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    // A large body is read and reviewed holding one of `server.workers`
    // slots: the bodies held at once are bounded, not only the pods built.
    let slot = if declared.is_none_or(|size| size > INLINE_BODY_BYTES) {
        match tokio::time::timeout_at(read_deadline, state.review_slots.clone().acquire_owned())
            .await
        {
            Ok(Ok(slot)) => Some(slot),
            _ => return Err(reject_unread(state, &timeout, Some(payload))),
        }
    } else {
        None
    };
    let mut share = BodyShare::default();
    let read = tokio::time::timeout_at(
        read_deadline,
        read_body(
            &mut payload,
            declared,
            limit,
            &state.body_budget,
            &mut share,
        ),
    )
    .await;
    match read {
        Ok(Ok(body)) => Ok(Received {
            body,
            slot,
            _share: share,
        }),
        Ok(Err(rejection @ Rejection::TooLarge { .. })) => {
            Err(reject_after_draining(state, &rejection, payload).await)
        }
        Ok(Err(rejection)) => Err(reject(state, &rejection)),
        Err(_) => Err(reject_unread(state, &timeout, Some(payload))),
    }
}

/// `POST /validate-config`: see [`validate`].
async fn validate_config(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let received = match receive(&req, payload, &state).await {
        Ok(received) => received,
        Err(answer) => return answer,
    };
    match validate::review(&received.body) {
        Ok(answer) => HttpResponse::Ok()
            .content_type("application/json")
            .body(answer),
        Err(e) => reject(&state, &Rejection::BadRequest(e.to_string())),
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit`; each chunk
/// waits for its room in the shared `budget` before it is kept.
async fn read_body(
    payload: &mut web::Payload,
    declared: Option<usize>,
    limit: usize,
    budget: &BodyBudget,
    share: &mut BodyShare,
) -> Result<web::Bytes, Rejection> {
    // The usual review arrives in one chunk (a TLS record holds 16 KiB):
    // that chunk is kept as it is, a view into the connection's read
    // buffer, and only a body in several chunks is copied into one buffer.
    // Keeping the view keeps that buffer allocated until the answer is built
    // (the connection reads on into a new one): at most one read buffer per
    // request in flight, which `server.max_connections` and
    // `server.max_streams_per_connection` bound.
    let mut body = web::Bytes::new();
    let mut joined: Option<web::BytesMut> = None;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Rejection::BadRequest(format!("cannot read the body: {e}")))?;
        budget.take(share, chunk.len()).await;
        let held = joined.as_ref().map_or(body.len(), |joined| joined.len());
        admission::check_size(held + chunk.len(), limit)?;
        match joined.as_mut() {
            Some(joined) => joined.extend_from_slice(&chunk),
            None if body.is_empty() => body = chunk,
            None => {
                // A declared size over INLINE_BODY_BYTES is reserved only once
                // a review slot is held, so claims reserve at most `workers`
                // bodies; reserving it whole spares the copies of a growing
                // buffer (twice the body at peak).
                let capacity = declared.unwrap_or(8192).max(held + chunk.len()).min(limit);
                let mut whole = web::BytesMut::with_capacity(capacity);
                whole.extend_from_slice(&std::mem::take(&mut body));
                whole.extend_from_slice(&chunk);
                joined = Some(whole);
            }
        }
    }
    Ok(joined.map_or(body, web::BytesMut::freeze))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    if state.ready.load(Ordering::SeqCst) {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready\n")
    }
}

async fn metrics_endpoint(state: web::Data<State>) -> HttpResponse {
    let m = &state.metrics;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    m.certificate_seconds_to_expiry
        .set(m.certificate_expiry.get() - now);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// Writes why `serve` could not start where Kubernetes shows it as the
/// container's termination message (`kubectl describe pod`, the pod's
/// status): `/dev/termination-log`, the kubelet's default
/// terminationMessagePath, or the file `POD_HARDENER_TERMINATION_LOG` names.
/// Nothing is written where that file does not exist (outside a pod).
pub(crate) fn write_termination_message(message: &str) {
    let path = std::env::var_os("POD_HARDENER_TERMINATION_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/termination-log"));
    if path.exists() {
        // Kubernetes keeps at most 4096 bytes of it.
        let text: String = message.chars().take(4000).collect();
        let _ = std::fs::write(&path, text);
    }
}

/// HTTP/2 flow-control window, per stream and per connection: the most
/// request data a connection can make the server buffer before it is read.
/// 64 KiB is the protocol's default; actix's own 1-2 MiB would let each
/// connection park megabytes.
pub(crate) const H2_WINDOW_BYTES: u32 = 64 * 1024;

/// Where the serving certificate comes from, decided before anything binds.
fn certificate_files(config: &Config) -> Result<(PathBuf, PathBuf), ServeError> {
    if config.server.self_signed {
        let (cert, key, ca) = tls::write_self_signed(&config.server.self_signed_dir, &[])?;
        tracing::info!(ca_bundle = %ca.display(), "self-signed certificate made; trust this CA bundle (e.g. curl --cacert)");
        return Ok((cert, key));
    }
    match (&config.server.cert_file, &config.server.key_file) {
        (Some(c), Some(k)) => Ok((c.clone(), k.clone())),
        _ => Err(ServeError::NoCertificate),
    }
}

/// Why the webhook did not start or a reload was refused (its certificate,
/// profiles, watch or address), or why a ConfigMap review could not be read.
/// Each text is the message the server's own steps have always given.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no certificate: set server.cert_file and server.key_file (--cert-file/--key-file), or use --self-signed")]
    NoCertificate,
    /// A certificate, key or CA bundle file that cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a PEM certificate chain: {source}")]
    NotPemChain {
        file: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{file}: no CERTIFICATE block found")]
    NoCertificateBlock { file: String },
    #[error("{file}: not a PEM private key: {source}")]
    NotPemKey {
        file: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{file}: unsupported private key: {source}")]
    UnsupportedKey { file: String, source: rustls::Error },
    #[error("{file}: cannot parse the certificate: {detail}")]
    UnparsableCertificate { file: String, detail: String },
    #[error("{file}: the certificate expired at {not_after} (notAfter); renew it")]
    Expired { file: String, not_after: String },
    #[error("{file}: the certificate is not valid before {not_before} (notBefore); check this machine's clock or the issuer's")]
    NotYetValid { file: String, not_before: String },
    #[error("{cert} and {key} do not belong together: {source}")]
    KeyMismatch {
        cert: String,
        key: String,
        source: rustls::Error,
    },
    /// `--self-signed`: the certificate could not be made or written.
    #[error(transparent)]
    SelfSigned(#[from] crate::certs::CertError),
    #[error("TLS versions: {0}")]
    TlsVersions(rustls::Error),
    #[error("{}: not a PEM bundle: {source}", file.display())]
    NotPemBundle {
        file: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{}: unusable CA certificate: {source}", file.display())]
    UnusableCa {
        file: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: {source}", file.display())]
    ClientVerifier {
        file: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    #[error("{}: cannot read: {source}", path.display())]
    ProfileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Profile files that do not load, every problem in the one message.
    #[error("{}", join_problems(.0))]
    Profiles(Vec<crate::profile::ProfileError>),
    #[error("cannot watch files: {0}")]
    Watcher(notify::Error),
    #[error("cannot watch {}: {source}", dir.display())]
    WatchDir { dir: PathBuf, source: notify::Error },
    #[error("cannot start the reload thread: {0}")]
    ReloadThread(std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Server(std::io::Error),
    #[error("not an AdmissionReview: {0}")]
    NotAReview(serde_json::Error),
    /// A review without the named member (`request`, `request.uid`).
    #[error("not an AdmissionReview: no {0}")]
    ReviewWithout(&'static str),
    #[error("{0}")]
    EncodeReview(serde_json::Error),
}

fn join_problems(errors: &[crate::profile::ProfileError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs the webhook until SIGTERM or SIGINT. Errors before binding are
/// returned (the caller exits 2); afterwards the server drains and returns.
/// `source` is the configuration file and flag layer, re-read when the file changes.
pub async fn run(config: Config, source: reload::ConfigSource) -> Result<(), ServeError> {
    let (cert_file, key_file) = certificate_files(&config)?;
    let (pair, cert_fingerprint) = tls::load_pair(&cert_file, &key_file)?;
    let (catalog, profile_fingerprint) =
        reload::load_profiles(&config.profiles.files, config.profiles.builtin)?;
    let metrics = Metrics::default();
    metrics.certificate_expiry.set(pair.not_after);
    let store = Arc::new(tls::CertStore::new(pair.key));
    let state = web::Data::new(State {
        catalog: RwLock::new(Arc::new(catalog)),
        policy: RwLock::new(Arc::new(config.policy())),
        config: config.clone(),
        metrics,
        ready: AtomicBool::new(false),
        body_budget: BodyBudget::new(config.server.max_body_bytes_in_flight),
        review_slots: Arc::new(tokio::sync::Semaphore::new(config.server.workers)),
    });

    let (server, bound) = webhook_server(
        &config,
        state.clone(),
        tls::server_config(
            store.clone(),
            config.server.min_tls_version,
            config.server.client_ca_file.as_deref(),
        )?,
    )?;

    let metrics_state = state.clone();
    let metrics_server = HttpServer::new(move || {
        App::new()
            .app_data(metrics_state.clone())
            .route("/metrics", web::get().to(metrics_endpoint))
    })
    .workers(1)
    .disable_signals()
    .bind(&config.server.metrics_address)
    .map_err(|source| ServeError::Listen {
        address: config.server.metrics_address.clone(),
        source,
    })?;
    let metrics_bound = metrics_server.addrs();

    let watcher = reload::watch(
        reload::Watched {
            cert_file,
            key_file,
            profile_files: config.profiles.files.clone(),
            builtin: config.profiles.builtin,
            config: source,
        },
        store,
        state.clone().into_inner(),
        cert_fingerprint,
        profile_fingerprint,
    )?;

    let server = server.run();
    let handle = server.handle();
    let metrics_server = metrics_server.run();
    let metrics_handle = metrics_server.handle();
    state.ready.store(true, Ordering::SeqCst);
    tracing::info!(address = ?bound, metrics = ?metrics_bound, mode = ?config.mode, "pod-hardener serving");

    let delay = Duration::from_millis(config.server.shutdown_delay_ms);
    let stopper_state = state.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stopper_state.ready.store(false, Ordering::SeqCst);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "signal received: not ready, draining"
        );
        tokio::time::sleep(delay).await;
        handle.stop(true).await;
        metrics_handle.stop(true).await;
    });
    let (a, b) = tokio::join!(server, metrics_server);
    drop(watcher);
    a.and(b).map_err(ServeError::Server)?;
    tracing::info!("stopped");
    Ok(())
}

/// The webhook port: what actix-web's `HttpServer::bind_rustls_0_23` puts
/// together, with the same limits, and with [`io::ReadAhead`] under TLS (a
/// TLS record per read) and [`io::Coalesced`] between TLS and HTTP (an
/// HTTP/2 response in one write).
fn webhook_server(
    config: &Config,
    state: web::Data<State>,
    mut tls_config: rustls::ServerConfig,
) -> Result<(actix_server::ServerBuilder, Vec<std::net::SocketAddr>), ServeError> {
    use actix_http::{HttpService, Protocol};
    use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
    use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
    use actix_tls::accept::TlsError;

    tls_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let server = &config.server;
    // TLS handshakes in progress count against the same limit as connections.
    actix_tls::accept::max_concurrent_tls_connect(server.max_connections);
    let mut builder = actix_server::Server::build()
        .workers(server.workers)
        .max_concurrent_connections(server.max_connections)
        .shutdown_timeout(server.shutdown_timeout_s)
        .disable_signals();
    let stopping = builder.graceful_shutdown_signal();
    let idle = Duration::from_secs(server.idle_timeout_s);
    let request_timeout = Duration::from_millis(server.request_timeout_ms);
    let handshake_timeout = Duration::from_millis(server.handshake_timeout_ms);
    let closed_idle = state.metrics.connections_closed_idle.clone();
    let factory = move || {
        let app = App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(per_connection))
            .route("/mutate", web::post().to(mutate_enforce))
            .route("/mutate/dry-run", web::post().to(mutate_dry_run))
            .route("/validate-config", web::post().to(validate_config))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz));
        let app = app.into_factory().map_err(|err| err.error_response());
        let stopping = stopping.clone();
        let closed_idle = closed_idle.clone();
        let http = HttpService::build()
            // HTTP/1.1 idle connections: actix closes them itself after keep-alive.
            .keep_alive(idle)
            .client_request_timeout(request_timeout)
            // actix-web's default: how long a closing connection waits for the client.
            .client_disconnect_timeout(Duration::from_secs(1))
            // What a connection may hold of unread request data; see the README's memory arithmetic.
            .h2_initial_window_size(H2_WINDOW_BYTES)
            .h2_initial_connection_window_size(H2_WINDOW_BYTES)
            // HTTP/2: closed by the watchdog (actix only PINGs an idle connection).
            .on_connect_ext(move |io: &io::Coalesced<TlsStream<io::ReadAhead>>, ext| {
                connections::on_connect(io.get_ref(), ext, idle, closed_idle.clone())
            })
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            // Only URL generation and `connection_info` read the app's
            // configuration (host, scheme), and nothing here uses either.
            .finish(map_config(app, |_| actix_web::dev::AppConfig::default()));
        let mut acceptor = Acceptor::new(tls_config.clone());
        acceptor.set_handshake_timeout(handshake_timeout);
        fn_service(|socket| std::future::ready(Ok(io::ReadAhead::new(socket))))
            .and_then(
                acceptor
                    .map_init_err(|_| unreachable!("the TLS acceptor does not fail to start"))
                    .map_err(TlsError::into_service_error),
            )
            .and_then(|tls: TlsStream<io::ReadAhead>| async move {
                let protocol = match tls.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Protocol::Http2,
                    _ => Protocol::Http1,
                };
                // Without it a small response waits for the client's delayed ACK (Nagle):
                // HTTP/2 reviews took 40 ms each.
                let _ = tls.get_ref().0.socket().set_nodelay(true);
                let peer = tls.get_ref().0.socket().peer_addr().ok();
                let hold = protocol == Protocol::Http2;
                Ok((io::Coalesced::new(tls, hold), protocol, peer))
            })
            .and_then(http.map_err(TlsError::Service))
    };
    let listen_error = |source| ServeError::Listen {
        address: server.address.clone(),
        source,
    };
    let mut bound = Vec::new();
    for listener in listeners(&server.address).map_err(listen_error)? {
        bound.push(listener.local_addr().map_err(listen_error)?);
        builder = builder
            .listen("pod-hardener-webhook", listener, factory.clone())
            .map_err(listen_error)?;
    }
    Ok((builder, bound))
}

/// A listening socket for every address `address` resolves to (at least
/// one, or the last error), with actix-web's backlog of 1,024.
fn listeners(address: &str) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Socket, Type};
    use std::net::ToSocketAddrs;
    let mut bound = Vec::new();
    let mut failed = None;
    for addr in address.to_socket_addrs()? {
        let listener =
            Socket::new(Domain::for_address(addr), Type::STREAM, None).and_then(|socket| {
                socket.set_reuse_address(true)?;
                socket.bind(&addr.into())?;
                socket.listen(1024)?;
                Ok(std::net::TcpListener::from(socket))
            });
        match listener {
            Ok(listener) => bound.push(listener),
            Err(err) => failed = Some(err),
        }
    }
    match failed {
        Some(err) if bound.is_empty() => Err(err),
        _ if bound.is_empty() => Err(std::io::Error::other("the address resolves to nothing")),
        _ => Ok(bound),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
