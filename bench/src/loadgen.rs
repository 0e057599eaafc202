//! Fan-out load generator for any server that speaks the d-back protocol.
//!
//! It opens N WebSocket clients (ramped, `--ramp` connects in flight at a
//! time), each doing the real handshake (`server-list`, then `connect`, then
//! `server-join`), and then reads every frame. The bot side of the server under
//! test broadcasts chat messages whose text is `t=<unix micros> seq=<n>`; the
//! loadgen finds the `"t=` marker by a byte search (no JSON parse per frame)
//! and records the delivery latency.
//!
//! Coordination with a driver (see `bench/`) is through files, so the same
//! binary measures our server and the Python original alike:
//! - `--start-file`: created once every client has joined; the driver starts
//!   broadcasting when it appears (and samples RSS with all clients joined).
//! - `--sent-file`: written by the driver when it has finished; holds the
//!   number of messages it sent. Loss = sent x healthy clients - delivered.
//!   (`--expect-sent N` instead gives that number up front.)
//! - `--done-file`: created when the loadgen has stopped measuring, so the
//!   driver knows the broadcast phase (for its CPU time) is over.
//!
//! Storm mode (`--storm M --concurrency C`) measures handshakes only: M
//! clients, C at a time, each connects, joins, and closes as a browser does
//! (sends Close, reads the server's Close, waits for its EOF); the close
//! latency is reported beside the handshake rate.
//!
//! The last line printed on stdout is a JSON object with every number in the
//! human summary above it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Command line of the load generator.
#[derive(Parser, Debug, Clone)]
#[command(about = "WebSocket fan-out load generator for d-back servers")]
pub struct Args {
    /// Offer permessage-deflate as Chromium does (`permessage-deflate;
    /// client_max_window_bits`) and inflate compressed frames.
    #[arg(long)]
    pub deflate: bool,
    /// WebSocket URL of the server under test (loopback only).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws")]
    pub url: String,
    /// Healthy clients: they read every frame and are measured.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Short server id sent in `connect`.
    #[arg(long, default_value = "dworld")]
    pub server: String,
    /// Measurement length in seconds when no --sent-file is given; with one,
    /// the longest wait for it after the start signal.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Connects (TCP + WebSocket handshake + join) in flight at a time.
    #[arg(long, default_value_t = 200)]
    pub ramp: usize,
    /// Extra clients that join and then never read again (tiny receive buffer).
    #[arg(long, default_value_t = 0)]
    pub stalled: usize,
    /// Storm mode: this many handshakes (connect, join, close), nothing else.
    #[arg(long)]
    pub storm: Option<usize>,
    /// Storm mode: handshakes in flight at a time.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Messages the bot side sends (if known up front).
    #[arg(long)]
    pub expect_sent: Option<u64>,
    /// Created when every client has joined (the driver's go signal).
    #[arg(long)]
    pub start_file: Option<PathBuf>,
    /// Written by the driver when it stops sending: the number sent.
    #[arg(long)]
    pub sent_file: Option<PathBuf>,
    /// Created when the loadgen stops measuring.
    #[arg(long)]
    pub done_file: Option<PathBuf>,
    /// Seconds to wait for late deliveries once the sender has finished.
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// Seconds allowed for one connect + join before it counts as failed.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,
    /// Also print latency percentiles per second of send time (stderr), to
    /// see when a tail happens.
    #[arg(long)]
    pub timeline: bool,
    /// Worker threads of the loadgen's runtime (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Everything one run measured; printed as the human summary and as JSON.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub clients: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub handshake_p50_ms: f64,
    pub handshake_p99_ms: f64,
    pub handshake_max_ms: f64,
    pub handshakes_per_s: f64,
    /// Storm: from sending Close to the server's EOF (its Close read on the way).
    pub close_p50_ms: f64,
    pub close_p99_ms: f64,
    pub close_max_ms: f64,
    /// Storm: closes that got no Close frame back, or no EOF in time.
    pub close_failed: usize,
    pub sent: u64,
    pub expected: u64,
    pub delivered: u64,
    pub loss: i64,
    pub other_frames: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub deliveries_per_s: f64,
    pub healthy_closed_early: usize,
    pub stalled: usize,
    pub stalled_closed_by_server: usize,
    pub loadgen_cpu_s: f64,
    pub wall_s: f64,
    /// The `server-join` frame as the last client to join received it:
    /// bytes on the wire (header included), its JSON's length, and whether
    /// it came compressed.
    pub join_wire_bytes: u64,
    pub join_json_bytes: u64,
    pub join_compressed: bool,
}

