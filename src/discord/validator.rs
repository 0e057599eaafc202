//! The built-in Discord login validator for protected servers.
//!
//! A viewer proves who they are with an OAuth2 access token. We ask Discord
//! whom it belongs to (`GET /oauth2/@me`): it must have been issued to this
//! server's client id and not have expired, its user must be the one the
//! viewer claims, and that user must be a member of the guild (the bot's
//! member cache, or the user's own `/users/@me/guilds` while the cache is
//! still filling).
//!
//! Discord bans an IP that sends too many refused requests, and junk tokens
//! are free to send, so: verdicts (accepted and refused) are remembered by
//! a keyed hash, never by the token; a 429 stops every question until its
//! `retry_after` has passed; refused answers from Discord have a budget per
//! ten minutes; every question has a timeout. The sessions' per-IP limits
//! apply before this is asked at all.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::protocol::model::DiscordUser;
use crate::providers::BoxError;

use super::bearer::{Bearer, Reply};
use super::guilds::Guilds;

/// Refused answers from Discord allowed per window (Discord's own ban
/// threshold is 10,000 per 10 minutes; we stay far below it).
const REFUSAL_BUDGET: usize = 1_000;
const REFUSAL_WINDOW: Duration = Duration::from_secs(600);
/// How long a refusal is remembered (shorter than an acceptance, so a user
/// who just joined the guild is not locked out for long).
const REFUSED_TTL: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct Authorization {
    application: Application,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    user: Option<AuthUser>,
}

#[derive(Deserialize)]
struct Application {
    id: String,
}

#[derive(Deserialize)]
struct AuthUser {
    id: String,
}

#[derive(Deserialize)]
struct PartialGuild {
    id: String,
}

#[derive(Default)]
struct State {
    /// Keyed hash of (token, user, guild) -> (verdict, until).
    verdicts: HashMap<u64, (bool, Instant)>,
    /// No question goes to Discord before this (after a 429).
    blocked_until: Option<Instant>,
    /// When Discord refused recently, for the refusal budget.
    refusals: VecDeque<Instant>,
}

/// Answers `on_validate_discord_user` for the built-in bot.
#[derive(Clone)]
pub(crate) struct Validator {
    guilds: Arc<Guilds>,
    http: Arc<Bearer>,
    hasher: std::hash::RandomState,
    state: Arc<Mutex<State>>,
}

