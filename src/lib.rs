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
//!   ▲                │ ask (typed messages)               ▲
//!   │                └──────────────> Providers           │ Broadcast
//!   │  your bot ── Handle::broadcast_* ──> Registry ──────┘
//!   │
//!   │  data path of a broadcast (the Session actor is not on it):
//!   │  Hub ──Outbox::push(one framed batch, shared bytes)──> the session's Outbox
//!   └── socket <── Pump <── Outgoing::fill <── Outbox
//! ```
//!
//! * Each WebSocket connection is a `Session` actor, the control plane of
//!   its connection: it sends the server list, answers `connect`, joins
//!   and leaves hubs, pings, and closes, is evicted (`Evict`) or told the
//!   server goes away (`GoingAway`) by message.
//! * Each Discord server (guild snowflake) with viewers has a `Hub` actor;
//!   the `Registry` creates it on the first join and stops it when the
//!   last session leaves. The hub encodes a broadcast once, frames the
//!   batch once per wire form (plain, and compressed once for the members
//!   that negotiated permessage-deflate) and pushes the same bytes into
//!   each member's `Outbox` (`Outbox::push`), after reading its `Meter`.
//! * The connection's `Pump` takes the outbox's frames, and the session's
//!   control frames after them (`Outgoing::fill`), and writes them to the
//!   socket uncopied.
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
//! One folder per subsystem; imports run one way between them (from
//! `web/` at the top down to the leaves), with no cycle between files or
//! between folders.
//!
//! * `web/`: the HTTP front and the assembly: the single route, the
//!   `Builder`, the `Server` and its run, one worker's HTTP service, what
//!   each worker gets, binding, signals, socket options, the `Handle`.
//! * `ws/`: the WebSocket session actor (`session/`: its life, what it
//!   reads, how it joins) and everything between its socket and its hubs:
//!   admission, the take-over from the HTTP/1 dispatcher and its pump (the
//!   one connection path), `connect`, the `server-join` frame, the writer.
//! * `hub/`: a `Hub` actor per guild, the `Registry`, the `Broadcast`.
//! * `wire/`: frames in wire form, the per-session meter and outbox the
//!   hubs write into (below both `hub/` and `ws/`).
//! * `providers/`: the `Providers` actor, the callbacks, the [`mock`]
//!   data and its mock traffic, the server and user lists encoded once.
//! * `protocol/`: the typed model and every frame in and out with its
//!   exact error strings (`docs/PROTOCOL.md`).
//! * `deflate/`: permessage-deflate: offers, compressing, inflating input.
//! * `access/`: what one client may take: connection slots, frame rate,
//!   the authentication throttle and cache, secrets compared in constant
//!   time, the open-files limit.
//! * `proxy/`: the client address behind trusted reverse proxies.
//! * `tls/`: HTTPS and `wss://`, certificates reloaded on SIGHUP.
//! * `health/`: `/healthz`, `/readyz` and the readiness checks.
//! * `metrics/`: the Prometheus metrics (a leaf every part counts into).
//! * `cluster/`: several instances joined by Redis.
//! * `discord/`: the built-in Discord bot behind `Builder::discord`.
//! * Loose leaves shared by several folders: `app` (the state every
//!   request and session shares), `config` (every tunable), `base_path`,
//!   `files` (the frontend and its safe path resolver), `frame` (WebSocket
//!   frame headers, read and written in one place), `lock`, `memory`.
//! * The binary: `main.rs` and `cli/` (config file, `config check` and
//!   `config example`, the `health` probe, the token file), outside the
//!   library.
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
mod frame;
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
