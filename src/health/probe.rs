//! The answers of `/healthz` and `/readyz`: small JSON bodies, never
//! cached, 503 with the reasons when not ready.

use std::time::Duration;

use actix::Addr;
use actix_web::http::header;
use actix_web::HttpResponse;
use serde_json::json;

use crate::providers::{GetServers, Providers};

use super::readiness::Readiness;

/// What `/readyz` says when the providers miss the deadline.
pub(crate) const PROVIDERS_SILENT: &str = "providers not answering";

/// `GET /healthz`: the process is alive and its HTTP workers answer.
pub(crate) fn alive() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "status": "ok" }))
}

/// `GET /readyz`: every registered check holds and `providers` answer the
/// server list within `deadline`. Failing checks answer at once, without
/// waiting for the providers.
pub(crate) async fn ready(
    readiness: &Readiness,
    providers: &Addr<Providers>,
    deadline: Duration,
) -> HttpResponse {
    let mut reasons = readiness.failing();
    if reasons.is_empty() {
        let answer = tokio::time::timeout(deadline, providers.send(GetServers)).await;
        if !matches!(answer, Ok(Ok(_))) {
            reasons.push(PROVIDERS_SILENT.to_string());
        }
    }
    let mut body = if reasons.is_empty() {
        json!({ "status": "ready" })
    } else {
        json!({ "status": "unavailable", "reason": reasons.join("; ") })
    };
    for (name, value) in readiness.details() {
        body[name] = value;
    }
    let mut answer = if reasons.is_empty() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
