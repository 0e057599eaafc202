//! Joining a server: the answer to a `connect`, decided off the session.
//!
//! Two steps with the subscription between them. [`resolve`] finds the
//! requested server in the provider's list and checks credentials for
//! protected servers (with the authentication limits): an [`Admitted`] join
//! to enter, or a [`Refused`] one to report. The session then enters the
//! guild's hub (held, see [`crate::wire::outbox`]) and only then asks
//! [`load`] for the users and the client id, so every broadcast the hub
//! sends after the users were read reaches the joiner. With Redis, [`load`]
//! first waits until this instance's subscription to the guild is live.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use actix::Addr;
use serde_json::Value;

use crate::access::secret::same_secret;
use crate::access::throttle::Attempts;
use crate::app::AppState;
use crate::protocol::frames::{errors, Connect};
use crate::protocol::model::{DiscordUser, ServerInfo};
use crate::providers::userlist::UserList;
use crate::providers::{
    answer_or_default, GetClientId, GetServers, GetUsers, Providers, ValidateUser, Validation,
};

/// An admitted join, to enter before its users are read.
pub(crate) struct Admitted {
    pub(crate) server: ServerInfo,
    /// The id the client asked for, echoed in `request`.
    pub(crate) requested: String,
    /// The legacy password the client sent, echoed in `request`.
    pub(crate) password: Option<String>,
}

/// What a `server-join` carries besides the request: read after the
/// session entered the hub.
pub(crate) struct Loaded {
    pub(crate) users: Arc<UserList>,
    pub(crate) client_id: Option<String>,
}

/// Why a join was refused; each has its exact wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NoSuchServer,
    AuthRequired,
    AuthFailed,
    AuthThrottled,
}

impl Refusal {
    /// The `error` frame's message (PROTOCOL.md).
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::NoSuchServer => errors::NO_SUCH_SERVER,
            Refusal::AuthRequired => errors::AUTH_REQUIRED,
            Refusal::AuthFailed => errors::AUTH_FAILED,
            Refusal::AuthThrottled => errors::AUTH_THROTTLED,
        }
    }
}

/// A refused join, with what was asked for (for the log line).
pub(crate) struct Refused {
    pub(crate) requested: Option<String>,
    pub(crate) why: Refusal,
}

/// Who is joining: the session's address and its own failure record.
pub(crate) struct Joiner {
    pub(crate) ip: IpAddr,
    /// Refused credentials of this session.
    pub(crate) failures: Rc<RefCell<Attempts>>,
}

/// The provider side of `connect`: find the server and check credentials.
/// Runs off the actor, so the session keeps answering pings meanwhile.
pub(crate) async fn resolve(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    joiner: Joiner,
    req: Connect,
) -> Result<Admitted, Refused> {
    let refuse = |why| Refused {
        requested: req.server.clone(),
        why,
    };
    let servers = answer_or_default("the server list", providers.send(GetServers).await);
    let Some(requested) = req.server.clone() else {
        return Err(refuse(Refusal::NoSuchServer));
    };
    let server = find_server(&servers, &requested)
        .ok_or_else(|| refuse(Refusal::NoSuchServer))?
        .clone();
    if server.passworded {
        let verdict = authorize(&app, &providers, &joiner, &req, &server).await;
        app.metrics.auth(auth_outcome(&verdict));
        verdict.map_err(refuse)?;
    }
    Ok(Admitted {
        server,
        requested,
        password: req.password,
    })
}

/// The users and the client id of a guild the session has entered. With
/// Redis, the read waits (bounded) until this instance's subscription to
/// the guild is live, as broadcasts reach the hub only through it.
pub(crate) async fn load(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    snowflake: String,
) -> Loaded {
    if let Some(cluster) = &app.cluster {
        cluster.subscribed(&snowflake).await;
    }
    let (users, client_id) = futures_util::future::join(
        providers.send(GetUsers(snowflake.clone())),
        providers.send(GetClientId(snowflake)),
    )
    .await;
    Loaded {
        users: answer_or_default("the users", users),
        client_id: answer_or_default("the client id", client_id),
    }
}

/// The first server whose id matches; `"default"` also matches the first
/// server marked default, and falls back to the first server so a client
/// asking for the default never loops on an error.
pub(crate) fn find_server<'a>(
    servers: &'a [ServerInfo],
    requested: &str,
) -> Option<&'a ServerInfo> {
    let wants_default = requested == "default";
    servers
        .iter()
        .find(|s| s.id == requested || (wants_default && s.default))
        .or_else(|| if wants_default { servers.first() } else { None })
}

/// The `outcome` label of `dback_auth_attempts_total`.
fn auth_outcome(verdict: &Result<(), Refusal>) -> &'static str {
    match verdict {
        Ok(()) => "accepted",
        Err(Refusal::AuthRequired) => "required",
        Err(Refusal::AuthThrottled) => "throttled",
        Err(Refusal::AuthFailed | Refusal::NoSuchServer) => "failed",
    }
}

