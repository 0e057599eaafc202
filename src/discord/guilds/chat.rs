//! Chat as d-zone shows it: which messages reach viewers (a server's
//! `listenChannels`, `ignoreChannels` and `ignoreUsers`, and no chat from
//! members the server hides), and their text with Discord's markup for
//! mentions and custom emoji turned into what a reader sees (`@name`,
//! `#channel`, `:emoji:`), or a short marker for a message that is only
//! attachments.

use crate::protocol::model::Status;

use super::super::config::ServerConfig;
use super::super::events::MessageCreate;
use super::guild::Guild;
use super::member::ignores;
use super::view::View;

/// What an attachment-only message says in a bubble.
pub(crate) const ATTACHMENT_MARKER: &str = "[attachment]";
/// What a sticker-only message says in a bubble.
pub(crate) const STICKER_MARKER: &str = "[sticker]";

/// The text viewers of `guild` are shown for `m`, or `None` when the
/// server's filters keep it from them.
pub(crate) fn shown(
    m: &MessageCreate,
    guild: &Guild,
    cfg: Option<&ServerConfig>,
    view: View,
) -> Option<String> {
    let member = guild.member(m.author.id);
    if let Some(cfg) = cfg {
        let channel = guild.channels.get(&m.channel_id).map(|c| &**c);
        let id = m.channel_id.to_string();
        let named = |list: &[String]| {
            list.iter()
                .any(|c| *c == id || Some(c.trim_start_matches('#')) == channel)
        };
        if !cfg.listen_channels.is_empty() && !named(&cfg.listen_channels) {
            return None;
        }
        if named(&cfg.ignore_channels) {
            return None;
        }
        let names = m.author.username.as_deref().into_iter();
        if member.is_some_and(|m| m.ignored) || ignores(cfg, m.author.id, names) {
            return None;
        }
    }
    if guild.status(m.author.id) == Status::Offline && view.hides_offline() {
        return None;
    }
    Some(clean(m, guild))
}

/// The clean text of a message, from the guild's names.
pub(crate) fn clean(msg: &MessageCreate, guild: &Guild) -> String {
    let text = msg.content.trim();
    if text.is_empty() {
        if !msg.attachments.is_empty() {
            return ATTACHMENT_MARKER.to_string();
        }
        if !msg.sticker_items.is_empty() {
            return STICKER_MARKER.to_string();
        }
        return String::new();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        match tail
            .find('>')
            .and_then(|end| replacement(&tail[1..end], msg, guild).map(|r| (r, end)))
        {
            Some((r, end)) => {
                out.push_str(&r);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A snowflake written in a token.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The readable form of one `<...>` token, or `None` to leave it as typed.
fn replacement(token: &str, msg: &MessageCreate, guild: &Guild) -> Option<String> {
    if let Some(role) = token.strip_prefix("@&") {
        let name = guild.roles.name(digits(role)?);
        return Some(format!("@{}", name.unwrap_or("role")));
    }
    if let Some(user) = token.strip_prefix('@') {
        let id = digits(user.strip_prefix('!').unwrap_or(user))?;
        return Some(format!("@{}", user_name(id, msg, guild)));
    }
    if let Some(channel) = token.strip_prefix('#') {
        let name = guild.channels.get(&digits(channel)?).map(|c| &**c);
        return Some(format!("#{}", name.unwrap_or("channel")));
    }
    // <:name:id> and animated <a:name:id>
    let emoji = token
        .strip_prefix("a:")
        .or_else(|| token.strip_prefix(':'))?;
    let (name, id) = emoji.rsplit_once(':')?;
    digits(id)?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| format!(":{name}:"))
}

/// A mentioned member's shown name: the guild cache first, then what the
/// message itself carried.
fn user_name(id: u64, msg: &MessageCreate, guild: &Guild) -> String {
    if let Some(m) = guild.member(id) {
        return m.name.to_string();
    }
    msg.mentions
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| {
            m.member
                .as_ref()
                .and_then(|mm| mm.nick.clone())
                .or_else(|| m.global_name.clone())
                .or_else(|| m.username.clone())
        })
        .unwrap_or_else(|| "user".into())
}
