//! HTTPS and `wss://`: the version endpoint, an exact join, a prompt close,
//! and certificates replaced by SIGHUP while sessions stay open. The
//! certificates are made here with rcgen; the client trusts exactly them.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const SERVER_LIST: &str = r#"{"type":"server-list","data":{"232769614004748288":{"id":"dworld","name":"D-World","passworded":false,"default":true},"482241773318701056":{"id":"docs","name":"Docs (WIP)","passworded":false},"123456789012345678":{"id":"oauth","name":"OAuth2 Protected Server","passworded":true},"987654321098765432":{"id":"repos","name":"My Repos","passworded":false}}}"#;

const DWORLD_JOIN: &str = r##"{"type":"server-join","data":{"users":{"100000000000000001":{"uid":"100000000000000001","username":"Pixel Pip","status":"online","roleColor":"#ff6b6b"},"100000000000000002":{"uid":"100000000000000002","username":"Moss","status":"idle","roleColor":"#5bc0de"},"100000000000000003":{"uid":"100000000000000003","username":"Captain Byte","status":"dnd","roleColor":"#f0ad4e"},"100000000000000004":{"uid":"100000000000000004","username":"Lumen","status":"online","roleColor":"#9b59b6"}},"request":{"server":"dworld"},"serverName":"D-World"}}"##;

/// Far below the one-second linger the socket shutdown defeats.
const PROMPT: Duration = Duration::from_millis(300);

