//! The hop chain a proxy reports: `X-Forwarded-For: client, proxy1` or, in
//! its absence, RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:80"`.
//! Every header line is read, in order, left (first hop) to right (last).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, HeaderName};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// What the forwarding headers say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chain {
    /// Neither header is present.
    Absent,
    /// The addresses, first hop first.
    Hops(Vec<IpAddr>),
    /// A header is present but an entry is not an address (or `unknown`,
    /// or an obfuscated name), so the chain cannot be followed.
    Malformed,
}

/// True when a request carries either forwarding header.
pub(crate) fn present(headers: &HeaderMap) -> bool {
    headers.contains_key(X_FORWARDED_FOR) || headers.contains_key(FORWARDED)
}

/// The chain of `X-Forwarded-For` if present, else of `Forwarded`.
pub(crate) fn chain(headers: &HeaderMap) -> Chain {
    if headers.contains_key(X_FORWARDED_FOR) {
        collect(headers, X_FORWARDED_FOR, x_forwarded_for)
    } else if headers.contains_key(FORWARDED) {
        collect(headers, FORWARDED, forwarded)
    } else {
        Chain::Absent
    }
}

fn collect(
    headers: &HeaderMap,
    name: HeaderName,
    parse: fn(&str, &mut Vec<IpAddr>) -> Option<()>,
) -> Chain {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else {
            return Chain::Malformed;
        };
        if parse(text, &mut hops).is_none() {
            return Chain::Malformed;
        }
    }
    if hops.is_empty() {
        Chain::Malformed
    } else {
        Chain::Hops(hops)
    }
}

/// `X-Forwarded-For: 203.0.113.7, 10.0.0.2`. Entries with a port
/// (`1.2.3.4:5`, `[::1]:5`), as some proxies write, are accepted too.
fn x_forwarded_for(text: &str, hops: &mut Vec<IpAddr>) -> Option<()> {
    for entry in text.split(',') {
        hops.push(node(entry.trim())?);
    }
    Some(())
}

/// `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]"`.
/// Each element (hop) must name its `for`.
fn forwarded(text: &str, hops: &mut Vec<IpAddr>) -> Option<()> {
    for element in split_unquoted(text, ',') {
        let mut found = None;
        for pair in split_unquoted(element, ';') {
            let (key, value) = pair.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("for") {
                found = Some(node(&unquote(value.trim())?)?);
            }
        }
        hops.push(found?);
    }
    Some(())
}

/// Splits on `sep` outside quoted strings (which may escape with `\`).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token or an RFC 7230 quoted string, without its quotes and escapes.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// One node: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:80`. `unknown` and obfuscated names are not addresses.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let v6 = text.strip_prefix('[')?.strip_suffix(']')?;
    v6.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(lines: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in lines {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }

    fn hops(list: &[&str]) -> Chain {
        Chain::Hops(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn x_forwarded_for_lists_every_hop_across_lines() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7 , 10.0.0.2"),
            ("x-forwarded-for", "2001:db8::1"),
        ]);
        assert_eq!(chain(&h), hops(&["203.0.113.7", "10.0.0.2", "2001:db8::1"]));
        let h = headers(&[(
            "x-forwarded-for",
            "203.0.113.7:4711, [2001:db8::2]:80, [::1]",
        )]);
        assert_eq!(chain(&h), hops(&["203.0.113.7", "2001:db8::2", "::1"]));
        let h = headers(&[("x-forwarded-for", "::ffff:192.0.2.1")]);
        assert_eq!(chain(&h), hops(&["192.0.2.1"]));
    }

    #[test]
    fn forwarded_reads_for_in_every_form() {
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for="198.51.100.17:80";host="a,b;c""#,
        )]);
        assert_eq!(
            chain(&h),
            hops(&["192.0.2.60", "2001:db8:cafe::17", "198.51.100.17"])
        );
        let h = headers(&[
            ("forwarded", r#"for="[2001:db8::1]""#),
            ("forwarded", "for=10.0.0.1"),
        ]);
        assert_eq!(chain(&h), hops(&["2001:db8::1", "10.0.0.1"]));
    }

    #[test]
    fn x_forwarded_for_wins_over_forwarded() {
        let h = headers(&[
            ("forwarded", "for=10.9.9.9"),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        assert_eq!(chain(&h), hops(&["192.0.2.1"]));
        assert!(present(&h));
        assert_eq!(chain(&HeaderMap::new()), Chain::Absent);
        assert!(!present(&HeaderMap::new()));
    }

    #[test]
    fn malformed_entries_spoil_the_chain() {
        for (name, value) in [
            ("x-forwarded-for", ""),
            ("x-forwarded-for", "192.0.2.1,"),
            ("x-forwarded-for", "192.0.2.1, bogus"),
            ("x-forwarded-for", "unknown"),
            ("x-forwarded-for", "[192.0.2.1]"),
            ("x-forwarded-for", "2001:db8::1:80]"),
            ("x-forwarded-for", "999.0.0.1"),
            ("forwarded", ""),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("forwarded", "proto=https"),
            ("forwarded", "for=192.0.2.1, proto=https"),
            ("forwarded", "for"),
            ("forwarded", r#"for="[2001:db8::1]"#),
            ("forwarded", r#"for="2001:db8::1"x""#),
            ("forwarded", "for=[2001:db8::1]:80:80"),
            ("forwarded", r#"for="\"#),
        ] {
            assert_eq!(
                chain(&headers(&[(name, value)])),
                Chain::Malformed,
                "{name}: {value}"
            );
        }
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(chain(&h), Chain::Malformed, "not UTF-8");
    }
}
