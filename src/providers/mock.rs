//! The built-in data a new user sees: four servers, their members, and the
//! chat lines the mock traffic picks from. Snowflakes and ids are the ones
//! docs/PROTOCOL.md fixes; names, colours and lines are ours.

use crate::protocol::model::{RoleColor, ServerInfo, Status, User};

pub const DWORLD: &str = "232769614004748288";
pub const DOCS: &str = "482241773318701056";
pub const OAUTH: &str = "123456789012345678";
pub const REPOS: &str = "987654321098765432";

/// Channel id the mock chat is posted in.
pub const MOCK_CHANNEL: &str = "527964146659229701";

/// Client id offered for the protected mock server so the login flow can be
/// tried end to end (Discord will not know it; the mock validator accepts any
/// well-formed token).
pub const MOCK_CLIENT_ID: &str = "1048576000000000000";

pub fn servers() -> Vec<ServerInfo> {
    vec![
        ServerInfo::new(DWORLD, "dworld", "D-World").default_server(),
        ServerInfo::new(DOCS, "docs", "Docs (WIP)"),
        ServerInfo::new(OAUTH, "oauth", "OAuth2 Protected Server").protected(),
        ServerInfo::new(REPOS, "repos", "My Repos"),
    ]
}

fn user(uid: &str, name: &str, status: Status, rgb: u32) -> User {
    User::new(uid, name, status, RoleColor::from_rgb(rgb))
}

pub fn users(snowflake: &str) -> Vec<User> {
    use Status::*;
    match snowflake {
        DWORLD => vec![
            user("100000000000000001", "Pixel Pip", Online, 0xff6b6b),
            user("100000000000000002", "Moss", Idle, 0x5bc0de),
            user("100000000000000003", "Captain Byte", Dnd, 0xf0ad4e),
            user("100000000000000004", "Lumen", Online, 0x9b59b6),
        ],
        DOCS => vec![user("200000000000000001", "Scribe", Online, 0x2ecc71)],
        OAUTH => vec![user("300000000000000001", "Gatekeeper", Online, 0xe67e22)],
        REPOS => {
            const NAMES: [&str; 21] = [
                "tidepool",
                "ember-cli",
                "quillpen",
                "saltmarsh",
                "hexforge",
                "mossbank",
                "lanternfish",
                "brightwater",
                "copperleaf",
                "driftwood",
                "foxglove",
                "gearbox",
                "hollowreed",
                "ironbark",
                "juniper",
                "kettle",
                "larkspur",
                "marigold",
                "nettlebed",
                "oakmoss",
                "pebbledash",
            ];
            const COLORS: [u32; 7] = [
                0xff6b6b, 0x5bc0de, 0xf0ad4e, 0x9b59b6, 0x2ecc71, 0xe67e22, 0x1abc9c,
            ];
            NAMES
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let status = Status::ALL[i % 3];
                    user(
                        &format!("4000000000000000{i:02}"),
                        name,
                        status,
                        COLORS[i % COLORS.len()],
                    )
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

pub fn client_id(snowflake: &str) -> Option<String> {
    (snowflake == OAUTH).then(|| MOCK_CLIENT_ID.to_string())
}

/// Lines the mock chat says, some long enough to page in a bubble.
pub const CHAT_LINES: [&str; 12] = [
    "Hello, world!",
    "Has anyone seen my keys? I had them a moment ago.",
    "The tide is coming in.",
    "brb, making tea",
    "Who moved the lighthouse?",
    "I just hopped across the whole island without stopping once and I would like everyone to know that it was very impressive.",
    "lol",
    "Good morning, islanders!",
    "Does the beacon ever sleep?",
    "Pushed a fix, please pull.",
    "Nice weather for pixels.",
    "Meeting at the big rock in five.",
];
