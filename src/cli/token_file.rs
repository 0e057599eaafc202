//! `DISCORD_TOKEN_FILE`: the bot token read from a file, as container
//! secrets are mounted (`/run/secrets/discord_token`), so the token is in
//! neither the environment nor the config file. `DISCORD_TOKEN` wins when
//! both are set.

use std::path::Path;

/// The token in the file `DISCORD_TOKEN_FILE` names, when that is set and
/// `DISCORD_TOKEN` is not; the error is one sentence naming the file
/// (never its contents).
pub fn from_env() -> Result<Option<String>, String> {
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if set("DISCORD_TOKEN").is_some() {
        return Ok(None);
    }
    let Some(path) = set("DISCORD_TOKEN_FILE") else {
        return Ok(None);
    };
    read(Path::new(&path)).map(Some)
}

fn read(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the Discord token file {} (DISCORD_TOKEN_FILE): {e}; mount the secret there or unset DISCORD_TOKEN_FILE.",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the Discord token file {} (DISCORD_TOKEN_FILE) is empty: put the token from your application's Bot page in it.",
            path.display()
        ));
    }
    Ok(token.to_string())
}
