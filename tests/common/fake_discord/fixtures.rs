//! The guilds the Discord tests share, so every suite that drives the bot
//! (the library in tests/discord.rs, the binary in tests/discord_config.rs,
//! the container, health and metrics checks) sees the same island: ids,
//! members, roles and presences are defined here once.

use super::{member, FakeGuild};

pub const G1: &str = "111111111111111111";
pub const G2: &str = "222222222222222222";
pub const GENERAL: &str = "333333333333333301";
pub const RANDOM: &str = "333333333333333302";
pub const ALICE: &str = "444444444444444401";
pub const BOB: &str = "444444444444444402";
pub const CAROL: &str = "444444444444444403";
pub const RED: &str = "555555555555555501";
pub const BLUE: &str = "555555555555555502";

/// A small guild: Alice (red, online, global name "Alice A"), Bob (blue
/// and red; blue is higher, idle), Carol (no colour, offline, global name
/// "Carol G", nickname "Caz").
pub fn island() -> FakeGuild {
    FakeGuild::new(G1, "Island Life")
        .role(RED, "Red", 0xff0000, 1)
        .role(BLUE, "Blue", 0x0000ff, 2)
        .channel(GENERAL, "general")
        .channel(RANDOM, "random")
        .member(member(ALICE, "alice", Some("Alice A"), None, &[RED]))
        .member(member(BOB, "bob", None, None, &[RED, BLUE]))
        .member(member(CAROL, "carol", Some("Carol G"), Some("Caz"), &[]))
        .presence(ALICE, "online")
        .presence(BOB, "idle")
}

/// A second guild: Alice alone (no role, dnd) in one channel.
pub fn harbour() -> FakeGuild {
    FakeGuild::new(G2, "Harbour")
        .channel("333333333333333399", "docks")
        .member(member(ALICE, "alice", None, None, &[]))
        .presence(ALICE, "dnd")
}
