//! The [`Server`]: bound listeners and the shared state, run until shut
//! down by a signal or [`Handle::shutdown`].
//!
//! Binding happens in `Builder::build` (so a port in use fails early and
//! tests can bind port 0 and read the port back); `run` starts the actix-web
//! workers, gives each one its `Providers` actor and its share of the hubs,
//! and handles SIGINT/SIGTERM (and SIGHUP, which reloads the TLS
//! certificate, when TLS is on).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;

use actix::{Addr, Arbiter};
use actix_web::{web, App};

use crate::app::AppState;
use crate::providers::Providers;
use crate::web::handle::Handle;
use crate::web::http;

/// A task started when the server runs, with its handle. It resolves only
/// with an error no retry can fix, which stops the server.
pub(crate) type Background =
    Box<dyn FnOnce(Handle) -> Pin<Box<dyn Future<Output = io::Error>>> + Send>;

/// One worker's HTTP service for one listener (`$data`: the
/// `web::Data<AppState>`, `$addr`: the listener's address): timeouts and
/// socket options, WebSocket upgrades to `upgrade::take_over`, everything
/// else to the actix-web app (`http::entry`). A macro because the service's
/// type cannot be named (it holds the app's closures), and the plain and
/// TLS listeners need it for different streams.
macro_rules! http_service {
    ($data:expr, $addr:expr) => {{
        let data: &web::Data<AppState> = &$data;
        let cfg = &data.config;
        let user_timeout = cfg.write_timeout;
        let upgrade_data = data.clone();
        let providers = worker_providers(data);
        let app = App::new()
            .app_data(data.clone())
            .app_data(web::Data::new(providers))
            .default_service(web::to(http::entry));
        actix_http::HttpService::build()
            .client_request_timeout(cfg.handshake_timeout)
            // How long an HTTP response to an unread body lingers.
            .client_disconnect_timeout(cfg.close_timeout)
            .local_addr($addr)
            .on_connect_ext(move |io: &_, _: &mut actix_http::Extensions| {
                crate::web::connection::connected(io, user_timeout)
            })
            .upgrade(actix_service::fn_factory(move || {
                let data = upgrade_data.clone();
                async move {
                    let providers = worker_providers(&data);
                    let app = data.into_inner();
                    Ok::<_, ()>(actix_service::fn_service(move |(req, framed)| {
                        crate::ws::upgrade::take_over(app.clone(), providers.clone(), req, framed)
                    }))
                }
            }))
            .finish(actix_service::map_config(app, |_| {
                actix_web::dev::AppConfig::default()
            }))
    }};
}

/// A bound, ready server.
pub struct Server {
    listeners: Vec<TcpListener>,
    /// Started with the server; the first to end stops it with its error.
    background: Vec<Background>,
    state: Arc<AppState>,
    handle: Handle,
}

impl Server {
    pub(crate) fn new(
        listeners: Vec<TcpListener>,
        state: Arc<AppState>,
        background: Vec<Background>,
    ) -> Server {
        Server {
            listeners,
            background,
            handle: Handle::new(state.clone()),
            state,
        }
    }

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
        let cfg = &self.state.config;
        let data = web::Data::from(self.state.clone());
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let tls = match &self.state.tls {
            Some(certs) => Some(crate::tls::server_config(certs)?),
            None => None,
        };
        // What actix-web's `HttpServer` assembles, by hand: an actix-http
        // service per worker and listener, here with an upgrade service so
        // WebSockets take their connection over (see `upgrade`).
        let mut server = actix_server::Server::build()
            .workers(workers)
            .max_concurrent_connections(per_worker_cap(cfg.max_connections, workers))
            .shutdown_timeout(cfg.shutdown_grace.as_secs().max(1))
            .disable_signals();
        for listener in self.listeners {
            let addr = listener.local_addr()?;
            let data = data.clone();
            server = match tls.clone() {
                None => {
                    server.listen("d-back", listener, move || http_service!(data, addr).tcp())?
                }
                Some(tls) => server.listen("d-back-tls", listener, move || {
                    http_service!(data, addr).rustls_0_23(tls.clone())
                })?,
            };
        }
        if let (Some(certs), true) = (&self.state.tls, cfg.handle_signals) {
            actix_web::rt::spawn(crate::tls::reload_on_hangup(certs.clone()));
        }
        if let Some(cluster) = &self.state.cluster {
            cluster.start(&self.state.callbacks, cfg.provider_timeout);
        }
        let running = server.run();
        self.handle.set_server(running.handle());
        self.state.serving.set(true);
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

/// Plain HTTP requests and handshakes in flight, on top of the sessions.
const HTTP_HEADROOM: usize = 1024;

/// actix-web's `max_connections` is per worker; `Config::max_connections`
/// is a total. The WebSocket total is exact (`access::slots::Connections`, 503
/// beyond it); this bounds every TCP connection of the process to that
/// total plus [`HTTP_HEADROOM`], shared out among the workers.
fn per_worker_cap(max_sessions: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    (max_sessions.max(1) + HTTP_HEADROOM).div_ceil(workers)
}

/// This worker thread's `Providers`, started on first use.
///
/// actix-web calls the app factory once per worker *per listener*, so with
/// two listeners (`localhost` is often both 127.0.0.1 and ::1) a worker
/// would otherwise get two actors and offer its thread twice for hubs. The
/// key is the server's state, as tests run several servers in one process.
fn worker_providers(app: &web::Data<AppState>) -> Addr<Providers> {
    thread_local! {
        static MINE: RefCell<Option<(usize, Addr<Providers>)>> = const { RefCell::new(None) };
    }
    let key = Arc::as_ptr(&app.clone().into_inner()) as usize;
    MINE.with(|mine| {
        let mut mine = mine.borrow_mut();
        if let Some((k, addr)) = mine.as_ref() {
            if *k == key && addr.connected() {
                return addr.clone();
            }
        }
        // Runs on the worker's thread: a handshake's provider questions stay
        // on the thread that serves the connection, and hubs placed here
        // share it.
        let addr = Providers::start(
            &app.callbacks,
            app.config.provider_timeout,
            app.metrics.clone(),
        );
        app.registry.add_arbiter(Arbiter::current());
        *mine = Some((key, addr.clone()));
        addr
    })
}

/// Binds every address; one working address is enough unless a port is in
/// use.
pub(crate) fn bind_all(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
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

#[cfg(test)]
mod tests {
    use super::{per_worker_cap, HTTP_HEADROOM};

    /// The per-worker caps add up to the total (plus headroom), not to a
    /// multiple of it.
    #[test]
    fn connection_cap_is_shared_by_the_workers() {
        for workers in 1..=8 {
            let total = per_worker_cap(50_000, workers) * workers;
            assert!(total >= 50_000 + HTTP_HEADROOM);
            assert!(total < 50_000 + HTTP_HEADROOM + workers);
        }
    }
}
