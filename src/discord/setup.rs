//! First-start mistakes the bot can see but that are not fatal (a bot in
//! no server can be invited while d-back runs), each as one sentence that
//! says what to do. The fatal ones (close 4004, 4014) are in `fatal`.

/// READY listed no guild: the bot has not been invited anywhere yet.
pub(crate) fn in_no_server(application_id: Option<&str>) -> String {
    let invite = match application_id {
        Some(id) => format!("https://discord.com/oauth2/authorize?client_id={id}&scope=bot"),
        None => "the OAuth2 URL Generator of your application (scope bot)".to_string(),
    };
    format!(
        "discord: the bot is in no Discord server, so none is shown: invite it with {invite}, and the server appears without a restart."
    )
}
