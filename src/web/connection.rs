//! What every accepted TCP connection gets before its first request: no
//! Nagle delay, and `TCP_USER_TIMEOUT`, so the kernel aborts a peer that
//! stops reading (a zero window) after `Config::write_timeout` and frees
//! everything queued for it. Set from actix-http's `on_connect_ext`, for
//! plain and TLS listeners alike.

use std::any::Any;
use std::time::Duration;

use actix_web::rt::net::TcpStream;

/// The TLS connection type of the rustls listeners.
type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// The TCP stream under a connection as `on_connect` gets it: the stream
/// itself, or the one a TLS session runs on.
fn tcp_of(conn: &dyn Any) -> Option<&TcpStream> {
    if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        return Some(tcp);
    }
    conn.downcast_ref::<TlsStream>().map(|tls| tls.get_ref().0)
}

/// Sets the socket options of an accepted connection (`io`: its stream,
/// plain or TLS).
pub(crate) fn connected<T: 'static>(io: &T, user_timeout: Duration) {
    let conn: &dyn Any = io;
    if let Some(tcp) = tcp_of(conn) {
        let sock = socket2::SockRef::from(tcp);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = sock.set_tcp_user_timeout(Some(user_timeout));
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = user_timeout;
        let _ = sock.set_nodelay(true);
    }
}
