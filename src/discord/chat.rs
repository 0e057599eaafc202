//! Chat text as d-zone shows it: Discord's markup for mentions and custom
//! emoji turned into what a reader sees (`@name`, `#channel`, `:emoji:`),
//! and a short marker for a message that is only attachments.

use super::events::MessageCreate;
use super::guilds::Guild;

/// What an attachment-only message says in a bubble.
pub(crate) const ATTACHMENT_MARKER: &str = "[attachment]";
/// What a sticker-only message says in a bubble.
pub(crate) const STICKER_MARKER: &str = "[sticker]";

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

fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// The readable form of one `<...>` token, or `None` to leave it as typed.
fn replacement(token: &str, msg: &MessageCreate, guild: &Guild) -> Option<String> {
    if let Some(role) = token.strip_prefix("@&") {
        let name = guild.roles.get(digits(role)?).map(|r| r.name.clone());
        return Some(format!("@{}", name.unwrap_or_else(|| "role".into())));
    }
    if let Some(user) = token.strip_prefix('@') {
        let id = digits(user.strip_prefix('!').unwrap_or(user))?;
        return Some(format!("@{}", user_name(id, msg, guild)));
    }
    if let Some(channel) = token.strip_prefix('#') {
        let name = guild.channels.get(digits(channel)?).cloned();
        return Some(format!("#{}", name.unwrap_or_else(|| "channel".into())));
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
fn user_name(id: &str, msg: &MessageCreate, guild: &Guild) -> String {
    if let Some(m) = guild.members.get(id) {
        return m.display_name().to_string();
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
