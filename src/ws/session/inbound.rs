//! What a session reads: the frames its connection decoded, judged and
//! turned into messages. Fragments are reassembled under the frame limit,
//! every message counts against the inbound rate limit, text must be UTF-8
//! (a binary frame is read as text or answered with an error), a Close is
//! answered at once, and the stream's errors become the close they call
//! for. A `connect` goes on to [`super::joining`]; anything else is answered
//! with its exact error frame.

use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};

use crate::deflate::Refusal;
use crate::protocol::frames::{self, errors};

use super::Session;

/// A fragmented message being reassembled.
pub(super) struct Fragments {
    binary: bool,
    buf: BytesMut,
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for Session {
    fn handle(&mut self, item: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        if self.closing {
            // Only the client's Close matters now; anything else (data it
            // sent before seeing ours, or a broken stream) ends it too.
            if !matches!(item, Ok(ws::Message::Ping(_) | ws::Message::Pong(_))) {
                self.finish(ctx);
            }
            return;
        }
        match item {
            Ok(ws::Message::Text(text)) => self.on_message(false, text.into_bytes(), ctx),
            Ok(ws::Message::Binary(bin)) => self.on_message(true, bin, ctx),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(p)) => {
                self.meter.queue(p.len());
                ctx.pong(&p);
            }
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                // The client closes: answer with its code, then end at once.
                self.app.metrics.closed("client");
                self.meter.queue(2);
                ctx.close(reason.map(|r| CloseReason::from(r.code)));
                self.finish(ctx);
            }
            // The compressed input's own refusals, told apart by what it
            // left for us (the context turns the error into text).
            Err(ProtocolError::Io(_))
                if self.refusals.as_ref().is_some_and(|r| r.get().is_some()) =>
            {
                let refusal = self.refusals.as_ref().and_then(|r| r.take());
                let (code, why, cause) = match refusal {
                    Some(Refusal::TooBig) => (
                        CloseCode::Size,
                        "message too big",
                        "compressed message over the limit",
                    ),
                    Some(Refusal::Corrupt) => (
                        CloseCode::Invalid,
                        "invalid compressed data",
                        "compressed message does not inflate",
                    ),
                    _ => (
                        CloseCode::Protocol,
                        "protocol error",
                        "RSV1 where permessage-deflate does not allow it",
                    ),
                };
                self.close_because(ctx, code, why, cause);
            }
            Err(ProtocolError::Overflow) => {
                let cause = "frame over the limit";
                self.close_because(ctx, CloseCode::Size, "message too big", cause);
            }
            // actix-web-actors flattens stream errors into text, so the
            // two ordinary ones are told apart by it: the UTF-8 check of a
            // text frame, and a connection dropped without a Close frame (a
            // closed tab, a lost network), which is no protocol error.
            Err(ProtocolError::Io(e)) if e.to_string().contains("utf-8") => {
                let why = "text frame is not UTF-8";
                self.close_because(ctx, CloseCode::Invalid, why, why);
            }
            Err(ProtocolError::Io(e)) if e.to_string().contains("reached EOF") => {
                log::info!(
                    "session {} ({}): disconnected without a Close frame",
                    self.id,
                    self.ip
                );
                ctx.stop();
            }
            Err(e) => {
                let cause = format!("protocol error: {e}");
                self.close_because(ctx, CloseCode::Protocol, "protocol error", &cause);
            }
        }
    }
}

impl Session {
    /// Counts one inbound message against the rate limit; false to drop it.
    fn admit(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        if self.rate.take() {
            self.rate_strikes = 0;
            return true;
        }
        self.rate_strikes += 1;
        if self.rate_strikes == 1 {
            log::info!("session {} ({}): inbound rate limit hit", self.id, self.ip);
            self.send_error(errors::RATE_LIMITED);
        } else if self.rate_strikes > self.app.config.rate_burst.max(10) {
            self.close_because(
                ctx,
                CloseCode::Policy,
                "rate limit exceeded",
                "kept flooding",
            );
        }
        false
    }

    fn on_message(&mut self, binary: bool, payload: Bytes, ctx: &mut ws::WebsocketContext<Self>) {
        if !self.admit(ctx) {
            return;
        }
        if binary {
            match std::str::from_utf8(&payload) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.send_error(errors::INVALID_BINARY),
            }
        } else {
            match std::str::from_utf8(&payload) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close_because(
                    ctx,
                    CloseCode::Invalid,
                    "text frame is not UTF-8",
                    "text frame is not UTF-8",
                ),
            }
        }
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (first, chunk, last) = match item {
            actix_http::ws::Item::FirstText(b) => (Some(false), b, false),
            actix_http::ws::Item::FirstBinary(b) => (Some(true), b, false),
            actix_http::ws::Item::Continue(b) => (None, b, false),
            actix_http::ws::Item::Last(b) => (None, b, true),
        };
        if let Some(binary) = first {
            self.fragments = Some(Fragments {
                binary,
                buf: BytesMut::new(),
            });
        }
        let Some(frags) = self.fragments.as_mut() else {
            let why = "continuation without a first frame";
            self.close_because(ctx, CloseCode::Protocol, why, why);
            return;
        };
        if frags.buf.len() + chunk.len() > self.app.config.max_frame_bytes {
            let cause = "fragmented message over the limit";
            self.close_because(ctx, CloseCode::Size, "message too big", cause);
            return;
        }
        frags.buf.extend_from_slice(&chunk);
        if last {
            if let Some(f) = self.fragments.take() {
                self.on_message(f.binary, f.buf.freeze(), ctx);
            }
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match frames::parse_client_frame(text) {
            Ok(connect) => self.connect(connect, ctx),
            Err(refused) => {
                self.app.metrics.frame_error(refused.kind());
                let message = refused.message();
                log::debug!("session {}: refused frame: {message}", self.id);
                self.send_error(message);
            }
        }
    }
}
