//! Every frame of the d-back wire protocol, in and out, and its exact error
//! strings. `docs/PROTOCOL.md` is the contract; names and strings here
//! must match it byte for byte because deployed d-zone clients depend on them.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::protocol::model::{Presence, ServerInfo};

/// The exact `data.message` strings clients see.
pub mod errors {
    pub const INVALID_BINARY: &str = "Invalid binary encoding";
    pub const INVALID_JSON: &str = "Invalid JSON";
    pub const UNKNOWN_TYPE: &str = "Unknown event type";
    pub const INVALID_FORMAT: &str = "Invalid message format";
    pub const NO_SUCH_SERVER: &str = "Sorry, couldn't connect to that Discord server.";
    pub const AUTH_FAILED: &str = "Discord authentication failed. Please try logging in again.";
    pub const AUTH_REQUIRED: &str =
        "This server requires Discord authentication. Please login with Discord.";
    pub const AUTH_THROTTLED: &str = "Too many authentication attempts. Please wait and try again.";
    pub const RATE_LIMITED: &str = "Too many messages. Please slow down.";
}

/// A `connect` request after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Connect {
    /// The requested short id: `"default"` when absent or blank, a number as
    /// its decimal string, `None` for other types (which match no server).
    pub server: Option<String>,
    /// Legacy password, echoed back in `request.password` when sent.
    pub password: Option<String>,
    pub discord_token: Option<String>,
    pub discord_user: Option<Map<String, Value>>,
}

/// Why a client frame was refused; each has its exact wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    InvalidJson,
    InvalidFormat,
    UnknownType,
}

impl FrameError {
    /// The `kind` label of `dback_frame_errors_total`.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            FrameError::InvalidJson => "invalid_json",
            FrameError::InvalidFormat => "invalid_format",
            FrameError::UnknownType => "unknown_type",
        }
    }

    /// The `error` frame's message (PROTOCOL.md).
    pub(crate) fn message(self) -> &'static str {
        match self {
            FrameError::InvalidJson => errors::INVALID_JSON,
            FrameError::InvalidFormat => errors::INVALID_FORMAT,
            FrameError::UnknownType => errors::UNKNOWN_TYPE,
        }
    }
}

/// Parses one text frame into a `connect`, or why it is refused.
pub(crate) fn parse_client_frame(text: &str) -> Result<Connect, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::InvalidJson)?;
    let Value::Object(mut frame) = value else {
        return Err(FrameError::InvalidFormat);
    };
    match frame.get("type") {
        Some(Value::String(t)) if t == "connect" => {}
        _ => return Err(FrameError::UnknownType),
    }
    let mut data = match frame.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(FrameError::InvalidFormat),
    };
    let server = match data.remove("server") {
        None | Some(Value::Null) => Some("default".to_string()),
        Some(Value::String(s)) => {
            let s = s.trim();
            Some(if s.is_empty() { "default" } else { s }.to_string())
        }
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => None,
    };
    let optional_text = |v: Option<Value>| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FrameError::InvalidFormat),
    };
    let password = optional_text(data.remove("password"))?;
    let discord_token = optional_text(data.remove("discordToken"))?;
    let discord_user = match data.remove("discordUser") {
        None | Some(Value::Null) => None,
        Some(Value::Object(u)) => Some(u),
        Some(_) => return Err(FrameError::InvalidFormat),
    };
    Ok(Connect {
        server,
        password,
        discord_token,
        discord_user,
    })
}

#[derive(Serialize)]
struct Frame<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    data: T,
}

fn encode<T: Serialize>(kind: &str, server: Option<&str>, data: T) -> String {
    // Serializing these plain structs cannot fail: no maps with non-string
    // keys, no custom serializers that error.
    serde_json::to_string(&Frame { kind, server, data }).unwrap_or_default()
}

#[derive(Serialize)]
struct ServerEntry<'a> {
    id: &'a str,
    name: &'a str,
    passworded: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    default: bool,
}

/// `server-list`: every server keyed by snowflake, in provider order. The
/// password is deliberately not part of `ServerEntry`.
pub(crate) fn server_list(servers: &[ServerInfo]) -> String {
    let data: Map<String, Value> = servers
        .iter()
        .map(|s| {
            let entry = ServerEntry {
                id: &s.id,
                name: &s.name,
                passworded: s.passworded,
                default: s.default,
            };
            (
                s.snowflake.clone(),
                serde_json::to_value(entry).unwrap_or_default(),
            )
        })
        .collect();
    encode("server-list", None, data)
}

#[derive(Serialize)]
struct JoinRequest<'a> {
    server: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

