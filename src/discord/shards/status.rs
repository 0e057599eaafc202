//! Each shard's state, as the runner last saw it, for `/readyz` (ready
//! when every shard of this instance is active, else it names each one
//! that is not; a `shards` field lists every shard's state either way)
//! and `/metrics` (an up gauge per shard).

use std::sync::{Arc, Mutex};

use twilight_gateway::ShardState;

use crate::health::{Check, Detail};
use crate::lock::lock;
use crate::metrics::Metrics;

/// What `/readyz` says before the first plan is read.
const STARTING: &str = "the Discord gateway is not connected";

/// The states of this instance's shards (shared by the runner and the
/// readiness check; a short lock, read or written once per message).
#[derive(Default)]
pub(crate) struct ShardStatus {
    inner: Mutex<Shards>,
}

#[derive(Default)]
struct Shards {
    total: u32,
    /// `(shard id, state)` in id order.
    states: Vec<(u32, State)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Connecting,
    Identifying,
    Active,
    Resuming,
    Disconnected,
}

impl State {
    fn of(s: ShardState) -> State {
        match s {
            ShardState::Active => State::Active,
            ShardState::Identifying => State::Identifying,
            ShardState::Resuming => State::Resuming,
            ShardState::Disconnected { .. } | ShardState::FatallyClosed => State::Disconnected,
        }
    }

    fn word(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Identifying => "identifying",
            State::Active => "active",
            State::Resuming => "resuming",
            State::Disconnected => "disconnected",
        }
    }
}

impl ShardStatus {
    pub(crate) fn new() -> Arc<ShardStatus> {
        Arc::default()
    }

    /// A new set of shards, all connecting.
    pub(crate) fn start(&self, ids: std::ops::Range<u32>, total: u32, metrics: &Metrics) {
        let mut s = lock(&self.inner);
        for (id, _) in &s.states {
            metrics.shard_up(*id, None);
        }
        s.total = total;
        s.states = ids.map(|id| (id, State::Connecting)).collect();
        for (id, _) in &s.states {
            metrics.shard_up(*id, Some(false));
        }
        metrics.gateway_shards(s.states.len());
        metrics.gateway_state(false);
    }

    /// The shard's state now; the metrics follow a change.
    pub(crate) fn set(&self, id: u32, state: ShardState, metrics: &Metrics) {
        let state = State::of(state);
        let mut s = lock(&self.inner);
        let Some(slot) = s.states.iter_mut().find(|(i, _)| *i == id) else {
            return;
        };
        if slot.1 == state {
            return;
        }
        slot.1 = state;
        metrics.shard_up(id, Some(state == State::Active));
        let all = s.states.iter().all(|(_, st)| *st == State::Active);
        metrics.gateway_state(all);
    }

    /// The `/readyz` field `shards`: `[{"shard": 0, "total": 2, "state":
    /// "active"}, ...]`.
    pub(crate) fn detail(self: &Arc<Self>) -> Detail {
        let me = self.clone();
        Arc::new(move || {
            let s = lock(&me.inner);
            let list = s
                .states
                .iter()
                .map(|(id, st)| serde_json::json!({"shard": id, "total": s.total, "state": st.word()}))
                .collect();
            ("shards", serde_json::Value::Array(list))
        })
    }

    /// The `/readyz` condition: every shard active, else each one that is
    /// not, named (`shard 1/3 identifying`).
    pub(crate) fn check(self: &Arc<Self>) -> Check {
        let me = self.clone();
        Arc::new(move || {
            let s = lock(&me.inner);
            if s.states.is_empty() {
                return Err(STARTING.to_string());
            }
            let down: Vec<String> = s
                .states
                .iter()
                .filter(|(_, st)| *st != State::Active)
                .map(|(id, st)| format!("shard {id}/{} {}", s.total, st.word()))
                .collect();
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "the Discord gateway is not connected: {}",
                    down.join(", ")
                ))
            }
        })
    }
}
