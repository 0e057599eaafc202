//! Benchmark tools for d-back, kept out of `examples/` (which holds only what
//! a library user copies from). `bench/run.py` builds the binaries in
//! `src/bin/` and drives them; `tests/loadgen.rs` keeps the load generator
//! honest against the real server.
//!
//! # Layout
//!
//! * `loadgen`: the fan-out and handshake-storm load generator (`bin/loadgen.rs`).
//! * `bin/bench_server.rs`: d-back with a bot that broadcasts at a fixed rate.
//! * `bin/soak.rs`: many churning clients against a running d-back, RSS from outside.
//! * `bin/redis_fanout.rs`: the same fan-out against one instance and two
//!   joined by Redis, in one run.

pub mod loadgen;
