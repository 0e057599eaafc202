//! [`Broadcast`]: one event from the bot side for the viewers of one guild.
//!
//! It is the message a guild's hub receives (from [`crate::Handle`], from
//! `POST /api/broadcast`, or from a bot actor) and encodes once for all of
//! its sessions.

use actix::Message;

use crate::model::Presence;
use crate::protocol;

/// A broadcast from the bot side, before encoding. Its result, when sent
/// with [`crate::Handle::broadcast_counted`], is how many sessions it was
/// queued for.
#[derive(Message, Clone, Debug)]
#[rtype(result = "usize")]
pub enum Broadcast {
    /// A chat line (the `message` frame).
    Message {
        server: String,
        uid: String,
        message: String,
        channel: String,
    },
    /// A presence change, a new member, or (with `delete`) a member leaving.
    Presence(Presence),
    /// A new OAuth client id for the server (the `update-clientid` frame).
    ClientId { server: String, client_id: String },
}

impl Broadcast {
    /// The guild snowflake this broadcast is for.
    pub fn server(&self) -> &str {
        match self {
            Broadcast::Message { server, .. } | Broadcast::ClientId { server, .. } => server,
            Broadcast::Presence(p) => &p.server,
        }
    }

    /// The frame every viewer receives.
    pub(crate) fn encode(&self) -> String {
        match self {
            Broadcast::Message {
                server,
                uid,
                message,
                channel,
            } => protocol::message(server, uid, message, channel),
            Broadcast::Presence(p) => protocol::presence(p),
            Broadcast::ClientId { server, client_id } => {
                protocol::update_client_id(server, client_id)
            }
        }
    }
}
