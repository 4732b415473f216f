//! Starting the real binary as `serve --self-signed` on free local ports, for
//! the black-box server tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --self-signed` with its certificate in `dir`, quiet, no shutdown
/// delay, `env` on top; with the webhook's and the metrics' ports.
pub fn self_signed(dir: &Path, env: &[(&str, &str)]) -> (Command, u16, u16) {
    let (port, metrics_port) = (free_port(), free_port());
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--self-signed")
        .args(["--address", &format!("127.0.0.1:{port}")])
        .args(["--metrics-address", &format!("127.0.0.1:{metrics_port}")])
        .env("POD_HARDENER_SERVER__SELF_SIGNED_DIR", dir)
        .env("POD_HARDENER_SERVER__SHUTDOWN_DELAY_MS", "0")
        .env("POD_HARDENER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd, port, metrics_port)
}
