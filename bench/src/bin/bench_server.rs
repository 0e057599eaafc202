//! Bench driver for our d-back: the server in-process plus a bot.
//!
//! Starts d-back through its public API on 127.0.0.1:<port> (mock data, mock
//! chat/presence off, `--users N` synthetic members), and a bot task that
//! broadcasts chat messages `t=<unix micros> seq=<n>` to one Discord server
//! at `--rate` per second for `--duration` seconds through the public
//! `Handle`. It speaks the file protocol of `d_back_bench::driver`, as
//! `floor_server` and `bench/python_server.py` do, so the loadgen drives all
//! three alike.
//!
//! ```text
//! cargo run --release -p d-back-bench --bin bench_server -- --port 3000 --rate 100 --duration 10 \
//!     --users 50 --start-file /tmp/b/start --sent-file /tmp/b/sent --done-file /tmp/b/done
//! ```

use clap::Parser;
use d_back_bench::driver::{cpu_seconds, heap_in_use_kb, status_kb, DriverArgs};
use d_back_bench::ours::bench_dback;

/// Command line of the driver.
#[derive(Parser, Debug)]
#[command(about = "d-back in-process with a broadcasting bot, for the fan-out bench")]
struct Args {
    #[command(flatten)]
    driver: DriverArgs,
    /// Leave the server's mock chat/presence traffic on.
    #[arg(long)]
    mock_traffic: bool,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Args {
        driver: args,
        mock_traffic,
    } = Args::parse();
    let _ = d_back::raise_open_files_limit();
    let server = bench_dback(&args, mock_traffic)?;
    let handle = server.handle();
    let addr = server.local_addr();
    actix_web::rt::spawn(server.run());
    let (rss_base, heap_base) = (status_kb("VmRSS"), heap_in_use_kb());
    args.ready("bench_server", addr)?;

    args.wait_start("bench_server").await;
    let (rss_connected, heap_connected) = (status_kb("VmRSS"), heap_in_use_kb());
    let cpu0 = cpu_seconds();
    let sessions = handle.joined_count();
    let (total, send_wall) = args
        .run_bot(|text| handle.broadcast_message(&args.snowflake, &args.uid, &text, &args.channel))
        .await?;

    args.wait_done().await;
    let cpu = cpu_seconds() - cpu0;
    args.finish(&serde_json::json!({
        "server": "ours",
        "sent": total,
        "send_wall_s": send_wall,
        "sessions_at_start": sessions,
        "cpu_phase_s": cpu,
        "cpu_total_s": cpu_seconds(),
        "rss_base_kb": rss_base,
        "rss_connected_kb": rss_connected,
        "heap_base_kb": heap_base,
        "heap_connected_kb": heap_connected,
        "rss_end_kb": status_kb("VmRSS"),
        "hwm_kb": status_kb("VmHWM"),
        "sessions_at_end": handle.joined_count(),
    }))?;
    std::process::exit(0);
}
