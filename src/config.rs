//! Every tunable with a named default. The command line and the builder both
//! fill a [`Config`]; tests shrink the timers to milliseconds.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::base_path::normalize as normalize_base_path;

/// Default port, as the original.
pub const DEFAULT_PORT: u16 = 3000;
/// Default host, as the original.
pub const DEFAULT_HOST: &str = "localhost";

/// Server settings. Construct with `Config::default()` and override fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Serve this directory instead of the built-in frontend.
    pub static_dir: Option<PathBuf>,
    /// Serve everything (page, socket, `/api/*`, probes, `/metrics`) under
    /// this path, e.g. `/dzone` behind a proxy's `location /dzone/`; `""`
    /// is the root. Checked and normalized by `Builder::build` (see
    /// [`normalize_base_path`]).
    pub base_path: String,
    /// Send mock chat and presence to sessions joined on mock data.
    pub mock_traffic: bool,
    /// Period of mock chat per session.
    pub mock_chat_every: Duration,
    /// Period of mock presence changes per session.
    pub mock_presence_every: Duration,
    /// How long a provider callback may take before its safe default is used.
    pub provider_timeout: Duration,
    /// How long `GET /readyz` waits for the providers' server list before it
    /// answers 503 "providers not answering"; keep it below `provider_timeout`
    /// (past that a hung provider answers its safe default).
    pub readiness_timeout: Duration,
    /// Server ping period.
    pub heartbeat_interval: Duration,
    /// A client silent for this long is closed.
    pub client_timeout: Duration,
    /// Largest inbound message (after reassembly of fragments); bigger closes with 1009.
    pub max_frame_bytes: usize,
    /// Outbound backlog per session, in bytes, before the session is closed.
    pub max_backlog_bytes: usize,
    /// Hub batches queued for one session (its outbox), before it is closed.
    pub max_backlog_frames: usize,
    /// A hub sends a broadcast at once when no other is waiting, and
    /// batches those already queued behind it; this bounds how long a batch
    /// may wait for broadcasts it was promised.
    pub batch_window: Duration,
    /// The kernel aborts a connection whose peer has not taken data for this
    /// long (TCP_USER_TIMEOUT): the last resort against a reader that stalls.
    pub write_timeout: Duration,
    /// Offer-driven permessage-deflate (RFC 7692): answer a client's
    /// compression offer and send the big frames compressed.
    pub compression: bool,
    /// The zlib level compressed frames are made at, 0 (stored) to 9.
    pub compression_level: u32,
    /// Frames shorter than this go out uncompressed even when negotiated.
    pub compression_min_bytes: usize,
    /// Inbound frames a session may send in a burst.
    pub rate_burst: u32,
    /// Inbound frames per second a session may sustain.
    pub rate_per_sec: u32,
    /// WebSocket sessions in total.
    pub max_connections: usize,
    /// WebSocket sessions per client IP.
    pub max_connections_per_ip: usize,
    /// An HTTP request (and so a WebSocket upgrade) must arrive within this.
    pub handshake_timeout: Duration,
    /// Refused authentication attempts allowed per IP and per session in `auth_window`.
    pub auth_attempts: u32,
    pub auth_window: Duration,
    /// How long a successful Discord validation is remembered.
    pub auth_cache_ttl: Duration,
    /// Origins allowed to open a WebSocket; empty means any, as the original.
    pub allowed_origins: Vec<String>,
    /// Bearer token for `POST /api/broadcast`; `None` disables the endpoint.
    pub publish_token: Option<String>,
    /// After the server sends a Close frame (errors, timeouts, eviction,
    /// shutdown), how long it waits for the client's Close before it closes
    /// the TCP connection anyway.
    pub close_timeout: Duration,
    /// On SIGINT/SIGTERM sessions get 1001 and the process exits within this.
    pub shutdown_grace: Duration,
    /// Handle SIGINT/SIGTERM, and SIGHUP to reload the TLS certificate
    /// (off when embedded in a program that owns signals).
    pub handle_signals: bool,
    /// Serve HTTPS and `wss://` with this PEM certificate chain (with
    /// `tls_key`); re-read on SIGHUP or [`Handle::reload_tls`](crate::Handle::reload_tls).
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (CIDR blocks or addresses) whose `X-Forwarded-For` /
    /// `Forwarded` name the client; empty trusts no one. A block that does
    /// not parse fails `Builder::build`.
    pub trusted_proxies: Vec<String>,
    /// Serve Prometheus metrics at `GET /metrics` (otherwise a 404).
    pub metrics: bool,
    /// Bearer token `GET /metrics` requires; `None` serves it to anyone.
    pub metrics_token: Option<String>,
    /// Join other instances through this Redis (`redis://host:port/db`):
    /// broadcasts, server data and authentication limits are shared.
    /// `None` keeps everything in this process.
    pub redis_url: Option<String>,
    /// Where the server list, users and client ids come from.
    pub source: DataSource,
    /// How often an instance with a data source rewrites its snapshot in
    /// Redis (changed keys only); presence broadcasts rewrite it sooner.
    pub snapshot_every: Duration,
}

/// Where an instance's server list, users and client ids come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataSource {
    /// This instance's callbacks (or the built-in Discord bot, or mock
    /// data); with `redis_url` it also writes them to Redis for others.
    #[default]
    Local,
    /// The snapshot another instance writes to Redis (needs `redis_url`).
    Redis,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            static_dir: None,
            base_path: String::new(),
            mock_traffic: true,
            mock_chat_every: Duration::from_secs(5),
            mock_presence_every: Duration::from_secs(4),
            provider_timeout: Duration::from_secs(5),
            readiness_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
            client_timeout: Duration::from_secs(15),
            max_frame_bytes: 64 * 1024,
            max_backlog_bytes: 1024 * 1024,
            max_backlog_frames: 1024,
            batch_window: Duration::from_millis(20),
            write_timeout: Duration::from_secs(20),
            compression: true,
            compression_level: 6,
            compression_min_bytes: 256,
            rate_burst: 60,
            rate_per_sec: 10,
            max_connections: 50_000,
            max_connections_per_ip: 256,
            handshake_timeout: Duration::from_secs(5),
            auth_attempts: 5,
            auth_window: Duration::from_secs(60),
            auth_cache_ttl: Duration::from_secs(300),
            allowed_origins: Vec::new(),
            publish_token: None,
            close_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            handle_signals: true,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            metrics: false,
            metrics_token: None,
            redis_url: None,
            source: DataSource::Local,
            snapshot_every: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The compression settings the WebSocket paths use.
    pub(crate) fn deflate(&self) -> crate::deflate::Settings {
        crate::deflate::Settings {
            enabled: self.compression,
            level: self.compression_level.min(9),
            min_bytes: self.compression_min_bytes,
        }
    }
}
