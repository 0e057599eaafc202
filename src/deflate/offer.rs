//! Choosing the answer to a client's `Sec-WebSocket-Extensions` offers.
//!
//! The server takes the first `permessage-deflate` offer it can honour
//! exactly and declines the rest; with none, the connection is plain. What
//! it can honour follows from sharing compressed frames between viewers:
//! it always compresses without context takeover and with the full 32 KiB
//! window, so an offer that limits the server's window below that
//! (`server_max_window_bits` under 15) is declined, as is any parameter it
//! does not know, a repeated one or a bad value (RFC 7692 §7.1).

use actix_http::header::{HeaderMap, SEC_WEBSOCKET_EXTENSIONS};

/// The answer to an accepted offer.
const ACCEPT: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The answer to an accepted offer that named `server_max_window_bits=15`
/// (accepting it means repeating it).
const ACCEPT_WINDOW: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15";

/// The `Sec-WebSocket-Extensions` value to answer with, or `None` to
/// decline every offer in `headers`.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(answer)
}

/// The answer to one offer (`name; param; param=value`), if acceptable.
fn answer(offer: &str) -> Option<&'static str> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut names_window = false;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (param, None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            // The client's own window: any, since every client message is
            // inflated with a full window of its own.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(v)) if window_bits(v).is_some() => {}
            ("server_max_window_bits", Some(v)) if window_bits(v) == Some(15) => {
                names_window = true;
            }
            _ => return None,
        }
        seen.push(name);
    }
    Some(if names_window { ACCEPT_WINDOW } else { ACCEPT })
}

/// A value as RFC 7692 allows it: a token or a quoted string.
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(v),
    }
}

/// A window size: 8 to 15, digits only, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|bits| (8..=15).contains(bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::header::HeaderValue;

    fn offered(values: &[&str]) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(v).unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn what_browsers_and_libraries_offer_is_accepted() {
        for offer in [
            // Chromium, Firefox, Safari, python websockets, Node's ws.
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits=15",
            "permessage-deflate;client_no_context_takeover;server_no_context_takeover",
            "PerMessage-Deflate; client_max_window_bits=\"10\"",
        ] {
            assert_eq!(offered(&[offer]), Some(ACCEPT), "{offer}");
        }
        assert_eq!(
            offered(&["permessage-deflate; server_max_window_bits=15"]),
            Some(ACCEPT_WINDOW)
        );
    }

    #[test]
    fn what_cannot_be_honoured_exactly_is_declined() {
        for offer in [
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=015",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; x_unknown",
            "x-webkit-deflate-frame",
            "permessage-deflate; client_max_window_bits=\"10",
        ] {
            assert_eq!(offered(&[offer]), None, "{offer}");
        }
        assert_eq!(offered(&[]), None);
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        assert_eq!(
            offered(&["permessage-deflate; server_max_window_bits=9, permessage-deflate"]),
            Some(ACCEPT)
        );
        assert_eq!(
            offered(&["foo", "permessage-deflate; server_max_window_bits=15"]),
            Some(ACCEPT_WINDOW)
        );
    }
}
