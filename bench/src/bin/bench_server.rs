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
use d_back_bench::driver::DriverArgs;
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
    args.measure(
        "ours",
        addr,
        || handle.joined_count(),
        |text| handle.broadcast_message(&args.snowflake, &args.uid, &text, &args.channel),
    )
    .await?;
    std::process::exit(0);
}