/// Decides a join to a protected server. Every attempt that checks a
/// secret (compares a password, or asks the cache or the validator about a
/// login) is counted against the IP and the session before anything is
/// awaited; past the limit nothing is checked, and an accepted attempt is
/// given back. Refusals decided without any secret (a user object without a
/// username, a password sent to a server that has none) reveal nothing and
/// cost no attempt.
async fn authorize(
    app: &AppState,
    providers: &Addr<Providers>,
    joiner: &Joiner,
    req: &Connect,
    server: &ServerInfo,
) -> Result<(), Refusal> {
    let ip = joiner.ip;
    let presented =
        req.discord_token.is_some() || req.discord_user.is_some() || req.password.is_some();
    if !presented {
        return Err(Refusal::AuthRequired);
    }
    if !checks_a_secret(app, req, server) {
        return check_credentials(app, providers, req, server).await;
    }
    let (limit, window) = app.auth.limit();
    let Some(taken) = app.auth.try_take(ip).await else {
        log::info!("{ip}: authentication throttled for {}", server.snowflake);
        return Err(Refusal::AuthThrottled);
    };
    if !joiner.failures.borrow_mut().try_take(limit, window) {
        app.auth.release(taken).await;
        log::info!("{ip}: authentication throttled for {}", server.snowflake);
        return Err(Refusal::AuthThrottled);
    }
    let verdict = check_credentials(app, providers, req, server).await;
    if verdict.is_ok() {
        app.auth.release(taken).await;
        joiner.failures.borrow_mut().release();
    }
    verdict
}

/// Whether [`check_credentials`] would compare a password or look a login
/// up (cache or validator) for this request: exactly its own conditions.
fn checks_a_secret(app: &AppState, req: &Connect, server: &ServerInfo) -> bool {
    let compares_password = req.password.is_some()
        && (server.password.is_some() || (app.cluster.is_some() && server.passworded));
    let token = req.discord_token.as_ref().is_some_and(|t| !t.is_empty());
    let login = token
        && req
            .discord_user
            .as_ref()
            .filter(|u| !u.is_empty())
            .and_then(discord_user)
            .is_some();
    compares_password || login
}

/// The credentials themselves: the Discord login (cache, then validator),
/// else the legacy password. Which refusal follows PROTOCOL.md: once a
/// non-empty token and a non-empty user object are presented, every
/// refusal is "authentication failed", so the client logs the user out.
async fn check_credentials(
    app: &AppState,
    providers: &Addr<Providers>,
    req: &Connect,
    server: &ServerInfo,
) -> Result<(), Refusal> {
    if let (Some(given), Some(expected)) = (&req.password, &server.password) {
        if same_secret(given, expected) {
            return Ok(());
        }
    }
    // A `--source redis` instance knows the password by its salted hash.
    if let (Some(given), Some(cluster)) = (&req.password, &app.cluster) {
        if server.passworded && cluster.password_matches(&server.snowflake, given) {
            return Ok(());
        }
    }
    let token = req.discord_token.as_ref().filter(|t| !t.is_empty());
    let raw = req.discord_user.as_ref().filter(|u| !u.is_empty());
    let (Some(token), Some(raw)) = (token, raw) else {
        return Err(Refusal::AuthRequired);
    };
    let Some(user) = discord_user(raw) else {
        return Err(Refusal::AuthFailed);
    };
    if app.auth.cached(token, &user.id, &server.snowflake).await {
        return Ok(());
    }
    let user_id = user.id.clone();
    let verdict = providers
        .send(ValidateUser {
            token: token.clone(),
            user,
            server: server.snowflake.clone(),
        })
        .await
        .unwrap_or_else(|e| {
            log::warn!("asking the providers to validate a login failed ({e}); refusing it");
            Validation::Rejected
        });
    match verdict {
        Validation::Accepted => {
            app.auth.remember(token, &user_id, &server.snowflake).await;
            Ok(())
        }
        Validation::NoValidator => {
            log::warn!(
                "refusing Discord login to protected server {}: no validator is configured (fail closed)",
                server.snowflake
            );
            Err(Refusal::AuthFailed)
        }
        Validation::Rejected => Err(Refusal::AuthFailed),
    }
}

/// The user object as the validator gets it: `id` and `username` non-empty
/// (a number counts as its decimal string).
fn discord_user(raw: &serde_json::Map<String, Value>) -> Option<DiscordUser> {
    let text = |k: &str| match raw.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(DiscordUser {
        id: text("id")?,
        username: text("username")?,
        raw: raw.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_falls_back_to_first_server() {
        let servers = vec![
            ServerInfo::new("1", "a", "A"),
            ServerInfo::new("2", "b", "B"),
        ];
        assert_eq!(
            find_server(&servers, "default").map(|s| s.id.as_str()),
            Some("a")
        );
        let servers = vec![
            ServerInfo::new("1", "a", "A"),
            ServerInfo::new("2", "b", "B").default_server(),
        ];
        assert_eq!(
            find_server(&servers, "default").map(|s| s.id.as_str()),
            Some("b")
        );
        assert!(find_server(&servers, "c").is_none());
    }
}
