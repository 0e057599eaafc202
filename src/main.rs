//! The `d-back` command: parse options, start logging, serve; or, with
//! `config check` / `config example`, say what a start would read.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use d_back::config::DataSource;
use d_back::discord::{Discord, DiscordConfig};
use d_back::{Config, DBack};

/// The d-zone WebSocket server: serves the frontend and live Discord events.
///
/// The fields serialize under their config-file keys: `config check` and
/// `config example` print them.
#[derive(Parser, Debug, serde::Serialize)]
#[command(name = "d-back", version, about)]
struct Options {
    #[command(subcommand)]
    #[serde(skip)]
    command: Option<Action>,
    /// A TOML file with these options and a [discord] table, or d-zone's discord-config.json.
    #[arg(long, env = "D_BACK_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "D_BACK_HOST", default_value = d_back::config::DEFAULT_HOST)]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "D_BACK_PORT", default_value_t = d_back::config::DEFAULT_PORT)]
    port: u16,
    /// Serve the page, socket, /api, probes and /metrics under this path (e.g. /dzone behind a proxy).
    #[arg(long, env = "D_BACK_BASE_PATH", default_value = "")]
    base_path: String,
    /// Serve this directory instead of the built-in frontend (e.g. a d-zone build).
    #[arg(long, env = "D_BACK_STATIC_DIR")]
    static_dir: Option<PathBuf>,
    /// Allow WebSocket connections only from this Origin (repeatable; default any).
    #[arg(
        long = "allowed-origin",
        env = "D_BACK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Enables POST /api/broadcast for bots in other languages, with this bearer token.
    #[arg(long, env = "D_BACK_PUBLISH_TOKEN", hide_env_values = true)]
    publish_token: Option<String>,
    /// Maximum WebSocket sessions in total.
    #[arg(long, env = "D_BACK_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Maximum WebSocket sessions per client IP.
    #[arg(long, env = "D_BACK_MAX_CONNECTIONS_PER_IP", default_value_t = Config::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Largest inbound WebSocket message in bytes (bigger closes with 1009).
    #[arg(long, env = "D_BACK_MAX_FRAME_BYTES", default_value_t = Config::default().max_frame_bytes)]
    max_frame_bytes: usize,
    /// Outbound bytes queued for one client before it is closed as too slow.
    #[arg(long, env = "D_BACK_MAX_BACKLOG_BYTES", default_value_t = Config::default().max_backlog_bytes)]
    max_backlog_bytes: usize,
    /// permessage-deflate: answer browsers' compression offers (on) or never (off).
    #[arg(long, env = "D_BACK_COMPRESSION", default_value = "on", value_parser = ["on", "off"])]
    compression: String,
    /// zlib level of compressed frames, 0 (stored) to 9 (smallest).
    #[arg(long, env = "D_BACK_COMPRESSION_LEVEL", default_value_t = Config::default().compression_level,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    compression_level: u32,
    /// Frames shorter than this many bytes go out uncompressed (the server list and joins always compressed).
    #[arg(long, env = "D_BACK_COMPRESSION_MIN_BYTES", default_value_t = Config::default().compression_min_bytes)]
    compression_min_bytes: usize,
    /// Server ping interval, in seconds.
    #[arg(long, env = "D_BACK_HEARTBEAT_SECS", default_value_t = 5.0)]
    heartbeat_secs: f64,
    /// A client silent this long (seconds) is closed.
    #[arg(long, env = "D_BACK_CLIENT_TIMEOUT_SECS", default_value_t = 15.0)]
    client_timeout_secs: f64,
    /// Seconds a provider callback may take before its safe default answers.
    #[arg(long, env = "D_BACK_PROVIDER_TIMEOUT_SECS", default_value_t = 5.0)]
    provider_timeout_secs: f64,
    /// Seconds to wait for a client's Close answer after the server closes.
    #[arg(long, env = "D_BACK_CLOSE_TIMEOUT_SECS", default_value_t = 1.0)]
    close_timeout_secs: f64,
    /// Seconds to drain connections on SIGINT/SIGTERM.
    #[arg(long, env = "D_BACK_SHUTDOWN_GRACE_SECS", default_value_t = 10.0)]
    shutdown_grace_secs: f64,
    /// Do not send mock chat and presence to sessions on mock data.
    #[arg(long, env = "D_BACK_NO_MOCK_TRAFFIC")]
    no_mock_traffic: bool,
    /// Serve HTTPS and wss:// with this PEM certificate chain (with --tls-key); SIGHUP re-reads it.
    #[arg(long, env = "D_BACK_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "D_BACK_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// A reverse proxy (CIDR or address) whose X-Forwarded-For/Forwarded names the client (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "D_BACK_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Serve Prometheus metrics at GET /metrics.
    #[arg(long, env = "D_BACK_METRICS", value_parser = clap::builder::BoolishValueParser::new())]
    metrics: bool,
    /// Require this bearer token for GET /metrics.
    #[arg(long, env = "D_BACK_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Join other instances through this Redis (redis://[:password@]host:port[/db]).
    #[arg(long, env = "D_BACK_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Where server list, users and client ids come from: local (this instance's data, also written to Redis) or redis (another instance's snapshot).
    #[arg(long, env = "D_BACK_SOURCE", default_value = "local", value_parser = ["local", "redis"])]
    source: String,
    /// The built-in bot's gateway shards: auto (Discord's recommendation, more after a 4011) or a number ([discord] shards).
    #[arg(long, env = "D_BACK_SHARDS")]
    #[serde(skip)]
    shards: Option<String>,
    /// The shards this instance runs of a bot split over machines, A..B (B excluded); needs --shard-total ([discord] shard_range).
    #[arg(long, env = "D_BACK_SHARD_RANGE")]
    #[serde(skip)]
    shard_range: Option<String>,
    /// The shard count of every instance of a split bot, with --shard-range ([discord] shard_total).
    #[arg(long, env = "D_BACK_SHARD_TOTAL")]
    #[serde(skip)]
    shard_total: Option<u32>,
}

