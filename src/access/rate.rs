//! The inbound frame rate of one session: a token bucket.

use std::time::Instant;

/// Inbound frame budget of one session: a bucket of `burst` tokens refilled
/// at `per_sec`.
pub(crate) struct RateLimit {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(burst: u32, per_sec: u32) -> Self {
        RateLimit {
            tokens: burst as f64,
            burst: burst as f64,
            per_sec: per_sec as f64,
            last: Instant::now(),
        }
    }

    /// Spends one token; false when the bucket is empty.
    pub(crate) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
