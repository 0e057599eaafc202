//! The `Providers` actor: the original's five callbacks behind typed messages.
//!
//! One `Providers` actor runs on each HTTP worker thread, so a handshake's
//! questions never cross threads (the actor holds no state beyond the
//! callbacks, so nothing is split by having several).
//!
//! Sessions and the HTTP layer never call user code directly. They send
//! [`GetServers`], [`GetUsers`], [`ValidateUser`], [`GetClientId`] or
//! [`StaticRequest`] here; each handler runs the callback as a spawned
//! future guarded by a timeout and a panic catcher, so a slow, failing or
//! panicking callback costs one log line and a safe default, never a session
//! or the server. Unset callbacks answer from [`mock`]; a session on a mock
//! server also gets its mock chat and presence from `traffic`. User lists pass
//! through the thread's `Reuse`, so an unchanged answer keeps its encoding.

mod callbacks;
pub mod mock;
pub(crate) mod serverlist;
pub(crate) mod traffic;
pub(crate) mod userlist;

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;

use crate::metrics::Metrics;
use crate::protocol::model::{DiscordUser, ServerInfo};
use crate::providers::serverlist::Greeting;
use crate::providers::userlist::{Answer, Reuse, UserList};

pub(crate) use callbacks::{
    by_key, per_thread, Callbacks, ClientIdFn, LocalFut, ServersFn, StaticFn, UsersFn, ValidateFn,
};
pub use callbacks::{BoxError, StaticResponse};

/// Answers the typed provider messages.
pub(crate) struct Providers {
    servers: Option<ServersFn>,
    users: Option<UsersFn>,
    validate: Option<ValidateFn>,
    client_id: Option<ClientIdFn>,
    static_request: Option<StaticFn>,
    /// Per-call deadline; past it the safe default answers.
    timeout: Duration,
    /// Counts each call and its latency.
    metrics: Arc<Metrics>,
    /// The last user list of each server, shared while it is unchanged.
    reuse: Rc<RefCell<Reuse>>,
    /// The mock servers, made once (used when no server callback is set).
    mock_servers: Arc<[ServerInfo]>,
    /// The last `server-list` frame, kept while the servers are unchanged.
    greeting: Rc<RefCell<Greeting>>,
}

impl Providers {
    /// Starts the actor on the current arbiter (a worker's thread). `Rc`
    /// closures are made here, on the thread that will run them.
    pub(crate) fn start(
        callbacks: &Callbacks,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Addr<Providers> {
        Providers {
            servers: callbacks.servers.as_ref().map(|f| f()),
            users: callbacks.users.as_ref().map(|f| f()),
            validate: callbacks.validate.as_ref().map(|f| f()),
            client_id: callbacks.client_id.as_ref().map(|f| f()),
            static_request: callbacks.static_request.as_ref().map(|f| f()),
            timeout,
            metrics,
            reuse: Rc::default(),
            mock_servers: mock::servers().into(),
            greeting: Rc::default(),
        }
        .start()
    }
}

impl Providers {
    /// What `guarded` needs: the deadline and where to count the call.
    fn guard(&self) -> (Duration, Arc<Metrics>) {
        (self.timeout, self.metrics.clone())
    }
}

impl Actor for Providers {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Every session asks here; a deep mailbox keeps bursts of joins from
        // being refused by back-pressure.
        ctx.set_mailbox_capacity(65_536);
    }
}

/// A provider's answer, or the safe default when the actor could not be
/// asked (its mailbox is closed or full): logged with the cause, so a broken
/// provider never passes for "no such server" or an empty island.
pub(crate) fn answer_or_default<T: Default>(asked: &str, r: Result<T, MailboxError>) -> T {
    r.unwrap_or_else(|e| {
        log::warn!("asking the providers for {asked} failed ({e}); using the safe default");
        T::default()
    })
}

/// Runs one callback: panics (while building or polling the future), errors
/// and timeouts all become `fallback` plus one warning naming the callback.
fn guarded<T: 'static>(
    name: &'static str,
    (timeout, metrics): (Duration, Arc<Metrics>),
    call: impl FnOnce() -> LocalFut<T>,
    fallback: T,
) -> Pin<Box<dyn Future<Output = T>>> {
    let start = Instant::now();
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(fut) => fut,
        Err(_) => {
            log::warn!("provider {name} panicked; using its safe default");
            metrics.provider_call(name, "panic", start.elapsed());
            return Box::pin(std::future::ready(fallback));
        }
    };
    Box::pin(async move {
        let (outcome, value) =
            match tokio::time::timeout(timeout, AssertUnwindSafe(fut).catch_unwind()).await {
                Ok(Ok(Ok(value))) => ("ok", value),
                Ok(Ok(Err(e))) => {
                    log::warn!("provider {name} failed: {e}; using its safe default");
                    ("error", fallback)
                }
                Ok(Err(_)) => {
                    log::warn!("provider {name} panicked; using its safe default");
                    ("panic", fallback)
                }
                Err(_) => {
                    log::warn!(
                        "provider {name} took longer than {timeout:?}; using its safe default"
                    );
                    ("timeout", fallback)
                }
            };
        metrics.provider_call(name, outcome, start.elapsed());
        value
    })
}

