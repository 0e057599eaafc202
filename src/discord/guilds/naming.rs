//! The server list a viewer picks from: which guilds are listed, in what
//! order, and the short unique id each gets from its name.

use std::collections::HashSet;

use crate::protocol::model::ServerInfo;

use super::super::config::DiscordConfig;

/// A short id from a name: lower-case letters and digits, other runs as `-`.
pub(crate) fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// The list: configured guilds the bot is in (in config order), or every
/// guild (by snowflake) when none is configured. `guilds` are the
/// snowflakes and names of the guilds the bot is in.
pub(crate) fn server_list(config: &DiscordConfig, guilds: &[(u64, String)]) -> Vec<ServerInfo> {
    let mut order: Vec<(String, &str, Option<&super::super::config::ServerConfig>)> =
        if config.servers.is_empty() {
            let mut all: Vec<&(u64, String)> = guilds.iter().collect();
            all.sort_by_key(|(id, _)| *id);
            all.into_iter()
                .map(|(id, name)| (id.to_string(), name.as_str(), None))
                .collect()
        } else {
            config
                .servers
                .iter()
                .filter_map(|s| {
                    let (_, name) = guilds.iter().find(|(id, _)| s.id == id.to_string())?;
                    Some((s.id.clone(), name.as_str(), Some(s)))
                })
                .collect()
        };
    let mut taken = HashSet::new();
    let mut list = Vec::with_capacity(order.len());
    for (snowflake, guild_name, cfg) in order.drain(..) {
        let name = cfg
            .and_then(|c| c.alias.clone())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| guild_name.to_string());
        let base = Some(slug(&name))
            .filter(|s| !s.is_empty() && s != "default")
            .unwrap_or_else(|| snowflake.clone());
        let mut id = base.clone();
        let mut n = 2;
        while !taken.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        let mut info = ServerInfo::new(snowflake, id, name);
        if let Some(c) = cfg {
            info.default = c.default;
            info.passworded = c.protected || c.password.is_some();
            info.password = c.password.clone();
        }
        list.push(info);
    }
    // Exactly one default: the first configured one, else the first server.
    let first_default = list.iter().position(|s| s.default).unwrap_or(0);
    for (i, s) in list.iter_mut().enumerate() {
        s.default = i == first_default;
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("My  Cool Server!"), "my-cool-server");
        assert_eq!(slug("***"), "");
    }

    #[test]
    fn one_default_and_unique_ids() {
        let guilds = [(1, "Same".into()), (2, "Same".into()), (3, "Other".into())];
        let list = server_list(&DiscordConfig::default(), &guilds);
        let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["same", "same-2", "other"]);
        assert_eq!(list.iter().filter(|s| s.default).count(), 1);
        assert!(list[0].default);
    }
}
