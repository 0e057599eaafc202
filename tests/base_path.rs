//! `Config::base_path` (`--base-path /dzone`): the page, its assets, the
//! socket, `/api/*`, the probes and `/metrics` answer under it and nothing
//! answers outside it, over real sockets. The same behind a real nginx is
//! in the browser suite (tests/browser/run.mjs).

mod common;

use common::{header, http_get, http_raw};
use d_back::{Config, DBack};

fn under_dzone() -> common::TestServer {
    common::start_with(|b| {
        b.config(Config {
            base_path: "/dzone/".into(), // normalized to /dzone
            metrics: true,
            publish_token: Some("publish-secret".into()),
            ..common::quiet()
        })
    })
}

/// Every HTTP endpoint answers under the base path, as it does at the root.
#[tokio::test]
async fn everything_answers_under_the_base_path() {
    let s = under_dzone();
    let (status, headers, body) = http_get(s.addr, "/dzone/").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&body).contains("<canvas id=\"scene\""));
    for (path, content_type) in [
        ("/dzone/style.css", "text/css"),
        ("/dzone/js/net.js", "text/javascript"),
        ("/dzone/favicon.svg", "image/svg+xml"),
    ] {
        let (status, headers, _) = http_get(s.addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with(content_type),
            "{path}: {headers:?}"
        );
    }
    let (status, _, body) = http_get(s.addr, "/dzone/healthz").await;
    assert_eq!(
        (status, body.as_slice()),
        (200, br#"{"status":"ok"}"#.as_slice())
    );
    let (status, _, _) = http_get(s.addr, "/dzone/readyz").await;
    assert_eq!(status, 200);
    let (status, _, body) = http_get(s.addr, "/dzone/metrics").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("# TYPE"));
    let (status, _, body) = http_get(s.addr, "/dzone/api/version").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!("{{\"version\":\"{}\"}}", env!("CARGO_PKG_VERSION")).as_bytes()
    );
    let (status, _, _) = http_raw(
        s.addr,
        "GET /dzone/api/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer publish-secret\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
}

/// The bare base path redirects to itself with a slash (keeping the query),
/// so the page's relative links resolve under it.
#[tokio::test]
async fn the_bare_base_path_redirects_to_its_slash() {
    let s = under_dzone();
    let (status, headers, _) = http_get(s.addr, "/dzone?s=repos").await;
    assert_eq!(status, 308);
    assert_eq!(header(&headers, "location"), Some("/dzone/?s=repos"));
}

/// Outside the base path nothing answers: not the page, not the probes.
#[tokio::test]
async fn nothing_answers_outside_the_base_path() {
    let s = under_dzone();
    for path in [
        "/",
        "/index.html",
        "/healthz",
        "/metrics",
        "/api/version",
        "/dzonex/healthz",
    ] {
        let (status, _, body) = http_get(s.addr, path).await;
        assert_eq!(
            (status, body.as_slice()),
            (404, b"not found".as_slice()),
            "{path}"
        );
    }
}

/// The page's socket, `ws` beside it, greets with the server list and joins.
#[tokio::test]
async fn the_socket_answers_under_the_base_path() {
    let s = under_dzone();
    let mut c = s.client_at("/dzone/ws").await;
    assert_eq!(c.recv_json().await["type"], "server-list");
    let join = c.join("dworld").await;
    assert_eq!(join["type"], "server-join");
}

/// A base path that is not a path is refused when the server is built.
#[test]
fn a_malformed_base_path_is_refused() {
    let err = DBack::builder()
        .bind(("127.0.0.1", 0))
        .config(Config {
            base_path: "dzone".into(),
            ..common::quiet()
        })
        .build()
        .err()
        .expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "the base path \"dzone\" must start with a slash, e.g. \"/dzone\""
    );
}

/// The binary takes it from the flag, the environment and the file.
#[tokio::test]
async fn the_binary_takes_the_base_path_from_env() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_d-back"))
        .env_clear()
        .env("RUST_LOG", "off")
        .env("D_BACK_BASE_PATH", "/dzone")
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child, "http");
    let (inside, _, _) = http_get(addr, "/dzone/healthz").await;
    let (outside, _, _) = http_get(addr, "/healthz").await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!((inside, outside), (200, 404));
}
