//! `d-back health`: asks the d-back that this configuration starts for
//! `GET <base path>/healthz`, and exits 0 on a 200. It is the container's
//! HEALTHCHECK: it reads the same config file, environment and flags as a
//! start, so a port or base path set in a mounted file is the one probed
//! (a shell probe could only see the environment). Plain std sockets with
//! short timeouts: it runs every few seconds and must not hang.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long each step (connect, write, read) may take.
const STEP: Duration = Duration::from_secs(2);

/// Where the server is reached from inside its own host or container: a
/// wildcard address is listened on by every interface, loopback included.
fn reachable_host(host: &str) -> &str {
    match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        other => other,
    }
}

/// Probes `/healthz` under `base_path` on `host:port`. With TLS the probe
/// only checks that the port accepts a connection (it carries no TLS
/// client); the error is one sentence.
pub fn probe(host: &str, port: u16, base_path: &str, tls: bool) -> Result<(), String> {
    let host = reachable_host(host.trim_start_matches('[').trim_end_matches(']'));
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        let mut stream = match TcpStream::connect_timeout(&addr, STEP) {
            Ok(s) => s,
            Err(e) => {
                last = format!("cannot connect to {addr}: {e}");
                continue;
            }
        };
        if tls {
            return Ok(());
        }
        return ask(&mut stream, host, base_path).map_err(|e| format!("{addr}: {e}"));
    }
    Err(last)
}

fn ask(stream: &mut TcpStream, host: &str, base_path: &str) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    stream.set_read_timeout(Some(STEP)).map_err(io)?;
    stream.set_write_timeout(Some(STEP)).map_err(io)?;
    let request =
        format!("GET {base_path}/healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line is all that is needed; the body is a few bytes.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]).map_err(io)? {
            0 => break,
            n => len += n,
        }
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..len]);
    let line = line.lines().next().unwrap_or_default();
    match line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ if line.is_empty() => Err(format!("GET {base_path}/healthz got no answer")),
        _ => Err(format!("GET {base_path}/healthz answered {line:?}")),
    }
}
