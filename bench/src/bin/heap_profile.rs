//! Where a joined viewer's bytes go: our bench d-back (`d_back_bench::ours`)
//! under the `dhat` heap profiler.
//!
//! Run it like `bench_server` with the loadgen against it (`--rate 0`: idle
//! viewers). When the start signal says every client has joined, the
//! profiler stops and writes `--profile` (dhat's JSON: the live bytes at
//! that moment by allocation stack); `bench/heap_report.py` sorts them into
//! actix-http's buffers, the actor context and mailbox, our session state,
//! the hub entry and the join frame. Allocations are slow under dhat, so
//! this is for the breakdown, not for timing.
//!
//! ```text
//! target/release/heap_profile --port 0 --rate 1 --duration 0 --settle 1 --users 50 --profile /tmp/heap.json \
//!     --ready-file /tmp/b/ready --start-file /tmp/b/start --sent-file /tmp/b/sent --done-file /tmp/b/done &
//! target/release/loadgen --url ws://$(cat /tmp/b/ready)/ws --clients 1000 --duration 20 \
//!     --start-file /tmp/b/start --sent-file /tmp/b/sent --done-file /tmp/b/done
//! python3 bench/heap_report.py /tmp/heap.json --sessions 1000
//! ```

use std::path::PathBuf;

use clap::Parser;
use d_back_bench::driver::DriverArgs;
use d_back_bench::ours::bench_dback;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Command line of the profile driver.
#[derive(Parser, Debug)]
#[command(about = "d-back under the dhat heap profiler, for the bytes per viewer")]
struct Args {
    #[command(flatten)]
    driver: DriverArgs,
    /// Where dhat writes its profile (JSON).
    #[arg(long, default_value = "dhat-heap.json")]
    profile: PathBuf,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Args {
        driver: args,
        profile,
    } = Args::parse();
    let profiler = dhat::Profiler::builder().file_name(&profile).build();
    let _ = d_back::raise_open_files_limit();
    let server = bench_dback(&args, false)?;
    let handle = server.handle();
    let addr = server.local_addr();
    actix_web::rt::spawn(server.run());
    args.ready("heap_profile", addr)?;

    args.wait_start("heap_profile").await;
    let sessions = handle.joined_count();
    let stats = dhat::HeapStats::get();
    // Dropping the profiler writes the live heap of this moment.
    drop(profiler);
    let (total, _) = args.run_bot(|_| {}).await?;
    args.wait_done().await;
    args.finish(&serde_json::json!({
        "server": "ours (dhat)",
        "sent": total,
        "sessions_at_start": sessions,
        "live_bytes": stats.curr_bytes,
        "live_blocks": stats.curr_blocks,
        "live_bytes_per_session": stats.curr_bytes as f64 / sessions.max(1) as f64,
        "profile": profile,
        // The file protocol's other fields, so `run.py` could read it too.
        "cpu_phase_s": 0.0,
        "cpu_total_s": d_back_bench::driver::cpu_seconds(),
        "rss_base_kb": 0,
        "rss_connected_kb": 0,
        "hwm_kb": 0,
    }))?;
    std::process::exit(0);
}
