//! HTTP on the WebSocket port: version, static files, the static-request
//! provider, traversal attempts, the broadcast endpoint.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;
use d_back::{Config, StaticResponse};
use serde_json::json;

/// `/api/version` answers the crate version as JSON.
#[tokio::test]
async fn version() {
    let srv = start();
    let (status, headers, body) = http_get(srv.addr, "/api/version").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        body,
        format!(r#"{{"version":"{}"}}"#, env!("CARGO_PKG_VERSION")).as_bytes()
    );
}

/// The built-in frontend: `/` is index.html, types by extension, 404 otherwise.
#[tokio::test]
async fn built_in_frontend() {
    let srv = start();
    let (status, headers, body) = http_get(srv.addr, "/").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let index = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/static/index.html")).unwrap();
    assert_eq!(body, index);
    let (status, _, _) = http_get(srv.addr, "/index.html").await;
    assert_eq!(status, 200);
    let (status, _, _) = http_get(srv.addr, "/no/such/file.js").await;
    assert_eq!(status, 404);
    let (status, _, _) = http_get(srv.addr, "/?s=repos").await;
    assert_eq!(status, 200);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("d-back-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--static-dir`: content types, index, 404, and no way out of the root.
#[tokio::test]
async fn static_dir_types_and_traversal() {
    let root = temp_dir("static");
    let outside = temp_dir("outside");
    std::fs::write(outside.join("secret.txt"), "TOP SECRET").unwrap();
    let site = root.join("site");
    std::fs::create_dir_all(site.join("js")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(site.join("js/app.js"), "let a = 1;").unwrap();
    std::fs::write(site.join("style.css"), "body{}").unwrap();
    std::fs::write(site.join("logo.svg"), "<svg/>").unwrap();
    std::fs::write(site.join("data.json"), "{}").unwrap();
    std::fs::write(site.join("pic.png"), [137u8, 80, 78, 71]).unwrap();
    std::fs::write(site.join(".env"), "KEY=1").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), site.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, site.join("linkdir")).unwrap();
    let dir = site.clone();
    let srv = start_with(move |b| {
        b.config(Config {
            static_dir: Some(dir),
            ..quiet()
        })
    });
    for (path, ct) in [
        ("/", "text/html; charset=utf-8"),
        ("/js/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/logo.svg", "image/svg+xml"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/pic.png", "image/png"),
    ] {
        let (status, headers, _) = http_get(srv.addr, path).await;
        assert_eq!(status, 200, "{path}");
        let got = header(&headers, "content-type").unwrap_or_default();
        // Servers disagree on the JavaScript type; both are correct.
        let ok =
            got == ct || (path.ends_with(".js") && got == "application/javascript; charset=utf-8");
        assert!(ok, "{path}: {got}");
    }
    let attempts = [
        "/../outside/secret.txt",
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/js/../../etc/passwd",
        "/..\\..\\etc\\passwd",
        "/%5c..%5c..%5cetc%5cpasswd",
        "/link.txt",
        "/linkdir/secret.txt",
        "/.env",
        "/%00/etc/passwd",
        "/index.html%00.png",
        "//etc/passwd",
        "/%252e%252e/%252e%252e/etc/passwd",
        "/....//....//etc/passwd",
        "/js/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ];
    for path in attempts {
        let (status, _, body) = http_get(srv.addr, path).await;
        assert!(
            status == 404 || status == 403 || status == 400,
            "{path}: {status}"
        );
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains("TOP SECRET") && !body.contains("root:"),
            "{path} leaked"
        );
    }
    let long = format!("/{}", "a/".repeat(2000));
    let (status, _, _) = http_get(srv.addr, &long).await;
    assert!(
        status == 404 || status == 414 || status == 400,
        "long path: {status}"
    );
}

/// The static-request provider answers first; `None` falls through to files.
#[tokio::test]
async fn static_request_provider() {
    let srv = start_with(|b| {
        b.config(quiet()).on_static_request(|path| async move {
            Ok(match path.as_str() {
                "/api/status" => Some(StaticResponse::body(
                    "application/json",
                    json!({"status": "ok"}).to_string(),
                )),
                "/boom" => return Err("backend down".into()),
                "/custom-file" => Some(StaticResponse::File(
                    concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").into(),
                )),
                _ => None,
            })
        })
    });
    let (status, headers, body) = http_get(srv.addr, "/api/status?verbose=1").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(body, br#"{"status":"ok"}"#);
    let (status, _, body) = http_get(srv.addr, "/custom-file").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("[package]"));
    // A failing provider passes; the file layer answers.
    let (status, _, _) = http_get(srv.addr, "/boom").await;
    assert_eq!(status, 404);
    let (status, _, _) = http_get(srv.addr, "/").await;
    assert_eq!(status, 200);
}

fn post(path: &str, token: Option<&str>, body: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `POST /api/broadcast`: off without a token, authenticated, validated,
/// and delivered exactly like a Rust-side broadcast.
#[tokio::test]
async fn broadcast_endpoint() {
    let off = start();
    let (status, _, _) = http_raw(off.addr, &post("/api/broadcast", Some("x"), "{}")).await;
    assert_eq!(status, 404);

    let srv = start_with(|b| {
        b.config(Config {
            publish_token: Some("tok".into()),
            ..quiet()
        })
    });
    let mut c = srv.joined("dworld").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    let frame = r#"{"type":"message","server":"232769614004748288","data":{"uid":"u","message":"from http","channel":"c"}}"#;
    let (status, _, _) = http_raw(srv.addr, &post("/api/broadcast", None, frame)).await;
    assert_eq!(status, 401);
    let (status, _, _) = http_raw(srv.addr, &post("/api/broadcast", Some("wrong"), frame)).await;
    assert_eq!(status, 401);
    let (status, _, body) = http_raw(srv.addr, &post("/api/broadcast", Some("tok"), frame)).await;
    assert_eq!(status, 202);
    assert_eq!(body, br#"{"delivered":1}"#);
    assert_eq!(c.recv_text().await, frame);
    for bad in [
        "nope",
        r#"{"type":"presence","server":"232769614004748288","data":{"uid":"u","status":"away"}}"#,
        r#"{"type":"presence","server":"232769614004748288","data":{"uid":"u","status":"idle","roleColor":"red"}}"#,
        r#"{"type":"kick","server":"1","data":{}}"#,
        r#"{"type":"message","server":"","data":{"uid":"u","message":"m","channel":"c"}}"#,
    ] {
        let (status, _, body) = http_raw(srv.addr, &post("/api/broadcast", Some("tok"), bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert!(String::from_utf8_lossy(&body).contains("error"));
    }
    let presence = r##"{"type":"presence","server":"232769614004748288","data":{"uid":"u","status":"offline","roleColor":"#abcdef","delete":true}}"##;
    let (status, _, _) = http_raw(srv.addr, &post("/api/broadcast", Some("tok"), presence)).await;
    assert_eq!(status, 202);
    assert_eq!(c.recv_text().await, presence);
    c.assert_silent(Duration::from_millis(100)).await;
    let stats = "GET /api/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
    let (status, _, _) = http_raw(srv.addr, &format!("{stats}\r\n")).await;
    assert_eq!(status, 401);
    let (status, _, body) = http_raw(
        srv.addr,
        &format!("{stats}Authorization: Bearer tok\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"connections":1,"sessions":1,"hubs":1}"#);
}

/// A WebSocket handshake the HTTP layer hands over gets the exact 101
/// answer, with the server list right behind it, from the take-over path;
/// an `Upgrade: h2c` request is served as a plain request, and a WebSocket
/// request without `Connection: upgrade` still gets the handshake error.
#[actix_web::test]
async fn upgrades_taken_over_and_refused() {
    let srv = start();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let got = until_server_list(&mut tcp).await;
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&got[..end + 2]).to_string();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nupgrade: websocket"), "{head}");
    assert!(
        head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    // The first frame, right behind the head: unmasked final text.
    assert_eq!(got[end + 4], 0x81, "a final text frame");

    // Not a WebSocket: served as the plain request it also is.
    let (status, _, body) = http_raw(
        srv.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<title>d-zone</title>"));

    let (status, _, _) = http_raw(
        srv.addr,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 400);
}

/// One connection path: every WebSocket upgrade is taken over from the
/// HTTP/1 dispatcher, even one announcing a body by length (its answer is
/// the take-over's 101 with the server list right behind it). The one
/// request the dispatcher cannot hand over, an upgrade with a chunked body,
/// is refused with a sentence instead of being served another way.
#[actix_web::test]
async fn every_upgrade_takes_the_one_path() {
    let srv = start();
    let handshake = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let request = format!("{handshake}Connection: Upgrade\r\nContent-Length: 5\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let got = until_server_list(&mut tcp).await;
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(
        head.starts_with("http/1.1 101 switching protocols\r\n"),
        "{head}"
    );
    // actix-web's own WebSocket response would name a content type.
    assert!(!head.contains("content-type"), "{head}");

    let (status, headers, body) = http_raw(
        srv.addr,
        &format!(
            "{handshake}Connection: Upgrade, close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(body, b"a WebSocket upgrade has no request body");
    // The refused request started no session; the taken-over one still runs.
    assert_eq!(srv.handle.connection_count(), 1);
    drop(tcp);
}

/// Reads a raw upgraded socket until the server list has arrived; all the
/// bytes read (the 101 response and the first frames).
async fn until_server_list(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let list = br#"{"type":"server-list","data":{"#;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !got.windows(list.len()).any(|w| w == list) {
            let mut buf = [0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "EOF before the server list: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("101 and the server list");
    got
}
