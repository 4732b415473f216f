//! Re-reads certificate and profile files when they change.
//!
//! Kubernetes updates a mounted Secret or ConfigMap by swapping a `..data`
//! symlink in the directory, so the directories are watched, not the files,
//! and every event leads to a full re-read that is compared with what is in
//! force. A new certificate or profile set that does not parse is logged and
//! counted, and the old one stays.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::metrics::ResultLabels;
use super::tls::{load_pair, CertStore};
use super::{ServeError, State};
use crate::profile::Catalog;

/// Loads the profile files (and the built-in catalog); returns the catalog and
/// the bytes it was built from, to tell a real change from a touch.
pub(crate) fn load_profiles(
    files: &[PathBuf],
    builtin: bool,
) -> Result<(Catalog, Vec<u8>), ServeError> {
    let mut texts = Vec::new();
    let mut fingerprint = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| ServeError::ProfileRead {
            path: f.clone(),
            source,
        })?;
        fingerprint.extend_from_slice(text.as_bytes());
        fingerprint.push(0);
        texts.push((f.display().to_string(), text));
    }
    let catalog = Catalog::load(&texts, builtin).map_err(ServeError::Profiles)?;
    Ok((catalog, fingerprint))
}

pub(crate) struct Watched {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub profile_files: Vec<PathBuf>,
    pub builtin: bool,
    pub config: ConfigSource,
}

/// Where the configuration came from: its file (if any) and the flag layer,
/// so a reload rebuilds exactly the same layers.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub flags: serde_json::Value,
}

/// Keeps the watcher alive; dropping it stops the reloads.
pub(crate) struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Starts watching the directories of every file; reloads on a thread of its own.
pub(crate) fn watch(
    watched: Watched,
    store: Arc<CertStore>,
    state: Arc<State>,
    mut cert_fingerprint: Vec<u8>,
    mut profile_fingerprint: Vec<u8>,
) -> Result<WatchGuard, ServeError> {
    let mut config_fingerprint = watched
        .config
        .file
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .unwrap_or_default();
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(ServeError::Watcher)?;
    let mut dirs: Vec<PathBuf> = [&watched.cert_file, &watched.key_file]
        .into_iter()
        .chain(watched.profile_files.iter())
        .chain(watched.config.file.iter())
        .map(|p| parent(p))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        watcher
            .watch(d, RecursiveMode::NonRecursive)
            .map_err(|source| ServeError::WatchDir {
                dir: d.clone(),
                source,
            })?;
    }
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of events (a symlink swap is several) settle.
                std::thread::sleep(Duration::from_millis(100));
                while rx.try_recv().is_ok() {}
                reload_certificate(&watched, &store, &state, &mut cert_fingerprint);
                reload_profiles(&watched, &state, &mut profile_fingerprint);
                reload_config(&watched.config, &state, &mut config_fingerprint);
            }
        })
        .map_err(ServeError::ReloadThread)?;
    Ok(WatchGuard { _watcher: watcher })
}

fn reload_certificate(w: &Watched, store: &CertStore, state: &State, fingerprint: &mut Vec<u8>) {
    let (c, k) = match (std::fs::read(&w.cert_file), std::fs::read(&w.key_file)) {
        (Ok(c), Ok(k)) => (c, k),
        _ => return, // mid-swap: the next event brings the files back
    };
    let mut now = c.clone();
    now.extend_from_slice(&k);
    if now == *fingerprint {
        return;
    }
    let result = match load_pair(&w.cert_file, &w.key_file) {
        Ok((pair, fp)) => {
            store.swap(pair.key);
            state.metrics.certificate_expiry.set(pair.not_after);
            *fingerprint = fp;
            tracing::info!(cert = %w.cert_file.display(), "certificate reloaded");
            "success"
        }
        Err(e) => {
            // Remember the bad bytes so the same bad pair is counted once.
            *fingerprint = now;
            tracing::error!(error = %e, "new certificate rejected; keeping the one in force");
            "error"
        }
    };
    state
        .metrics
        .certificate_reloads
        .get_or_create(&ResultLabels { result })
        .inc();
}

fn reload_profiles(w: &Watched, state: &State, fingerprint: &mut Vec<u8>) {
    if w.profile_files.is_empty() {
        return;
    }
    let mut now = Vec::new();
    for f in &w.profile_files {
        match std::fs::read(f) {
            Ok(b) => now.extend_from_slice(&b),
            Err(_) => return,
        }
        now.push(0);
    }
    if now == *fingerprint {
        return;
    }
    let result = match load_profiles(&w.profile_files, w.builtin) {
        Ok((catalog, fp)) => {
            *state.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
            *fingerprint = fp;
            tracing::info!("profiles reloaded");
            "success"
        }
        Err(e) => {
            *fingerprint = now;
            tracing::error!(error = %e, "new profiles rejected; keeping the ones in force");
            "error"
        }
    };
    state
        .metrics
        .profile_reloads
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// Applies the hot-reloadable part of a changed configuration file (mode,
/// rules, namespaces, opt-outs); a change elsewhere is logged as needing a
/// restart. An invalid file keeps the policy in force.
fn reload_config(source: &ConfigSource, state: &State, fingerprint: &mut Vec<u8>) {
    let Some(file) = &source.file else { return };
    let Ok(now) = std::fs::read(file) else { return };
    if now == *fingerprint {
        return;
    }
    *fingerprint = now;
    let result = match crate::config::load(Some(file), source.flags.clone()) {
        Ok(config) => {
            let cold_changed = config.server != state.config.server
                || config.log != state.config.log
                || config.profiles != state.config.profiles;
            if cold_changed {
                tracing::warn!(
                    "server, log or profiles settings changed: they take effect after a restart"
                );
            }
            *state.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config.policy());
            tracing::info!(mode = ?config.mode, "configuration reloaded");
            "success"
        }
        Err(e) => {
            tracing::error!(error = %e, "new configuration rejected; keeping the one in force");
            "error"
        }
    };
    state
        .metrics
        .config_reloads
        .get_or_create(&ResultLabels { result })
        .inc();
}