/// What to do instead of serving.
#[derive(Subcommand, Debug)]
enum Action {
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigAction),
    /// Probe GET /healthz of the d-back this configuration starts (file,
    /// environment and flags as a start reads them): exit 0 on a 200, 1
    /// when it does not answer so. The container's HEALTHCHECK.
    Health,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Read FILE (or --config), the environment and the flags as a start
    /// would; print the effective configuration with secrets redacted. Exit
    /// 0 when it is valid, 2 (with file, line and column) when not.
    Check {
        /// The config file (TOML, or d-zone's .json); default --config.
        file: Option<PathBuf>,
    },
    /// Print a commented config file with every key and its default.
    Example,
}

fn seconds(what: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| format!("--{what} must be a non-negative number of seconds"))
}

fn config(o: &Options) -> Result<Config, String> {
    if o.source == "redis" && o.redis_url.as_deref().map_or(true, str::is_empty) {
        return Err("--source redis needs a Redis URL (--redis-url)".into());
    }
    Ok(Config {
        static_dir: o.static_dir.clone(),
        base_path: d_back::config::normalize_base_path(&o.base_path)?,
        allowed_origins: o.allowed_origins.clone(),
        publish_token: o.publish_token.clone().filter(|t| !t.is_empty()),
        max_connections: o.max_connections,
        max_connections_per_ip: o.max_connections_per_ip,
        max_frame_bytes: o.max_frame_bytes,
        max_backlog_bytes: o.max_backlog_bytes,
        compression: match o.compression.as_str() {
            "on" => true,
            "off" => false,
            other => return Err(format!("--compression must be on or off, not {other:?}")),
        },
        compression_level: match o.compression_level {
            level @ 0..=9 => level,
            other => return Err(format!("--compression-level must be 0 to 9, not {other}")),
        },
        compression_min_bytes: o.compression_min_bytes,
        heartbeat_interval: seconds("heartbeat-secs", o.heartbeat_secs)?,
        client_timeout: seconds("client-timeout-secs", o.client_timeout_secs)?,
        provider_timeout: seconds("provider-timeout-secs", o.provider_timeout_secs)?,
        shutdown_grace: seconds("shutdown-grace-secs", o.shutdown_grace_secs)?,
        close_timeout: seconds("close-timeout-secs", o.close_timeout_secs)?,
        mock_traffic: !o.no_mock_traffic,
        tls_cert: o.tls_cert.clone(),
        tls_key: o.tls_key.clone(),
        trusted_proxies: o.trusted_proxies.clone(),
        metrics: o.metrics,
        metrics_token: o.metrics_token.clone().filter(|t| !t.is_empty()),
        redis_url: o.redis_url.clone().filter(|u| !u.is_empty()),
        source: match o.source.as_str() {
            "local" => DataSource::Local,
            "redis" => DataSource::Redis,
            other => return Err(format!("--source must be local or redis, not {other:?}")),
        },
        ..Config::default()
    })
}

