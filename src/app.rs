//! State shared by every request and session of one server.

use std::sync::Arc;

use crate::config::Config;
use crate::files::StaticFiles;
use crate::hub::Registry;
use crate::limits::{AuthGuard, Connections};
use crate::providers::Callbacks;

pub(crate) struct AppState {
    pub config: Config,
    pub registry: Arc<Registry>,
    /// Each worker starts its own `Providers` actor from these.
    pub callbacks: Callbacks,
    pub connections: Arc<Connections>,
    pub auth: Arc<AuthGuard>,
    pub files: StaticFiles,
    /// Users come from the built-in mock data, so sessions get mock traffic.
    pub mock_users: bool,
}
