//! The connection limits in `server.*` do what the configuration says: a
//! client that never finishes its TLS handshake, its request head or its body
//! is cut off after handshake_timeout_ms / request_timeout_ms, and
//! max_connections caps the connections each worker takes; an idle HTTP/2
//! connection that answers every PING is still closed after idle_timeout_s;
//! max_streams_per_connection caps the reviews one connection carries; early
//! 413 and 415 answers reach HTTP/1.1 and HTTP/2 clients whole.
//! (`bench/flood` and `bench/hostile` measure the same under load; these are
//! the quick checks.)

mod serve;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;

struct Server {
    child: Child,
    port: u16,
    metrics_port: u16,
}

impl Server {
    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        until_closed(&mut s, Instant::now()).0
    }

    /// The value of one metric line (its name with labels), 0 when absent.
    fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, env: &[(&str, &str)]) -> (Server, Arc<rustls::ClientConfig>) {
    let (mut cmd, port, mport) = serve::self_signed(dir, env);
    let server = Server {
        child: cmd.spawn().unwrap(),
        port,
        metrics_port: mport,
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

/// A TLS connection that negotiated HTTP/2, with the client preface and an
/// empty SETTINGS frame sent.
fn connect_h2(port: u16, config: &Arc<rustls::ClientConfig>) -> Tls {
    let mut config = (**config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let mut s = connect_tls(port, &Arc::new(config));
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    write_frame(&mut s, 4, 0, 0, &[]);
    s
}

fn write_frame(s: &mut impl Write, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
    s.flush().unwrap();
}

/// The next frame as (type, flags, stream, payload); None once the server closed.
fn read_frame(s: &mut impl Read) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((head[3], head[4], stream, payload))
}

/// Acknowledges SETTINGS and answers PINGs, as a live but idle client does,
/// until the server closes; returns the number of PINGs answered.
fn answer_pings_until_closed(s: &mut Tls) -> usize {
    let mut pings = 0;
    while let Some((kind, flags, _, payload)) = read_frame(s) {
        match (kind, flags & 1) {
            (4, 0) => write_frame(s, 4, 1, 0, &[]),
            (6, 0) => {
                pings += 1;
                write_frame(s, 6, 1, 0, &payload);
            }
            _ => {}
        }
    }
    pings
}

/// HPACK: a header as a literal never indexed, with a literal name.
fn literal_header(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x10);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

/// A POST /mutate head on `stream` whose body never comes.
fn open_review_stream(s: &mut Tls, stream: u32) {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/mutate"),
        (":authority", "localhost"),
        ("content-type", "application/json"),
    ] {
        literal_header(&mut block, name, value);
    }
    write_frame(s, 1, 0x4, stream, &block); // HEADERS, END_HEADERS, no END_STREAM
}

#[test]
fn idle_http2_connection_answering_pings_is_closed_after_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls) = start(dir.path(), &[("POD_HARDENER_SERVER__IDLE_TIMEOUT_S", "2")]);
    let started = Instant::now();
    let mut s = connect_h2(server.port, &tls);
    s.sock
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let pings = answer_pings_until_closed(&mut s);
    let after = started.elapsed();
    // Never before the idle time; the upper bound is only the 60 s read timeout.
    assert!(after >= Duration::from_secs(2), "closed after {after:?}");
    assert!(
        after < Duration::from_secs(60),
        "never closed ({pings} PINGs)"
    );
    assert_eq!(
        server.metric("pod_hardener_connections_closed_idle_total"),
        1.0
    );

    // A connection that keeps sending requests is not idle: it stays open.
    let mut busy = connect_tls(server.port, &tls);
    for _ in 0..4 {
        busy.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = busy.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(900));
    }
    assert_eq!(
        server.metric("pod_hardener_connections_closed_idle_total"),
        1.0,
        "a connection in use was closed as idle"
    );
}

