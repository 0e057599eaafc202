//! The one table of the binary's configuration keys. `config check` and
//! `config example` walk it; everything else about a key (its flag, its
//! environment variable, its help line, its default) is read from the clap
//! definition in `main.rs`, so a new option is one field there, one in
//! [`FileOptions`](crate::cli::file::FileOptions) and one entry here.

/// How a key's value is shown by `config check`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Secrecy {
    /// Shown as it is.
    Plain,
    /// A token or password: only whether it is set.
    Secret,
    /// A URL that may carry a password (`redis://:pw@host`): the password is hidden.
    UrlPassword,
}

/// One top-level key of the file, named as the clap field (snake_case).
pub struct Key {
    /// The key in the file, and the clap argument's id.
    pub name: &'static str,
    /// What a value must be, in words, for the error about a wrong one.
    pub expects: &'static str,
    /// How `config check` shows it.
    pub secrecy: Secrecy,
    /// For a key unset by default: a value `config example` shows, commented out.
    pub example: Option<&'static str>,
}

const fn plain(name: &'static str, expects: &'static str) -> Key {
    Key {
        name,
        expects,
        secrecy: Secrecy::Plain,
        example: None,
    }
}

const fn unset(name: &'static str, expects: &'static str, example: &'static str) -> Key {
    Key {
        name,
        expects,
        secrecy: Secrecy::Plain,
        example: Some(example),
    }
}

const fn secret(name: &'static str, secrecy: Secrecy, example: &'static str) -> Key {
    Key {
        name,
        expects: "a string",
        secrecy,
        example: Some(example),
    }
}

const SECONDS: &str = "a number of seconds (e.g. 5 or 0.5)";
const COUNT: &str = "a whole number";
const LIST: &str = "a list of strings, e.g. [\"a\", \"b\"]";

/// Every top-level key, in the order `config example` and `config check` print them.
pub const KEYS: &[Key] = &[
    plain("host", "a host name or IP address as a string"),
    plain("port", "a port number (0 to 65535)"),
    plain("base_path", "a URL path such as \"/dzone\""),
    unset(
        "static_dir",
        "a directory path as a string",
        "\"/srv/d-zone/web\"",
    ),
    plain("allowed_origins", LIST),
    secret("publish_token", Secrecy::Secret, "\"a-long-random-string\""),
    plain("max_connections", COUNT),
    plain("max_connections_per_ip", COUNT),
    plain("max_frame_bytes", COUNT),
    plain("max_backlog_bytes", COUNT),
    plain("compression", "\"on\" or \"off\""),
    plain("compression_level", "a whole number from 0 to 9"),
    plain("compression_min_bytes", COUNT),
    plain("heartbeat_secs", SECONDS),
    plain("client_timeout_secs", SECONDS),
    plain("provider_timeout_secs", SECONDS),
    plain("close_timeout_secs", SECONDS),
    plain("shutdown_grace_secs", SECONDS),
    plain("no_mock_traffic", "true or false"),
    unset(
        "tls_cert",
        "a file path as a string",
        "\"/etc/letsencrypt/live/dzone.example.org/fullchain.pem\"",
    ),
    unset(
        "tls_key",
        "a file path as a string",
        "\"/etc/letsencrypt/live/dzone.example.org/privkey.pem\"",
    ),
    plain("trusted_proxies", LIST),
    plain("metrics", "true or false"),
    secret("metrics_token", Secrecy::Secret, "\"a-long-random-string\""),
    secret(
        "redis_url",
        Secrecy::UrlPassword,
        "\"redis://127.0.0.1:6379/\"",
    ),
    plain("source", "\"local\" or \"redis\""),
];

/// The table that holds the built-in bot's settings.
pub const DISCORD: &str = "discord";

/// Keys of `[discord]`, with the d-zone spellings serde also accepts; the
/// bool says whether the value is a secret.
pub const DISCORD_KEYS: &[(&str, bool)] = &[
    ("token", true),
    ("servers", false),
    ("info_command", false),
    ("infoCommand", false),
    ("url", false),
    ("client_id", false),
    ("clientId", false),
    ("gateway_url", false),
    ("gatewayUrl", false),
    ("api_url", false),
    ("apiUrl", false),
    ("large_guild_members", false),
    ("largeGuildMembers", false),
    ("shards", false),
    ("shard_range", false),
    ("shard_total", false),
];

/// Keys of each `[[discord.servers]]` entry.
pub const SERVER_KEYS: &[(&str, bool)] = &[
    ("id", false),
    ("alias", false),
    ("default", false),
    ("password", true),
    ("ignore_channels", false),
    ("ignoreChannels", false),
    ("ignore_users", false),
    ("ignoreUsers", false),
    ("listen_channels", false),
    ("listenChannels", false),
    ("hide_offline", false),
    ("hideOffline", false),
    ("protected", false),
    ("client_id", false),
    ("clientId", false),
];

/// The top-level key named `name`.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The known key closest to `unknown` by edit distance (ties: the first).
pub fn nearest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .min_by_key(|k| strsim::damerau_levenshtein(&unknown.to_lowercase(), &k.to_lowercase()))
}
