//! Rate budgets by key (API keys, client addresses, vendor accounts): each
//! key may spend `rate` calls per second on average, with bursts up to
//! `burst` (GCRA, from governor).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Budgets by key.
#[derive(Debug)]
pub struct KeyRate {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// Keys remembered before idle ones are forgotten: an idle key's budget is
/// full again, so forgetting it changes nothing.
const REMEMBERED_KEYS: usize = 100_000;

impl KeyRate {
    /// Budgets refilling at `rate_per_second`, holding at most `burst`.
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(rate_per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self { limiter: DefaultKeyedRateLimiter::keyed(quota), clock: DefaultClock::default() }
    }

    /// Spends one call of `key`'s budget; `Err(wait)` says how long until
    /// one is there.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > REMEMBERED_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_calls_wait() {
        let rate = KeyRate::new(1, 3);
        for _ in 0..3 {
            assert!(rate.take("k").is_ok());
        }
        let wait = rate.take("k").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(rate.take("other").is_ok(), "keys have their own budgets");
    }
}