#[derive(Serialize)]
struct JoinData<'a> {
    users: &'a RawValue,
    request: JoinRequest<'a>,
    #[serde(rename = "serverName")]
    server_name: &'a str,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

/// `server-join` around its user map: the JSON before the map and after
/// it, so the map (the guild's own encoding, made once per list, and its
/// compressed form) is sent as shared bytes between the two.
pub(crate) fn server_join_parts(
    requested: &str,
    password: Option<&str>,
    server_name: &str,
    client_id: Option<&str>,
) -> (String, String) {
    // `users` is the first field of `data`, itself after `type`: the first
    // `"users":` is the map's place.
    let placeholder = RawValue::from_string("0".into()).expect("0 is JSON");
    let whole = encode(
        "server-join",
        None,
        JoinData {
            users: &placeholder,
            request: JoinRequest {
                server: requested,
                password,
            },
            server_name,
            client_id,
        },
    );
    let at = whole
        .find("\"users\":0")
        .map_or(0, |i| i + "\"users\":".len());
    (whole[..at].to_owned(), whole[at + 1..].to_owned())
}

#[derive(Serialize)]
struct ErrorData<'a> {
    message: &'a str,
}

/// `error`: never followed by a close.
pub(crate) fn error(message: &str) -> String {
    encode("error", None, ErrorData { message })
}

#[derive(Serialize)]
struct MessageData<'a> {
    uid: &'a str,
    message: &'a str,
    channel: &'a str,
}

/// Chat broadcast.
pub(crate) fn message(server: &str, uid: &str, message: &str, channel: &str) -> String {
    encode(
        "message",
        Some(server),
        MessageData {
            uid,
            message,
            channel,
        },
    )
}

#[derive(Serialize)]
struct PresenceData<'a> {
    uid: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(rename = "roleColor", skip_serializing_if = "Option::is_none")]
    role_color: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    delete: bool,
}

/// Presence broadcast; optional fields are omitted when absent.
pub(crate) fn presence(p: &Presence) -> String {
    encode(
        "presence",
        Some(&p.server),
        PresenceData {
            uid: &p.uid,
            status: p.status.as_str(),
            username: p.username.as_deref(),
            role_color: p.role_color.as_ref().map(|c| c.as_str()),
            delete: p.delete,
        },
    )
}

#[derive(Serialize)]
struct ClientIdData<'a> {
    #[serde(rename = "clientId")]
    client_id: &'a str,
}

/// OAuth client id change broadcast.
pub(crate) fn update_client_id(server: &str, client_id: &str) -> String {
    encode("update-clientid", Some(server), ClientIdData { client_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::model::{RoleColor, Status};

    #[test]
    fn normalises_server_ids() {
        let s = |t: &str| {
            parse_client_frame(t)
                .map(|c| c.server)
                .map_err(FrameError::message)
        };
        assert_eq!(s(r#"{"type":"connect"}"#), Ok(Some("default".into())));
        assert_eq!(
            s(r#"{"type":"connect","data":{"server":"  "}}"#),
            Ok(Some("default".into()))
        );
        assert_eq!(
            s(r#"{"type":"connect","data":{"server":" docs "}}"#),
            Ok(Some("docs".into()))
        );
        assert_eq!(
            s(r#"{"type":"connect","data":{"server":42}}"#),
            Ok(Some("42".into()))
        );
        assert_eq!(s(r#"{"type":"connect","data":{"server":true}}"#), Ok(None));
        assert_eq!(
            s(r#"{"type":"connect","data":[]}"#),
            Err(errors::INVALID_FORMAT)
        );
        assert_eq!(s(r#"[1]"#), Err(errors::INVALID_FORMAT));
        assert_eq!(s(r#"{"type":"hello"}"#), Err(errors::UNKNOWN_TYPE));
        assert_eq!(s(r#"{"data":{}}"#), Err(errors::UNKNOWN_TYPE));
        assert_eq!(s("nope"), Err(errors::INVALID_JSON));
    }

    #[test]
    fn presence_omits_absent_fields() {
        let p = Presence::new("1", "u", Status::Idle);
        assert_eq!(
            presence(&p),
            r#"{"type":"presence","server":"1","data":{"uid":"u","status":"idle"}}"#
        );
        let p = p
            .username("A")
            .role_color(RoleColor::from_rgb(0xff))
            .delete();
        assert_eq!(
            presence(&p),
            r##"{"type":"presence","server":"1","data":{"uid":"u","status":"idle","username":"A","roleColor":"#0000ff","delete":true}}"##
        );
    }
}
