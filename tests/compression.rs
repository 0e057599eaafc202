//! permessage-deflate (RFC 7692) over real sockets: what is negotiated,
//! which frames come compressed and that they inflate to exactly the plain
//! frames, compressed client messages, and every refusal with its code.

mod common;

use std::time::Duration;

use common::deflate::{client_frame, deflate, header, DeflateWs, BROWSER_OFFER};
use common::*;
use d_back::Config;

const DWORLD: &str = "232769614004748288";
const ACCEPTED: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
const CONNECT: &str = r#"{"type":"connect","data":{"server":"dworld"}}"#;

async fn text(ws: &mut DeflateWs) -> (String, bool) {
    let (opcode, data) = ws.next_message().await.expect("a message");
    assert_eq!(opcode, 1, "text");
    (String::from_utf8(data).unwrap(), ws.last_compressed)
}

/// A browser's offer is answered without context takeover both ways, and
/// the server list and the join come compressed, inflating to exactly what
/// a plain client gets; the connect sent compressed is answered.
#[tokio::test]
async fn browser_offer_gets_compressed_frames_equal_to_plain_ones() {
    let srv = start();
    let mut plain = srv.client_at("/ws").await;
    let plain_list = plain.recv_text().await;
    plain.send_text(CONNECT).await;
    let plain_join = plain.recv_text().await;

    let mut ws = DeflateWs::connect(srv.addr, "/ws", Some(BROWSER_OFFER)).await;
    assert_eq!(
        header(&ws.response, "sec-websocket-extensions"),
        Some(ACCEPTED)
    );
    assert_eq!(text(&mut ws).await, (plain_list, true));
    assert!(ws.compress_sends);
    ws.send_message(1, CONNECT.as_bytes()).await;
    assert_eq!(text(&mut ws).await, (plain_join, true));
}