#[test]
fn max_streams_per_connection_refuses_reviews_beyond_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls) = start(
        dir.path(),
        &[("POD_HARDENER_SERVER__MAX_STREAMS_PER_CONNECTION", "2")],
    );
    let mut s = connect_h2(server.port, &tls);
    s.sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Streams 1 and 3 wait for their bodies; stream 5 is one too many.
    for stream in [1, 3, 5] {
        open_review_stream(&mut s, stream);
    }
    let answered = loop {
        match read_frame(&mut s) {
            Some((1, _, stream, _)) => break stream, // the first response HEADERS
            Some((4, 0, _, _)) => write_frame(&mut s, 4, 1, 0, &[]),
            Some(_) => {}
            None => panic!("connection closed before any answer"),
        }
    };
    assert_eq!(
        answered, 5,
        "the waiting streams should not be answered yet"
    );
    assert_eq!(
        server.metric("pod_hardener_rejected_requests_total{reason=\"too-many-streams\"}"),
        1.0
    );
}

/// reqwest over HTTP/1.1 or HTTP/2 (by ALPN), trusting the server's CA.
fn https_client(dir: &Path, http2: bool) -> reqwest::blocking::Client {
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let b = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(Duration::from_secs(20));
    if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    }
    .build()
    .unwrap()
}

#[test]
fn early_413_and_415_reach_http1_and_http2_clients_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), &[]);
    let url = format!("https://localhost:{}/mutate", server.port);
    let three_mib = vec![b' '; 3 << 20];
    let five_mib = vec![b' '; 5 << 20];
    for http2 in [false, true] {
        let client = https_client(dir.path(), http2);
        for (body, content_type, status) in [
            (&three_mib, "text/plain", 415),
            (&five_mib, "application/json", 413),
        ] {
            let answer = client
                .post(&url)
                .header("Content-Type", content_type)
                .body(body.clone())
                .send()
                .unwrap_or_else(|e| panic!("http2={http2} {content_type}: {e:?}"));
            assert_eq!(
                answer.version(),
                if http2 {
                    reqwest::Version::HTTP_2
                } else {
                    reqwest::Version::HTTP_11
                }
            );
            assert_eq!(answer.status().as_u16(), status, "http2={http2}");
            let text = answer.text().unwrap();
            assert!(text.contains("error"), "{text}");
        }
    }
}

/// A CA and a client certificate it signed, as (CA PEM, client cert + key PEM).
fn client_ca_and_identity() -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "api-server client CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        ca_cert.pem(),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
}

#[test]
fn client_certificates_min_tls_version_and_expiry_metric() {
    let dir = tempfile::tempdir().unwrap();
    let (client_ca, identity) = client_ca_and_identity();
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, &client_ca).unwrap();
    let certs = dir.path().join("certs");
    let (server, _) = start(
        &certs,
        &[
            (
                "POD_HARDENER_SERVER__CLIENT_CA_FILE",
                ca_file.to_str().unwrap(),
            ),
            ("POD_HARDENER_SERVER__MIN_TLS_VERSION", "1.3"),
        ],
    );
    let url = |path: &str| format!("https://localhost:{}{path}", server.port);
    let review = std::fs::read(format!(
        "{}/tests/fixtures/admission/pod-create-simple.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let anonymous = https_client(&certs, false);
    let answer = anonymous
        .post(url("/mutate"))
        .header("Content-Type", "application/json")
        .body(review.clone())
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    // Health probes come without a client certificate and still work.
    assert_eq!(anonymous.get(url("/healthz")).send().unwrap().status(), 200);
    let ca = std::fs::read(certs.join("ca.crt")).unwrap();
    for http2 in [false, true] {
        let b = reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap());
        let with_cert = if http2 {
            b.http2_prior_knowledge()
        } else {
            b.http1_only()
        }
        .build()
        .unwrap();
        let answer = with_cert
            .post(url("/mutate"))
            .header("Content-Type", "application/json")
            .body(review.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200, "http2={http2}");
    }
    // A client that offers only TLS 1.2 cannot connect with min_tls_version 1.3.
    let tls12 = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(c.unwrap()).unwrap();
        }
        roots
    })
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::new(tls12), "localhost".try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut failed = false;
    while s.conn.is_handshaking() {
        if s.conn.complete_io(&mut s.sock).is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "a TLS 1.2 handshake succeeded with min_tls_version 1.3"
    );
    // The self-signed certificate lives 30 days.
    let left = server.metric("pod_hardener_certificate_expiry_seconds");
    assert!(
        left > 29.0 * 86_400.0 && left <= 30.0 * 86_400.0,
        "seconds to expiry: {left}"
    );
}
