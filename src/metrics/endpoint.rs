//! `GET /metrics`: a normal 404 unless metrics are on; with a token, 401
//! unless the request sends `Authorization: Bearer <token>`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::app::AppState;
use crate::limits::bearer_matches;

pub(crate) fn scrape(req: &HttpRequest, app: &AppState) -> HttpResponse {
    if !app.config.metrics {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    }
    if let Some(token) = app.config.metrics_token.as_deref() {
        if !bearer_matches(req, token) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish();
        }
    }
    let body = app.metrics.render(
        app.registry.open_sessions(),
        app.registry.joined(),
        app.registry.hub_count(),
    );
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body)
}
