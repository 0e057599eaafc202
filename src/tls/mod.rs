//! HTTPS and `wss://` on the listening port, with certificates that can be
//! replaced while the server runs.
//!
//! Why a resolver: Let's Encrypt renews certificates every few months, and
//! restarting the server for it would drop every session. Each TLS
//! handshake asks [`Certificates`] for the current certificate; a reload
//! (SIGHUP, or [`Handle::reload_tls`](crate::Handle::reload_tls)) swaps it,
//! so new connections get the new one while open sessions carry on. A
//! reload that cannot read the files keeps the old certificate and says why.
//!
//! # Layout
//!
//! * `files`: reading a PEM certificate chain and private key.
//! * `certificates`: the current certificate, the resolver rustls asks.
//! * `hangup`: the SIGHUP task that reloads.

mod certificates;
mod files;
mod hangup;

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;

pub(crate) use certificates::Certificates;
pub(crate) use hangup::reload_on_hangup;

/// The rustls crypto provider, chosen explicitly: *ring* builds everywhere
/// without cmake or nasm.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls settings of every TLS listener: safe protocol versions, no
/// client certificates, the certificate from `certs` on each handshake.
pub(crate) fn server_config(certs: &Arc<Certificates>) -> io::Result<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    Ok(config)
}
