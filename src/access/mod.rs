//! What one client may take: connection slots, inbound frame rate, and
//! authentication attempts, plus the cache that spares the Discord API and
//! the constant-time comparison of secrets; and the process's own limit on
//! open files, which decides how many clients fit at all.
//!
//! All state here is small, bounded, and pruned as it is touched, so an
//! attacker rotating addresses cannot grow it without limit. With Redis
//! (`Config::redis_url`) the authentication throttle and cache are shared
//! by every instance (`crate::cluster`), and the local ones answer while
//! Redis does not.
//!
//! May import `config`, `lock`, `proxy` (the per-/64 key) and `cluster`
//! (the shared throttle); imported by the app state, the route and the
//! WebSocket session. Where an attempt is taken (only where a secret is
//! checked) is decided by `ws::join`, which answers the `connect`.

pub(crate) mod open_files;
pub(crate) mod rate;
pub(crate) mod secret;
pub(crate) mod slots;
pub(crate) mod throttle;

/// Entries kept per map before a prune sweeps out stale ones.
const PRUNE_AT: usize = 4096;
