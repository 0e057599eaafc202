//! What crosses the wire as JSON: the typed model (servers, users,
//! statuses, colours, presences, validated at the boundary) and every frame
//! in and out with its exact error strings (`docs/PROTOCOL.md` is the
//! contract they implement). Imports nothing of the crate but
//! `providers::userlist` in tests.

pub(crate) mod frames;
pub(crate) mod model;
