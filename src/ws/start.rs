//! Admitting a WebSocket upgrade and starting its session: the steps
//! `upgrade::serve` takes, in order, for every connection, which the HTTP/1
//! dispatcher hands over (`HttpService::upgrade`) for every request with
//! `Upgrade: websocket`: [`admit_upgrade`] (origin and connection caps),
//! [`negotiate`] (compression), [`session_queues`] (the session's outbox
//! and meter) and [`start_session`] (the server list asked first, then the
//! `Session` in its `WebsocketContext`).
//!
//! There is one path. actix-web's own WebSocket response (the request's
//! body as the input, the session as the response body) is not used: the
//! dispatcher hands over every upgrade, and the one request it cannot (an
//! upgrade with a chunked body, which no WebSocket client sends) is
//! refused by the HTTP front with [`upgrade_with_a_body`].

use std::sync::Arc;

use actix::{Addr, AsyncContext};
use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpResponse;
use actix_web_actors::ws;

use crate::access::slots::{Slot, SlotRefused};
use crate::app::AppState;
use crate::deflate;
use crate::protocol::frames;
use crate::providers::{answer_or_default, GetGreeting, Providers};
use crate::wire::inbound::Inbound;
use crate::wire::outbound::{Meter, Shared};
use crate::wire::outbox::Outbox;
use crate::ws::session::{Session, Wiring};

/// The request asks for a WebSocket (`Upgrade: websocket`).
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Checks a WebSocket upgrade from `ip` against the allowed origins (its
/// `Origin` header) and the connection caps: the session's slot, or the
/// refusal to send (each logged at most once per address and counted).
pub(crate) fn admit_upgrade(
    app: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
) -> Result<Slot, Box<HttpResponse>> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !app.config.allowed_origins.is_empty()
        && !origin.is_some_and(|o| app.config.allowed_origins.iter().any(|a| a == o))
    {
        app.metrics.refused("origin");
        if app.connections.should_log_refusal(ip) {
            log::info!("{ip}: refused WebSocket from origin {origin:?}");
        }
        return Err(Box::new(
            HttpResponse::Forbidden().body("origin not allowed"),
        ));
    }
    app.connections.acquire(ip).map_err(|why| {
        app.metrics.refused(match why {
            SlotRefused::Total => "total_limit",
            SlotRefused::PerIp => "ip_limit",
        });
        if app.connections.should_log_refusal(ip) {
            let what = match why {
                SlotRefused::Total => "the server is at its connection limit",
                SlotRefused::PerIp => "this address is at its connection limit",
            };
            log::warn!("{ip}: refused WebSocket: {what}");
        }
        Box::new(
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "10"))
                .body("too many connections"),
        )
    })
}

/// The `Sec-WebSocket-Extensions` answer to an upgrade's compression
/// offers: `None` to decline them (or when compression is off).
pub(crate) fn negotiate(app: &AppState, headers: &HeaderMap) -> Option<&'static str> {
    app.config
        .compression
        .then(|| deflate::negotiate(headers))
        .flatten()
}

/// A new session's outbox and meter.
pub(crate) fn session_queues(app: &AppState, compressed: bool) -> (Arc<Outbox>, Arc<Meter>) {
    let meter = Arc::new(Meter::default());
    let outbox = Outbox::new(
        app.config.max_backlog_frames,
        meter.clone(),
        app.metrics.clone(),
        compressed,
    );
    (outbox, meter)
}

/// The session of an admitted upgrade, as the stream of its context's
/// bytes: the server list is asked first, so it is the first frame queued.
/// The connection's bytes are parsed and judged by [`Inbound`] (inflated
/// where the connection negotiated compression) and reach the session as
/// typed items; the context's own input stays empty, and its codec only
/// writes the session's control frames.
pub(crate) async fn start_session<S>(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    wiring: Wiring,
    input: S,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, actix_web::Error>>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, actix_http::error::PayloadError>>
        + Unpin
        + 'static,
{
    let list = match providers.send(GetGreeting).await {
        Ok(list) => list,
        // The safe default, logged as every unanswered question is.
        Err(e) => Arc::new(Shared::new(frames::server_list(
            &answer_or_default::<Vec<_>>("the server list", Err(e)),
        ))),
    };
    let inbound = Inbound::new(
        input,
        app.config.max_frame_bytes,
        wiring.outbox.compressed(),
    );
    let empty =
        futures_util::stream::pending::<Result<bytes::Bytes, actix_http::error::PayloadError>>();
    ws::WebsocketContext::with_factory(empty, move |ctx| {
        ctx.add_stream(inbound);
        Session::new(app, providers, list, wiring)
    })
}

/// The answer to a WebSocket upgrade that carries a request body
/// (`Transfer-Encoding: chunked`): the dispatcher does not hand such a
/// request over, and an RFC 6455 handshake has no body.
pub(crate) fn upgrade_with_a_body() -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body("a WebSocket upgrade has no request body")
}
