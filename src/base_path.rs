//! Serving under a sub-path (`Config::base_path`, e.g. `/dzone`) behind a
//! reverse proxy that forwards `location /dzone/` unchanged: the single
//! route strips the prefix once and routes the rest as if it were at `/`,
//! so the page, its assets, `/api/*`, the probes and `/metrics` all move
//! together. The page finds its socket relative to its own address, so it
//! needs no setting of its own.

/// Where a request path stands relative to the base path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// Under the base path: the rest, starting with `/`.
    Inside(&'a str),
    /// Exactly the base path without its trailing slash: redirect to it
    /// with one, so the page's relative links resolve under it.
    Bare,
    /// Elsewhere: not ours.
    Outside,
}

/// The canonical spelling of a base path: `""` (the root) or `/a/b`, no
/// trailing slash. The error says what is wrong with it.
pub fn normalize(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err(format!(
            "the base path {raw:?} must start with a slash, e.g. \"/dzone\""
        ));
    }
    let path = trimmed.trim_end_matches('/');
    for segment in path[1..].split('/') {
        let plain = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if segment.is_empty() || segment == "." || segment == ".." || !plain {
            return Err(format!(
                "the base path {raw:?} may only hold segments of letters, digits and -._~ separated by single slashes, e.g. \"/dzone\""
            ));
        }
    }
    Ok(path.to_string())
}

/// Where `path` stands relative to the (normalized) `base`.
pub(crate) fn place<'a>(base: &str, path: &'a str) -> Place<'a> {
    if base.is_empty() {
        return Place::Inside(path);
    }
    match path.strip_prefix(base) {
        Some("") => Place::Bare,
        Some(rest) if rest.starts_with('/') => Place::Inside(rest),
        _ => Place::Outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_become_one() {
        for raw in ["", "/", " / "] {
            assert_eq!(normalize(raw).unwrap(), "");
        }
        for raw in ["/dzone", "/dzone/", "/dzone//"] {
            assert_eq!(normalize(raw).unwrap(), "/dzone");
        }
        assert_eq!(normalize("/a/b-c").unwrap(), "/a/b-c");
        for bad in ["dzone", "/a//b", "/a/../b", "/d zone", "/d?x", "/%41"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_placed() {
        assert_eq!(place("", "/ws"), Place::Inside("/ws"));
        assert_eq!(place("/dzone", "/dzone/healthz"), Place::Inside("/healthz"));
        assert_eq!(place("/dzone", "/dzone/"), Place::Inside("/"));
        assert_eq!(place("/dzone", "/dzone"), Place::Bare);
        assert_eq!(place("/dzone", "/dzonex/"), Place::Outside);
        assert_eq!(place("/dzone", "/healthz"), Place::Outside);
    }
}