/// Fills the options the command line left at their defaults from the
/// file; answers the file's Discord settings and the keys it filled.
fn apply_file(
    options: &mut Options,
    matches: &ArgMatches,
    file: cli::file::FileOptions,
) -> (Option<DiscordConfig>, Vec<&'static str>) {
    let mut filled = Vec::new();
    let unset = |id: &str| {
        matches!(
            matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        )
    };
    macro_rules! fill {
        ($($field:ident),*) => {$(
            if let Some(v) = file.$field {
                if unset(stringify!($field)) {
                    options.$field = v.into();
                    filled.push(stringify!($field));
                }
            }
        )*};
    }
    fill!(
        host,
        port,
        base_path,
        static_dir,
        allowed_origins,
        publish_token,
        max_connections,
        max_connections_per_ip,
        max_frame_bytes,
        max_backlog_bytes,
        compression,
        compression_level,
        compression_min_bytes,
        heartbeat_secs,
        client_timeout_secs,
        provider_timeout_secs,
        shutdown_grace_secs,
        close_timeout_secs,
        no_mock_traffic,
        tls_cert,
        tls_key,
        trusted_proxies,
        metrics,
        metrics_token,
        redis_url,
        source
    );
    (file.discord, filled)
}

/// The log filter when `RUST_LOG` is not set: our own lines at info; the
/// twilight crates (a line per shard event) and actix-server (its start and
/// worker shutdown lines, which came after a fatal sentence) at warn.
const DEFAULT_LOG: &str = "info,actix_server=warn,twilight_gateway=warn,twilight_gateway_queue=warn,twilight_http=warn,twilight_http_ratelimiting=warn";

/// What to do without a token, ending the sentence of either case.
const SET_TOKEN: &str = "set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal.";

/// The built-in bot, when a token is set (environment or file); else
/// whether servers were configured for it (the notice is louder then).
fn discord(
    file: Option<DiscordConfig>,
    options: &Options,
) -> Result<Result<Discord, NoToken>, String> {
    let had_servers = file.as_ref().is_some_and(|d| !d.servers.is_empty());
    let mut config = file.unwrap_or_default().with_env();
    if let Some(n) = &options.shards {
        config.shards = d_back::discord::parse_shards(n).map_err(|e| format!("--{e}"))?;
    }
    if let Some(r) = &options.shard_range {
        config.shard_range =
            Some(d_back::discord::parse_shard_range(r).map_err(|e| format!("--shard-range: {e}"))?);
    }
    if let Some(t) = options.shard_total {
        config.shard_total = Some(t);
    }
    if let Some(token) = cli::token_file::from_env()? {
        config.token = Some(token);
    }
    if config
        .token
        .as_deref()
        .map_or(true, |t| t.trim().is_empty())
    {
        return Ok(Err(NoToken { had_servers }));
    }
    Discord::new(config).map(Ok).map_err(|e| e.to_string())
}

/// No bot token: mock servers are shown. Said once the server listens, so
/// a start that fails says only why.
struct NoToken {
    had_servers: bool,
}

impl NoToken {
    fn log(&self) {
        if self.had_servers {
            log::warn!("Discord servers are configured but no bot token is set, so mock servers are shown: {SET_TOKEN}");
        } else {
            log::info!(
                "no Discord bot token, so mock servers are shown: to show your own, {SET_TOKEN}"
            );
        }
    }
}

/// Where a `source = "redis"` instance's servers come from, said instead
/// of the no-token notice (which would promise mock servers it does not
/// show). The URL's password is hidden.
fn from_redis(url: &str, bot: bool) -> String {
    let bot = if bot {
        "its Discord bot sends live events, but not the lists"
    } else {
        "it runs no Discord bot"
    };
    format!(
        "servers come from Redis at {}: this instance (source = \"redis\") shows the server list, members and client ids that an instance with source = \"local\" writes there; {bot}",
        cli::check::without_password(url)
    )
}

/// Everything a start reads, checked: what `config check` prints and
/// what `main` serves with.
struct Prepared {
    options: Options,
    /// The keys whose value came from the config file.
    from_file: Vec<&'static str>,
    discord: Result<Discord, NoToken>,
    config: Config,
}

/// Reads the file, the environment and the flags as a start does; the
/// error is one sentence.
fn prepare(matches: &ArgMatches, mut options: Options) -> Result<Prepared, String> {
    let (file, from_file) = match options.config.clone() {
        None => (None, Vec::new()),
        Some(path) => {
            let file = cli::file::load(&path)?;
            apply_file(&mut options, matches, file)
        }
    };
    let discord = discord(file, &options)?;
    let config = config(&options)?;
    if let Some(dir) = &config.static_dir {
        if !dir.is_dir() {
            return Err(format!(
                "the static directory {} does not exist or is not a directory.",
                dir.display()
            ));
        }
    }
    Ok(Prepared {
        options,
        from_file,
        discord,
        config,
    })
}