/// What the handshakes saw of the `server-join` (for the Report).
static JOIN_WIRE: AtomicU64 = AtomicU64::new(0);
static JOIN_JSON: AtomicU64 = AtomicU64::new(0);
static JOIN_COMPRESSED: AtomicU64 = AtomicU64::new(0);

fn join_stats(r: &mut Report) {
    r.join_wire_bytes = JOIN_WIRE.load(Ordering::Relaxed);
    r.join_json_bytes = JOIN_JSON.load(Ordering::Relaxed);
    r.join_compressed = JOIN_COMPRESSED.load(Ordering::Relaxed) == 1;
}

/// User + system CPU seconds this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Parses the decimal digits at the start of `b` (the timestamp after `"t=`).
fn leading_number(b: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for &c in b.iter().take(20) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        any = true;
    }
    any.then_some(n)
}

/// Latency samples in microseconds. A sorted Vec is exact and cheap enough at
/// a few million samples.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[idx]) / 1000.0
}

/// Where the server lives, taken from the URL once.
#[derive(Clone)]
struct Target {
    addr: std::net::SocketAddr,
    /// The HTTP upgrade request, ready to write.
    upgrade: Arc<[u8]>,
    /// The masked `connect` frame, ready to write.
    connect_frame: Arc<[u8]>,
}

impl Target {
    fn new(url: &str, server: &str, deflate: bool) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("--url must start with ws:// (got {url})"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => (&authority[..i], &authority[i + 1..]),
            _ => (authority, "80"),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("bad port in --url {url}"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = if bare == "localhost" {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            bare.parse()
                .map_err(|_| format!("--url host must be a loopback IP, got {host}"))?
        };
        if !ip.is_loopback() {
            return Err(format!("refusing non-loopback target {ip}"));
        }
        let offer = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let upgrade = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bG9hZGdlbi1kLWJhY2sxMg==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        let connect =
            serde_json::json!({"type": "connect", "data": {"server": server}}).to_string();
        Ok(Self {
            addr: (ip, port).into(),
            upgrade: upgrade.into_bytes().into(),
            connect_frame: client_frame(OP_TEXT, connect.as_bytes()).into(),
        })
    }
}

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// Clients must mask what they send; the key need not be secret here.
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x8e];

/// One masked, final client frame.
fn client_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | op);
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// A frame found at the front of the read buffer.
struct Frame {
    op: u8,
    /// RSV1: a permessage-deflate payload.
    compressed: bool,
    payload: std::ops::Range<usize>,
    len: usize,
}

/// Parses the frame at the start of `b`, or None if it is not complete yet.
/// Server frames are unmasked; a masked one is unmasked in place.
fn parse_frame(b: &mut [u8]) -> Option<Frame> {
    if b.len() < 2 {
        return None;
    }
    let op = b[0] & 0x0f;
    let masked = b[1] & 0x80 != 0;
    let (mut hdr, len) = match b[1] & 0x7f {
        126 => (4, usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]))),
        127 => {
            let mut x = [0u8; 8];
            x.copy_from_slice(b.get(2..10)?);
            (10, u64::from_be_bytes(x) as usize)
        }
        n => (2, usize::from(n)),
    };
    let key = if masked {
        let k = [
            *b.get(hdr)?,
            *b.get(hdr + 1)?,
            *b.get(hdr + 2)?,
            *b.get(hdr + 3)?,
        ];
        hdr += 4;
        Some(k)
    } else {
        None
    };
    let total = hdr.checked_add(len)?;
    if b.len() < total {
        return None;
    }
    if let Some(k) = key {
        for (i, x) in b[hdr..total].iter_mut().enumerate() {
            *x ^= k[i % 4];
        }
    }
    Some(Frame {
        op,
        compressed: b[0] & 0x40 != 0,
        payload: hdr..total,
        len: total,
    })
}

