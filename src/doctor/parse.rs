//! Finds the writes a read-only root filesystem broke in log text, and the
//! path each one aimed at.
//!
//! Every program words EROFS its own way (`(30: Read-only file system)`,
//! `[Errno 30]`, `EROFS: read-only file system, mkdir '...'`, `mkdir /x:
//! read-only file system`, `Errno::EROFS`, ...). The forms are tried most
//! specific first, so that a line naming two paths (a shell script and the
//! file it redirected to, a rename's source and destination) yields the one
//! that was being written.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What the failed operation tried to do to its path; it decides which
/// directory has to be writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteKind {
    /// A new file (open with O_CREAT, touch, redirect, pid or lock file): its directory.
    CreateFile,
    /// A new directory: its parent.
    CreateDir,
    /// An existing file rewritten in place (`sed -i`, a config rewrite): its
    /// directory, which ships files, so the emptyDir must be seeded.
    ModifyExisting,
    /// chmod/chown/setcap of an existing path: the path itself.
    ChangeAttributes,
    /// A temporary file somewhere in this directory (here-documents, mktemp, tempfile).
    TempIn,
    /// The program reports the failure and carries on without writing.
    Harmless,
    /// An EROFS error with no recognisable path.
    Unknown,
}

/// One broken write found in a line of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The path as written in the message; `None` when the message names none.
    pub path: Option<String>,
    pub kind: WriteKind,
    /// Which form recognised it (`nginx`, `python`, `go`, ...).
    pub form: &'static str,
    /// The line, trimmed, as it appeared.
    pub line: String,
}