/// Why Discord could not be asked (the login is refused, not remembered).
#[derive(Debug)]
pub(crate) struct Unavailable(String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

enum Answer {
    /// Discord answered; a verdict worth remembering.
    Verdict(bool),
    /// Discord could not answer; refuse without remembering.
    Unavailable(String),
}

impl Validator {
    pub fn new(guilds: Arc<Guilds>) -> Validator {
        let http = Arc::new(Bearer::new(&guilds.config));
        Validator {
            guilds,
            http,
            hasher: std::hash::RandomState::new(),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts or refuses `user`'s login to the guild `guild` with `token`.
    pub async fn validate(
        &self,
        token: String,
        user: DiscordUser,
        guild: String,
    ) -> Result<bool, BoxError> {
        let key = self.hasher.hash_one((&token, &user.id, &guild));
        let now = Instant::now();
        {
            let mut s = self.lock();
            if let Some((verdict, until)) = s.verdicts.get(&key) {
                if *until > now {
                    return Ok(*verdict);
                }
            }
            if let Some(until) = s.blocked_until {
                if until > now {
                    return Err(Box::new(Unavailable(format!(
                        "Discord asked us to wait (429); refusing logins for {:?} more",
                        until - now
                    ))));
                }
            }
            while s
                .refusals
                .front()
                .is_some_and(|t| now - *t > REFUSAL_WINDOW)
            {
                s.refusals.pop_front();
            }
            if s.refusals.len() >= REFUSAL_BUDGET {
                return Err(Box::new(Unavailable(
                    "too many refused logins in ten minutes; not asking Discord for now".into(),
                )));
            }
        }
        match self.ask(&token, &user, &guild).await {
            Answer::Verdict(v) => {
                let ttl = if v {
                    self.guilds.config.validation_cache_ttl
                } else {
                    REFUSED_TTL.min(self.guilds.config.validation_cache_ttl)
                };
                let mut s = self.lock();
                if s.verdicts.len() > 10_000 {
                    s.verdicts.retain(|_, (_, until)| *until > now);
                }
                if !ttl.is_zero() {
                    s.verdicts.insert(key, (v, now + ttl));
                }
                Ok(v)
            }
            Answer::Unavailable(why) => Err(Box::new(Unavailable(why))),
        }
    }

    /// One GET with the user's token, parsed, or the answer its failure
    /// makes (a 429 pauses every question; a 4xx is a refusal).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<T, Answer> {
        let (code, body) = match self.http.get(path, token).await {
            Reply::Ok(body) => {
                return serde_json::from_slice(&body).map_err(|e| {
                    Answer::Unavailable(format!("Discord's answer did not parse: {e}"))
                })
            }
            Reply::Status(code, body) => (code, body),
            Reply::TimedOut => {
                return Err(Answer::Unavailable(format!(
                    "Discord did not answer within {:?}",
                    self.guilds.config.rest_timeout
                )))
            }
            Reply::Failed(e) => {
                return Err(Answer::Unavailable(format!("asking Discord failed: {e}")))
            }
        };
        Err(if code == 429 {
            let wait = retry_after(&body).unwrap_or(Duration::from_secs(5));
            let mut s = self.lock();
            s.blocked_until = Some(Instant::now() + wait);
            s.refusals.push_back(Instant::now());
            log::warn!("discord: login validation rate limited; pausing for {wait:?}");
            Answer::Unavailable("Discord rate limited the validation".into())
        } else if (400..500).contains(&code) {
            self.lock().refusals.push_back(Instant::now());
            Answer::Verdict(false)
        } else {
            Answer::Unavailable(format!("Discord answered {code}"))
        })
    }

    async fn ask(&self, token: &str, user: &DiscordUser, guild: &str) -> Answer {
        let auth: Authorization = match self.get("/oauth2/@me", token).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let Some(client_id) = self.guilds.client_id(guild) else {
            log::warn!("discord: no client id for server {guild}; refusing Discord logins to it");
            return Answer::Verdict(false);
        };
        if auth.application.id != client_id {
            log::info!("discord: a login token for another application was refused");
            return Answer::Verdict(false);
        }
        if auth.expires.as_deref().is_some_and(expired) {
            return Answer::Verdict(false);
        }
        if auth.user.as_ref().map(|u| u.id.as_str()) != Some(user.id.as_str()) {
            log::info!("discord: a login token for another user was refused");
            return Answer::Verdict(false);
        }
        // A bot split over machines holds only its own shards' guilds; a
        // guild it does not hold may be another instance's.
        let split = self.guilds.config.shard_range.is_some();
        match self.guilds.membership(guild, &user.id) {
            Some((true, _)) => Answer::Verdict(true),
            Some((false, true)) => Answer::Verdict(false),
            None if !split => Answer::Verdict(false),
            // Not cached here, or the member list is still coming: Discord
            // says whether the user is in the guild.
            Some((false, false)) | None => {
                match self
                    .get::<Vec<PartialGuild>>("/users/@me/guilds?limit=200", token)
                    .await
                {
                    Ok(list) => Answer::Verdict(list.iter().any(|g| g.id == guild)),
                    Err(answer) => answer,
                }
            }
        }
    }
}

/// `retry_after` (seconds, fractional) from a 429 body.
fn retry_after(body: &[u8]) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Limited {
        retry_after: f64,
    }
    let l: Limited = serde_json::from_slice(body).ok()?;
    Duration::try_from_secs_f64(l.retry_after).ok()
}

fn expired(expires: &str) -> bool {
    match expires.parse::<twilight_model::util::Timestamp>() {
        Ok(t) => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            t.as_micros() <= now
        }
        // An expiry we cannot read is not trusted.
        Err(_) => true,
    }
}
