//! The [`Builder`]: addresses, settings and the original's five callbacks,
//! collected before anything binds. [`Builder::build`] binds the listeners
//! and returns a [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use crate::access::slots::Connections;
use crate::access::throttle::AuthGuard;
use crate::app::AppState;
use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::files::StaticFiles;
use crate::health::{Check, Flag, Readiness};
use crate::hub::guild;
use crate::hub::registry::Registry;
use crate::metrics::Metrics;
use crate::protocol::model::{DiscordUser, IntoServers, IntoUsers};
use crate::providers::userlist::{Answer, UserList};
use crate::providers::{
    by_key, per_thread, BoxError, Callbacks, LocalFut, ServersFn, StaticResponse, UsersFn,
    ValidateFn,
};
use crate::proxy::TrustedProxies;
use crate::tls::Certificates;
use crate::web::handle::Handle;
use crate::web::listen::bind_all;
use crate::web::server::{Background, Server};

/// Entry point: `DBack::builder()`.
pub struct DBack;

impl DBack {
    /// A builder with the defaults: `localhost:3000`, mock data.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Collects addresses, settings and callbacks; `build` binds.
#[derive(Default)]
pub struct Builder {
    addrs: Vec<SocketAddr>,
    /// An address that did not resolve, reported by `build`.
    addr_error: Option<io::Error>,
    config: Config,
    pub(crate) callbacks: Callbacks,
    /// Tasks started with the server (the built-in Discord bot).
    background: Vec<Background>,
    /// Conditions of `/readyz` registered by parts of the server.
    readiness: Readiness,
    /// This instance's part of a split bot's server list in Redis (its
    /// shard range), when the bot is split over machines.
    split_part: Option<String>,
}

impl Builder {
    /// Starts `task` with the server's handle when the server runs.
    pub(crate) fn background(
        mut self,
        task: impl FnOnce(Handle) -> Pin<Box<dyn Future<Output = io::Error>>> + Send + 'static,
    ) -> Self {
        self.background.push(Box::new(task));
        self
    }

    /// Writes this instance's server list to Redis as one part of a
    /// split bot's, and serves the union (see `cluster::split`).
    pub(crate) fn split_part(mut self, part: String) -> Self {
        self.split_part = Some(part);
        self
    }

    /// The Redis URL of the configuration, for parts that share Redis
    /// with the cluster (a split bot's identify turns).
    pub(crate) fn redis_url(&self) -> Option<String> {
        self.config.redis_url.clone()
    }

    /// Adds a field to every `/readyz` answer (each shard's state).
    pub(crate) fn ready_detail(mut self, detail: crate::health::Detail) -> Self {
        self.readiness.add_detail(detail);
        self
    }

    /// Adds a condition to `/readyz` (the Discord gateway is connected, ...).
    pub(crate) fn ready_when(mut self, check: Check) -> Self {
        self.readiness.add(check);
        self
    }

    /// Where to listen (several calls listen on several addresses). Port 0
    /// picks a free port; read it back with [`Server::local_addr`]. Default:
    /// `localhost:3000`.
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Self {
        match addr.to_socket_addrs() {
            Ok(addrs) => self.addrs.extend(addrs),
            Err(e) => self.addr_error = Some(e),
        }
        self
    }

    /// Replaces all settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Serves HTTPS and `wss://` on every address with this PEM certificate
    /// chain and private key (e.g. certbot's `fullchain.pem` and
    /// `privkey.pem`); sets [`Config::tls_cert`] and [`Config::tls_key`].
    /// `build` fails if they cannot be read; later reloads (SIGHUP,
    /// [`Handle::reload_tls`]) keep the old certificate on failure.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.config.tls_cert = Some(cert.into());
        self.config.tls_key = Some(key.into());
        self
    }

    /// The server list (the original's `on_get_server_data`). Answer
    /// `Vec<ServerInfo>` or the original's JSON dictionary.
    pub fn on_get_server_data<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, BoxError>> + 'static,
        R: IntoServers,
    {
        self.callbacks.servers = per_thread(f, |f| -> ServersFn {
            Rc::new(move || {
                let fut = f();
                Box::pin(async move { fut.await.map(IntoServers::into_servers) })
            })
        });
        self
    }

