//! The [`Server`]: bound listeners and the shared state, run until shut
//! down by a signal or [`Handle::shutdown`].
//!
//! Binding happens in `Builder::build` (`listen`); `run` installs the
//! signal handlers (`signals`: a failure ends the start with a sentence),
//! starts the workers, each with the HTTP service of every listener
//! (`service`) and its own `Providers` actor (`workers`), starts the
//! background tasks (the Discord bot, Redis), and serves until a signal,
//! `Handle::shutdown` or a background task's fatal error.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web;

use crate::app::AppState;
use crate::web::handle::Handle;
use crate::web::service::http_service;
use crate::web::signals::Signals;
use crate::web::workers::per_worker_cap;

/// A task started when the server runs, with its handle. It resolves only
/// with an error no retry can fix, which stops the server.
pub(crate) type Background =
    Box<dyn FnOnce(Handle) -> Pin<Box<dyn Future<Output = io::Error>>> + Send>;

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
        // Before anything starts: a server that cannot be stopped cleanly
        // does not start.
        let signals = match cfg.handle_signals {
            true => Some(Signals::install()?),
            false => None,
        };
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
        if let Some(signals) = signals {
            let handle = self.handle.clone();
            actix_web::rt::spawn(async move {
                signals.recv().await;
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
