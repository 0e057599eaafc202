//! `AppState`: what every request and session of one server shares (the
//! settings, the registry, the limits, the callbacks and the files), and
//! the one way a broadcast enters it: [`AppState::broadcast`].

use std::sync::Arc;

use crate::access::slots::Connections;
use crate::access::throttle::AuthGuard;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::files::StaticFiles;
use crate::health::{Flag, Readiness};
use crate::hub::broadcast::Broadcast;
use crate::hub::registry::Registry;
use crate::metrics::Metrics;
use crate::providers::Callbacks;
use crate::proxy::TrustedProxies;
use crate::tls::Certificates;

pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) registry: Arc<Registry>,
    /// Each worker starts its own `Providers` actor from these.
    pub(crate) callbacks: Callbacks,
    pub(crate) connections: Arc<Connections>,
    pub(crate) auth: Arc<AuthGuard>,
    /// Whose forwarding headers name the client.
    pub(crate) proxies: TrustedProxies,
    pub(crate) files: StaticFiles,
    /// What `/metrics` reports (counted even when it is off: a few atomics).
    pub(crate) metrics: Arc<Metrics>,
    /// Users come from the built-in mock data, so sessions get mock traffic.
    pub(crate) mock_users: bool,
    /// What `/readyz` checks, `serving` first.
    pub(crate) readiness: Readiness,
    /// Up while the server runs and is not shutting down.
    pub(crate) serving: Arc<Flag>,
    /// The certificate of HTTPS and `wss://`, when TLS is on.
    pub(crate) tls: Option<Arc<Certificates>>,
    /// The other instances, when joined by Redis (`Config::redis_url`).
    pub(crate) cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// Every broadcast of the bot side (the [`crate::Handle`], `POST
    /// /api/broadcast`, the built-in bot) goes here: to the local hub, or
    /// through Redis to every instance, this one included. Never waits.
    pub(crate) fn broadcast(&self, broadcast: Broadcast) {
        self.metrics.broadcast(broadcast.kind());
        match &self.cluster {
            Some(cluster) => cluster.publish(broadcast),
            None => self.registry.broadcast(broadcast),
        }
    }

    /// Like [`broadcast`](Self::broadcast), never dropped for a full queue;
    /// answers how many sessions of this instance it was queued for (with
    /// Redis: how many of this instance watch the guild as it is published).
    pub(crate) async fn broadcast_counted(&self, broadcast: Broadcast) -> usize {
        self.metrics.broadcast(broadcast.kind());
        match &self.cluster {
            Some(cluster) => cluster.publish_counted(broadcast).await,
            None => self.registry.broadcast_counted(broadcast).await,
        }
    }
}
