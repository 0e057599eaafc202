//! Benchmark tools for d-back, kept out of `examples/` (which holds only what
//! a library user copies from). `bench/run.py` builds the binaries in
//! `src/bin/` and drives them; `tests/loadgen.rs` keeps the load generator
//! honest against the real server.
//!
//! # Layout
//!
//! * `driver`: the file protocol, bot and readings every bench server shares.
//! * `child`: a d-back binary run as a bot against the fake Discord, as a
//!   child process read from outside (`/metrics`, gateway dispatches read,
//!   VmRSS, quiet CPU).
//! * `loadgen`: the fan-out and handshake-storm load generator (`bin/loadgen.rs`).
//! * `ours`: d-back as the bench servers start it (`--users`, caps lifted).
//! * `users`: the synthetic member list every bench server answers with.
//! * `bin/floor_server.rs`: the floor: a minimal tokio-tungstenite fan-out server.
//! * `bin/heap_profile.rs`: d-back under the `dhat` heap profiler, for where a viewer's bytes go.
//! * `bin/bench_server.rs`: d-back with a bot that broadcasts at a fixed rate.
//! * `bin/discord_scale.rs`: many viewers joining one big guild of the fake Discord, the binary as a child.
//! * `bin/discord_storm.rs`: presence storms, joins and catch-ups in a big guild, every scene checked.
//! * `bin/discord_memory.rs`: the bytes per cached member, with and without viewers.
//! * `bin/soak.rs`: many churning clients against a running d-back, RSS from outside.
//! * `bin/redis_fanout.rs`: the same fan-out against one instance and two
//!   joined by Redis, in one run.

pub mod child;
pub mod driver;
pub mod loadgen;
pub mod ours;
pub mod users;
