//! The [`Handle`]: the bot side of a running server. Cloneable, `Send` and
//! `Sync`, so a bot's actors, tasks and threads can all broadcast.

use std::sync::{Arc, OnceLock};

use actix_web::dev::ServerHandle;

use crate::app::AppState;
use crate::hub::broadcast::Broadcast;
use crate::protocol::model::Presence;

/// The bot side: broadcasts and statistics. Cloneable and `Send`, usable from
/// any actor, task or thread of the process.
#[derive(Clone)]
pub struct Handle {
    state: Arc<AppState>,
    /// The HTTP server's own handle, set once `Server::run` has started it.
    server: Arc<OnceLock<ServerHandle>>,
}

impl Handle {
    /// Where the built-in bot counts its gateway.
    pub(crate) fn metrics(&self) -> &crate::metrics::Metrics {
        &self.state.metrics
    }

    pub(crate) fn new(state: Arc<AppState>) -> Handle {
        Handle {
            state,
            server: Arc::new(OnceLock::new()),
        }
    }

    /// Called by `Server::run` once the HTTP server exists.
    pub(crate) fn set_server(&self, server: ServerHandle) {
        let _ = self.server.set(server);
    }

    /// Queues a broadcast at its guild's hub without waiting; dropped when
    /// no one watches, or when the hub is 65,536 broadcasts behind (counted
    /// in [`dropped_broadcasts`](Self::dropped_broadcasts), with a warning).
    /// Use [`broadcast_counted`](Self::broadcast_counted) to wait instead.
    pub fn broadcast(&self, broadcast: Broadcast) {
        self.state.broadcast(broadcast);
    }

    /// Like [`broadcast`](Self::broadcast), but never dropped for a full
    /// hub: it waits for the hub's answer (which paces a loop of awaited
    /// calls) and answers how many sessions it was queued for.
    pub async fn broadcast_counted(&self, broadcast: Broadcast) -> usize {
        self.state.broadcast_counted(broadcast).await
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

    /// Sessions joined to some Discord server (open but not joined ones are
    /// in [`connection_count`](Self::connection_count) only).
    pub fn joined_count(&self) -> usize {
        self.state.registry.joined()
    }

    /// Open WebSocket sessions, joined or not.
    pub fn connection_count(&self) -> usize {
        self.state.registry.open_sessions()
    }

    /// Broadcasts dropped because their hub's mailbox was full.
    pub fn dropped_broadcasts(&self) -> u64 {
        self.state.registry.dropped()
    }

    /// Hubs alive (Discord servers with at least one viewer).
    pub fn hub_count(&self) -> usize {
        self.state.registry.hub_count()
    }

    /// Re-reads the TLS certificate and key files (what SIGHUP does, for
    /// programs that own their signals). New connections get the new
    /// certificate, open ones keep theirs; on an error the old certificate
    /// stays and the error (`InvalidData`) says why. `Ok` without TLS.
    pub fn reload_tls(&self) -> std::io::Result<()> {
        match &self.state.tls {
            Some(certs) => certs
                .reload()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            None => Ok(()),
        }
    }

    /// Stops accepting, closes every session with 1001 (going away), and
    /// lets connections drain within the shutdown grace period.
    pub async fn shutdown(&self) {
        let Some(server) = self.server.get() else {
            return;
        };
        self.state.serving.set(false);
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
        assert_send::<crate::Builder>();
    }
}