/// A client connection: the socket plus what has been read but not parsed.
/// A hand-rolled client keeps the loadgen's cost per frame to one buffer
/// scan; one read() takes every frame the kernel has queued.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` that hold unparsed data.
    filled: usize,
    /// The connection's inflater, made at its first compressed frame and
    /// kept (a server may keep its compression context between messages,
    /// as the original does).
    inflater: Option<Box<flate2::Decompress>>,
    /// The last compressed payload, inflated.
    inflated: Vec<u8>,
    /// Wire size of the last data frame.
    last_wire: usize,
}

/// What a read step produced.
enum Event {
    /// A text or binary payload is at `buf[range]`.
    Data(std::ops::Range<usize>),
    /// A compressed payload, inflated into `Conn::inflated`.
    Inflated,
    Closed,
}

impl Conn {
    /// Takes the next complete frame from the buffer without reading.
    /// Control frames are answered here. `consumed` is how far the caller
    /// may compact once it is done with the returned payload.
    async fn next_buffered(&mut self, consumed: &mut usize) -> Option<Event> {
        loop {
            let f = parse_frame(&mut self.buf[*consumed..self.filled])?;
            let start = *consumed;
            *consumed += f.len;
            let payload = start + f.payload.start..start + f.payload.end;
            match f.op {
                OP_TEXT | OP_BINARY | 0x0 if f.compressed => {
                    self.last_wire = f.len;
                    let inflater = self
                        .inflater
                        .get_or_insert_with(|| Box::new(flate2::Decompress::new(false)));
                    let mut input = self.buf[payload].to_vec();
                    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    self.inflated.clear();
                    self.inflated.reserve(input.len() * 4);
                    let start = inflater.total_in();
                    loop {
                        let at = (inflater.total_in() - start) as usize;
                        if inflater
                            .decompress_vec(
                                &input[at..],
                                &mut self.inflated,
                                flate2::FlushDecompress::Sync,
                            )
                            .is_err()
                        {
                            return Some(Event::Closed);
                        }
                        let done = (inflater.total_in() - start) as usize == input.len();
                        if done && self.inflated.len() < self.inflated.capacity() {
                            break;
                        }
                        self.inflated.reserve(self.inflated.capacity().max(4096));
                    }
                    return Some(Event::Inflated);
                }
                OP_TEXT | OP_BINARY | 0x0 => {
                    self.last_wire = f.len;
                    return Some(Event::Data(payload));
                }
                OP_PING => {
                    let pong = client_frame(OP_PONG, &self.buf[payload]);
                    if self.stream.write_all(&pong).await.is_err() {
                        return Some(Event::Closed);
                    }
                }
                OP_CLOSE => return Some(Event::Closed),
                _ => {}
            }
        }
    }

    /// Drops the first `consumed` bytes of the buffer.
    fn compact(&mut self, consumed: usize) {
        if consumed > 0 {
            self.buf.copy_within(consumed..self.filled, 0);
            self.filled -= consumed;
        }
    }

    async fn read_more(&mut self) -> bool {
        if self.filled == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        match self.stream.read(&mut self.buf[self.filled..]).await {
            Ok(n) if n > 0 => {
                self.filled += n;
                true
            }
            _ => false,
        }
    }
}

const BUF_START: usize = 16 * 1024;