    /// The users of one server, by snowflake. Answer `Vec<User>`, the
    /// original's JSON dictionary, or an `Arc<[User]>` you keep (a clone of
    /// the same `Arc` costs no copy, check or encoding per join; make a new
    /// one when members change). Malformed users are skipped with a warning.
    pub fn on_get_user_data<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, BoxError>> + 'static,
        R: IntoUsers,
    {
        self.callbacks.users = per_thread(f, |f| -> UsersFn {
            Rc::new(move |server| {
                let fut = f(server);
                Box::pin(async move {
                    fut.await.map(|r| match r.shared() {
                        Some(users) => Answer::Shared(users),
                        None => Arc::new(UserList::new(r.into_users())).into(),
                    })
                })
            })
        });
        self
    }

    /// Decides Discord logins to protected servers: (token, user, snowflake).
    /// With real server data and no validator, protected servers refuse.
    pub fn on_validate_discord_user<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String, DiscordUser, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, BoxError>> + 'static,
    {
        self.callbacks.validate = per_thread(f, |f| -> ValidateFn {
            Rc::new(move |t, u, s| Box::pin(f(t, u, s)) as LocalFut<_>)
        });
        self
    }

    /// The Discord OAuth2 client id of a server, if it has one.
    pub fn on_get_client_id<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, BoxError>> + 'static,
    {
        self.callbacks.client_id = by_key(f);
        self
    }

    /// Answers HTTP paths before the static files; `Ok(None)` passes.
    pub fn on_static_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<StaticResponse>, BoxError>> + 'static,
    {
        self.callbacks.static_request = by_key(f);
        self
    }

    /// Binds the listeners and prepares the shared state. Call inside an
    /// actix system (`#[actix_web::main]`); nothing is served until
    /// [`Server::run`].
    pub fn build(self) -> io::Result<Server> {
        if let Some(e) = self.addr_error {
            return Err(e);
        }
        let addrs = if self.addrs.is_empty() {
            (config::DEFAULT_HOST, config::DEFAULT_PORT)
                .to_socket_addrs()?
                .collect()
        } else {
            self.addrs
        };
        let mut config = self.config;
        config.base_path = config::normalize_base_path(&config.base_path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Certificates::load(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS needs both a certificate and its private key (tls_cert and tls_key)",
                ))
            }
        };
        let listeners = bind_all(&addrs)?;
        let files = match &config.static_dir {
            Some(dir) => StaticFiles::dir(dir).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("static directory {} is not usable: {e}", dir.display()),
                )
            })?,
            None => StaticFiles::BuiltIn,
        };
        let proxies = TrustedProxies::parse(&config.trusted_proxies).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("trusted proxy: {e}"))
        })?;
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(guild::Setup {
            max_backlog: config.max_backlog_bytes as u64,
            batch_window: config.batch_window,
            deflate: config.deflate(),
            metrics: metrics.clone(),
        });
        let cluster = Cluster::new(&config, self.split_part, registry.clone(), metrics.clone())?;
        let mut callbacks = self.callbacks;
        if let Some(cluster) = &cluster {
            cluster.install_source(&mut callbacks);
        }
        let mock_users = callbacks.users.is_none();
        let serving = Flag::new("not serving (starting or shutting down)");
        let mut readiness = Readiness::default();
        readiness.add(serving.check());
        let (checks, details) = self.readiness.into_parts();
        for check in checks {
            readiness.add(check);
        }
        for detail in details {
            readiness.add_detail(detail);
        }
        if let Some(cluster) = &cluster {
            readiness.add(cluster.ready());
        }
        let state = Arc::new(AppState {
            registry,
            callbacks,
            connections: Connections::new(&config),
            auth: AuthGuard::new(&config, cluster.clone()),
            proxies,
            metrics,
            cluster,
            files,
            mock_users,
            readiness,
            serving,
            tls,
            config,
        });
        Ok(Server::new(listeners, state, self.background))
    }
}
