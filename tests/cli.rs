//! The `d-back` command: options, environment, failures, and signals.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::one_line_failure;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d-back"));
    c.env_remove("D_BACK_PORT")
        .env_remove("D_BACK_HOST")
        .env_remove("D_BACK_STATIC_DIR");
    c
}

/// Starts the binary and reads the address it prints.
fn spawn(cmd: &mut Command) -> (Child, SocketAddr) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child, "http");
    (child, addr)
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < within, "did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `--version` and `--help` answer and exit 0.
#[test]
fn version_and_help() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("d-back {}", env!("CARGO_PKG_VERSION"))
    );
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--host",
        "--port",
        "--static-dir",
        "--version",
        "D_BACK_PORT",
        "--allowed-origin",
    ] {
        assert!(help.contains(opt), "help lacks {opt}");
    }
}

/// A static directory that does not exist: non-zero exit and one sentence.
#[test]
fn missing_static_dir() {
    let err = one_line_failure(
        bin()
            .args(["--port", "0", "--static-dir", "/definitely/not/here"])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("/definitely/not/here") && err.contains("does not exist"),
        "{err}"
    );
}

/// A port in use: non-zero exit and one clear sentence.
#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = one_line_failure(
        bin()
            .args(["--host", "127.0.0.1", "--port", &port])
            .env("RUST_LOG", "off")
            .output()
            .unwrap(),
    );
    assert!(err.contains(&port) && err.contains("in use"), "{err}");
}

/// The environment variables set host, port and static dir.
#[tokio::test]
async fn environment_variables() {
    let dir = std::env::temp_dir().join(format!("d-back-cli-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "from env dir").unwrap();
    let (mut child, addr) = spawn(
        bin()
            .env("D_BACK_HOST", "127.0.0.1")
            .env("D_BACK_PORT", "0")
            .env("D_BACK_STATIC_DIR", &dir),
    );
    assert!(addr.ip().is_loopback());
    let (status, _, body) = common::http_get(addr, "/").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"from env dir");
    child.kill().unwrap();
    let _ = child.wait();
}

/// SIGTERM and SIGINT: sessions get 1001 and the process exits promptly.
#[tokio::test]
async fn signals_close_sessions_with_going_away() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let (mut child, addr) = spawn(bin().args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--shutdown-grace-secs",
            "3",
        ]));
        let url = format!("ws://{addr}/ws");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut c = common::Client::plain(ws);
        let _ = c.recv_json().await;
        let _ = c.join("dworld").await;
        unsafe { libc::kill(child.id() as i32, signal) };
        let close = c.recv_close().await.expect("a close frame");
        assert_eq!(close.code, CloseCode::Away);
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert!(status.success(), "{status:?}");
    }
}

/// A bad `--trusted-proxy`: non-zero exit and one sentence naming it.
#[test]
fn bad_trusted_proxy() {
    let err = one_line_failure(
        bin()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args([
                "--trusted-proxy",
                "127.0.0.1/32",
                "--trusted-proxy",
                "10.0.0.0/40",
            ])
            .env("RUST_LOG", "off")
            .output()
            .unwrap(),
    );
    assert!(err.contains("\"10.0.0.0/40\""), "{err}");
}

/// `D_BACK_METRICS=1` and `D_BACK_METRICS_TOKEN` turn on a protected /metrics.
#[tokio::test]
async fn metrics_from_the_environment() {
    let (mut child, addr) = spawn(
        bin()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env("D_BACK_METRICS", "1")
            .env("D_BACK_METRICS_TOKEN", "cli-token"),
    );
    let (status, _, _) = common::http_get(addr, "/metrics").await;
    assert_eq!(status, 401);
    let (status, _, body) = common::http_raw(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer cli-token\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("dback_open_connections 0"));
    child.kill().unwrap();
    let _ = child.wait();
}

/// The compression options, from flags, the environment and a config
/// file; a bad level is one sentence and exit 2.
#[tokio::test]
async fn compression_options() {
    let offer = Some(common::deflate::BROWSER_OFFER);
    let negotiated = |addr| async move {
        let ws = common::deflate::DeflateWs::connect(addr, "/", offer).await;
        ws.negotiated
    };
    let (mut on, addr) = spawn(
        bin()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env("D_BACK_COMPRESSION_LEVEL", "1"),
    );
    assert!(negotiated(addr).await, "on by default");
    on.kill().unwrap();
    let (mut off, addr) =
        spawn(bin().args(["--host", "127.0.0.1", "--port", "0", "--compression", "off"]));
    assert!(!negotiated(addr).await, "--compression off");
    off.kill().unwrap();
    let dir = std::env::temp_dir().join(format!("d-back-compression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("d-back.toml");
    std::fs::write(&file, "compression = \"off\"\ncompression_min_bytes = 10\n").unwrap();
    let (mut from_file, addr) = spawn(
        bin()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--config")
            .arg(&file),
    );
    assert!(!negotiated(addr).await, "compression = \"off\" in the file");
    from_file.kill().unwrap();
    let out = bin()
        .args(["--port", "0", "--compression-level", "12"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--compression-level") && err.contains("12"),
        "{err}"
    );
}
