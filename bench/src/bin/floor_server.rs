//! The floor: the least a fan-out server can do for this load, to measure
//! ours against.
//!
//! A plain tokio-tungstenite server with no actors, limits, timers or
//! batching: each connection is one task that sends the server list, answers
//! any `connect` with the same prebuilt `server-join` (`--users N`
//! synthetic members, as ours and the original get), and then writes every
//! broadcast from a `tokio::sync::broadcast` channel as its own frame (one
//! write per frame). The bot and the file protocol are
//! `d_back_bench::driver`'s, so `bench/run.py` drives it as it drives ours.
//!
//! ```text
//! cargo run --release -p d-back-bench --bin floor_server -- --port 3000 --rate 100 --users 50 \
//!     --start-file /tmp/b/start --sent-file /tmp/b/sent --done-file /tmp/b/done
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use d_back_bench::driver::DriverArgs;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Command line of the floor driver.
#[derive(Parser, Debug)]
#[command(about = "a minimal tokio-tungstenite fan-out server with a broadcasting bot")]
struct Args {
    #[command(flatten)]
    driver: DriverArgs,
}

/// The frames every connection gets, made once.
struct Frames {
    list: String,
    join: String,
}

impl Frames {
    fn new(snowflake: &str, users: usize) -> Frames {
        let list = format!(
            r#"{{"type":"server-list","data":{{"{snowflake}":{{"id":"dworld","name":"D-World","passworded":false,"default":true}}}}}}"#
        );
        let users = d_back_bench::users::users_json(users);
        let join = format!(
            r#"{{"type":"server-join","data":{{"users":{users},"request":{{"server":"dworld"}},"serverName":"D-World"}}}}"#
        );
        Frames { list, join }
    }
}

/// One connection: greet, join on `connect`, then forward broadcasts.
async fn serve(
    tcp: TcpStream,
    frames: Arc<Frames>,
    bus: broadcast::Sender<Arc<str>>,
    joined: Arc<AtomicUsize>,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    if ws.send(Message::Text(frames.list.clone())).await.is_err() {
        return;
    }
    let mut feed: Option<broadcast::Receiver<Arc<str>>> = None;
    loop {
        let next = async {
            match feed.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = next => match frame {
                Ok(text) => {
                    if ws.send(Message::Text(text.to_string())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if t.contains("\"connect\"") => {
                    if feed.is_none() {
                        feed = Some(bus.subscribe());
                        joined.fetch_add(1, Ordering::Relaxed);
                    }
                    if ws.send(Message::Text(frames.join.clone())).await.is_err() {
                        break;
                    }
                }
                // tungstenite answers a Close itself; the stream then ends.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    if feed.is_some() {
        joined.fetch_sub(1, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Args { driver: args } = Args::parse();
    let _ = d_back::raise_open_files_limit();
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    let frames = Arc::new(Frames::new(&args.snowflake, args.users.max(1)));
    // Deep enough that no client lags at the bench's rates.
    let (bus, _) = broadcast::channel::<Arc<str>>(65_536);
    let joined = Arc::new(AtomicUsize::new(0));
    {
        let (bus, joined, frames) = (bus.clone(), joined.clone(), frames.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, frames.clone(), bus.clone(), joined.clone()));
            }
        });
    }
    let (snowflake, uid, channel) = (&args.snowflake, &args.uid, &args.channel);
    let send = |text: String| {
        let text = serde_json::Value::String(text);
        let frame = format!(
            r#"{{"type":"message","server":"{snowflake}","data":{{"uid":"{uid}","message":{text},"channel":"{channel}"}}}}"#
        );
        let _ = bus.send(frame.into());
    };
    args.measure("floor", addr, || joined.load(Ordering::Relaxed), send)
        .await?;
    std::process::exit(0);
}