/// Connects, upgrades, reads `server-list`, sends `connect`, and reads up
/// to `server-join`. `small_rcvbuf` makes a client whose kernel buffer fills
/// fast (the stalled client).
async fn handshake(t: &Target, small_rcvbuf: bool) -> Result<Conn, String> {
    let sock = if t.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("socket: {e}"))?;
    if small_rcvbuf {
        let _ = sock.set_recv_buffer_size(4096);
    }
    let stream = sock
        .connect(t.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut c = Conn {
        stream,
        buf: vec![0; BUF_START],
        filled: 0,
        inflater: None,
        inflated: Vec::new(),
        last_wire: 0,
    };
    c.stream
        .write_all(&t.upgrade)
        .await
        .map_err(|e| format!("send upgrade: {e}"))?;
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&c.buf[..c.filled], b"\r\n\r\n") {
            break i + 4;
        }
        if !c.read_more().await {
            return Err("closed during upgrade".into());
        }
    };
    if !c.buf.starts_with(b"HTTP/1.1 101") {
        let line = String::from_utf8_lossy(&c.buf[..head_end.min(80)]).into_owned();
        return Err(format!("upgrade refused: {}", line.trim()));
    }
    c.compact(head_end);

    let mut seen_list = false;
    loop {
        let mut consumed = 0;
        while let Some(ev) = c.next_buffered(&mut consumed).await {
            let b = match ev {
                Event::Data(p) => &c.buf[p],
                Event::Inflated => &c.inflated[..],
                Event::Closed => return Err("closed during handshake".into()),
            };
            if !seen_list && memchr::memmem::find(b, b"\"server-list\"").is_some() {
                seen_list = true;
                c.stream
                    .write_all(&t.connect_frame)
                    .await
                    .map_err(|e| format!("send connect: {e}"))?;
            } else if seen_list && memchr::memmem::find(b, b"\"server-join\"").is_some() {
                JOIN_WIRE.store(c.last_wire as u64, Ordering::Relaxed);
                JOIN_JSON.store(b.len() as u64, Ordering::Relaxed);
                JOIN_COMPRESSED.store(
                    u64::from(b.as_ptr() == c.inflated.as_ptr()),
                    Ordering::Relaxed,
                );
                c.compact(consumed);
                return Ok(c);
            } else if memchr::memmem::find(b, b"\"error\"").is_some() {
                return Err(format!(
                    "server answered an error: {}",
                    String::from_utf8_lossy(b)
                ));
            }
        }
        c.compact(consumed);
        if !c.read_more().await {
            return Err("closed during handshake".into());
        }
    }
}

/// What one healthy client saw.
#[derive(Default)]
struct ClientStats {
    latencies_us: Vec<u32>,
    /// Send time (unix seconds) of each sample, with --timeline only.
    sent_s: Vec<u32>,
    other_frames: u64,
    last_delivery: Option<Instant>,
    closed_early: bool,
}

/// Reads every frame until told to stop, timing the ones that carry `"t=`.
async fn read_loop(
    mut c: Conn,
    delivered: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
    timeline: bool,
) -> ClientStats {
    let marker = memchr::memmem::Finder::new(b"\"t=");
    let mut st = ClientStats::default();
    'outer: loop {
        let mut consumed = 0;
        let mut got = 0u64;
        let mut now = 0u64;
        while let Some(ev) = c.next_buffered(&mut consumed).await {
            let b = match ev {
                Event::Data(p) => &c.buf[p],
                Event::Inflated => &c.inflated[..],
                Event::Closed => {
                    st.closed_early = true;
                    break 'outer;
                }
            };
            match marker.find(b).and_then(|i| leading_number(&b[i + 3..])) {
                Some(sent_at) => {
                    if now == 0 {
                        now = unix_micros();
                    }
                    let lat = now.saturating_sub(sent_at).min(u64::from(u32::MAX)) as u32;
                    st.latencies_us.push(lat);
                    if timeline {
                        st.sent_s.push((sent_at / 1_000_000) as u32);
                    }
                    got += 1;
                }
                None => st.other_frames += 1,
            }
        }
        c.compact(consumed);
        if got > 0 {
            st.last_delivery = Some(Instant::now());
            delivered.fetch_add(got, Ordering::Relaxed);
        }
        let more = tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = c.read_more() => m,
        };
        if !more {
            st.closed_early = true;
            break;
        }
    }
    st
}

