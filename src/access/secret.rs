//! Comparing secrets (legacy passwords, bearer tokens) in constant time.

/// Compares without an early exit, so timing does not reveal a prefix.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a request presents `expected` as its `Authorization: Bearer`
/// token (the bot-side endpoints and `/metrics`), compared in constant time.
pub(crate) fn bearer_matches(req: &actix_web::HttpRequest, expected: &str) -> bool {
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    same_secret(given, expected)
}
