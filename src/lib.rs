//! d-back: the server behind d-zone, on actix.
//!
//! A Discord bot pushes chat and presence events in; browsers connect over
//! WebSocket, pick a Discord server, get its member list, and then receive
//! that server's live events. The wire protocol is the Python original's
//! (`d-back` 0.0.18), so every existing d-zone client works unchanged.
//!
//! # How the pieces fit
//!
//! ```text
//! browser ──ws──> Session ──join/leave──> Registry ──> Hub(guild)
//!                    │ ask (typed messages)               ▲
//!                    └──────────────> Providers           │ Broadcast
//! your bot ── Handle::broadcast_* ────────────────────────┘
//! Hub ──(one encoded frame, shared bytes)──> every Session of that guild
//! ```
//!
//! * Each WebSocket connection is a [`Session`](session::Session) actor.
//! * Each Discord server (guild snowflake) with viewers has a
//!   [`Hub`](hub::Hub) actor; the [`hub::Registry`] creates it on
//!   the first join and stops it when the last session leaves.
//! * The five callbacks of the original are the
//!   [`providers::Providers`] actor; unset ones answer from the
//!   built-in mock data.
//! * A [`Handle`] (cloneable, `Send`) is how a bot in the same process
//!   broadcasts; `POST /api/broadcast` does the same for a bot in another
//!   language.
//!
//! # Layout
//!
//! * `config`: every limit and timer, with named defaults.
//! * `model`: typed servers, users, statuses, colours, validated at the boundary.
//! * `protocol`: every frame in and out, and the exact error strings.
//! * `providers`: the `Providers` actor, callback plumbing, mock data.
//! * `hub`: `Hub` per guild and the `Registry`.
//! * `session`: the WebSocket session actor and its outbound meter.
//! * `limits`: connection caps, rate limits, auth throttling and cache.
//! * `http`, `files`: the single route and the static file resolver.
//!
//! # Example
//!
//! ```no_run
//! use d_back::{DBack, Presence, RoleColor, ServerInfo, Status, User};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = DBack::builder()
//!         .bind(("127.0.0.1", 3000))
//!         .on_get_server_data(|| async {
//!             Ok(vec![ServerInfo::new("232769614004748288", "dworld", "D-World").default_server()])
//!         })
//!         .on_get_user_data(|_guild| async {
//!             Ok(vec![User::new("1", "Pip", Status::Online, RoleColor::parse("#ff6b6b")?)])
//!         })
//!         .build()?;
//!     let hub = server.handle();
//!     hub.broadcast_message("232769614004748288", "1", "hello", "general");
//!     hub.broadcast_presence(Presence::new("232769614004748288", "1", Status::Idle));
//!     server.run().await
//! }
//! ```

mod app;
pub mod config;
pub mod discord;
pub mod files;
mod http;
pub mod hub;
pub mod limits;
pub mod model;
pub mod protocol;
pub mod providers;
pub mod session;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use actix_web::{web, App, HttpServer};

pub use config::Config;
pub use hub::Broadcast;
pub use model::{
    DataError, DiscordUser, IntoServers, IntoUsers, Presence, RoleColor, ServerInfo, Status, User,
};
pub use providers::{BoxError, StaticResponse};

use app::AppState;
use files::StaticFiles;
use hub::Registry;
use limits::{AuthGuard, Connections};
use providers::{Callbacks, Providers};

/// Entry point: `DBack::builder()`.
pub struct DBack;

