//! What the operator reads while the Discord gateway cannot be reached:
//! one line with the address and the cause (DNS, refused, TLS, ...) and
//! what to check, then one short line per retry with its number and the
//! delay before the next, instead of twilight's "failed to reconnect to the
//! gateway" with no cause, repeated forever. A changed cause is said in
//! full again; the first message after failures says the gateway was
//! reached. Nothing here can hold a secret: the address is the configured
//! base URL and the causes are connection errors, which carry no token.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// Why a connection attempt failed, from the error twilight hands back
/// (a `tokio_websockets::Error` under its `Reconnect` error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The host name does not resolve.
    Dns,
    /// Nothing accepts connections at the address.
    Refused,
    /// The TLS handshake failed (certificate, clock, intercepting proxy).
    Tls(String),
    /// Anything else: timeouts, unreachable networks, refused upgrades.
    Other(String),
}

impl Cause {
    /// Reads the cause from an error and its sources: the typed errors
    /// first (tokio-websockets', io's kind, rustls'), never their text.
    pub(crate) fn of(error: &(dyn StdError + 'static)) -> Cause {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(ws) = e.downcast_ref::<tokio_websockets::Error>() {
                if matches!(ws, tokio_websockets::Error::CannotResolveHost) {
                    return Cause::Dns;
                }
            }
            if let Some(rustls) = e.downcast_ref::<rustls::Error>() {
                return Cause::Tls(rustls.to_string());
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::ConnectionRefused {
                    return Cause::Refused;
                }
                // tokio-rustls reports a failed handshake as an io::Error
                // around the rustls error.
                if let Some(rustls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return Cause::Tls(rustls.to_string());
                }
            }
            next = e.source();
        }
        // The innermost error says the most.
        let mut inner = error;
        while let Some(s) = inner.source() {
            inner = s;
        }
        Cause::Other(inner.to_string())
    }

    /// What to look at, ending the first line.
    fn hint(&self) -> &'static str {
        match self {
            Cause::Dns => "check this machine's DNS and network (a container needs a network with DNS)",
            Cause::Refused => "nothing listens there: check D_BACK_DISCORD_GATEWAY_URL (gateway_url) if set, or a firewall that rejects the connection",
            Cause::Tls(_) => "check the system clock and any proxy that intercepts TLS",
            Cause::Other(_) => "check this machine's network",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Dns => f.write_str("DNS lookup failed"),
            Cause::Refused => f.write_str("connection refused"),
            Cause::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Cause::Other(e) => f.write_str(e),
        }
    }
}

/// The seconds twilight-gateway 0.16 waits before a connection attempt
/// after `failures` failed ones in a row: `2^failures`, saturating at 255
/// (`Shard::poll_next`, `ShardState::Disconnected { reconnect_attempts }`).
pub(crate) fn delay_after(failures: u32) -> u64 {
    2u8.saturating_pow(failures).into()
}

/// Consecutive failed connection attempts, and the cause last said in full.
pub(crate) struct Reach {
    /// The gateway's base URL, as configured (never carries the token).
    address: String,
    failures: u32,
    said: Option<Cause>,
}

impl Reach {
    pub(crate) fn new(address: String) -> Reach {
        Reach {
            address,
            failures: 0,
            said: None,
        }
    }

    /// A connection attempt failed: the line to log.
    pub(crate) fn failed(&mut self, cause: Cause) -> String {
        self.failures += 1;
        let next = delay_after(self.failures);
        if self.said.as_ref() == Some(&cause) {
            return format!(
                "discord: the gateway is still unreachable ({cause}), attempt {}; next try in {next} s",
                self.failures
            );
        }
        let line = format!(
            "discord: cannot reach the Discord gateway at {}: {cause}; {}. Next try in {next} s",
            self.address,
            cause.hint()
        );
        self.said = Some(cause);
        line
    }

    /// A message came from the gateway: after failures, the line to log.
    pub(crate) fn reached(&mut self) -> Option<String> {
        if self.failures == 0 {
            return None;
        }
        let line = format!(
            "discord: reached the gateway at {} after {} failed attempt(s)",
            self.address, self.failures
        );
        self.failures = 0;
        self.said = None;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_and_stops_at_255_seconds() {
        let delays: Vec<u64> = (1..=9).map(delay_after).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 255, 255]);
    }

    #[test]
    fn a_cause_is_said_in_full_once_then_counted() {
        let mut r = Reach::new("wss://gateway.example".into());
        assert_eq!(
            r.failed(Cause::Refused),
            "discord: cannot reach the Discord gateway at wss://gateway.example: connection refused; nothing listens there: check D_BACK_DISCORD_GATEWAY_URL (gateway_url) if set, or a firewall that rejects the connection. Next try in 2 s"
        );
        assert_eq!(
            r.failed(Cause::Refused),
            "discord: the gateway is still unreachable (connection refused), attempt 2; next try in 4 s"
        );
        assert!(r.failed(Cause::Dns).starts_with(
            "discord: cannot reach the Discord gateway at wss://gateway.example: DNS lookup failed;"
        ));
        assert_eq!(
            r.reached().as_deref(),
            Some("discord: reached the gateway at wss://gateway.example after 3 failed attempt(s)")
        );
        assert_eq!(r.reached(), None);
    }

    #[test]
    fn causes_are_read_from_typed_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(Cause::of(&refused), Cause::Refused);
        assert_eq!(
            Cause::of(&tokio_websockets::Error::CannotResolveHost),
            Cause::Dns
        );
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(
            Cause::of(&tls),
            Cause::Tls("invalid peer certificate: Expired".into())
        );
    }
}
