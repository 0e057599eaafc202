//! The HTTP front and the server's assembly: the single route (`http`:
//! upgrades, the bot-side API, health probes, metrics, files), the
//! `Server` with its listeners, workers and signals, the socket options of
//! every connection (`connection`), the `Builder` that
//! wires callbacks, limits and state together, and the `Handle` a bot uses.
//!
//! The top of the import graph: it may import every other part; nothing
//! imports it.

pub(crate) mod builder;
pub(crate) mod connection;
pub(crate) mod handle;
pub(crate) mod http;
pub(crate) mod server;
