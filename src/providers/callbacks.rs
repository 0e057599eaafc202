//! The callbacks a user registers, in the form the `Providers` actors run
//! them: shared factories that make one `Rc` closure per worker thread.
//!
//! The builder's `on_*` setters take `Send + Sync` closures whose futures
//! need not be `Send`; [`per_thread`] turns each into a [`Factory`] that every
//! worker calls once, on its own thread.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use crate::protocol::model::{DiscordUser, ServerInfo};
use crate::providers::userlist::Answer;

/// Any error a callback wants to report; it is logged, never sent to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub(crate) type LocalFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>>>>;

pub(crate) type ServersFn = Rc<dyn Fn() -> LocalFut<Vec<ServerInfo>>>;
/// Answers a shared list, so a provider that keeps its users (the Discord
/// cache, a callback answering an `Arc<[User]>`) hands every join the same
/// encoding.
pub(crate) type UsersFn = Rc<dyn Fn(String) -> LocalFut<Answer>>;
pub(crate) type ValidateFn = Rc<dyn Fn(String, DiscordUser, String) -> LocalFut<bool>>;
/// A callback asked about one key (a snowflake, a path) that answers
/// `Option<T>` as it is.
pub(crate) type KeyFn<T> = Rc<dyn Fn(String) -> LocalFut<Option<T>>>;
pub(crate) type ClientIdFn = KeyFn<String>;
pub(crate) type StaticFn = KeyFn<StaticResponse>;

/// What a static-request callback answers for a path it handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticResponse {
    /// Serve this body with this content type.
    Body { content_type: String, body: Vec<u8> },
    /// Serve this file (trusted: it comes from your code, not the client).
    File(PathBuf),
}

impl StaticResponse {
    /// The original's `(content_type, content)` tuple.
    pub fn body(content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        StaticResponse::Body {
            content_type: content_type.into(),
            body: body.into(),
        }
    }
}

/// Makes a thread's `Rc` closure from a callback shared by all threads.
pub(crate) type Factory<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// Shares `f` between the worker threads: each worker's actor calls the
/// factory once, on its own thread, and `local` wraps `f` into that
/// thread's closure (whose futures need not be `Send`).
pub(crate) fn per_thread<F, T>(
    f: F,
    local: impl Fn(Arc<F>) -> T + Send + Sync + 'static,
) -> Option<Factory<T>>
where
    F: Send + Sync + 'static,
{
    let f = Arc::new(f);
    Some(Arc::new(move || local(f.clone())))
}

/// [`per_thread`] for the callbacks that take one key and answer as they
/// are (the client id and the static request).
pub(crate) fn by_key<F, Fut, T>(f: F) -> Option<Factory<KeyFn<T>>>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<T>, BoxError>> + 'static,
    T: 'static,
{
    per_thread(f, |f| -> KeyFn<T> {
        Rc::new(move |key| Box::pin(f(key)) as LocalFut<_>)
    })
}

/// The callbacks a builder collected, as factories (see [`per_thread`]);
/// `None` answers from the mock data or a safe default.
#[derive(Default, Clone)]
pub(crate) struct Callbacks {
    pub(crate) servers: Option<Factory<ServersFn>>,
    pub(crate) users: Option<Factory<UsersFn>>,
    pub(crate) validate: Option<Factory<ValidateFn>>,
    pub(crate) client_id: Option<Factory<ClientIdFn>>,
    pub(crate) static_request: Option<Factory<StaticFn>>,
}
