//! What each worker thread gets: its share of the connection cap, and its
//! own `Providers` actor (started on first use, on that thread, which also
//! offers the thread to the registry for hubs).

use std::cell::RefCell;
use std::sync::Arc;

use actix::{Addr, Arbiter};
use actix_web::web;

use crate::app::AppState;
use crate::providers::Providers;

/// Plain HTTP requests and handshakes in flight, on top of the sessions.
const HTTP_HEADROOM: usize = 1024;

/// actix-web's `max_connections` is per worker; `Config::max_connections`
/// is a total. The WebSocket total is exact (`access::slots::Connections`, 503
/// beyond it); this bounds every TCP connection of the process to that
/// total plus [`HTTP_HEADROOM`], shared out among the workers.
pub(crate) fn per_worker_cap(max_sessions: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    (max_sessions.max(1) + HTTP_HEADROOM).div_ceil(workers)
}

/// This worker thread's `Providers`, started on first use.
///
/// actix-web calls the app factory once per worker *per listener*, so with
/// two listeners (`localhost` is often both 127.0.0.1 and ::1) a worker
/// would otherwise get two actors and offer its thread twice for hubs. The
/// key is the server's state, as tests run several servers in one process.
pub(crate) fn worker_providers(app: &web::Data<AppState>) -> Addr<Providers> {
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
