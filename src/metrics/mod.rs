//! Prometheus metrics at `GET /metrics` (behind `Config::metrics`): one
//! shared [`Metrics`] in `AppState`, with a one-line method per event so
//! call sites stay small. Counts that already exist (connections, joined
//! sessions, hubs) are read from the registry at scrape time, not kept twice.
//! It imports nothing of the crate, so every part may count into it; the
//! endpoint that renders it is part of the route (`http`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// One label, e.g. `reason="origin"`.
type Label = [(&'static str, &'static str); 1];

/// Everything `/metrics` reports.
pub(crate) struct Metrics {
    registry: Registry,
    connections: Gauge,
    sessions: Gauge,
    hubs: Gauge,
    broadcasts: Family<Label, Counter>,
    closes: Family<Label, Counter>,
    refused: Family<Label, Counter>,
    auth: Family<Label, Counter>,
    frame_errors: Family<Label, Counter>,
    deliveries: Counter,
    compressed_in: Family<Label, Counter>,
    compressed_out: Family<Label, Counter>,
    join_lists: Family<Label, Counter>,
    evictions: Counter,
    provider_calls: Family<[(&'static str, &'static str); 2], Counter>,
    provider_seconds: Family<Label, Histogram, fn() -> Histogram>,
    delivery_seconds: Histogram,
    gateway_state: Gauge,
    gateway_reconnects: Counter,
    /// Shards that were ready once, so their next ready is a reconnect.
    gateway_ready_seen: Mutex<HashSet<u32>>,
    gateway_events: Family<[(&'static str, String); 2], Counter>,
    /// 1 while a shard is active, per shard of this instance.
    shard_up: Family<[(&'static str, String); 1], Gauge>,
    shards: Gauge,
    redis_connected: Gauge,
    redis_events: Family<Label, Counter>,
}

/// Latency buckets from 1 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dback");
        let m = Metrics {
            connections: Gauge::default(),
            sessions: Gauge::default(),
            hubs: Gauge::default(),
            broadcasts: Family::default(),
            closes: Family::default(),
            refused: Family::default(),
            auth: Family::default(),
            frame_errors: Family::default(),
            deliveries: Counter::default(),
            compressed_in: Family::default(),
            compressed_out: Family::default(),
            join_lists: Family::default(),
            evictions: Counter::default(),
            provider_calls: Family::default(),
            provider_seconds: Family::new_with_constructor(latency),
            delivery_seconds: latency(),
            gateway_state: Gauge::default(),
            gateway_reconnects: Counter::default(),
            gateway_ready_seen: Mutex::default(),
            gateway_events: Family::default(),
            shard_up: Family::default(),
            shards: Gauge::default(),
            redis_connected: Gauge::default(),
            redis_events: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "open_connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        registry.register(
            "joined_sessions",
            "Sessions joined to a server",
            m.sessions.clone(),
        );
        registry.register("hubs", "Servers with at least one viewer", m.hubs.clone());
        registry.register(
            "compression_input_bytes",
            "Payload bytes of frames sent compressed, before compression, by frame kind",
            m.compressed_in.clone(),
        );
        registry.register(
            "compression_output_bytes",
            "Payload bytes of frames sent compressed, as sent, by frame kind",
            m.compressed_out.clone(),
        );
        registry.register(
            "join_lists",
            "User lists made for joins: encoded (JSON) and compressed (deflate); joins of an unchanged list reuse them",
            m.join_lists.clone(),
        );
        registry.register(
            "broadcasts",
            "Broadcasts sent, by type",
            m.broadcasts.clone(),
        );
        registry.register("closes", "Server-side closes, by reason", m.closes.clone());
        registry.register(
            "refused_upgrades",
            "Refused WebSocket upgrades, by reason",
            m.refused.clone(),
        );
        registry.register(
            "auth_attempts",
            "Authentication attempts, by outcome",
            m.auth.clone(),
        );
        registry.register(
            "frame_errors",
            "Refused client frames, by kind",
            m.frame_errors.clone(),
        );
        registry.register(
            "deliveries",
            "Frames handed to a session's write",
            m.deliveries.clone(),
        );
        registry.register(
            "evictions",
            "Sessions dropped as too slow",
            m.evictions.clone(),
        );
        registry.register(
            "provider_calls",
            "Provider callback calls, by callback and outcome (ok, error, panic, timeout)",
            m.provider_calls.clone(),
        );
        registry.register(
            "provider_seconds",
            "Provider callback latency, by callback",
            m.provider_seconds.clone(),
        );
        registry.register(
            "delivery_seconds",
            "From a broadcast reaching its hub to its write to a session (oldest of a batch)",
            m.delivery_seconds.clone(),
        );
        registry.register(
            "discord_gateway_state",
            "The built-in bot's gateway: 1 every shard ready, 0 a shard connecting or disconnected",
            m.gateway_state.clone(),
        );
        registry.register(
            "discord_shards",
            "Gateway shards this instance runs",
            m.shards.clone(),
        );
        registry.register(
            "discord_shard_up",
            "Per shard of this instance: 1 active, 0 connecting, identifying or disconnected",
            m.shard_up.clone(),
        );
        registry.register(
            "discord_gateway_reconnects",
            "Gateway sessions re-established (READY or RESUMED after a shard's first)",
            m.gateway_reconnects.clone(),
        );
        registry.register(
            "discord_gateway_events",
            "Gateway dispatch events, by type and shard",
            m.gateway_events.clone(),
        );
        registry.register(
            "redis_connected",
            "Redis (--redis-url): 1 connected and subscribed, 0 not",
            m.redis_connected.clone(),
        );
        registry.register(
            "redis_events",
            "Redis broadcasts by event (published, received, local_fallback, dropped) and reconnects",
            m.redis_events.clone(),
        );
        Metrics { registry, ..m }
    }

    /// A WebSocket upgrade refused for `reason` (`origin`, `total_limit`, `ip_limit`).
    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&[("reason", reason)]).inc();
    }

