//! [`Broadcast`]: one event from the bot side for the viewers of one guild.
//!
//! It is the message a guild's hub receives (from [`crate::Handle`], from
//! `POST /api/broadcast`, or from a bot actor) and encodes once for all of
//! its sessions. [`Broadcast::decode`] reads the same frame back: it is the
//! body of `POST /api/broadcast` and the payload between instances joined
//! by Redis.

use actix::Message;
use serde::Deserialize;

use crate::protocol::frames;
use crate::protocol::model::{Presence, RoleColor};

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
    /// Its frame's `type`, as the metrics count it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Broadcast::Message { .. } => "message",
            Broadcast::Presence(_) => "presence",
            Broadcast::ClientId { .. } => "update-clientid",
        }
    }

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
            } => frames::message(server, uid, message, channel),
            Broadcast::Presence(p) => frames::presence(p),
            Broadcast::ClientId { server, client_id } => {
                frames::update_client_id(server, client_id)
            }
        }
    }

    /// Reads a broadcast frame (what [`encode`](Self::encode) makes); the
    /// error says what is wrong with it.
    pub(crate) fn decode(frame: &[u8]) -> Result<Broadcast, String> {
        serde_json::from_slice::<Publish>(frame)
            .map_err(|e| e.to_string())
            .and_then(Publish::into_broadcast)
    }
}

/// A broadcast frame as read, before its fields are checked.
#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum Publish {
    #[serde(rename = "message")]
    Message { server: String, data: MessageIn },
    #[serde(rename = "presence")]
    Presence { server: String, data: PresenceIn },
    #[serde(rename = "update-clientid")]
    ClientId { server: String, data: ClientIdIn },
}

#[derive(Deserialize)]
struct MessageIn {
    uid: String,
    message: String,
    channel: String,
}

#[derive(Deserialize)]
struct PresenceIn {
    uid: String,
    status: String,
    username: Option<String>,
    #[serde(rename = "roleColor")]
    role_color: Option<String>,
    #[serde(default)]
    delete: bool,
}

#[derive(Deserialize)]
struct ClientIdIn {
    #[serde(rename = "clientId")]
    client_id: String,
}

impl Publish {
    fn into_broadcast(self) -> Result<Broadcast, String> {
        let nonempty = |what: &str, s: &str| {
            if s.is_empty() {
                Err(format!("{what} must not be empty"))
            } else {
                Ok(())
            }
        };
        let b = match self {
            Publish::Message { server, data } => {
                nonempty("uid", &data.uid)?;
                Broadcast::Message {
                    server,
                    uid: data.uid,
                    message: data.message,
                    channel: data.channel,
                }
            }
            Publish::Presence { server, data } => {
                nonempty("uid", &data.uid)?;
                Broadcast::Presence(Presence {
                    server,
                    uid: data.uid,
                    status: data.status.parse().map_err(|e| format!("{e}"))?,
                    username: data.username,
                    role_color: data
                        .role_color
                        .map(|c| RoleColor::parse(&c))
                        .transpose()
                        .map_err(|e| format!("{e}"))?,
                    delete: data.delete,
                })
            }
            Publish::ClientId { server, data } => Broadcast::ClientId {
                server,
                client_id: data.client_id,
            },
        };
        nonempty("server", b.server())?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::Broadcast;
    use crate::protocol::model::{Presence, RoleColor, Status};

    /// What one instance encodes, another decodes to the same broadcast.
    #[test]
    fn decode_reads_back_what_encode_writes() {
        let all = [
            Broadcast::Message {
                server: "1".into(),
                uid: "2".into(),
                message: "hi \"there\"".into(),
                channel: "general".into(),
            },
            Broadcast::Presence(
                Presence::new("1", "2", Status::Idle)
                    .username("Pip")
                    .role_color(RoleColor::parse("#ff00aa").unwrap()),
            ),
            Broadcast::Presence(Presence::new("1", "3", Status::Offline).delete()),
            Broadcast::ClientId {
                server: "1".into(),
                client_id: "42".into(),
            },
        ];
        for b in all {
            let back = Broadcast::decode(b.encode().as_bytes()).unwrap();
            assert_eq!(back.encode(), b.encode());
        }
        assert!(Broadcast::decode(b"{\"type\":\"message\"}").is_err());
    }
}
