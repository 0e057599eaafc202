//! d-back: the server behind d-zone, on actix.
//!
//! A Discord bot pushes chat and presence events in; browsers connect over
//! WebSocket, pick a Discord server, get its member list, and then receive
//! that server's live events. The wire protocol is the Python original's
//! (`d-back` 0.0.18), so every existing d-zone client works unchanged.
//!
//! # How the pieces fit
//!
//! ```text
//! browser ──ws──> Session ──join/leave──> Registry ──> Hub(guild)
//!                    │ ask (typed messages)               ▲
//!                    └──────────────> Providers           │ Broadcast
//! your bot ── Handle::broadcast_* ──> Registry ───────────┘
//! Hub ──(one encoded frame, shared bytes)──> every Session of that guild
//! ```
//!
//! * Each WebSocket connection is a `Session` actor. Its text frames and
//!   its hubs' batches queue in its outbox (framed once, shared, written
//!   uncopied; compressed once for connections that negotiated
//!   permessage-deflate); the session actor joins, leaves, closes and is
//!   evicted by message.
//! * Each Discord server (guild snowflake) with viewers has a `Hub` actor;
//!   the `Registry` creates it on the first join and stops it when the
//!   last session leaves.
//! * The five callbacks of the original are answered by a `Providers`
//!   actor per worker thread; unset ones answer from the built-in
//!   [`mock`] data.
//! * A [`Handle`] (cloneable, `Send`) is how a bot in the same process
//!   broadcasts; `POST /api/broadcast` does the same for a bot in another
//!   language.
//!
//! # Public API
//!
//! What a user of the library writes against, and nothing else: the
//! [`DBack`] [`Builder`] (addresses, [`Config`] with its
//! [`DataSource`](config::DataSource), TLS, the callbacks), the
//! [`Server`] it builds, the [`Handle`] for the bot side (and TLS reloads) and the
//! [`Broadcast`] it sends, the typed data callbacks answer with
//! ([`ServerInfo`], [`User`], [`Status`], [`RoleColor`], [`Presence`],
//! [`DiscordUser`], [`StaticResponse`], [`BoxError`], [`DataError`] and the
//! [`IntoServers`]/[`IntoUsers`] conversions), the exact wire [`errors`],
//! the [`mock`] data, and [`raise_open_files_limit`] for programs that serve
//! many clients. Actors, messages, limits and the HTTP layer are internal
//! (`pub(crate)`), so they can change without breaking anyone.
//!
//! # Layout
//!
//! * `builder`: `DBack::builder()` and the `Builder`.
//! * `server`: binding, the HTTP workers, signals (`Server::run`).
//! * `handle`: the bot side (`Handle`).
//! * `config`: every limit and timer, with named defaults.
//! * `model`: typed servers, users, statuses, colours, validated at the boundary.
//! * `protocol`: every frame in and out, and the exact error strings.
//! * `broadcast`: the `Broadcast` a hub receives and encodes once.
//! * `providers/`: the `Providers` actor, the callbacks it runs, mock data.
//! * `registry`: finds or creates the hub of a guild; knows every session.
//! * `hub`: `Hub` per guild and the messages it exchanges with sessions.
//! * `outbound`: the per-session meter of queued bytes; frames in wire form.
//! * `outbox`: a session's ordered queue of text frames: its own and its hubs'.
//! * `outgoing`: the outbox and the context's control frames, in order, for
//!   either connection path.
//! * `joinframe`: the `server-join` frame from shared parts.
//! * `deflate/`: permessage-deflate: offers, compression, inflating input.
//! * `session`: the WebSocket session actor.
//! * `socket`: ends a connection's read side after the close handshake
//!   (for upgrades actix-web still serves itself).
//! * `upgrade/`: WebSocket connections taken over from the HTTP/1
//!   dispatcher, and the pump between their socket and session.
//! * `tls/`: HTTPS and `wss://`: the PEM files, the certificate each
//!   handshake gets, reloading it on SIGHUP (`Builder::tls`).
//! * `userlist`: a server's users with their join encoding, made once.
//! * `serverlist`: the `server-list` greeting, encoded once while unchanged.
//! * `join`: answering a `connect`: find the server, authenticate, load users.
//! * `limits`: connection caps, rate limits, auth throttling and cache, secrets.
//! * `lock`: the poison-tolerant mutex lock.
//! * `memory`: returning the heap a burst of big joins freed to the kernel.
//! * `metrics/`: the Prometheus metrics (a leaf: it imports nothing of the crate); `http` serves them.
//! * `proxy/`: the client address behind trusted reverse proxies, and the
//!   per-/64 key the limits count IPv6 by.
//! * `app`: the state every request and session shares.
//! * `http`, `files`: the single route and the static file resolver.
//! * `base_path`: serving under a sub-path behind a proxy (`Config::base_path`).
//! * `health/`: `/healthz` and `/readyz`, and the readiness checks parts
//!   of the server register (`Builder::ready_when`).
//! * `cluster/`: several instances joined by Redis (`Config::redis_url`):
//!   broadcasts over pub/sub, the server-data snapshot and `--source
//!   redis`, the shared authentication limits.
//! * `discord/`: the built-in Discord bot (gateway, guild cache, login
//!   validator, d-zone's config) behind `Builder::discord`.
//!
//! # Example
//!
//! ```
//! use d_back::{DBack, Presence, RoleColor, ServerInfo, Status, User};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = DBack::builder()
//!         .bind(("127.0.0.1", 0)) // any free port; d-zone's default is 3000
//!         .on_get_server_data(|| async {
//!             Ok(vec![ServerInfo::new("232769614004748288", "dworld", "D-World").default_server()])
//!         })
//!         .on_get_user_data(|_guild| async {
//!             Ok(vec![User::new("1", "Pip", Status::Online, RoleColor::parse("#ff6b6b")?)])
//!         })
//!         .build()?;
//!     println!("d-zone at http://{}", server.local_addr());
//!     let hub = server.handle();
//!     hub.broadcast_message("232769614004748288", "1", "hello", "general");
//!     hub.broadcast_presence(Presence::new("232769614004748288", "1", Status::Idle));
//!     # // A real server runs until a signal; this example stops itself.
//!     # let stop = hub.clone();
//!     # actix_web::rt::spawn(async move { stop.shutdown().await });
//!     server.run().await
//! }
//! ```

mod access;
mod app;
mod base_path;
mod cluster;
pub mod config;
mod deflate;
pub mod discord;
mod files;
mod health;
mod hub;
mod lock;
mod memory;
mod metrics;
mod protocol;
mod providers;
mod proxy;
mod tls;
mod web;
mod wire;
mod ws;

#[cfg(unix)]
pub use access::open_files::raise_open_files_limit;
pub use config::Config;
pub use hub::broadcast::Broadcast;
pub use protocol::frames::errors;
pub use protocol::model::{
    DataError, DiscordUser, IntoServers, IntoUsers, Presence, RoleColor, ServerInfo, Status, User,
};
pub use providers::mock;
pub use providers::{BoxError, StaticResponse};
pub use web::builder::{Builder, DBack};
pub use web::handle::Handle;
pub use web::server::Server;

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