impl DBack {
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Collects addresses, settings and callbacks; `build` binds.
#[derive(Default)]
pub struct Builder {
    addrs: Vec<SocketAddr>,
    addr_error: Option<io::Error>,
    config: Config,
    callbacks: Callbacks,
    /// Tasks started with the server (the built-in Discord bot).
    background: Vec<Background>,
}

/// A task started when the server runs, with its handle. It resolves only
/// with an error no retry can fix, which stops the server.
pub(crate) type Background =
    Box<dyn FnOnce(Handle) -> Pin<Box<dyn Future<Output = io::Error>>> + Send>;

impl Builder {
    /// Starts `task` with the server's handle when the server runs.
    pub(crate) fn background(
        mut self,
        task: impl FnOnce(Handle) -> Pin<Box<dyn Future<Output = io::Error>>> + Send + 'static,
    ) -> Self {
        self.background.push(Box::new(task));
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

    /// The server list (the original's `on_get_server_data`). Answer
    /// `Vec<ServerInfo>` or the original's JSON dictionary.
    pub fn on_get_server_data<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, BoxError>> + 'static,
        R: IntoServers,
    {
        self.callbacks.set_servers(f);
        self
    }

    /// The users of one server, by snowflake. Answer `Vec<User>` or the
    /// original's JSON dictionary; malformed users are skipped with a warning.
    pub fn on_get_user_data<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, BoxError>> + 'static,
        R: IntoUsers,
    {
        self.callbacks.set_users(f);
        self
    }

    /// Decides Discord logins to protected servers: (token, user, snowflake).
    /// With real server data and no validator, protected servers refuse.
    pub fn on_validate_discord_user<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String, DiscordUser, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, BoxError>> + 'static,
    {
        self.callbacks.set_validate(f);
        self
    }

    /// The Discord OAuth2 client id of a server, if it has one.
    pub fn on_get_client_id<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, BoxError>> + 'static,
    {
        self.callbacks.set_client_id(f);
        self
    }

    /// Answers HTTP paths before the static files; `Ok(None)` passes.
    pub fn on_static_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<StaticResponse>, BoxError>> + 'static,
    {
        self.callbacks.set_static(f);
        self
    }

    /// Binds the listeners and starts the actors. Call inside an actix
    /// system (`#[actix_web::main]`).
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
        let listeners = bind_all(&addrs)?;
        let config = self.config;
        let files = match &config.static_dir {
            Some(dir) => StaticFiles::dir(dir).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("static directory {} is not usable: {e}", dir.display()),
                )
            })?,
            None => StaticFiles::BuiltIn,
        };
        let mock_users = self.callbacks.users.is_none();
        let state = Arc::new(AppState {
            registry: Registry::new(config.max_backlog_bytes as u64, config.batch_window),
            callbacks: self.callbacks,
            connections: Connections::new(&config),
            auth: AuthGuard::new(&config),
            files,
            mock_users,
            config,
        });
        Ok(Server {
            listeners,
            background: self.background,
            handle: Handle {
                state: state.clone(),
                server: Arc::new(OnceLock::new()),
            },
            state,
        })
    }
}

