//! Bench driver for our d-back: the server in-process plus a bot.
//!
//! Starts d-back through its public API on 127.0.0.1:<port> (mock data, mock
//! chat/presence off), and a bot task that broadcasts chat messages
//! `t=<unix micros> seq=<n>` to one Discord server at `--rate` per second for
//! `--duration` seconds through the public `Handle`. It speaks the same file
//! protocol as `bench/python_server.py`, so `bench/src/loadgen.rs` drives both
//! alike:
//! - `--start-file` appears when every client has joined: sample RSS, start
//!   the CPU clock and the bot;
//! - `--sent-file` is written here when the bot has finished: the number sent;
//! - `--done-file` appears when the loadgen has stopped measuring: stop the CPU
//!   clock, write `--stats-file` (one JSON line) and exit.
//!
//! ```text
//! cargo run --release -p d-back-bench --bin bench_server -- --port 3000 --rate 100 --duration 10 \
//!     --start-file /tmp/b/start --sent-file /tmp/b/sent --done-file /tmp/b/done
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

/// Command line of the driver.
#[derive(Parser, Debug)]
#[command(about = "d-back in-process with a broadcasting bot, for the fan-out bench")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; see --ready-file).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Broadcasts per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of broadcasting.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Discord server the bot posts to (D-World).
    #[arg(long, default_value = "232769614004748288")]
    snowflake: String,
    /// Author of the bot's messages (a D-World mock user).
    #[arg(long, default_value = "123456789012345001")]
    uid: String,
    #[arg(long, default_value = "527964146659229701")]
    channel: String,
    #[arg(long)]
    start_file: PathBuf,
    #[arg(long)]
    sent_file: PathBuf,
    #[arg(long)]
    done_file: PathBuf,
    /// Where to write the final JSON stats (also printed on stderr).
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Written with the bound address once the server listens.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Give up waiting for a signal file after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    max_wait: f64,
    /// Append this many bytes of text to each message (bigger frames).
    #[arg(long, default_value_t = 0)]
    pad: usize,
    /// Leave the server's mock chat/presence traffic on.
    #[arg(long)]
    mock_traffic: bool,
}

/// User + system CPU seconds of this process (all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Heap bytes in use (live allocations) per glibc malloc, in kB: tells live
/// data from allocator slack in the RSS.
fn heap_in_use_kb() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads allocator counters.
        let mi = unsafe { libc::mallinfo2() };
        (mi.uordblks + mi.hblkhd) as u64 / 1024
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

async fn wait_for_file(path: &Path, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while !path.exists() {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let _ = d_back::raise_open_files_limit();
    let server = d_back::DBack::builder()
        .bind(("127.0.0.1", args.port))
        .config(d_back::Config {
            mock_traffic: args.mock_traffic,
            // Every bench client comes from 127.0.0.1; the per-IP cap is
            // for the open internet, not for this.
            max_connections_per_ip: usize::MAX,
            ..Default::default()
        })
        .build()?;
    let addr = server.local_addr();
    let handle = server.handle();
    actix_web::rt::spawn(server.run());
    let rss_base = status_kb("VmRSS");
    let heap_base = heap_in_use_kb();
    eprintln!("bench_server: d-back listening on {addr}, RSS {rss_base} kB");
    if let Some(p) = &args.ready_file {
        std::fs::write(p, format!("{addr}\n"))?;
    }

    let max_wait = Duration::from_secs_f64(args.max_wait);
    if !wait_for_file(&args.start_file, max_wait).await {
        eprintln!("bench_server: no start signal; exiting");
        std::process::exit(1);
    }
    let rss_connected = status_kb("VmRSS");
    let heap_connected = heap_in_use_kb();
    let cpu0 = cpu_seconds();
    let sessions = handle.joined_count();

    // The bot: one broadcast per tick, on its own schedule; each call is a
    // fire-and-forget hand-off to the server, as a Discord bot's would be.
    let total = (args.rate * args.duration).round() as u64;
    let pad = if args.pad > 0 {
        format!(" {}", "x".repeat(args.pad))
    } else {
        String::new()
    };
    let t0 = tokio::time::Instant::now();
    for seq in 0..total {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(seq as f64 / args.rate)).await;
        let text = format!("t={} seq={seq}{pad}", unix_micros());
        handle.broadcast_message(&args.snowflake, &args.uid, &text, &args.channel);
    }
    let send_wall = t0.elapsed().as_secs_f64();
    let tmp = args.sent_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{total}\n"))?;
    std::fs::rename(&tmp, &args.sent_file)?;

    wait_for_file(&args.done_file, max_wait).await;
    let cpu = cpu_seconds() - cpu0;
    let stats = serde_json::json!({
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
    });
    eprintln!("{stats}");
    if let Some(p) = &args.stats_file {
        std::fs::write(p, format!("{stats}\n"))?;
    }
    std::process::exit(0);
}