struct Form {
    name: &'static str,
    regex: Regex,
    /// The kind, or how to derive it from the `op` group.
    kind: fn(&regex::Captures<'_>) -> WriteKind,
}

fn by_op(c: &regex::Captures<'_>) -> WriteKind {
    let op = c.name("op").map_or("", |m| m.as_str()).to_ascii_lowercase();
    match op.as_str() {
        "mkdir" | "mkdirat" | "dir_s_mkdir" | "mkdtemp" => WriteKind::CreateDir,
        "chmod" | "chown" | "lchown" | "fchmod" | "fchown" | "utime" | "utimes" | "chtimes" => {
            WriteKind::ChangeAttributes
        }
        _ => WriteKind::CreateFile,
    }
}

/// Quote characters the programs put around paths: ASCII, GNU's UTF-8 quotes, backticks.
const Q_OPEN: &str = r#"['"‘`]"#;
const Q_CLOSE: &str = r#"['"’`]"#;

static FORMS: LazyLock<Vec<Form>> = LazyLock::new(|| {
    let q = |s: &str| s.replace("{q}", Q_OPEN).replace("{/q}", Q_CLOSE);
    let form = |name, pattern: &str, kind| Form {
        name,
        regex: Regex::new(&q(pattern)).expect("the forms are valid regular expressions"),
        kind,
    };
    vec![
        // nginx entrypoint scripts say so and go on.
        form(
            "nginx-entrypoint",
            r"can ?not modify (?P<path>/\S+) \(read-only file system\?\)",
            |_| WriteKind::Harmless,
        ),
        // bash: here-documents need a temporary file in $TMPDIR (default /tmp).
        form(
            "bash-heredoc",
            r"cannot create temp file for here-document: Read-only file system",
            |_| WriteKind::TempIn,
        ),
        // Python's tempfile found no writable candidate.
        form(
            "python-tempfile",
            r"No usable temporary directory found in \[{q}(?P<path>/[^'\]]+){/q}",
            |_| WriteKind::TempIn,
        ),
        form(
            "jenkins",
            r"failed to create a temporary file in (?P<path>/[^\s:]+)",
            |_| WriteKind::TempIn,
        ),
        form(
            "mktemp",
            r"mktemp: failed to create (?:file|directory) via template {q}(?P<path>/[^'’`]+){/q}",
            |_| WriteKind::CreateFile,
        ),
        // GNU coreutils and busybox, C and UTF-8 locales.
        form(
            "coreutils",
            r"cannot create directory {q}(?P<path>[^'’`]+){/q}",
            |_| WriteKind::CreateDir,
        ),
        form(
            "coreutils",
            r"(?:cannot touch|cannot create (?:regular|special) file|cannot create fifo|failed to create (?:symbolic|hard) link|cannot create (?:symbolic|hard) link) {q}(?P<path>[^'’`]+){/q}",
            |_| WriteKind::CreateFile,
        ),
        form(
            "coreutils",
            r"cannot move {q}[^'’`]+{/q} to {q}(?P<path>[^'’`]+){/q}",
            |_| WriteKind::CreateFile,
        ),
        form(
            "coreutils",
            r"cannot remove {q}(?P<path>[^'’`]+){/q}",
            |_| WriteKind::ModifyExisting,
        ),
        form(
            "coreutils",
            r"changing (?:permissions|ownership) of {q}(?P<path>[^'’`]+){/q}",
            |_| WriteKind::ChangeAttributes,
        ),
        // GNU sed -i writes a temporary file beside the file it edits.
        form(
            "sed",
            r"sed: couldn't (?:open|edit) temporary file (?P<path>\S+?): ",
            |_| WriteKind::ModifyExisting,
        ),
        // dash (`sh: 1: cannot create /x: ...`) and busybox ash (`can't create /x: ...`) redirections.
        form(
            "sh",
            r"(?:cannot|can't) create (?P<path>/[^:\s]+): (?i:read-only file system)",
            |_| WriteKind::CreateFile,
        ),
        // nginx: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)
        form(
            "nginx",
            r#"(?P<op>\w+)\(\) "(?P<path>[^"]+)" failed \(30: "#,
            by_op,
        ),
        // Apache: (30)Read-only file system: AH00099: could not create /usr/local/apache2/logs/httpd.pid.x2jq0b
        form(
            "apache",
            r"\(30\)Read-only file system: AH\d+: .*?(?P<path>/[^\s]+?)\.?\s*$",
            |_| WriteKind::CreateFile,
        ),
        // MySQL / MariaDB: Can't create/write to file '/tmp/ibXXXX' (OS errno 30 - Read-only file system)
        form(
            "mysql",
            r"Can't create/write to file '(?P<path>[^']+)' \((?:Errcode|OS errno):? ?30\b",
            |_| WriteKind::CreateFile,
        ),
        // PostgreSQL: could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system
        form(
            "postgres",
            r#"could not (?P<op>create directory|change permissions of directory|create|open|write to|write|rename|remove|link)(?: lock| temporary)?(?: file)? "(?P<path>[^"]+)"[^:]*: Read-only file system"#,
            |c| match c.name("op").map_or("", |m| m.as_str()) {
                "create directory" => WriteKind::CreateDir,
                "change permissions of directory" => WriteKind::ChangeAttributes,
                _ => WriteKind::CreateFile,
            },
        ),
        // Redis: Failed opening the temp RDB file temp-7.rdb (in server root dir /data) for saving: Read-only file system
        form(
            "redis",
            r"\(in server root dir (?P<path>/[^)]+)\).*Read-only file system",
            |_| WriteKind::TempIn,
        ),
        form(
            "redis-sentinel",
            r"Sentinel config file (?P<path>/\S+) is not writable",
            |_| WriteKind::ModifyExisting,
        ),
        // Node.js: Error: EROFS: read-only file system, open '/app/logs/x.log'
        form(
            "node",
            r"EROFS: read-only file system, (?P<op>\w+) '(?P<path>[^']+)'(?: -> '(?P<dest>[^']+)')?",
            by_op,
        ),
        // Python: OSError: [Errno 30] Read-only file system: '/app/x' (-> '/dest' for rename/link)
        form(
            "python",
            r"\[Errno 30\] Read-only file system: '(?P<path>[^']+)'(?: -> '(?P<dest>[^']+)')?",
            |_| WriteKind::CreateFile,
        ),
        // Ruby: Errno::EROFS: Read-only file system @ rb_sysopen - /app/tmp/pids/server.pid
        form(
            "ruby",
            r"Read-only file system @ (?P<op>\w+) - (?P<path>\S+)",
            by_op,
        ),
        // .NET: System.IO.IOException: Read-only file system : '/app/logs/x.txt'
        form(
            "dotnet",
            r"Read-only file system : '(?P<path>[^']+)'",
            |_| WriteKind::CreateFile,
        ),
        // PHP: file_put_contents(/var/www/x): Failed to open stream: Read-only file system in ...
        form(
            "php",
            r"\w+\((?P<path>/[^,)]+)[^)]*\): [Ff]ailed to open stream: Read-only file system",
            |_| WriteKind::CreateFile,
        ),
        form(
            "php-session",
            r"open\((?P<path>/[^,)]+), O_\w+\) failed: Read-only file system",
            |_| WriteKind::CreateFile,
        ),
        // Java: java.io.FileNotFoundException: /usr/local/tomcat/logs/x.log (Read-only file system)
        form(
            "java",
            r"(?P<path>/[^\s:()'’`]+){/q}? \(Read-only file system\)",
            |_| WriteKind::CreateFile,
        ),
        // Go's *PathError and *LinkError: "open /tmp/x: read-only file system",
        // "rename /a /b: read-only file system"; the path may be relative.
        form(
            "go",
            r"\b(?P<op>open|mkdir|mkdirat|openat|remove|unlinkat|rename|link|symlink|chmod|chown|lchown|chtimes|truncate|mkfifo) (?P<path>[^\s:'\x22]+)(?: (?P<dest>[^\s:'\x22]+))?: read-only file system",
            by_op,
        ),
        // A path right before the error text: bash redirections
        // (`script: line 3: /etc/x: Read-only file system`), perror, Java NIO, git, ...
        form(
            "generic",
            r#"{q}?(?P<path>/[^\s'"’`:]*[^\s'"’`:.]){/q}?:? \(?(?i:read-only file system)"#,
            |_| WriteKind::CreateFile,
        ),
        // Last resort: an absolute path in quotes somewhere on an EROFS line.
        form("quoted", r"{q}(?P<path>/[^'’`\x22\s]+){/q}", |_| {
            WriteKind::CreateFile
        }),
    ]
});

static EROFS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)read-only file system|\bEROFS\b|errno 30\b|os error 30\b|No usable temporary directory found",
    )
    .expect("valid")
});

