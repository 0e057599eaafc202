//! What a session reads: the items its connection's input yields
//! ([`crate::wire::inbound`]: frames parsed, judged, reassembled and
//! inflated there), each whole message counted against the inbound rate
//! limit. A binary message is read as text or answered with an error; a
//! Close is answered at once; a refusal arrives as a typed value and
//! becomes the close it calls for; an input that ends without a Close is a
//! client gone. A `connect` goes on to [`super::joining`]; anything else is
//! answered with its exact error frame.

use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::Bytes;

use crate::protocol::frames::{self, errors};
use crate::wire::inbound::{Received, Refusal};

use super::Session;

impl StreamHandler<Result<Received, Refusal>> for Session {
    fn handle(&mut self, item: Result<Received, Refusal>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        if self.closing {
            // Only the client's Close matters now; anything else (data it
            // sent before seeing ours, or a refusal) ends it too.
            if !matches!(item, Ok(Received::Ping(_) | Received::Pong(_))) {
                self.finish(ctx);
            }
            return;
        }
        match item {
            Ok(Received::Text(text)) => {
                if self.admit(ctx) {
                    self.on_text(&text, ctx);
                }
            }
            Ok(Received::Binary(bin)) => {
                if self.admit(ctx) {
                    self.on_binary(bin, ctx);
                }
            }
            Ok(Received::Ping(p)) => {
                self.meter.queue(p.len());
                ctx.pong(&p);
            }
            Ok(Received::Pong(_)) => {}
            Ok(Received::Close(code)) => {
                // The client closes: answer with its code, then end at once.
                self.app.metrics.closed("client");
                self.meter.queue(2);
                ctx.close(code.map(|c| CloseReason::from(CloseCode::from(c))));
                self.finish(ctx);
            }
            Err(refusal) => {
                let (code, why, cause) = refusal.close();
                self.close_because(ctx, CloseCode::from(code), why, cause);
            }
        }
    }

    /// The input ended: after a refusal or the close handshake, the close
    /// goes on (its Close frame is flushed, then the connection closes);
    /// otherwise the client went without a Close frame (a closed tab, a
    /// lost network), which is no protocol error.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if !self.closing {
            log::info!(
                "session {} ({}): disconnected without a Close frame",
                self.id,
                self.ip
            );
        }
        self.finish(ctx);
    }
}

/// The context's own input is empty (`start::start_session`): the
/// connection's frames are read by [`crate::wire::inbound`] and arrive as
/// [`Received`] items. actix-web-actors requires this handler all the same.
impl StreamHandler<Result<ws::Message, ProtocolError>> for Session {
    fn handle(&mut self, _: Result<ws::Message, ProtocolError>, _: &mut Self::Context) {}
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

    /// A binary message is read as text when it is UTF-8 (the original
    /// accepted both), else answered with an error; the session goes on.
    fn on_binary(&mut self, payload: Bytes, ctx: &mut ws::WebsocketContext<Self>) {
        match std::str::from_utf8(&payload) {
            Ok(text) => self.on_text(text, ctx),
            Err(_) => self.send_error(errors::INVALID_BINARY),
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
