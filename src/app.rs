//! `AppState`: what every request and session of one server shares (the
//! settings, the registry, the limits, the callbacks and the files).

use std::sync::Arc;

use crate::config::Config;
use crate::files::StaticFiles;
use crate::health::{Flag, Readiness};
use crate::limits::{AuthGuard, Connections};
use crate::metrics::Metrics;
use crate::providers::Callbacks;
use crate::proxy::TrustedProxies;
use crate::registry::Registry;
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
}