/// Offers that name a window the server will not use, parameters it does
/// not know, or another extension are declined: no header, plain frames.
/// The first acceptable offer of a list is taken.
#[tokio::test]
async fn offers_that_cannot_be_honoured_are_declined() {
    let srv = start();
    for offer in [
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=20",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ] {
        let mut ws = DeflateWs::connect(srv.addr, "/", Some(offer)).await;
        assert_eq!(
            header(&ws.response, "sec-websocket-extensions"),
            None,
            "{offer}"
        );
        let (list, compressed) = text(&mut ws).await;
        assert!(!compressed && list.starts_with(r#"{"type":"server-list""#));
    }
    let ws = DeflateWs::connect(
        srv.addr,
        "/",
        Some("permessage-deflate; server_max_window_bits=9, permessage-deflate; server_max_window_bits=15"),
    )
    .await;
    assert_eq!(
        header(&ws.response, "sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15")
    );
}

/// `compression: false` never negotiates.
#[tokio::test]
async fn compression_off_never_negotiates() {
    let srv = start_with(|b| {
        b.config(Config {
            compression: false,
            ..quiet()
        })
    });
    let mut ws = DeflateWs::connect(srv.addr, "/", Some(BROWSER_OFFER)).await;
    assert_eq!(header(&ws.response, "sec-websocket-extensions"), None);
    assert!(!text(&mut ws).await.1);
}

/// Broadcasts under the minimum go out plain to everyone; a long one is
/// compressed for the compressing viewer and plain for the other, with the
/// same JSON.
#[tokio::test]
async fn broadcasts_are_compressed_above_the_minimum_only() {
    let srv = start();
    let mut plain = srv.joined("dworld").await;
    let mut ws = DeflateWs::browser(srv.addr, "/").await;
    text(&mut ws).await;
    ws.send_message(1, CONNECT.as_bytes()).await;
    text(&mut ws).await;
    srv.until("joined", |h| h.joined_count() == 2).await;

    srv.handle.broadcast_message(DWORLD, "u1", "short", "c");
    let short = r#"{"type":"message","server":"232769614004748288","data":{"uid":"u1","message":"short","channel":"c"}}"#;
    assert_eq!(text(&mut ws).await, (short.to_string(), false));
    assert_eq!(plain.recv_text().await, short);

    let long_text = "a long line of chat ".repeat(40);
    srv.handle.broadcast_message(DWORLD, "u1", &long_text, "c");
    let long = format!(
        r#"{{"type":"message","server":"232769614004748288","data":{{"uid":"u1","message":"{long_text}","channel":"c"}}}}"#
    );
    assert_eq!(text(&mut ws).await, (long.clone(), true));
    assert_eq!(plain.recv_text().await, long);
}

/// A client that does not compress is understood too: compression is per
/// message, so plain frames on a compressed connection are fine.
#[tokio::test]
async fn uncompressed_messages_on_a_compressed_connection_are_answered() {
    let srv = start();
    let mut ws = DeflateWs::browser(srv.addr, "/").await;
    text(&mut ws).await;
    ws.compress_sends = false;
    ws.send_message(1, CONNECT.as_bytes()).await;
    assert!(text(&mut ws)
        .await
        .0
        .starts_with(r#"{"type":"server-join""#));
}

/// Every way to break the extension, with its close code and reason; a
/// bystander on the same server is untouched.
#[tokio::test]
async fn broken_compressed_input_closes_with_its_code() {
    let srv = start_with(|b| {
        b.config(Config {
            max_frame_bytes: 4096,
            ..quiet()
        })
    });
    let mut bystander = srv.joined("dworld").await;
    let bomb = deflate(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4096, "{} bytes compressed", bomb.len());
    let mut fragmented = client_frame(0x01, b"{");
    fragmented.extend(client_frame(0xc0, b"x"));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (client_frame(0xc1, &bomb), 1009, "message too big"),
        (
            client_frame(0xc1, b"\xff\xff not deflate"),
            1007,
            "invalid compressed data",
        ),
        (client_frame(0xc9, b""), 1002, "protocol error"),
        (fragmented, 1002, "protocol error"),
        (
            client_frame(0xe1, &deflate(CONNECT.as_bytes())),
            1002,
            "protocol error",
        ),
    ];
    for (frame, code, reason) in cases {
        let mut ws = DeflateWs::browser(srv.addr, "/").await;
        text(&mut ws).await;
        ws.send_raw(&frame).await;
        assert_eq!(
            ws.recv_close().await,
            Some((code, reason.to_string())),
            "{reason}"
        );
    }
    // RSV1 where nothing was negotiated.
    let mut ws = DeflateWs::connect(srv.addr, "/", None).await;
    text(&mut ws).await;
    ws.send_raw(&client_frame(0xc1, &deflate(CONNECT.as_bytes())))
        .await;
    assert_eq!(ws.recv_close().await, Some((1002, "protocol error".into())));

    srv.handle.broadcast_message(DWORLD, "u", "still here", "c");
    assert!(bystander.recv_text().await.contains("still here"));
    bystander.assert_silent(Duration::from_millis(50)).await;
}

/// A compressed message that inflates to just the limit is accepted; the
/// limit counts inflated bytes, not compressed ones.
#[tokio::test]
async fn the_limit_counts_inflated_bytes() {
    let srv = start_with(|b| {
        b.config(Config {
            max_frame_bytes: 4096,
            ..quiet()
        })
    });
    let padded = format!("{}{}", CONNECT, " ".repeat(4096 - CONNECT.len()));
    let mut ws = DeflateWs::browser(srv.addr, "/").await;
    text(&mut ws).await;
    ws.send_message(1, padded.as_bytes()).await;
    assert!(text(&mut ws)
        .await
        .0
        .starts_with(r#"{"type":"server-join""#));
    ws.send_message(1, format!("{padded} ").as_bytes()).await;
    assert_eq!(
        ws.recv_close().await,
        Some((1009, "message too big".into()))
    );
}

/// python `websockets` (compression on by default) negotiates, reads the
/// same frames a plain client does, is answered when it sends compressed,
/// and a compressed message over the limit inflated gets 1009. Needs
/// `python3` with `websockets` (tests/run.sh installs it).
#[tokio::test]
async fn python_websockets_client() {
    let srv = start();
    let mut plain = srv.client_at("/").await;
    let list = plain.recv_text().await;
    plain.send_text(CONNECT).await;
    let join = plain.recv_text().await;
    let addr = srv.addr;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/websockets_client.py"
            ))
            .arg(format!("ws://{addr}/"))
            .arg("200000")
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({
                "header": ACCEPTED,
                "remote_no_context_takeover": true,
                "local_no_context_takeover": true,
            }),
            serde_json::json!({ "list": list }),
            serde_json::json!({ "join": join }),
            serde_json::json!({ "close": [1009, "message too big"] }),
        ]
    );
}