/// The options' values as config-file keys.
fn as_table(options: &Options) -> toml::Table {
    toml::Table::try_from(options).unwrap_or_default()
}

/// `d-back config check`: the effective configuration, or the error (exit 2).
fn config_check(matches: &ArgMatches, options: Options) -> ExitCode {
    let prepared = match prepare(matches, options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("d-back: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Options::command();
    let origin = |name: &str| match matches.value_source(name) {
        Some(ValueSource::CommandLine) => cli::check::Origin::Flag(
            cli.get_arguments()
                .find(|a| a.get_id() == name)
                .and_then(|a| a.get_long())
                .unwrap_or(name)
                .to_string(),
        ),
        Some(ValueSource::EnvVariable) => cli::check::Origin::Env(
            cli.get_arguments()
                .find(|a| a.get_id() == name)
                .and_then(|a| a.get_env())
                .map_or(name.to_string(), |e| e.to_string_lossy().into_owned()),
        ),
        _ if prepared.from_file.contains(&name) => cli::check::Origin::File,
        _ => cli::check::Origin::Default,
    };
    print!(
        "{}",
        cli::check::effective(
            prepared.options.config.as_deref(),
            &as_table(&prepared.options),
            origin,
            prepared.discord.as_ref().ok().map(Discord::config),
        )
    );
    ExitCode::SUCCESS
}

/// `d-back health`: only the listening keys are read, so a probe never
/// fails on what a running server already accepted (a token file, say).
fn health(matches: &ArgMatches, mut options: Options) -> ExitCode {
    if let Some(path) = options.config.clone() {
        match cli::file::load(&path) {
            Ok(file) => {
                apply_file(&mut options, matches, file);
            }
            Err(e) => {
                eprintln!("d-back: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let base = match d_back::config::normalize_base_path(&options.base_path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("d-back: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = options.tls_cert.is_some();
    match cli::health::probe(&options.host, options.port, &base, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("d-back: health: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `d-back config example`: the defaults are the options parsed with no
/// flag and no environment.
fn config_example() -> ExitCode {
    let bare = Options::command().mut_args(|a| a.env(None));
    let defaults = bare
        .clone()
        .try_get_matches_from(["d-back"])
        .ok()
        .and_then(|m| Options::from_arg_matches(&m).ok())
        .map(|o| as_table(&o))
        .unwrap_or_default();
    print!("{}", cli::check::example(&Options::command(), &defaults));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let matches = Options::command().get_matches();
    let mut options = match Options::from_arg_matches(&matches) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(DEFAULT_LOG)).init();
    match options.command.take() {
        Some(Action::Config(ConfigAction::Example)) => return config_example(),
        Some(Action::Config(ConfigAction::Check { file })) => {
            if file.is_some() {
                options.config = file;
            }
            return config_check(&matches, options);
        }
        Some(Action::Health) => return health(&matches, options),
        None => {}
    }
    let Prepared {
        options,
        discord,
        config,
        ..
    } = match prepare(&matches, options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("d-back: {e}");
            return ExitCode::from(2);
        }
    };
    #[cfg(unix)]
    match d_back::raise_open_files_limit() {
        Ok(n) => log::debug!("open files limit: {n}"),
        Err(e) => log::warn!("could not raise the open files limit: {e}"),
    }
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let (host, port) = (options.host.clone(), options.port);
    let from_redis = (config.source == DataSource::Redis).then(|| {
        from_redis(
            config.redis_url.as_deref().unwrap_or_default(),
            discord.is_ok(),
        )
    });
    let result = actix_web::rt::System::new().block_on(async move {
        let mut builder = DBack::builder()
            .bind((options.host.as_str(), options.port))
            .config(config);
        let no_token = match discord {
            Ok(d) => {
                builder = builder.discord(d);
                None
            }
            Err(no_token) => Some(no_token),
        };
        let server = builder.build()?;
        for addr in server.local_addrs() {
            // One line on stdout per address, for scripts (and our browser
            // tests) that start us on port 0.
            println!("d-back listening on {scheme}://{addr}");
        }
        if let Some(line) = from_redis {
            log::info!("{line}");
        } else if let Some(n) = no_token {
            n.log();
        }
        server.run().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "d-back: port {port} on {host} is already in use by another program: stop that program, or start d-back on another port with --port (D_BACK_PORT)."
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("d-back: {e}");
            ExitCode::FAILURE
        }
    }
}
