//! From a broken write to the directory that must become writable.
//!
//! The directory is the one the program needed to create something in: the
//! parent of a file or directory that could not be created, the directory
//! itself for a temporary file or a chmod. Directories that hold the image's
//! own files (`/etc`, `/usr/bin`, the working directory, ...) are never
//! suggested: an emptyDir there would hide them and break the container worse.

use serde::Serialize;

use super::parse::{Finding, WriteKind};
use crate::harden::paths::{clean, is_within, key_of};

/// Where temporary files go; anything created under them needs the root itself.
const TEMP_ROOTS: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// Directories that are never an emptyDir themselves: they hold the image's
/// files, and hiding them breaks the container.
const KEEP_EXACT: [&str; 20] = [
    "/",
    "/etc",
    "/usr",
    "/usr/local",
    "/usr/share",
    "/usr/local/share",
    "/var",
    "/var/lib",
    "/opt",
    "/home",
    "/root",
    "/srv",
    "/boot",
    "/mnt",
    "/app",
    "/workspace",
    "/usr/src",
    "/usr/src/app",
    "/var/www",
    "/var/www/html",
];

/// Trees that are never an emptyDir at any depth: binaries, libraries, kernel interfaces.
const KEEP_TREES: [&str; 14] = [
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/proc",
    "/sys",
];

/// Directories under these usually ship files: an emptyDir there is seeded.
const SHIPPED_TREES: [&str; 4] = ["/etc", "/opt", "/usr", "/app"];

/// A directory to add to a profile's `writablePaths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directory {
    pub path: String,
    /// Copy the image's content into the emptyDir first.
    pub seed: bool,
}

fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

fn kept(dir: &str, also_keep: &[String]) -> bool {
    KEEP_EXACT.contains(&dir)
        || also_keep.iter().any(|k| k == dir)
        || KEEP_TREES.iter().any(|t| is_within(dir, t))
}

/// Why a broken write gets no directory: said to the user as a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoDirectory {
    #[error("the message names no path")]
    NoPath,
    #[error("relative path {0:?}: the working directory is unknown (give --workdir)")]
    UnknownWorkdir(String),
    #[error("the program reports it and carries on: nothing to add")]
    Harmless,
    #[error("{dir} holds the image's own files; an emptyDir there would hide them: make the program write elsewhere (a setting or environment variable), or mount a volume at {path}")]
    ImageFiles { dir: String, path: String },
}

/// The absolute path a finding names, relative ones resolved against `workdir`.
pub(crate) fn absolute_path(
    finding: &Finding,
    workdir: Option<&str>,
) -> Result<String, NoDirectory> {
    let path = finding.path.as_deref().ok_or(NoDirectory::NoPath)?;
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        match workdir {
            Some(wd) => format!("{wd}/{path}"),
            None => return Err(NoDirectory::UnknownWorkdir(path.to_string())),
        }
    };
    // Mount at the resolved path: `/var/run` and `/var/lock` are symlinks
    // into `/run` in Debian, Ubuntu and Alpine images.
    Ok(key_of(&clean(&joined)).into_owned())
}

