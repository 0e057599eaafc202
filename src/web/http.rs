//! Everything that arrives on the port: WebSocket upgrades on any path, the
//! version and broadcast endpoints, the static-request provider, then files;
//! all of it under `Config::base_path` when one is set.

use actix_files::NamedFile;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use actix::Addr;

use crate::access::secret::bearer_matches;
use crate::app::AppState;
use crate::base_path::{self, Place};
use crate::files::{content_type, Found};
use crate::health;
use crate::hub::broadcast::Broadcast;
use crate::providers::{Providers, StaticRequest, StaticResponse};
use crate::ws::start::{is_websocket, upgrade_with_a_body};

/// Largest body `POST /api/broadcast` reads.
const MAX_PUBLISH_BODY: usize = 64 * 1024;

/// The single route: dispatches by what the request is.
pub(crate) async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppState>,
    providers: web::Data<Addr<Providers>>,
) -> HttpResponse {
    let app = app.into_inner();
    let providers = providers.get_ref().clone();
    // Every upgrade is handed over to `ws::upgrade` before routing; one
    // that reaches the route had a body the dispatcher could not hand over.
    if is_websocket(req.headers()) {
        return upgrade_with_a_body();
    }
    // Stripped once; everything below routes as if served at `/`.
    let path = match base_path::place(&app.config.base_path, req.path()) {
        Place::Inside(rest) => rest.to_string(),
        Place::Bare => {
            let query = req.query_string();
            let to = format!("{}/", app.config.base_path);
            let to = if query.is_empty() {
                to
            } else {
                format!("{to}?{query}")
            };
            return HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, to))
                .finish();
        }
        Place::Outside => {
            return HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("not found")
        }
    };
    match (req.method(), path.as_str()) {
        (&Method::POST, "/api/broadcast") => publish(req, payload, &app).await,
        (&Method::GET, "/api/stats") => stats(&req, &app),
        (&Method::GET | &Method::HEAD, "/healthz") => health::alive(),
        (&Method::GET | &Method::HEAD, "/readyz") => {
            health::ready(&app.readiness, &providers, app.config.readiness_timeout).await
        }
        (&Method::GET, "/metrics") => scrape(&req, &app),
        (&Method::GET | &Method::HEAD, "/api/version") => {
            HttpResponse::Ok().json(json!({ "version": env!("CARGO_PKG_VERSION") }))
        }
        (&Method::GET | &Method::HEAD, _) => serve_static(req, path, &app, &providers).await,
        _ => HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish(),
    }
}

async fn serve_static(
    req: HttpRequest,
    path: String,
    app: &AppState,
    providers: &Addr<Providers>,
) -> HttpResponse {
    if let Ok(Some(answer)) = providers.send(StaticRequest(path.clone())).await {
        return match answer {
            StaticResponse::Body { content_type, body } => {
                HttpResponse::Ok().content_type(content_type).body(body)
            }
            StaticResponse::File(file) => match NamedFile::open_async(&file).await {
                Ok(f) => f.into_response(&req),
                Err(e) => {
                    log::warn!("static provider named {} for {path}: {e}", file.display());
                    HttpResponse::NotFound().finish()
                }
            },
        };
    }
    match app.files.find(&path) {
        Some(Found::Embedded(body, name)) => HttpResponse::Ok()
            .content_type(content_type(name))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(body),
        Some(Found::File(file)) => match NamedFile::open_async(&file).await {
            Ok(f) => {
                let ct = content_type(&file.to_string_lossy());
                f.set_content_type(
                    ct.parse()
                        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM),
                )
                .into_response(&req)
            }
            Err(_) => HttpResponse::NotFound().finish(),
        },
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}

fn bad_request(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message }))
}

/// Checks the bearer token of the bot-side endpoints: `Some` is the refusal
/// to answer (404 when they are off, 401 for a wrong token).
fn refuse_bot_side(req: &HttpRequest, app: &AppState) -> Option<HttpResponse> {
    let Some(token) = app.config.publish_token.as_deref() else {
        return Some(HttpResponse::NotFound().finish());
    };
    (!bearer_matches(req, token))
        .then(|| bad_request(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
}

/// `GET /api/stats`: open connections, joined sessions and live hubs, for
/// monitoring and soak tests. Same token as `/api/broadcast`.
fn stats(req: &HttpRequest, app: &AppState) -> HttpResponse {
    if let Some(answer) = refuse_bot_side(req, app) {
        return answer;
    }
    HttpResponse::Ok().json(json!({
        "connections": app.registry.open_sessions(),
        "sessions": app.registry.joined(),
        "hubs": app.registry.hub_count(),
    }))
}

/// `POST /api/broadcast`: the bot side for bots in other languages. Body:
/// one broadcast frame exactly as clients receive it. Off unless a token is
/// configured.
async fn publish(req: HttpRequest, mut payload: web::Payload, app: &AppState) -> HttpResponse {
    if let Some(answer) = refuse_bot_side(&req, app) {
        return answer;
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return bad_request(StatusCode::BAD_REQUEST, "could not read the body");
        };
        if body.len() + chunk.len() > MAX_PUBLISH_BODY {
            return bad_request(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB");
        }
        body.extend_from_slice(&chunk);
    }
    let broadcast = match Broadcast::decode(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(StatusCode::BAD_REQUEST, &e),
    };
    let delivered = app.broadcast_counted(broadcast).await;
    HttpResponse::Accepted().json(json!({ "delivered": delivered }))
}

/// `GET /metrics`: a normal 404 unless metrics are on; with a token, 401
/// unless the request sends `Authorization: Bearer <token>`.
fn scrape(req: &HttpRequest, app: &AppState) -> HttpResponse {
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
