//! One GET to Discord's REST API with a user's OAuth2 token, answered once.
//!
//! The validator needs to see a 429 and stop asking (Discord bans an IP
//! that keeps asking); twilight-http 0.18 retries every 429 itself, at
//! once when it has no rate limiter, and its rate limiter would share one
//! user's limits with everyone's tokens. So users' tokens go through this
//! small client instead: no retries, no memory of a refused token, a
//! timeout per question, the token header marked sensitive.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::config::{DiscordConfig, DISCORD_API_URL};

/// What one question got.
pub(crate) enum Reply {
    /// A 2xx answer's body.
    Ok(Bytes),
    /// Any other status, with its body (a 429 carries `retry_after`).
    Status(u16, Bytes),
    /// No answer within the REST timeout.
    TimedOut,
    /// The question could not be sent or read (DNS, TLS, reset).
    Failed(String),
}

/// The client for users' tokens.
pub(crate) struct Bearer {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    /// `https://discord.com/api/v10`, or the configured base (tests, proxies).
    base: String,
    timeout: Duration,
}

impl Bearer {
    pub(crate) fn new(config: &DiscordConfig) -> Bearer {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let base = config
            .api_url
            .as_deref()
            .unwrap_or(DISCORD_API_URL)
            .trim_end_matches('/');
        Bearer {
            client: Client::builder(TokioExecutor::new()).build(https),
            base: format!("{base}/api/v10"),
            timeout: config.rest_timeout,
        }
    }

    /// GET `path` (e.g. `/oauth2/@me`) as the holder of `token`.
    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        let Ok(mut auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Reply::Status(401, Bytes::new());
        };
        auth.set_sensitive(true);
        let request = http::Request::get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, auth)
            .header(
                USER_AGENT,
                "DiscordBot (https://github.com/d-zone-org/d-back, 0.1)",
            )
            .body(Empty::new());
        let request = match request {
            Ok(r) => r,
            Err(e) => return Reply::Failed(format!("building the request: {e}")),
        };
        let asked = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(self.timeout, asked).await {
            Err(_) => Reply::TimedOut,
            Ok(Err(e)) => Reply::Failed(e),
            Ok(Ok((status, body))) if (200..300).contains(&status) => Reply::Ok(body),
            Ok(Ok((status, body))) => Reply::Status(status, body),
        }
    }
}
