//! SIGTERM and SIGINT: a graceful shutdown (sessions closed with 1001,
//! connections drained for `shutdown_grace`). The handlers are installed
//! before the server starts serving, so a failure to install them ends the
//! start with a sentence instead of leaving a server that cannot be
//! stopped cleanly and never says why. (SIGHUP, which reloads the TLS
//! certificate, is `crate::tls`'s.)

use std::io;

/// The installed handlers, waited on by [`Signals::recv`].
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; the error is the sentence that ends the start.
    pub(crate) fn install() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate()).map_err(cannot_install)?;
            let int = signal(SignalKind::interrupt()).map_err(cannot_install)?;
            Ok(Signals { term, int })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C elsewhere).
    pub(crate) async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The sentence for handlers that could not be installed.
fn cannot_install(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot install the SIGTERM and SIGINT handlers ({e}), so d-back could not shut down cleanly: not starting. A program embedding d-back can set Config::handle_signals to false and stop it with Handle::shutdown."
        ),
    )
}

#[cfg(test)]
mod tests {
    /// The failure keeps its kind and says what happened and what to do.
    #[test]
    fn a_failed_install_is_one_sentence() {
        let e = super::cannot_install(std::io::Error::other("no signal driver"));
        assert_eq!(e.kind(), std::io::ErrorKind::Other);
        assert_eq!(
            e.to_string(),
            "cannot install the SIGTERM and SIGINT handlers (no signal driver), so d-back could not shut down cleanly: not starting. A program embedding d-back can set Config::handle_signals to false and stop it with Handle::shutdown."
        );
    }
}
