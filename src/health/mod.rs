//! Health probes for load balancers and orchestrators: `GET /healthz` (the
//! process is alive) and `GET /readyz` (it should get traffic now).
//!
//! Readiness is a list of checks that parts of the server register with
//! the builder ([`Readiness`]): the server itself (it is serving, not
//! shutting down), the built-in Discord bot (its gateway is connected),
//! and whatever comes later (a message broker registers its own). On top,
//! each probe asks this worker's providers for the server list with a
//! short deadline, so a hung data source shows as not ready.
//!
//! # Layout
//!
//! * `readiness`: the checks and the flags that back them.
//! * `probe`: the two HTTP answers.

mod probe;
mod readiness;

pub(crate) use probe::{alive, ready};
pub(crate) use readiness::{Check, Detail, Flag, Readiness};
