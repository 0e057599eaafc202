//! WebSocket connections taken over from the HTTP layer.
//!
//! Why: actix-http's HTTP/1 dispatcher keeps an 8 KiB read buffer and a
//! write buffer of at least 8 KiB for every connection for as long as it
//! lives, and the write buffer keeps the capacity of the largest chunk it
//! ever held (up to 128 KiB): after a 1,000-member `server-join`, about
//! 100 KiB per viewer. For a page of idle viewers those buffers were most
//! of what a viewer cost (the heap profile in `bench/`). actix-http lets an
//! upgrade service take the connection instead (`HttpService::upgrade`):
//! the dispatcher hands over the socket once it has parsed the request, and
//! this module answers the handshake and runs the same `Session` actor in
//! actix-web-actors' `WebsocketContext`, with the socket pumped by
//! [`pump`]: reads go straight to the frame parser
//! (`crate::wire::inbound`, whose items the session handles), the
//! session's frames straight to the socket, and nothing is buffered while a viewer is idle.
//!
//! The dispatcher hands over every request with `Upgrade: websocket` (its
//! decoder reads such a request's body as the connection's stream), so
//! this is the one way a session starts; [`serve`] refuses what is not a
//! valid handshake. The one exception, an upgrade with a chunked body, is
//! not handed over and is refused by the HTTP front
//! (`start::upgrade_with_a_body`).

mod pump;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_codec::{AsyncRead, AsyncWrite, Encoder, Framed, FramedParts};
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::header::SEC_WEBSOCKET_EXTENSIONS;
use actix_http::{HttpMessage, Request, Response};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use crate::app::AppState;
use crate::providers::Providers;
use crate::ws::session::Wiring;
use crate::ws::start::{admit_upgrade, is_websocket, negotiate, session_queues, start_session};

/// Answers a handed-over upgrade request and serves its WebSocket until
/// it closes. Never fails: a connection that breaks is only logged at debug
/// level (actix-http would log every error as its own).
pub(crate) async fn take_over<T>(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    req: Request,
    framed: Framed<T, Codec>,
) -> Result<(), Infallible>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if let Err(e) = serve(app, providers, req, framed).await {
        log::debug!("websocket connection ended: {e}");
    }
    Ok(())
}

async fn serve<T>(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    req: Request,
    framed: Framed<T, Codec>,
) -> io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let ip = app.proxies.client_of(req.peer_addr(), req.headers());
    let FramedParts {
        mut io,
        mut codec,
        read_buf,
        write_buf,
        ..
    } = framed.into_parts();
    // Nothing is queued to write before the handshake answer.
    drop(write_buf);
    let deadline = app.config.handshake_timeout;
    if !is_websocket(req.headers()) {
        let refusal = actix_web::HttpResponse::BadRequest().body("only WebSocket upgrades");
        return refuse(&mut io, &mut codec, refusal.into(), deadline).await;
    }
    let slot = match admit_upgrade(&app, ip, req.headers()) {
        Ok(slot) => slot,
        Err(refusal) => return refuse(&mut io, &mut codec, (*refusal).into(), deadline).await,
    };
    let extension = negotiate(&app, req.headers());
    let accept = match actix_http::ws::handshake(req.head()) {
        Ok(mut accept) => {
            if let Some(answer) = extension {
                accept.insert_header((SEC_WEBSOCKET_EXTENSIONS, answer));
            }
            accept.finish()
        }
        Err(e) => return refuse(&mut io, &mut codec, e.into(), deadline).await,
    };
    // The 101 goes out with the server list, in one write.
    let mut head = BytesMut::new();
    let (accept, _) = accept.into_parts();
    codec.encode(Message::Item((accept, BodySize::None)), &mut head)?;
    // The request's head goes back to actix-http's pool, and the
    // dispatcher's read buffer is freed: a session keeps neither. Bytes a
    // client sent right behind its request (its first frames) are copied.
    drop(req);
    let early = (!read_buf.is_empty()).then(|| Bytes::copy_from_slice(&read_buf));
    drop(read_buf);
    let io = std::rc::Rc::new(std::cell::RefCell::new(io));
    let (outbox, meter) = session_queues(&app, extension.is_some());
    let close_timeout = app.config.close_timeout;
    let input = pump::Reader::new(io.clone(), early);
    let wiring = Wiring {
        ip,
        slot,
        meter: meter.clone(),
        outbox: outbox.clone(),
    };
    let output = start_session(app, providers, wiring, input).await;
    let output = pump::Pump::new(
        io,
        Box::pin(output),
        head.freeze(),
        meter,
        outbox,
        close_timeout,
    );
    output.await;
    Ok(())
}

/// Sends a refusal (status, headers and body) and closes, within `limit`.
async fn refuse<T>(
    io: &mut T,
    codec: &mut Codec,
    refusal: Response<actix_http::body::BoxBody>,
    limit: Duration,
) -> Result<(), io::Error>
where
    T: AsyncWrite + Unpin,
{
    let (head, body) = refusal.into_parts();
    let body = body.try_into_bytes().unwrap_or_else(|_| Bytes::new());
    let mut out = BytesMut::new();
    codec.encode(
        Message::Item((head, BodySize::Sized(body.len() as u64))),
        &mut out,
    )?;
    codec.encode(Message::Chunk(Some(body)), &mut out)?;
    codec.encode(Message::Chunk(None), &mut out)?;
    let send = async {
        io.write_all(&out).await?;
        io.shutdown().await
    };
    // A peer that does not read its refusal is dropped; nothing to report.
    let _ = tokio::time::timeout(limit, send).await;
    Ok(())
}