/// The directory that must be writable for this write to succeed, or why none
/// is suggested. `also_keep` lists directories of this container that hold
/// its files (working directory, the profile's appDirs).
pub(crate) fn directory_for(
    finding: &Finding,
    workdir: Option<&str>,
    also_keep: &[String],
) -> Result<Directory, NoDirectory> {
    if finding.kind == WriteKind::Harmless {
        return Err(NoDirectory::Harmless);
    }
    let path = absolute_path(finding, workdir)?;
    if let Some(root) = TEMP_ROOTS.iter().find(|t| is_within(&path, t)) {
        return Ok(Directory {
            path: root.to_string(),
            seed: false,
        });
    }
    let (dir, modifies) = match finding.kind {
        WriteKind::TempIn | WriteKind::ChangeAttributes => (path.clone(), false),
        WriteKind::ModifyExisting => (parent(&path), true),
        WriteKind::CreateFile | WriteKind::CreateDir | WriteKind::Unknown => (parent(&path), false),
        WriteKind::Harmless => unreachable!("handled above"),
    };
    if kept(&dir, also_keep) {
        // A directory created right under a kept one can be the emptyDir itself.
        if finding.kind == WriteKind::CreateDir && !kept(&path, also_keep) && dir != path {
            return Ok(Directory { path, seed: false });
        }
        return Err(NoDirectory::ImageFiles { dir, path });
    }
    let ships_files = SHIPPED_TREES.iter().any(|t| is_within(&dir, t));
    Ok(Directory {
        path: dir,
        seed: modifies || ships_files,
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_line;
    use super::*;

    fn dir(line: &str) -> Result<Directory, String> {
        directory_for(&parse_line(line).expect("recognised"), None, &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn parents_temp_roots_and_symlinks() {
        let d = dir(r#"[emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)"#).unwrap();
        assert_eq!(d.path, "/var/cache/nginx");
        assert!(!d.seed);
        // pid and lock files: their directory, at the resolved path
        let d = dir("FATAL:  could not create lock file \"/var/run/postgresql/.s.PGSQL.5432.lock\": Read-only file system").unwrap();
        assert_eq!(d.path, "/run/postgresql");
        let d = dir("chmod: changing permissions of '/var/run/postgresql': Read-only file system")
            .unwrap();
        assert_eq!(d.path, "/run/postgresql");
        // temporary files anywhere under /tmp: /tmp itself
        let d = dir("open /tmp/jna-1234/jna5678.tmp: read-only file system").unwrap();
        assert_eq!(d.path, "/tmp");
        let d = dir("/usr/local/bin/docker-entrypoint.sh: line 145: cannot create temp file for here-document: Read-only file system").unwrap();
        assert_eq!(d.path, "/tmp");
    }

    #[test]
    fn shipped_directories_are_seeded_and_image_directories_kept() {
        let d = dir(
            "sed: couldn't open temporary file /etc/nginx/conf.d/sedX8KmnQ: Read-only file system",
        )
        .unwrap();
        assert_eq!(
            d,
            Directory {
                path: "/etc/nginx/conf.d".into(),
                seed: true
            }
        );
        let e = dir("touch: cannot touch '/etc/app.conf': Read-only file system").unwrap_err();
        assert!(e.contains("/etc holds the image's own files"), "{e}");
        let e = dir("Failed to set capabilities on file `/bin/vault' (Read-only file system)")
            .unwrap_err();
        assert!(e.starts_with("/bin holds"), "{e}");
        // a directory created at the root: the directory itself
        let d = dir("mkdir /.minio: read-only file system").unwrap();
        assert_eq!(d.path, "/.minio");
        // the working directory is kept
        let f = parse_line("Error: EROFS: read-only file system, open '/usr/src/app/server.log'")
            .unwrap();
        assert!(directory_for(&f, None, &[]).is_err());
        let f =
            parse_line("Error: EROFS: read-only file system, open '/srv/web/server.log'").unwrap();
        assert!(directory_for(&f, None, &["/srv/web".into()]).is_err());
        assert_eq!(directory_for(&f, None, &[]).unwrap().path, "/srv/web");
    }

    #[test]
    fn relative_paths_need_the_working_directory() {
        let f = parse_line("mkdir plugins-storage: read-only file system").unwrap();
        assert!(directory_for(&f, None, &[])
            .unwrap_err()
            .to_string()
            .contains("--workdir"));
        // WORKDIR / : the directory itself, since / is kept
        assert_eq!(
            directory_for(&f, Some("/"), &[]).unwrap().path,
            "/plugins-storage"
        );
        assert_eq!(
            directory_for(&f, Some("/srv/traefik/"), &[]).unwrap().path,
            "/srv/traefik"
        );
        let harmless = parse_line("10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)").unwrap();
        assert!(directory_for(&harmless, None, &[]).is_err());
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(clean("/"), "/");
        assert_eq!(key_of("/var/lock/x"), "/run/lock/x");
        assert_eq!(key_of("/var/running"), "/var/running");
    }
}
