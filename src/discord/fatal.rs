//! The gateway close codes that no reconnect can fix, each as one sentence
//! that tells the operator what to change (the binary prints it and exits
//! non-zero). 4011 (sharding required) is not one of them: the gateway
//! restarts with more shards (`shards`).

/// The sentence for a close code the bot must not retry, or `None` when a
/// reconnect may help.
pub(crate) fn sentence(code: u16) -> Option<String> {
    let s = match code {
        4004 => "Discord refused the bot token (gateway close 4004): set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal.".to_string(),
        4014 => "Discord refused the bot's privileged intents (gateway close 4014): in the Discord Developer Portal, open your application's Bot page and enable Server Members Intent, Presence Intent and Message Content Intent under Privileged Gateway Intents.".to_string(),
        4010 | 4012 | 4013 => format!(
            "Discord closed the gateway with code {code} ({}), which a reconnect cannot fix.",
            match code {
                4010 => "invalid shard",
                4012 => "invalid API version",
                _ => "invalid intents",
            }
        ),
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fatal_codes_name_the_fix() {
        let s = super::sentence(4014).unwrap();
        for intent in ["Server Members", "Presence", "Message Content"] {
            assert!(s.contains(intent), "{s}");
        }
        assert!(super::sentence(4004).unwrap().contains("DISCORD_TOKEN"));
        assert!(super::sentence(4000).is_none());
        assert!(
            super::sentence(4011).is_none(),
            "4011 restarts with more shards"
        );
        assert!(super::sentence(1000).is_none());
    }
}
