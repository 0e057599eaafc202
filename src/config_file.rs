//! The `--config FILE` of the `d-back` command: a TOML file with every
//! command-line option (snake_case) and a `[discord]` table, or d-zone's
//! own `discord-config.json` as it is (chosen by the `.json` extension).
//! The command line and the environment win over the file.

use std::path::{Path, PathBuf};

use d_back::discord::DiscordConfig;
use serde::Deserialize;

/// What the file may set; `None` leaves the command line's value.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub static_dir: Option<PathBuf>,
    pub allowed_origins: Option<Vec<String>>,
    pub publish_token: Option<String>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    pub max_backlog_bytes: Option<usize>,
    pub heartbeat_secs: Option<f64>,
    pub client_timeout_secs: Option<f64>,
    pub provider_timeout_secs: Option<f64>,
    pub shutdown_grace_secs: Option<f64>,
    pub close_timeout_secs: Option<f64>,
    pub no_mock_traffic: Option<bool>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<String>>,
    pub metrics: Option<bool>,
    pub metrics_token: Option<String>,
    pub redis_url: Option<String>,
    pub source: Option<String>,
    pub discord: Option<DiscordConfig>,
}

/// Reads `path`; the error is one sentence naming the file.
pub fn load(path: &Path) -> Result<FileOptions, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let discord = DiscordConfig::from_dzone_json(&text).map_err(|e| {
            format!(
                "the d-zone config file {} is not valid: {e}",
                path.display()
            )
        })?;
        Ok(FileOptions {
            discord: Some(discord),
            ..FileOptions::default()
        })
    } else {
        toml::from_str(&text).map_err(|e| {
            format!(
                "the config file {} is not valid TOML for d-back: {e}",
                path.display()
            )
        })
    }
}
