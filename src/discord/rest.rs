//! The bot's REST API client, pointed at Discord or at the configured base
//! (`D_BACK_DISCORD_API_URL`, for tests and proxies). Users' OAuth2 tokens
//! go through `bearer` instead.

use twilight_http::Client;

use super::config::DiscordConfig;

fn builder(config: &DiscordConfig) -> twilight_http::client::ClientBuilder {
    let mut b = Client::builder().timeout(config.rest_timeout);
    if let Some((host, plain)) = config.api_host() {
        b = b.proxy(host, plain);
    }
    b
}

/// The bot's own client: its token, twilight's rate limiter.
pub(crate) fn bot(config: &DiscordConfig) -> Client {
    builder(config)
        .token(config.token.clone().unwrap_or_default())
        .build()
}