    /// A join's authentication ended with `outcome` (`accepted`, `failed`,
    /// `required`, `throttled`).
    pub(crate) fn auth(&self, outcome: &'static str) {
        self.auth.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// A client frame refused as `kind` (`invalid_json`, ...).
    pub(crate) fn frame_error(&self, kind: &'static str) {
        self.frame_errors.get_or_create(&[("kind", kind)]).inc();
    }

    /// The server closed a session for `reason`.
    pub(crate) fn closed(&self, reason: &'static str) {
        self.closes.get_or_create(&[("reason", reason)]).inc();
    }

    /// `frames` handed to one session's write, the oldest `waited` after
    /// reaching its hub.
    /// Frames sent compressed (`kind`: server_list, server_join,
    /// broadcast, other): their payload bytes before and after.
    pub(crate) fn compressed(&self, kind: &'static str, before: u64, after: u64) {
        self.compressed_in
            .get_or_create(&[("kind", kind)])
            .inc_by(before);
        self.compressed_out
            .get_or_create(&[("kind", kind)])
            .inc_by(after);
    }

    /// A join's user list: whether its JSON and its deflate segment were
    /// made for it (a join of an unchanged list finds both made).
    pub(crate) fn join_list(&self, encoded: bool, compressed: bool) {
        for (done, kind) in [(encoded, "encoded"), (compressed, "compressed")] {
            if done {
                self.join_lists.get_or_create(&[("kind", kind)]).inc();
            }
        }
    }

    pub(crate) fn delivered(&self, frames: usize, waited: Duration) {
        self.deliveries.inc_by(frames as u64);
        self.delivery_seconds.observe(waited.as_secs_f64());
    }

    /// One provider callback call and how long it took.
    pub(crate) fn provider_call(
        &self,
        callback: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.provider_calls
            .get_or_create(&[("callback", callback), ("outcome", outcome)])
            .inc();
        self.provider_seconds
            .get_or_create(&[("callback", callback)])
            .observe(took.as_secs_f64());
    }

    /// A shard is ready (READY or RESUMED); every time after its first
    /// is a reconnect. Counted here rather than at the drop, since the
    /// gateway library reconnects some drops without telling.
    pub(crate) fn gateway_ready(&self, shard: u32) {
        let again = !self
            .gateway_ready_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shard);
        if again {
            self.gateway_reconnects.inc();
        }
    }

    /// Every shard of this instance active (1), or not (0).
    pub(crate) fn gateway_state(&self, all_up: bool) {
        self.gateway_state.set(i64::from(all_up));
    }

    /// The shard count this instance runs.
    pub(crate) fn gateway_shards(&self, n: usize) {
        self.shards.set(n as i64);
    }

    /// A shard's up gauge: 1 active, 0 not, removed (`None`) when the
    /// shard no longer runs here.
    pub(crate) fn shard_up(&self, shard: u32, up: Option<bool>) {
        let label = [("shard", shard.to_string())];
        match up {
            Some(up) => {
                self.shard_up.get_or_create(&label).set(i64::from(up));
            }
            None => {
                self.shard_up.remove(&label);
            }
        }
    }

    /// One gateway dispatch event (`READY`, `MESSAGE_CREATE`, ...) on a shard.
    pub(crate) fn gateway_event(&self, kind: &str, shard: u32) {
        self.gateway_events
            .get_or_create(&[("type", kind.to_string()), ("shard", shard.to_string())])
            .inc();
    }

    /// Redis is (not) connected.
    pub(crate) fn redis_connected(&self, up: bool) {
        self.redis_connected.set(i64::from(up));
    }

    /// One Redis event: a broadcast `published`, `received`, delivered
    /// locally (`local_fallback`) or `dropped`, or a `reconnect`.
    pub(crate) fn redis_event(&self, event: &'static str) {
        self.redis_events.get_or_create(&[("event", event)]).inc();
    }

    /// A session evicted by its hub.
    pub(crate) fn evicted(&self) {
        self.evictions.inc();
    }

    /// A broadcast handed to the registry.
    /// A broadcast of this type (`Broadcast::kind`) was sent.
    pub(crate) fn broadcast(&self, kind: &'static str) {
        self.broadcasts.get_or_create(&[("type", kind)]).inc();
    }

    /// The text exposition, with the gauges set to the counts given.
    pub(crate) fn render(&self, connections: usize, sessions: usize, hubs: usize) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.connections.set(gauge(connections));
        self.sessions.set(gauge(sessions));
        self.hubs.set(gauge(hubs));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            log::warn!("could not encode the metrics");
        }
        out
    }
}