/// The server list.
#[derive(Message)]
#[rtype(result = "Arc<[ServerInfo]>")]
pub(crate) struct GetServers;

/// The `server-list` frame a new viewer is greeted with.
#[derive(Message)]
#[rtype(result = "Arc<crate::wire::outbound::Shared>")]
pub(crate) struct GetGreeting;

/// The users of one server (by snowflake).
#[derive(Message)]
#[rtype(result = "Arc<UserList>")]
pub(crate) struct GetUsers(pub(crate) String);

/// Is this Discord user, proven by this token, allowed into this server?
#[derive(Message)]
#[rtype(result = "Validation")]
pub(crate) struct ValidateUser {
    pub(crate) token: String,
    pub(crate) user: DiscordUser,
    pub(crate) server: String,
}

/// A validator's verdict, with why it could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    Accepted,
    Rejected,
    /// Real data and no validator: protected servers fail closed.
    NoValidator,
}

/// The OAuth client id of one server.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub(crate) struct GetClientId(pub(crate) String);

/// A custom answer for an HTTP path, or `None` to fall through.
#[derive(Message)]
#[rtype(result = "Option<StaticResponse>")]
pub(crate) struct StaticRequest(pub(crate) String);

impl Providers {
    /// The servers: the callback's answer, or the mock list.
    fn servers(&self) -> Pin<Box<dyn Future<Output = Arc<[ServerInfo]>>>> {
        match self.servers.clone() {
            Some(f) => {
                let answer = guarded("on_get_server_data", self.guard(), move || f(), Vec::new());
                Box::pin(async move { answer.await.into() })
            }
            None => Box::pin(std::future::ready(self.mock_servers.clone())),
        }
    }
}

impl Handler<GetServers> for Providers {
    type Result = ResponseFuture<Arc<[ServerInfo]>>;

    fn handle(&mut self, _: GetServers, _: &mut Context<Self>) -> Self::Result {
        self.servers()
    }
}

impl Handler<GetGreeting> for Providers {
    type Result = ResponseFuture<Arc<crate::wire::outbound::Shared>>;

    fn handle(&mut self, _: GetGreeting, _: &mut Context<Self>) -> Self::Result {
        let servers = self.servers();
        let greeting = self.greeting.clone();
        Box::pin(async move {
            let servers = servers.await;
            greeting.borrow_mut().frame(&servers)
        })
    }
}

impl Handler<GetUsers> for Providers {
    type Result = ResponseFuture<Arc<UserList>>;

    fn handle(&mut self, msg: GetUsers, _: &mut Context<Self>) -> Self::Result {
        let reuse = self.reuse.clone();
        let server = msg.0;
        match self.users.clone() {
            Some(f) => {
                let asked = server.clone();
                let answer = guarded(
                    "on_get_user_data",
                    self.guard(),
                    move || f(asked),
                    Answer::default(),
                );
                Box::pin(async move {
                    let fresh = answer.await;
                    reuse.borrow_mut().share(&server, fresh)
                })
            }
            None => {
                let fresh = Arc::new(UserList::new(mock::users(&server)));
                Box::pin(std::future::ready(
                    reuse.borrow_mut().share(&server, fresh.into()),
                ))
            }
        }
    }
}

impl Handler<ValidateUser> for Providers {
    type Result = ResponseFuture<Validation>;

    fn handle(&mut self, msg: ValidateUser, _: &mut Context<Self>) -> Self::Result {
        match (self.validate.clone(), self.servers.is_some()) {
            (Some(f), _) => {
                let verdict = guarded(
                    "on_validate_discord_user",
                    self.guard(),
                    move || f(msg.token, msg.user, msg.server),
                    false,
                );
                Box::pin(async move {
                    if verdict.await {
                        Validation::Accepted
                    } else {
                        Validation::Rejected
                    }
                })
            }
            // Mock data: any well-formed token, so the login flow can be tried.
            (None, false) => Box::pin(std::future::ready(Validation::Accepted)),
            (None, true) => Box::pin(std::future::ready(Validation::NoValidator)),
        }
    }
}

impl Handler<GetClientId> for Providers {
    type Result = ResponseFuture<Option<String>>;

    fn handle(&mut self, msg: GetClientId, _: &mut Context<Self>) -> Self::Result {
        match self.client_id.clone() {
            Some(f) => guarded("on_get_client_id", self.guard(), move || f(msg.0), None),
            None if self.servers.is_none() => Box::pin(std::future::ready(mock::client_id(&msg.0))),
            None => Box::pin(std::future::ready(None)),
        }
    }
}

impl Handler<StaticRequest> for Providers {
    type Result = ResponseFuture<Option<StaticResponse>>;

    fn handle(&mut self, msg: StaticRequest, _: &mut Context<Self>) -> Self::Result {
        match self.static_request.clone() {
            Some(f) => guarded("on_static_request", self.guard(), move || f(msg.0), None),
            None => Box::pin(std::future::ready(None)),
        }
    }
}
