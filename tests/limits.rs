//! The connection limits in `server.*` do what the configuration says: a
//! client that never finishes its TLS handshake, its request head or its body
//! is cut off after handshake_timeout_ms / request_timeout_ms, and
//! max_connections caps the connections each worker takes.
//! (`bench/flood` measures the same under load; these are the quick checks.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;

const BIN: &str = env!("CARGO_BIN_EXE_pod-hardener");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, env: &[(&str, &str)]) -> (Server, Arc<rustls::ClientConfig>) {
    let (port, mport) = (free_port(), free_port());
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--self-signed")
        .args(["--address", &format!("127.0.0.1:{port}")])
        .args(["--metrics-address", &format!("127.0.0.1:{mport}")])
        .env("POD_HARDENER_SERVER__SELF_SIGNED_DIR", dir)
        .env("POD_HARDENER_SERVER__SHUTDOWN_DELAY_MS", "0")
        .env("POD_HARDENER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Server {
        child: cmd.spawn().unwrap(),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "server did not start");
        if let (Ok(ca), Ok(_)) = (
            std::fs::read(dir.join("ca.crt")),
            TcpStream::connect(("127.0.0.1", port)),
        ) {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
                roots.add(c.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            return (server, Arc::new(config));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect_tls(port: u16, config: &Arc<rustls::ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

/// Reads until the server closes; returns what it sent and when it closed.
fn until_closed(s: &mut impl Read, since: Instant) -> (String, Duration) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&all).into(), since.elapsed()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn handshake_head_and_body_timeouts_cut_slow_clients_off() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls) = start(
        dir.path(),
        &[
            ("POD_HARDENER_SERVER__REQUEST_TIMEOUT_MS", "1000"),
            ("POD_HARDENER_SERVER__HANDSHAKE_TIMEOUT_MS", "700"),
        ],
    );

    // No ClientHello at all: closed after the handshake timeout.
    let started = Instant::now();
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (_, after) = until_closed(&mut raw, started);
    assert!(
        after >= Duration::from_millis(600) && after < Duration::from_millis(2500),
        "no-handshake connection closed after {after:?}"
    );

    // A head that never ends: cut off after the request timeout.
    let started = Instant::now();
    let mut s = connect_tls(server.port, &tls);
    s.write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    s.flush().unwrap();
    let (_, after) = until_closed(&mut s, started);
    // actix times the head against a clock it refreshes every 500 ms, so the
    // cut can come up to half a second early.
    assert!(
        after >= Duration::from_millis(450) && after < Duration::from_millis(3000),
        "slow head cut off after {after:?}"
    );

    // A whole head, then a body that stops coming: 408 after the request timeout.
    let mut s = connect_tls(server.port, &tls);
    s.write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersion\":")
        .unwrap();
    s.flush().unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let after = started.elapsed();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1000 ms"), "{answer}");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(3000),
        "slow body answered after {after:?}"
    );
}

#[test]
fn max_connections_caps_the_connections_each_worker_takes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls) = start(
        dir.path(),
        &[
            ("POD_HARDENER_SERVER__WORKERS", "1"),
            ("POD_HARDENER_SERVER__MAX_CONNECTIONS", "5"),
            ("POD_HARDENER_SERVER__REQUEST_TIMEOUT_MS", "60000"),
            ("POD_HARDENER_SERVER__HANDSHAKE_TIMEOUT_MS", "60000"),
        ],
    );
    // Five idle TLS connections fill the one worker.
    let held: Vec<Tls> = (0..5).map(|_| connect_tls(server.port, &tls)).collect();
    // The sixth is left in the listen backlog: its handshake gets no answer.
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let conn = rustls::ClientConnection::new(tls.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut sixth = rustls::StreamOwned::new(conn, tcp);
    let blocked = sixth.conn.complete_io(&mut sixth.sock);
    assert!(
        blocked.is_err() && sixth.conn.is_handshaking(),
        "a sixth connection was served beyond max_connections=5"
    );
    // Freeing one slot lets a new connection through.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let mut s = connect_tls(server.port, &tls);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = until_closed(&mut s, Instant::now());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
