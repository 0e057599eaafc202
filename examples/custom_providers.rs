//! The callback examples of the original documentation, in Rust: servers
//! from a table, users, a Discord validator, client ids per server, and a
//! static handler answering `/api/status` with JSON.
//!
//! ```text
//! cargo run --example custom_providers
//! curl localhost:3000/api/status
//! ```

use std::collections::HashMap;

use d_back::{DBack, RoleColor, ServerInfo, StaticResponse, Status, User};
use serde_json::json;

/// Our "database" of servers (the original's `get_my_servers`).
fn server_table() -> Vec<ServerInfo> {
    vec![
        ServerInfo::new("232769614004748288", "232769614004748288", "d-world").default_server(),
        ServerInfo::new("482241773318701056", "members", "Members only").protected(),
    ]
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let client_ids: HashMap<&'static str, &'static str> = HashMap::from([
        ("232769614004748288", "123456789012345678"),
        ("482241773318701056", "987654321098765432"),
    ]);

    let server = DBack::builder()
        .bind(("localhost", 3000))
        .on_get_server_data(|| async { Ok(server_table()) })
        // Typed users; the original's JSON dictionary is accepted too.
        .on_get_user_data(|server_id| async move {
            let mut users = vec![User::new(
                "user123",
                "MyUser",
                Status::Online,
                RoleColor::parse("#ff6b6b")?,
            )];
            if server_id == "482241773318701056" {
                users.push(User::new(
                    "user456",
                    "AnotherUser",
                    Status::Idle,
                    RoleColor::parse("#5bc0de")?,
                ));
            }
            Ok(users)
        })
        // A real validator would ask Discord (GET /users/@me/guilds with the
        // bearer token) whether the user is in `server_id`. Here: a token
        // list, so the example runs offline.
        .on_validate_discord_user(|token, user, server_id| async move {
            log::info!("validating {} ({}) for {server_id}", user.username, user.id);
            Ok(token.starts_with("valid-"))
        })
        .on_get_client_id(move |server_id| {
            let id = client_ids.get(server_id.as_str()).map(|s| s.to_string());
            async move { Ok(id) }
        })
        .on_static_request(|path| async move {
            if path == "/api/status" {
                let body = json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")});
                return Ok(Some(StaticResponse::body(
                    "application/json",
                    body.to_string(),
                )));
            }
            Ok(None) // everything else: the normal static files
        })
        .build()?;
    println!(
        "d-back with custom providers: http://{}",
        server.local_addr()
    );
    server.run().await
}
