//! The connection's TCP socket, as its session knows it: only to end the
//! read side once a WebSocket close handshake is over.
//!
//! Why: a WebSocket upgrade's request body never ends, so when the session's
//! response stream finishes, actix-http treats the connection as one with
//! an unread body and lingers, reading until the client's EOF or
//! `client_disconnect_timeout`. But an RFC 6455 client waits for the
//! *server* to close TCP after the Close frames, so both sides wait and each
//! close costs the whole timeout. Shutting down our read side makes that
//! linger see EOF at once, and actix-http then flushes what is queued (our
//! Close frame) and closes with a FIN. HTTP requests keep actix-http's
//! linger, so a refusal sent before its body was read still arrives whole.
//!
//! Safety of a raw descriptor: a session only runs inside the poll of its
//! response body, which the HTTP dispatcher owns and polls; the dispatcher
//! drops that body before its socket. So while a session can call
//! [`ConnSocket::end_reading`], the descriptor is this connection's.

use std::any::Any;

use actix_web::rt::net::TcpStream;

/// The TLS connection type of actix-web's rustls listeners.
type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// The TCP stream under a connection as `on_connect` gets it: the stream
/// itself, or the one a TLS session runs on. Ending its read side under TLS
/// works the same: rustls reports the EOF, and the dispatcher closes.
pub(crate) fn tcp_of(conn: &dyn Any) -> Option<&TcpStream> {
    if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        return Some(tcp);
    }
    conn.downcast_ref::<TlsStream>().map(|tls| tls.get_ref().0)
}

/// The descriptor of one accepted connection, stored in its connection data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSocket {
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl ConnSocket {
    /// The socket of a connection as actix-web's `on_connect` sees it (a
    /// plain TCP stream, or one under TLS); `None` for other transports.
    pub(crate) fn of(conn: &dyn Any) -> Option<ConnSocket> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            Some(ConnSocket {
                fd: tcp_of(conn)?.as_raw_fd(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = conn;
            None
        }
    }

    /// Ends the read side: pending and future reads see EOF, so the
    /// dispatcher closes the connection as soon as its writes are flushed.
    pub(crate) fn end_reading(&self) {
        #[cfg(unix)]
        // SAFETY: shutdown(2) takes a descriptor and a constant; see the
        // module docs for why the descriptor is still this connection's.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RD);
        }
    }
}
