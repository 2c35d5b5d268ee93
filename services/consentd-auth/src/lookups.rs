//! The key-lookup budget of client addresses: token buckets that can give a
//! token back. A lookup that finds a key costs its address nothing, so a
//! client with many keys, or many calls in flight when a key's cache entry
//! lapses, is never slowed; strangers trying ids pay for every miss.
//! governor (the per-key rate budgets, `rate.rs`) has no way to return a
//! cell, hence these few lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Token buckets by client address.
#[derive(Debug)]
pub(crate) struct LookupBuckets {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl LookupBuckets {
    /// Buckets refilling at `rate_per_second`, holding at most `burst`.
    pub(crate) fn new(rate_per_second: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `key`; `Err(wait)` says how long until one is free.
    pub(crate) fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Idle keys' buckets are full again: forgetting them loses nothing.
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.refilled).as_secs_f64() * self.rate < self.burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.burst, refilled: now });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.refilled).as_secs_f64() * self.rate).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

impl LookupBuckets {
    /// Gives back a token taken for `key` (the call it paid for turned out
    /// to cost nothing), up to the burst.
    pub(crate) fn give_back(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_calls_wait() {
        let limiter = LookupBuckets::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.take("k").is_ok());
        }
        let wait = limiter.take("k").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limiter.take("other").is_ok(), "addresses have their own buckets");
        limiter.give_back("k");
        assert!(limiter.take("k").is_ok(), "a token given back is there again");
    }
}
