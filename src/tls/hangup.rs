//! SIGHUP reloads the certificate: what certbot's `--deploy-hook` (or
//! `systemctl reload`) sends after a renewal.

use std::sync::Arc;

use super::Certificates;

/// Listens for SIGHUP and reloads `certs` on each. The listener is
/// installed before this returns, so a SIGHUP sent once the server runs
/// never falls back to the default action (ending the process). Answers
/// the task to spawn.
pub(crate) fn reload_on_hangup(
    certs: Arc<Certificates>,
) -> impl std::future::Future<Output = ()> + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let hangups = signal(SignalKind::hangup());
        async move {
            let mut hangups = match hangups {
                Ok(h) => h,
                Err(e) => {
                    log::warn!("TLS: cannot listen for SIGHUP ({e}); certificates will not reload");
                    return;
                }
            };
            while hangups.recv().await.is_some() {
                log::info!("SIGHUP received: reloading the TLS certificate");
                let _ = certs.reload();
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = certs;
        std::future::ready(())
    }
}
