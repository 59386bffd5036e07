//! Waits before trying again: one jittered, doubling window for every retry loop ferry has
//! (the compare-and-swap push in [`crate::commands`], the forge API's retries in
//! [`crate::forge`], GitHub's mergeability being computed).

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

/// `first` doubled `doublings` times, at most `max`.
#[must_use]
pub fn window(first: Duration, doublings: u32, max: Duration) -> Duration {
    first.saturating_mul(1 << doublings.min(20)).min(max)
}

/// A random duration between `low` and `high` (both included; `high` below `low` is `low`).
/// The randomness is per call and per process, so that jobs started together spread out.
#[must_use]
pub fn between(low: Duration, high: Duration) -> Duration {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.write_u32(std::process::id());
    let span = u64::try_from(high.saturating_sub(low).as_millis()).unwrap_or(u64::MAX);
    low + Duration::from_millis(hasher.finish() % span.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_and_stay_bounded() {
        let first = Duration::from_millis(100);
        assert_eq!(window(first, 0, Duration::from_secs(1)), first);
        assert_eq!(window(first, 3, Duration::from_secs(1)), first * 8);
        assert_eq!(
            window(first, 40, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn waits_stay_between_their_bounds() {
        let (low, high) = (Duration::from_millis(10), Duration::from_millis(50));
        for _ in 0..200 {
            let wait = between(low, high);
            assert!(wait >= low && wait <= high, "{wait:?}");
        }
        assert_eq!(between(high, low), high);
    }
}
