//! Property tests: arbitrary frames at a live session. (The static
//! resolver's properties are unit tests in `src/files.rs`, as the resolver
//! is internal.)

mod common;

use common::*;
use d_back::errors;
use d_back::Config;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Any JSON value, nested a few levels, with long strings now and then.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        (0usize..20_000).prop_map(|n| Value::String("ü".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The expected answer to a frame, from the rules in PROTOCOL.md (written
/// independently of the server's parser).
fn expected(frame: &str) -> Result<(), &'static str> {
    let Ok(v) = serde_json::from_str::<Value>(frame) else {
        return Err(errors::INVALID_JSON);
    };
    let Some(obj) = v.as_object() else {
        return Err(errors::INVALID_FORMAT);
    };
    if obj.get("type") != Some(&json!("connect")) {
        return Err(errors::UNKNOWN_TYPE);
    }
    let data = match obj.get("data") {
        None | Some(Value::Null) => return Ok(()), // default server
        Some(Value::Object(d)) => d,
        Some(_) => return Err(errors::INVALID_FORMAT),
    };
    for k in ["password", "discordToken"] {
        if !matches!(
            data.get(k),
            None | Some(Value::Null) | Some(Value::String(_))
        ) {
            return Err(errors::INVALID_FORMAT);
        }
    }
    if !matches!(
        data.get("discordUser"),
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err(errors::INVALID_FORMAT);
    }
    let id = match data.get("server") {
        None | Some(Value::Null) => "default".to_string(),
        Some(Value::String(s)) if s.trim().is_empty() => "default".to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(errors::NO_SUCH_SERVER),
    };
    match id.as_str() {
        "default" | "dworld" | "docs" | "repos" => Ok(()),
        "oauth" => Err("protected"),
        _ => Err(errors::NO_SUCH_SERVER),
    }
}

/// A frame: arbitrary JSON, a connect with arbitrary fields, deep nesting,
/// or arbitrary text.
fn any_frame() -> impl Strategy<Value = String> {
    prop_oneof![
        any_json().prop_map(|v| v.to_string()),
        (any_json(), any_json(), any_json()).prop_map(|(server, data, extra)| {
            json!({"type": "connect", "data": {"server": server, "password": extra, "x": data}})
                .to_string()
        }),
        any_json().prop_map(|data| json!({"type": "connect", "data": data}).to_string()),
        prop_oneof![
            Just("dworld"),
            Just(" docs "),
            Just("oauth"),
            Just("nope"),
            Just("")
        ]
        .prop_map(|s| json!({"type": "connect", "data": {"server": s}}).to_string()),
        (1usize..400).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        (1usize..300).prop_map(|depth| {
            format!(
                r#"{{"type":"connect","data":{{"server":{}1{}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        }),
        ".{0,200}",
    ]
}

/// Every frame gets exactly the answer the rules give, the session never
/// dies, and it still joins correctly afterwards.
#[test]
fn arbitrary_frames_get_the_right_answer() {
    let srv = start_with(|b| {
        b.config(Config {
            rate_burst: 1_000_000,
            rate_per_sec: 1_000_000,
            auth_attempts: 1_000_000,
            ..quiet()
        })
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = std::cell::RefCell::new(rt.block_on(srv.client()));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&any_frame(), |frame| {
            let mut c = client.borrow_mut();
            if frame.len() > Config::default().max_frame_bytes {
                // Over the limit: closed with 1009, then a fresh session.
                let close = rt.block_on(async {
                    c.send_text(&frame).await;
                    c.recv_close().await
                });
                prop_assert_eq!(close.map(|f| u16::from(f.code)), Some(1009));
                *c = rt.block_on(srv.client());
                return Ok(());
            }
            let answer = rt.block_on(async {
                c.send_text(&frame).await;
                c.recv_json().await
            });
            match expected(&frame) {
                Ok(()) => prop_assert_eq!(&answer["type"], "server-join", "{}", frame),
                Err("protected") => prop_assert_eq!(&answer["type"], "error"),
                Err(message) => prop_assert_eq!(
                    answer,
                    json!({"type": "error", "data": {"message": message}})
                ),
            }
            Ok(())
        })
        .unwrap();
    let mut client = client.into_inner();
    let joined = rt.block_on(client.join("repos"));
    assert_eq!(joined["data"]["users"].as_object().unwrap().len(), 21);
}
