//! Binding the listeners, in `Builder::build` (so a port in use fails
//! before anything starts, and tests can bind port 0 and read it back):
//! every address a host name gives, with a deep accept queue.

use std::io;
use std::net::{SocketAddr, TcpListener};

/// Binds every address; one working address is enough unless a port is in
/// use.
pub(crate) fn bind_all(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut last_err = None;
    for addr in addrs {
        match bind_one(*addr) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                log::debug!("could not listen on {addr}: {e}");
                last_err = Some(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                ));
            }
        }
    }
    // `localhost` may name an address family the machine lacks; one
    // working address is enough, but a port in use is always an error.
    match last_err {
        Some(e) if listeners.is_empty() || e.kind() == io::ErrorKind::AddrInUse => Err(e),
        _ => Ok(listeners),
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    // Deep accept queue: handshake storms arrive faster than one accept loop.
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