fn bind_all(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut last_err = None;
    for addr in addrs {
        match bind_one(*addr) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                log::debug!("could not listen on {addr}: {e}");
                last_err = Some(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                ));
            }
        }
    }
    // `localhost` may name an address family the machine lacks; one
    // working address is enough, but a port in use is always an error.
    match last_err {
        Some(e) if listeners.is_empty() || e.kind() == io::ErrorKind::AddrInUse => Err(e),
        _ => Ok(listeners),
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    // Deep accept queue: handshake storms arrive faster than one accept loop.
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A bound, ready server.
pub struct Server {
    listeners: Vec<TcpListener>,
    background: Vec<Background>,
    state: Arc<AppState>,
    handle: Handle,
}

impl Server {
    /// The first bound address (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every bound address.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The bot-side handle.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Serves until shut down (signal or [`Handle::shutdown`]).
    pub async fn run(self) -> io::Result<()> {
        let state = self.state.clone();
        let cfg = &self.state.config;
        let user_timeout = cfg.write_timeout;
        let data = web::Data::from(state.clone());
        let mut http = HttpServer::new(move || {
            // Runs once per worker, on its thread: a handshake's provider
            // questions stay on the thread that serves the connection.
            let providers = Providers::start(&data.callbacks, data.config.provider_timeout);
            data.registry.add_arbiter(actix::Arbiter::current());
            App::new()
                .app_data(data.clone())
                .app_data(web::Data::new(providers))
                .default_service(web::to(http::entry))
        })
        .on_connect(move |conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let sock = socket2::SockRef::from(tcp);
                // A peer that stops reading leaves a zero window; the kernel
                // aborts it after this, freeing everything queued for it.
                #[cfg(any(target_os = "linux", target_os = "android"))]
                let _ = sock.set_tcp_user_timeout(Some(user_timeout));
                let _ = sock.set_nodelay(true);
            }
        })
        .client_request_timeout(cfg.handshake_timeout)
        .shutdown_timeout(cfg.shutdown_grace.as_secs().max(1))
        .max_connections(cfg.max_connections.max(1) + 1024)
        .disable_signals();
        for l in self.listeners {
            http = http.listen(l)?;
        }
        let running = http.run();
        let _ = self.handle.server.set(running.handle());
        if cfg.handle_signals {
            let handle = self.handle.clone();
            actix_web::rt::spawn(async move {
                wait_for_signal().await;
                log::info!("signal received: closing sessions and shutting down");
                handle.shutdown().await;
            });
        }
        let mut background: futures_util::stream::FuturesUnordered<_> = self
            .background
            .into_iter()
            .map(|start| start(self.handle.clone()))
            .collect();
        if background.is_empty() {
            return running.await;
        }
        let handle = self.handle.clone();
        tokio::select! {
            r = running => r,
            Some(fatal) = futures_util::StreamExt::next(&mut background) => {
                handle.shutdown().await;
                Err(fatal)
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The bot side: broadcasts and statistics. Cloneable and `Send`, usable from
/// any actor, task or thread of the process.
#[derive(Clone)]
pub struct Handle {
    state: Arc<AppState>,
    server: Arc<OnceLock<actix_web::dev::ServerHandle>>,
}

impl Handle {
    /// Sends a broadcast to its guild's hub; dropped when no one watches.
    pub fn broadcast(&self, broadcast: Broadcast) {
        if let Some(hub) = self.state.registry.hub_of(broadcast.server()) {
            hub.do_send(broadcast);
        }
    }

    /// Like [`broadcast`](Self::broadcast), answering how many sessions it reached.
    pub async fn broadcast_counted(&self, broadcast: Broadcast) -> usize {
        match self.state.registry.hub_of(broadcast.server()) {
            Some(hub) => hub.send(broadcast).await.unwrap_or(0),
            None => 0,
        }
    }

    /// A chat message (the original's `broadcast_message`).
    pub fn broadcast_message(&self, server: &str, uid: &str, message: &str, channel: &str) {
        self.broadcast(Broadcast::Message {
            server: server.into(),
            uid: uid.into(),
            message: message.into(),
            channel: channel.into(),
        });
    }

    /// A presence change (the original's `broadcast_presence`).
    pub fn broadcast_presence(&self, presence: Presence) {
        self.broadcast(Broadcast::Presence(presence));
    }

    /// A new OAuth client id (the original's `broadcast_client_id_update`).
    pub fn broadcast_client_id_update(&self, server: &str, client_id: &str) {
        self.broadcast(Broadcast::ClientId {
            server: server.into(),
            client_id: client_id.into(),
        });
    }

    /// Sessions joined to some Discord server.
    pub fn session_count(&self) -> usize {
        self.state.registry.joined()
    }

    /// Open WebSocket sessions, joined or not.
    pub fn connection_count(&self) -> usize {
        self.state.registry.open_sessions()
    }

    /// Hubs alive (Discord servers with at least one viewer).
    pub fn hub_count(&self) -> usize {
        self.state.registry.hub_count()
    }

    /// Stops accepting, closes every session with 1001 (going away), and
    /// lets connections drain within the shutdown grace period.
    pub async fn shutdown(&self) {
        let Some(server) = self.server.get() else {
            return;
        };
        let stop = server.stop(true);
        self.state.registry.going_away();
        stop.await;
    }
}

#[cfg(test)]
mod tests {
    /// The bot side must be shareable across threads and tasks.
    #[test]
    fn handle_is_send_sync_clone() {
        fn assert<T: Send + Sync + Clone + 'static>() {}
        assert::<super::Handle>();
        fn assert_send<T: Send>() {}
        assert_send::<super::Builder>();
    }
}