/// Holds a joined connection without reading until told to stop; then drains
/// it for a while to learn whether the server had closed it.
async fn stalled_client(mut c: Conn, mut stop: watch::Receiver<bool>) -> bool {
    let _ = stop.changed().await;
    let drained = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            c.filled = 0;
            if !c.read_more().await {
                return true;
            }
        }
    })
    .await;
    drained.unwrap_or(false)
}

fn touch(path: &Option<PathBuf>, content: &str) {
    if let Some(p) = path {
        if let Err(e) = std::fs::write(p, content) {
            eprintln!("loadgen: cannot write {}: {e}", p.display());
        }
    }
}

/// Waits for the driver's sent count (or --expect-sent / --duration).
async fn wait_for_sent(args: &Args) -> u64 {
    let limit = Instant::now() + Duration::from_secs_f64(args.duration);
    if let Some(path) = &args.sent_file {
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Ok(n) = s.trim().parse::<u64>() {
                    return n;
                }
            }
            if Instant::now() > limit {
                eprintln!(
                    "loadgen: no sent count in {} after {} s",
                    path.display(),
                    args.duration
                );
                return args.expect_sent.unwrap_or(0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep_until(limit.into()).await;
    args.expect_sent.unwrap_or(0)
}

fn handshake_stats(r: &mut Report, mut hs_us: Vec<u32>) {
    hs_us.sort_unstable();
    r.handshake_p50_ms = percentile_ms(&hs_us, 50.0);
    r.handshake_p99_ms = percentile_ms(&hs_us, 99.0);
    r.handshake_max_ms = hs_us.last().map_or(0.0, |&v| f64::from(v) / 1000.0);
}

/// Fan-out run: connect everyone, signal start, measure, stop.
pub async fn run_fanout(args: &Args) -> Result<Report, String> {
    let target = Target::new(&args.url, &args.server, args.deflate)?;
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let ramp = Arc::new(Semaphore::new(args.ramp.max(1)));
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let ramp_start = Instant::now();

    // Each client reports its handshake on `hs_tx`, then reads until stopped.
    let (hs_tx, mut hs_rx) = tokio::sync::mpsc::unbounded_channel::<Result<u32, String>>();
    let mut healthy = Vec::with_capacity(args.clients);
    let timeline = args.timeline;
    for _ in 0..args.clients {
        let (t, ramp, hs_tx, delivered, stop) = (
            target.clone(),
            ramp.clone(),
            hs_tx.clone(),
            delivered.clone(),
            stop_rx.clone(),
        );
        healthy.push(tokio::spawn(async move {
            let permit = ramp.acquire_owned().await.ok()?;
            let t0 = Instant::now();
            let res = tokio::time::timeout(timeout, handshake(&t, false)).await;
            drop(permit);
            match res {
                Ok(Ok(ws)) => {
                    let _ = hs_tx.send(Ok(t0.elapsed().as_micros() as u32));
                    drop(hs_tx);
                    Some(read_loop(ws, delivered, stop, timeline).await)
                }
                Ok(Err(e)) => {
                    let _ = hs_tx.send(Err(e));
                    None
                }
                Err(_) => {
                    let _ = hs_tx.send(Err("handshake timed out".into()));
                    None
                }
            }
        }));
    }
    let mut stalled = Vec::with_capacity(args.stalled);
    for _ in 0..args.stalled {
        let (t, stop) = (target.clone(), stop_rx.clone());
        stalled.push(tokio::spawn(async move {
            match tokio::time::timeout(timeout, handshake(&t, true)).await {
                Ok(Ok(ws)) => Some(stalled_client(ws, stop).await),
                _ => None,
            }
        }));
    }
    drop(hs_tx);

    let mut r = Report {
        mode: "fanout",
        clients: args.clients,
        stalled: args.stalled,
        ..Default::default()
    };
    let mut hs_us = Vec::with_capacity(args.clients);
    let mut first_err: Option<String> = None;
    for _ in 0..args.clients {
        match hs_rx.recv().await {
            Some(Ok(us)) => hs_us.push(us),
            Some(Err(e)) => {
                r.connect_failed += 1;
                first_err.get_or_insert(e);
            }
            None => break,
        }
    }
    r.connected = hs_us.len();
    join_stats(&mut r);
    let ramp_s = ramp_start.elapsed().as_secs_f64();
    r.handshakes_per_s = r.connected as f64 / ramp_s.max(1e-9);
    handshake_stats(&mut r, hs_us);
    if let Some(e) = first_err {
        eprintln!("loadgen: {} connects failed, first: {e}", r.connect_failed);
    }
    eprintln!(
        "loadgen: {} of {} clients joined in {:.2} s (+{} stalled); starting",
        r.connected, args.clients, ramp_s, args.stalled
    );
    // Give the stalled clients' handshakes a moment to finish too.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    touch(&args.start_file, "go\n");
    r.sent = wait_for_sent(args).await;
    r.expected = r.sent * r.connected as u64;
    let grace_end = Instant::now() + Duration::from_secs_f64(args.grace);
    while delivered.load(Ordering::Relaxed) < r.expected && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);

    let mut all_lat: Vec<u32> = Vec::new();
    let mut by_second: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    let mut last: Option<Instant> = None;
    for h in healthy {
        if let Ok(Some(st)) = h.await {
            all_lat.extend_from_slice(&st.latencies_us);
            for (&sec, &lat) in st.sent_s.iter().zip(&st.latencies_us) {
                by_second.entry(sec).or_default().push(lat);
            }
            r.other_frames += st.other_frames;
            r.healthy_closed_early += usize::from(st.closed_early);
            last = match (last, st.last_delivery) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    for h in stalled {
        if let Ok(Some(true)) = h.await {
            r.stalled_closed_by_server += 1;
        }
    }
    touch(&args.done_file, "done\n");

    if let Some(&first) = by_second.keys().next() {
        eprintln!("loadgen: latency by second of send time (ms): second count p50 p99 max");
        for (sec, mut lats) in by_second {
            lats.sort_unstable();
            eprintln!(
                "  {:>4} {:>8} {:>9.2} {:>9.2} {:>9.2}",
                sec - first,
                lats.len(),
                percentile_ms(&lats, 50.0),
                percentile_ms(&lats, 99.0),
                lats.last().map_or(0.0, |&v| f64::from(v) / 1000.0)
            );
        }
    }
    r.delivered = all_lat.len() as u64;
    r.loss = r.expected as i64 - r.delivered as i64;
    all_lat.sort_unstable();
    r.latency_p50_ms = percentile_ms(&all_lat, 50.0);
    r.latency_p99_ms = percentile_ms(&all_lat, 99.0);
    r.latency_max_ms = all_lat.last().map_or(0.0, |&v| f64::from(v) / 1000.0);
    let window = last.map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    r.deliveries_per_s = if window > 0.0 {
        r.delivered as f64 / window
    } else {
        0.0
    };
    r.loadgen_cpu_s = cpu_seconds() - cpu0;
    r.wall_s = wall0.elapsed().as_secs_f64();
    Ok(r)
}

impl Conn {
    /// Closes like a browser (RFC 6455 §7.1.1): sends Close, reads until the
    /// server's Close, then waits for the server to close TCP. True when
    /// both arrived.
    async fn close_properly(&mut self) -> bool {
        let close = client_frame(OP_CLOSE, &1000u16.to_be_bytes());
        if self.stream.write_all(&close).await.is_err() {
            return false;
        }
        let mut got_close = false;
        loop {
            let mut consumed = 0;
            while let Some(ev) = self.next_buffered(&mut consumed).await {
                if matches!(ev, Event::Closed) {
                    got_close = true;
                }
            }
            self.compact(consumed);
            if !self.read_more().await {
                return got_close;
            }
        }
    }
}

/// Storm run: `storm` handshakes, `concurrency` at a time, each closed as a
/// browser closes (Close, the server's Close, then its EOF), timed.
pub async fn run_storm(args: &Args, total: usize) -> Result<Report, String> {
    let target = Target::new(&args.url, &args.server, args.deflate)?;
    // The driver samples its baseline at the start signal.
    touch(&args.start_file, "go\n");
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1).min(total.max(1)) {
        let (t, next) = (target.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut closes = Vec::new();
            let mut close_failed = 0usize;
            let mut failed = 0usize;
            let mut first_err = None;
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < total {
                let t0 = Instant::now();
                match tokio::time::timeout(timeout, handshake(&t, false)).await {
                    Ok(Ok(mut c)) => {
                        ok.push(t0.elapsed().as_micros() as u32);
                        let t1 = Instant::now();
                        match tokio::time::timeout(timeout, c.close_properly()).await {
                            Ok(true) => closes.push(t1.elapsed().as_micros() as u32),
                            _ => close_failed += 1,
                        }
                    }
                    Ok(Err(e)) => {
                        failed += 1;
                        first_err.get_or_insert(e);
                    }
                    Err(_) => failed += 1,
                }
            }
            (ok, closes, close_failed, failed, first_err)
        }));
    }
    let mut r = Report {
        mode: "storm",
        clients: total,
        ..Default::default()
    };
    let mut hs = Vec::with_capacity(total);
    let mut closes = Vec::with_capacity(total);
    let mut first_err = None;
    for w in workers {
        if let Ok((ok, closed, close_failed, failed, err)) = w.await {
            hs.extend(ok);
            closes.extend(closed);
            r.close_failed += close_failed;
            r.connect_failed += failed;
            first_err = first_err.or(err);
        }
    }
    closes.sort_unstable();
    r.close_p50_ms = percentile_ms(&closes, 50.0);
    r.close_p99_ms = percentile_ms(&closes, 99.0);
    r.close_max_ms = closes.last().map_or(0.0, |&v| f64::from(v) / 1000.0);
    if let Some(e) = first_err {
        eprintln!(
            "loadgen: {} storm handshakes failed, first: {e}",
            r.connect_failed
        );
    }
    let wall = wall0.elapsed().as_secs_f64();
    r.connected = hs.len();
    r.handshakes_per_s = r.connected as f64 / wall.max(1e-9);
    handshake_stats(&mut r, hs);
    touch(&args.done_file, "done\n");
    r.loadgen_cpu_s = cpu_seconds() - cpu0;
    r.wall_s = wall;
    Ok(r)
}