/// A certificate for `localhost` and its key, as PEM files in a fresh
/// directory.
struct Cert {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn new_cert() -> Cert {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Cert {
        der: made.cert.der().clone(),
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d-back-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `cert` as `cert.pem` and `key.pem` in `dir` (replacing them the
/// way certbot does: a new file renamed over the old one).
fn install(dir: &Path, cert: &Cert) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (path, text) in [(&c, &cert.cert_pem), (&k, &cert.key_pem)] {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    (c, k)
}

/// A TLS client that trusts exactly `trusted`. It never resumes a session
/// (a resumed session reports the certificate of the first one), so each
/// connection shows the certificate the server presents now.
fn connector(trusted: &[&Cert]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in trusted {
        roots.add(c.der.clone()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(addr: SocketAddr, tls: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(WAIT, tls.connect(name, tcp))
        .await
        .expect("TLS handshake within the wait")
        .expect("TLS handshake succeeds")
}

/// The certificate the server presented on `s`.
fn presented(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// `GET path` over TLS: (status, body).
async fn https_get(addr: SocketAddr, tls: &TlsConnector, path: &str) -> (u16, String) {
    let mut s = tls_connect(addr, tls).await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    // A peer that closes without close_notify ends the read with an error;
    // what arrived before it is the whole response.
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response within the wait");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// A `wss://` client on `/ws`, with the server list read and checked.
async fn wss(addr: SocketAddr, tls: &TlsConnector) -> (Wss, CertificateDer<'static>) {
    let s = tls_connect(addr, tls).await;
    let cert = presented(&s);
    let url = format!("wss://localhost:{}/ws", addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, s)
        .await
        .expect("websocket over TLS connects");
    assert_eq!(next_text(&mut ws).await, SERVER_LIST);
    (ws, cert)
}

async fn join(ws: &mut Wss) {
    ws.send(Message::text(
        r#"{"type":"connect","data":{"server":"dworld"}}"#,
    ))
    .await
    .unwrap();
    assert_eq!(next_text(ws).await, DWORLD_JOIN);
}

fn start_tls(cert: &Path, key: &Path) -> TestServer {
    let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
    start_with(move |b| b.config(quiet()).tls(cert, key))
}

/// HTTPS answers the version endpoint with the configured certificate.
#[tokio::test]
async fn https_version() {
    let a = new_cert();
    let (c, k) = install(&temp_dir("version"), &a);
    let srv = start_tls(&c, &k);
    let tls = connector(&[&a]);
    let (status, body) = https_get(srv.addr, &tls, "/api/version").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(r#"{{"version":"{}"}}"#, env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(presented(&tls_connect(srv.addr, &tls).await), a.der);
    // Plain HTTP on the TLS port is not served.
    let plain = TcpStream::connect(srv.addr).await.unwrap();
    let mut plain = plain;
    plain
        .write_all(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("version"));
}

/// A `wss://` session gets the exact frames, and broadcasts.
#[tokio::test]
async fn wss_join_and_broadcast() {
    let a = new_cert();
    let (c, k) = install(&temp_dir("join"), &a);
    let srv = start_tls(&c, &k);
    let (mut ws, _) = wss(srv.addr, &connector(&[&a])).await;
    join(&mut ws).await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    srv.handle
        .broadcast_message("232769614004748288", "u1", "over tls", "general");
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"type":"message","server":"232769614004748288","data":{"uid":"u1","message":"over tls","channel":"general"}}"#
    );
}

/// A client's Close over `wss://` is answered and the connection ends at
/// once, not after actix-http's linger (the read side is shut down under
/// TLS as well).
#[tokio::test]
async fn wss_close_is_prompt() {
    let a = new_cert();
    let (c, k) = install(&temp_dir("close"), &a);
    let srv = start_tls(&c, &k);
    let tls = connector(&[&a]);
    for _ in 0..3 {
        let (mut ws, _) = wss(srv.addr, &tls).await;
        join(&mut ws).await;
        let t = Instant::now();
        ws.send(Message::Close(None)).await.unwrap();
        let mut answered = false;
        loop {
            match tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("EOF within the wait")
            {
                Some(Ok(Message::Close(_))) => answered = true,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break,
            }
        }
        let took = t.elapsed();
        assert!(answered, "the server answered the Close");
        assert!(took < PROMPT, "EOF {took:?} after the client's Close");
    }
    srv.until("no sessions", |h| h.connection_count() == 0)
        .await;
}

/// `Handle::reload_tls`: new connections get the new certificate; a bad
/// file is an error that keeps the current one.
#[tokio::test]
async fn reload_through_the_handle() {
    let (a, b) = (new_cert(), new_cert());
    let dir = temp_dir("handle");
    let (c, k) = install(&dir, &a);
    let srv = start_tls(&c, &k);
    let tls = connector(&[&a, &b]);
    install(&dir, &b);
    srv.handle.reload_tls().unwrap();
    assert_eq!(presented(&tls_connect(srv.addr, &tls).await), b.der);
    // A's key with B's certificate: refused, B stays.
    std::fs::write(&k, &a.key_pem).unwrap();
    let err = srv.handle.reload_tls().unwrap_err().to_string();
    assert!(err.contains("does not belong"), "{err}");
    assert_eq!(presented(&tls_connect(srv.addr, &tls).await), b.der);
}

/// Starting with unusable files fails `build` with a sentence naming them.
#[test]
fn bad_files_fail_the_build() {
    let dir = temp_dir("badbuild");
    let a = new_cert();
    let (c, k) = install(&dir, &a);
    std::fs::write(&k, "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n").unwrap();
    let err = actix_web::rt::System::new()
        .block_on(async {
            d_back::DBack::builder()
                .bind(("127.0.0.1", 0))
                .tls(&c, &k)
                .build()
                .map(|_| ())
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&k.display().to_string()), "{msg}");
    assert!(!msg.contains("SECRET"), "{msg}");
    let missing = dir.join("nope.pem");
    let err = actix_web::rt::System::new()
        .block_on(async {
            d_back::DBack::builder()
                .bind(("127.0.0.1", 0))
                .tls(&missing, &k)
                .build()
                .map(|_| ())
        })
        .unwrap_err();
    assert!(err.to_string().contains("nope.pem"), "{err}");
}

/// The binary with TLS, its stderr collected.
struct Binary {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Binary {
    fn start(args: &[&str]) -> Binary {
        Binary::start_with(|cmd| {
            cmd.args(args);
        })
    }

    fn start_with(f: impl FnOnce(&mut Command)) -> Binary {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_d-back"));
        cmd.args(["--host", "127.0.0.1", "--port", "0", "--no-mock-traffic"])
            .env_remove("D_BACK_TLS_CERT")
            .env_remove("D_BACK_TLS_KEY")
            .env("RUST_LOG", "info");
        f(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let addr = listening_addr(&mut child, "https");
        Binary {
            child,
            addr,
            stderr,
        }
    }

    fn hangup(&self) {
        // SAFETY: kill(2) on our own child with a constant signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
    }

    /// Waits until stderr has `n` lines containing `what`.
    async fn logged(&self, what: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            let s = self.stderr.lock().unwrap().clone();
            if s.lines().filter(|l| l.contains(what)).count() >= n {
                return s;
            }
            assert!(start.elapsed() < WAIT, "no {what:?} in the log:\n{s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGHUP re-reads the files: new connections get certificate B while a
/// session opened under A stays joined and answered; a bad file on the
/// next SIGHUP keeps B and logs why once, without the key's contents.
#[tokio::test]
async fn sighup_reloads_without_dropping_sessions() {
    let (a, b) = (new_cert(), new_cert());
    let dir = temp_dir("sighup");
    let (c, k) = install(&dir, &a);
    let bin = Binary::start(&[
        "--tls-cert",
        c.to_str().unwrap(),
        "--tls-key",
        k.to_str().unwrap(),
    ]);
    let tls = connector(&[&a, &b]);
    let (mut old, cert) = wss(bin.addr, &tls).await;
    assert_eq!(cert, a.der);
    join(&mut old).await;

    install(&dir, &b);
    bin.hangup();
    bin.logged("reloaded the certificate", 1).await;
    let (mut new, cert) = wss(bin.addr, &tls).await;
    assert_eq!(
        cert, b.der,
        "a connection after SIGHUP gets the new certificate"
    );
    join(&mut new).await;
    // The session from before the reload still answers.
    join(&mut old).await;

    // A broken key on the next renewal: B stays, one line says why.
    std::fs::write(&k, "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n").unwrap();
    bin.hangup();
    let log = bin.logged("reload failed", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = {
        let later = bin.stderr.lock().unwrap().clone();
        assert_eq!(
            later
                .lines()
                .filter(|l| l.contains("reload failed"))
                .count(),
            1,
            "{later}"
        );
        assert!(log.contains(&k.display().to_string()), "{log}");
        later
    };
    assert!(
        !log.contains("SECRET"),
        "the key's contents were logged:\n{log}"
    );
    let (_, cert) = wss(bin.addr, &tls).await;
    assert_eq!(cert, b.der);
    join(&mut old).await;
    join(&mut new).await;
}

/// Starting the binary with a bad certificate: a clear sentence, non-zero
/// exit.
#[test]
fn binary_refuses_a_bad_certificate() {
    let dir = temp_dir("badbin");
    let (c, k) = install(&dir, &new_cert());
    std::fs::write(&c, "not a certificate").unwrap();
    let err = one_line_failure(
        Command::new(env!("CARGO_BIN_EXE_d-back"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--tls-cert", c.to_str().unwrap()])
            .args(["--tls-key", k.to_str().unwrap()])
            .env("RUST_LOG", "off")
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("cert.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
    // Only one of the two options: refused as well.
    let out = Command::new(env!("CARGO_BIN_EXE_d-back"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(["--tls-key", k.to_str().unwrap()])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_cert"));
}

/// The environment variables and the config file keys turn TLS on too.
#[tokio::test]
async fn environment_and_config_file() {
    let a = new_cert();
    let dir = temp_dir("envfile");
    let (c, k) = install(&dir, &a);
    let from_env = Binary::start_with(|cmd| {
        cmd.env("D_BACK_TLS_CERT", &c).env("D_BACK_TLS_KEY", &k);
    });
    let tls = connector(&[&a]);
    assert_eq!(https_get(from_env.addr, &tls, "/api/version").await.0, 200);
    let file = dir.join("d-back.toml");
    std::fs::write(
        &file,
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            c.display().to_string(),
            k.display().to_string()
        ),
    )
    .unwrap();
    let from_file = Binary::start(&["--config", file.to_str().unwrap()]);
    let (mut ws, cert) = wss(from_file.addr, &tls).await;
    assert_eq!(cert, a.der);
    join(&mut ws).await;
}
