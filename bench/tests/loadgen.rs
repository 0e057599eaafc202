//! The fan-out load generator (`bench/src/loadgen.rs`) against our server:
//! a small run that keeps the bench honest and the fan-out lossless.

use d_back_bench::loadgen;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

const DWORLD: &str = "232769614004748288";

/// A fresh directory for the loadgen's signal files.
fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("d-back-loadgen-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// 50 clients join D-World, a bot broadcasts 25 timestamped messages a second
/// for 2 s, and every client receives every one of them.
#[actix_web::test]
async fn fifty_clients_receive_every_broadcast() {
    let server = d_back::DBack::builder()
        .bind(("127.0.0.1", 0))
        .config(d_back::Config {
            mock_traffic: false,
            ..Default::default()
        })
        .build()
        .expect("bind 127.0.0.1:0");
    let addr = server.local_addr();
    let handle = server.handle();
    actix_web::rt::spawn(server.run());

    let dir = scratch_dir();
    let (start, sent, done) = (dir.join("start"), dir.join("sent"), dir.join("done"));
    let args = loadgen::Args::parse_from([
        "loadgen".to_string(),
        format!("--url=ws://{addr}/ws"),
        "--clients=50".into(),
        "--ramp=25".into(),
        "--duration=30".into(),
        "--grace=5".into(),
        format!("--start-file={}", start.display()),
        format!("--sent-file={}", sent.display()),
        format!("--done-file={}", done.display()),
    ]);
    // The loadgen gets its own multi-threaded runtime, as in the example.
    let loadgen_thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("loadgen runtime")
            .block_on(loadgen::run(&args))
    });

    // The bot: wait until everyone has joined, then 2 s at 25 messages/s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !start.exists() {
        assert!(Instant::now() < deadline, "loadgen never signalled start");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    while handle.joined_count() < 50 {
        assert!(
            Instant::now() < deadline,
            "only {} sessions joined",
            handle.joined_count()
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    let total = 50u64;
    for seq in 0..total {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_micros();
        let text = format!("t={micros} seq={seq}");
        handle.broadcast_message(DWORLD, "123456789012345001", &text, "527964146659229701");
        actix_web::rt::time::sleep(Duration::from_millis(40)).await;
    }
    std::fs::write(&sent, format!("{total}\n")).expect("write sent count");

    let report = actix_web::rt::task::spawn_blocking(move || loadgen_thread.join())
        .await
        .expect("join task")
        .expect("loadgen thread panicked")
        .expect("loadgen run");
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(report.connected, 50, "{}", loadgen::summary(&report));
    assert_eq!(report.connect_failed, 0);
    assert_eq!(report.sent, total);
    assert_eq!(
        report.delivered,
        total * 50,
        "{}",
        loadgen::summary(&report)
    );
    assert_eq!(report.loss, 0);
    assert_eq!(report.healthy_closed_early, 0);
}
