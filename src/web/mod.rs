//! The HTTP front and the server's assembly, one concept per file: the
//! single route (`http`: the bot-side API, health probes, metrics, files),
//! the `Server` and its run (`server`), one worker's HTTP service
//! (`service`), the socket options of every connection (`connection`),
//! what each worker gets (`workers`), binding the listeners (`listen`),
//! SIGTERM/SIGINT (`signals`), the `Builder` that wires callbacks, limits
//! and state together, and the `Handle` a bot uses.
//!
//! The top of the import graph: it may import every other part; nothing
//! imports it.

pub(crate) mod builder;
pub(crate) mod connection;
pub(crate) mod handle;
pub(crate) mod http;
pub(crate) mod listen;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod signals;
pub(crate) mod workers;