/// Every broken write in `text`, in order, one per line at most.
pub(crate) fn find_broken_writes(text: &str) -> Vec<Finding> {
    text.lines().filter_map(parse_line).collect()
}

/// The broken write in one line, if the line reports one.
pub(crate) fn parse_line(line: &str) -> Option<Finding> {
    if !EROFS.is_match(line) {
        return None;
    }
    let line = line.trim();
    for form in FORMS.iter() {
        let Some(c) = form.regex.captures(line) else {
            continue;
        };
        let kind = (form.kind)(&c);
        let path = c
            .name("dest")
            .or_else(|| c.name("path"))
            .map(|m| m.as_str().to_string());
        let path = match (form.name, path) {
            // bash falls back to /tmp when TMPDIR is unset.
            ("bash-heredoc", None) => Some("/tmp".to_string()),
            (_, p) => p,
        };
        return Some(Finding {
            path,
            kind,
            form: form.name,
            line: line.to_string(),
        });
    }
    Some(Finding {
        path: None,
        kind: WriteKind::Unknown,
        form: "unknown",
        line: line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-world error lines, as the programs print them, with the path and
    /// kind each must yield.
    const LINES: &[(&str, &str, Option<&str>, WriteKind)] = &[
        (
            "nginx mkdir",
            r#"2024/05/02 09:14:11 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)"#,
            Some("/var/cache/nginx/client_temp"),
            WriteKind::CreateDir,
        ),
        (
            "nginx pid",
            r#"nginx: [emerg] open() "/run/nginx.pid" failed (30: Read-only file system)"#,
            Some("/run/nginx.pid"),
            WriteKind::CreateFile,
        ),
        (
            "nginx entrypoint (harmless)",
            "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)",
            Some("/etc/nginx/conf.d/default.conf"),
            WriteKind::Harmless,
        ),
        (
            "apache pid",
            "(30)Read-only file system: AH00099: could not create /usr/local/apache2/logs/httpd.pid.x2jq0b",
            Some("/usr/local/apache2/logs/httpd.pid.x2jq0b"),
            WriteKind::CreateFile,
        ),
        (
            "apache error log",
            "(30)Read-only file system: AH00091: httpd: could not open error log file /usr/local/apache2/logs/error_log.",
            Some("/usr/local/apache2/logs/error_log"),
            WriteKind::CreateFile,
        ),
        (
            "java FileNotFoundException",
            "java.io.FileNotFoundException: /usr/local/tomcat/logs/catalina.2022-06-01.log (Read-only file system)",
            Some("/usr/local/tomcat/logs/catalina.2022-06-01.log"),
            WriteKind::CreateFile,
        ),
        (
            "java NIO FileSystemException",
            "Exception in thread \"main\" java.nio.file.FileSystemException: /opt/sonarqube/temp/README.txt: Read-only file system",
            Some("/opt/sonarqube/temp/README.txt"),
            WriteKind::CreateFile,
        ),
        (
            "keycloak (java)",
            "ERROR: Unable to delete file /opt/keycloak/lib/quarkus/build-system.properties: Read-only file system",
            Some("/opt/keycloak/lib/quarkus/build-system.properties"),
            WriteKind::CreateFile,
        ),
        (
            "python OSError",
            "OSError: [Errno 30] Read-only file system: '/app/instance/app.db'",
            Some("/app/instance/app.db"),
            WriteKind::CreateFile,
        ),
        (
            "python rename",
            "OSError: [Errno 30] Read-only file system: '/tmp/settings.json.new' -> '/app/settings.json'",
            Some("/app/settings.json"),
            WriteKind::CreateFile,
        ),
        (
            "python tempfile",
            "FileNotFoundError: [Errno 2] No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp', '/app']",
            Some("/tmp"),
            WriteKind::TempIn,
        ),
        (
            "node EROFS open",
            "Error: EROFS: read-only file system, open '/usr/src/app/logs/combined.log'",
            Some("/usr/src/app/logs/combined.log"),
            WriteKind::CreateFile,
        ),
        (
            "npm logs dir",
            "npm WARN logfile could not create logs-dir: Error: EROFS: read-only file system, mkdir '/root/.npm/_logs'",
            Some("/root/.npm/_logs"),
            WriteKind::CreateDir,
        ),
        (
            "npm rofs",
            "npm ERR! rofs EROFS: read-only file system, mkdir '/home/node/.npm/_cacache'",
            Some("/home/node/.npm/_cacache"),
            WriteKind::CreateDir,
        ),
        (
            "go open (grafana)",
            "logger=plugin.installer t=2024-03-01T10:00:00Z level=error msg=\"Failed to install plugin\" error=\"failed to create temporary file: open /tmp/2943756055.zip: read-only file system\"",
            Some("/tmp/2943756055.zip"),
            WriteKind::CreateFile,
        ),
        (
            "go mkdir (minio)",
            "ERROR Unable to create directory specified config-dir=/.minio: mkdir /.minio: read-only file system",
            Some("/.minio"),
            WriteKind::CreateDir,
        ),
        (
            "go relative (traefik)",
            "unable to create directory /plugins-storage/sources: mkdir plugins-storage: read-only file system",
            Some("plugins-storage"),
            WriteKind::CreateDir,
        ),
        (
            "go prometheus lock",
            "ts=2024-05-02T09:00:00.000Z caller=main.go:1159 level=error err=\"opening storage failed: lock DB directory: open /prometheus/lock: read-only file system\"",
            Some("/prometheus/lock"),
            WriteKind::CreateFile,
        ),
        (
            "coreutils mkdir (C locale)",
            "mkdir: cannot create directory '/var/lib/app/cache': Read-only file system",
            Some("/var/lib/app/cache"),
            WriteKind::CreateDir,
        ),
        (
            "coreutils mkdir (UTF-8 locale)",
            "mkdir: cannot create directory ‘/data/db’: Read-only file system",
            Some("/data/db"),
            WriteKind::CreateDir,
        ),
        (
            "touch",
            "touch: cannot touch '/etc/rabbitmq/rabbitmq.conf': Read-only file system",
            Some("/etc/rabbitmq/rabbitmq.conf"),
            WriteKind::CreateFile,
        ),
        (
            "cp",
            "cp: cannot create regular file '/etc/nginx/conf.d/default.conf': Read-only file system",
            Some("/etc/nginx/conf.d/default.conf"),
            WriteKind::CreateFile,
        ),
        (
            "sed -i",
            "sed: couldn't open temporary file /etc/nginx/conf.d/sedX8KmnQ: Read-only file system",
            Some("/etc/nginx/conf.d/sedX8KmnQ"),
            WriteKind::ModifyExisting,
        ),
        (
            "chmod (postgres entrypoint)",
            "chmod: changing permissions of '/var/run/postgresql': Read-only file system",
            Some("/var/run/postgresql"),
            WriteKind::ChangeAttributes,
        ),
        (
            "ln",
            "ln: failed to create symbolic link '/etc/localtime': Read-only file system",
            Some("/etc/localtime"),
            WriteKind::CreateFile,
        ),
        (
            "mv",
            "mv: cannot move '/tmp/app.conf' to '/etc/app/app.conf': Read-only file system",
            Some("/etc/app/app.conf"),
            WriteKind::CreateFile,
        ),
        (
            "mktemp",
            "mktemp: failed to create file via template '/tmp/tmp.XXXXXXXXXX': Read-only file system",
            Some("/tmp/tmp.XXXXXXXXXX"),
            WriteKind::CreateFile,
        ),
        (
            "bash redirection",
            "/docker-entrypoint.d/20-envsubst-on-templates.sh: line 53: /etc/nginx/conf.d/default.conf: Read-only file system",
            Some("/etc/nginx/conf.d/default.conf"),
            WriteKind::CreateFile,
        ),
        (
            "bash here-document",
            "/usr/local/bin/docker-entrypoint.sh: line 145: cannot create temp file for here-document: Read-only file system",
            Some("/tmp"),
            WriteKind::TempIn,
        ),
        (
            "dash redirection",
            "/entrypoint.sh: 12: cannot create /var/www/html/config.php: Read-only file system",
            Some("/var/www/html/config.php"),
            WriteKind::CreateFile,
        ),
        (
            "busybox ash redirection",
            "/entrypoint.sh: line 7: can't create /etc/supervisord.conf: Read-only file system",
            Some("/etc/supervisord.conf"),
            WriteKind::CreateFile,
        ),
        (
            "postgres lock file",
            "FATAL:  could not create lock file \"/var/run/postgresql/.s.PGSQL.5432.lock\": Read-only file system",
            Some("/var/run/postgresql/.s.PGSQL.5432.lock"),
            WriteKind::CreateFile,
        ),
        (
            "initdb directory",
            "initdb: error: could not create directory \"/var/lib/postgresql/data/pg_wal\": Read-only file system",
            Some("/var/lib/postgresql/data/pg_wal"),
            WriteKind::CreateDir,
        ),
        (
            "redis rdb",
            "1:M 02 May 2024 09:14:11.123 # Failed opening the temp RDB file temp-7.rdb (in server root dir /data) for saving: Read-only file system",
            Some("/data"),
            WriteKind::TempIn,
        ),
        (
            "redis sentinel",
            "1:X 02 May 2024 09:14:11.123 # Sentinel config file /etc/redis/sentinel.conf is not writable: Read-only file system. Exiting...",
            Some("/etc/redis/sentinel.conf"),
            WriteKind::ModifyExisting,
        ),
        (
            "mysql",
            "mysqld: Can't create/write to file '/tmp/ibXiV8Ye' (OS errno 30 - Read-only file system)",
            Some("/tmp/ibXiV8Ye"),
            WriteKind::CreateFile,
        ),
        (
            "php 8",
            "PHP Warning:  file_put_contents(/var/www/html/cache/routes.php): Failed to open stream: Read-only file system in /var/www/html/index.php on line 12",
            Some("/var/www/html/cache/routes.php"),
            WriteKind::CreateFile,
        ),
        (
            "php 7",
            "PHP Warning:  fopen(/var/www/html/storage/logs/laravel.log): failed to open stream: Read-only file system in /var/www/html/vendor/monolog/monolog/src/Monolog/Handler/StreamHandler.php on line 107",
            Some("/var/www/html/storage/logs/laravel.log"),
            WriteKind::CreateFile,
        ),
        (
            "php session",
            "PHP Warning:  session_start(): open(/var/lib/php/sessions/sess_3k1b9, O_RDWR) failed: Read-only file system (30) in /var/www/html/login.php on line 3",
            Some("/var/lib/php/sessions/sess_3k1b9"),
            WriteKind::CreateFile,
        ),
        (
            "ruby sysopen",
            "Errno::EROFS: Read-only file system @ rb_sysopen - /app/tmp/pids/server.pid",
            Some("/app/tmp/pids/server.pid"),
            WriteKind::CreateFile,
        ),
        (
            "ruby mkdir",
            "/usr/local/lib/ruby/3.3.0/fileutils.rb:406:in `mkdir': Read-only file system @ dir_s_mkdir - /app/tmp/cache (Errno::EROFS)",
            Some("/app/tmp/cache"),
            WriteKind::CreateDir,
        ),
        (
            ".NET",
            "Unhandled exception. System.IO.IOException: Read-only file system : '/app/logs/log-20240502.txt'",
            Some("/app/logs/log-20240502.txt"),
            WriteKind::CreateFile,
        ),
        (
            "git",
            "error: could not lock config file /root/.gitconfig: Read-only file system",
            Some("/root/.gitconfig"),
            WriteKind::CreateFile,
        ),
        (
            "vault setcap",
            "Failed to set capabilities on file `/bin/vault' (Read-only file system)",
            Some("/bin/vault"),
            WriteKind::CreateFile,
        ),
        (
            "rust io error, no path",
            "Error: Os { code: 30, kind: ReadOnlyFilesystem, message: \"Read-only file system\" }",
            None,
            WriteKind::Unknown,
        ),
        (
            "php mkdir without path",
            "PHP Warning:  mkdir(): Read-only file system in /var/www/html/upload.php on line 9",
            None,
            WriteKind::Unknown,
        ),
    ];

    #[test]
    fn real_world_lines() {
        assert!(LINES.len() >= 20);
        for (what, line, path, kind) in LINES {
            let f = parse_line(line).unwrap_or_else(|| panic!("{what}: not recognised: {line}"));
            assert_eq!(f.path.as_deref(), *path, "{what} (form {}): {line}", f.form);
            assert_eq!(f.kind, *kind, "{what} (form {}): {line}", f.form);
        }
    }

    #[test]
    fn every_line_in_a_log_and_nothing_else() {
        let log = "starting\n2024/05/02 [notice] 1#1: using the \"epoll\" event method\nmkdir: cannot create directory '/x/y': Read-only file system\nPermission denied: '/etc/shadow'\nopen /tmp/a: read-only file system\n";
        let found = find_broken_writes(log);
        let paths: Vec<_> = found.iter().map(|f| f.path.as_deref()).collect();
        assert_eq!(paths, vec![Some("/x/y"), Some("/tmp/a")]);
        assert!(parse_line("GET /healthz 200").is_none());
        assert!(parse_line("EACCES: permission denied, open '/app/x'").is_none());
    }
}
