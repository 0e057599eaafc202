//! What every bench server driver shares (ours, the floor, the heap
//! profile): the command line of the file protocol `bench/run.py` and the
//! loadgen speak, the bot that broadcasts `t=<unix micros> seq=<n>` at a
//! fixed rate, and the process's CPU and memory readings.
//!
//! The file protocol:
//! - `--ready-file` is written with the bound address once the server listens;
//! - `--start-file` appears when every client has joined: sample RSS, start
//!   the CPU clock and the bot;
//! - `--sent-file` is written when the bot has finished: the number sent;
//! - `--done-file` appears when the loadgen has stopped measuring: stop the
//!   CPU clock, write `--stats-file` (one JSON line) and exit.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::loadgen::cpu_seconds;

/// Command line shared by the drivers.
#[derive(clap::Args, Debug, Clone)]
pub struct DriverArgs {
    /// Port on 127.0.0.1 (0 picks a free one; see --ready-file).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Broadcasts per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of broadcasting.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Discord server the bot posts to (D-World).
    #[arg(long, default_value = "232769614004748288")]
    pub snowflake: String,
    /// Author of the bot's messages (a D-World mock user).
    #[arg(long, default_value = "123456789012345001")]
    pub uid: String,
    #[arg(long, default_value = "527964146659229701")]
    pub channel: String,
    #[arg(long)]
    pub start_file: PathBuf,
    #[arg(long)]
    pub sent_file: PathBuf,
    #[arg(long)]
    pub done_file: PathBuf,
    /// Where to write the final JSON stats (also printed on stderr).
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Written with the bound address once the server listens.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Give up waiting for a signal file after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    pub max_wait: f64,
    /// Append this many bytes of text to each message (bigger frames).
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
    /// Seconds to wait after the start signal before the memory sample
    /// (idle runs: what a server holds once a burst of joins is over).
    #[arg(long, default_value_t = 0.0)]
    pub settle: f64,
    /// Members in the `server-join` (`d_back_bench::users`); 0: the
    /// server's own mock users.
    #[arg(long, default_value_t = 0)]
    pub users: usize,
}

impl DriverArgs {
    pub fn max_wait(&self) -> Duration {
        Duration::from_secs_f64(self.max_wait)
    }

    /// Announces the bound address (stderr and `--ready-file`).
    pub fn ready(&self, who: &str, addr: std::net::SocketAddr) -> std::io::Result<()> {
        eprintln!("{who}: listening on {addr}, RSS {} kB", status_kb("VmRSS"));
        match &self.ready_file {
            Some(p) => std::fs::write(p, format!("{addr}\n")),
            None => Ok(()),
        }
    }

    /// Waits for the start signal (exits the process without one), then
    /// `--settle` seconds.
    pub async fn wait_start(&self, who: &str) {
        if !wait_for_file(&self.start_file, self.max_wait()).await {
            eprintln!("{who}: no start signal; exiting");
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_secs_f64(self.settle)).await;
    }

    /// The bot: `rate * duration` chat texts on a fixed schedule, each
    /// handed to `send` (fire and forget, as a Discord bot's would be).
    /// Writes `--sent-file` at the end; answers (sent, wall seconds).
    pub async fn run_bot(&self, mut send: impl FnMut(String)) -> std::io::Result<(u64, f64)> {
        let total = (self.rate * self.duration).round() as u64;
        let pad = if self.pad > 0 {
            format!(" {}", "x".repeat(self.pad))
        } else {
            String::new()
        };
        let t0 = tokio::time::Instant::now();
        for seq in 0..total {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(seq as f64 / self.rate)).await;
            send(format!("t={} seq={seq}{pad}", unix_micros()));
        }
        let wall = t0.elapsed().as_secs_f64();
        let tmp = self.sent_file.with_extension("tmp");
        std::fs::write(&tmp, format!("{total}\n"))?;
        std::fs::rename(&tmp, &self.sent_file)?;
        Ok((total, wall))
    }

    /// Waits for the done signal (bounded).
    pub async fn wait_done(&self) {
        wait_for_file(&self.done_file, self.max_wait()).await;
    }

    /// The whole run of a driver whose server listens on `addr`: memory
    /// before any client, the start signal, memory with every client
    /// joined, the bot (`send` gets each text), the done signal, and the
    /// stats (`server` names it; `sessions` counts joined clients).
    pub async fn measure(
        &self,
        server: &str,
        addr: std::net::SocketAddr,
        sessions: impl Fn() -> usize,
        send: impl FnMut(String),
    ) -> std::io::Result<()> {
        let (rss_base, heap_base) = (status_kb("VmRSS"), heap_in_use_kb());
        self.ready(server, addr)?;
        self.wait_start(server).await;
        let (rss_connected, heap_connected) = (status_kb("VmRSS"), heap_in_use_kb());
        let cpu0 = cpu_seconds();
        let sessions_at_start = sessions();
        let (total, send_wall) = self.run_bot(send).await?;
        self.wait_done().await;
        let cpu = cpu_seconds() - cpu0;
        self.finish(&serde_json::json!({
            "server": server,
            "sent": total,
            "send_wall_s": send_wall,
            "sessions_at_start": sessions_at_start,
            "cpu_phase_s": cpu,
            "cpu_total_s": cpu_seconds(),
            "rss_base_kb": rss_base,
            "rss_connected_kb": rss_connected,
            "heap_base_kb": heap_base,
            "heap_connected_kb": heap_connected,
            "rss_end_kb": status_kb("VmRSS"),
            "hwm_kb": status_kb("VmHWM"),
            "sessions_at_end": sessions(),
        }))
    }

    /// Prints the final stats and writes `--stats-file`.
    pub fn finish(&self, stats: &serde_json::Value) -> std::io::Result<()> {
        eprintln!("{stats}");
        match &self.stats_file {
            Some(p) => std::fs::write(p, format!("{stats}\n")),
            None => Ok(()),
        }
    }
}

/// A process's user + system CPU seconds (/proc/PID/stat fields 14 and 15).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / ticks
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM).
pub fn status_kb(field: &str) -> u64 {
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
pub fn heap_in_use_kb() -> u64 {
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

pub fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// Polls for a file every 20 ms; false when `limit` passes first.
pub async fn wait_for_file(path: &Path, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while !path.exists() {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