/// Runs the mode the arguments ask for.
pub async fn run(args: &Args) -> Result<Report, String> {
    match args.storm {
        Some(m) => run_storm(args, m).await,
        None => run_fanout(args).await,
    }
}

/// The human summary (stderr-friendly, several lines).
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "connections: {}/{} established ({} failed); handshake p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} handshakes/s",
        r.connected, r.clients, r.connect_failed, r.handshake_p50_ms, r.handshake_p99_ms, r.handshake_max_ms, r.handshakes_per_s
    );
    if r.mode == "storm" {
        let _ = writeln!(
            s,
            "closes (Close, server Close, EOF): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
            r.close_p50_ms, r.close_p99_ms, r.close_max_ms, r.close_failed
        );
    }
    if r.mode == "fanout" {
        let _ = writeln!(
            s,
            "deliveries: {} of {} expected ({} sent x {} clients); loss {}; {} other frames",
            r.delivered, r.expected, r.sent, r.connected, r.loss, r.other_frames
        );
        let _ = writeln!(
            s,
            "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} deliveries/s; {} healthy closed early",
            r.latency_p50_ms, r.latency_p99_ms, r.latency_max_ms, r.deliveries_per_s, r.healthy_closed_early
        );
        if r.stalled > 0 {
            let _ = writeln!(
                s,
                "stalled: {} of {} closed by the server",
                r.stalled_closed_by_server, r.stalled
            );
        }
    }
    let _ = write!(
        s,
        "loadgen CPU: {:.2} s over {:.2} s wall",
        r.loadgen_cpu_s, r.wall_s
    );
    s
}

/// Entry point shared by the example binary: parse, run, print.
pub fn main() {
    let args = Args::parse();
    let _ = d_back::raise_open_files_limit();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start runtime: {e}");
            std::process::exit(2);
        }
    };
    match rt.block_on(run(&args)) {
        Ok(r) => {
            println!("{}", summary(&r));
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    }
}
