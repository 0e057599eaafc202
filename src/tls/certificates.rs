//! [`Certificates`]: the certificate the next TLS handshake gets, and where
//! it was read from, so a reload can read it again.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::files::certified_key;

/// The current certificate and key, swapped whole by [`reload`](Self::reload).
pub(crate) struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads both files; a bad one is an error that names it (at start-up
    /// there is no old certificate to keep).
    pub(crate) fn load(cert: &Path, key: &Path) -> io::Result<Arc<Certificates>> {
        let provider = super::provider();
        let first = certified_key(cert, key, &provider)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Arc::new(Certificates {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: ArcSwap::from_pointee(first),
        }))
    }

    /// Reads the files again. On success new handshakes get the new
    /// certificate; on failure the old one stays, and the error says why.
    /// Either way one log line tells.
    pub(crate) fn reload(&self) -> Result<(), String> {
        match certified_key(&self.cert, &self.key, &self.provider) {
            Ok(fresh) => {
                self.current.store(Arc::new(fresh));
                log::info!("TLS: reloaded the certificate from {}", self.cert.display());
                Ok(())
            }
            Err(e) => {
                log::warn!("TLS: reload failed, keeping the current certificate: {e}");
                Err(e)
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl fmt::Debug for Certificates {
    // Paths only: the key itself is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
