//! Wall-clock time of a replay: nanoseconds since the run's start, from a
//! monotonic clock shared by the driver and every worker. Waiting sleeps
//! until shortly before a deadline and then spins (yielding the core) for
//! the rest, so deadlines are met to a few microseconds without keeping a
//! small machine's cores busy.

use inferfair_sim::time::Nanos;
use std::time::{Duration, Instant};

/// How long before a deadline sleeping stops and spinning starts: more than
/// the usual oversleep of a timed sleep on Linux (timer slack 50 us).
pub const SPIN_NS: Nanos = 200_000;

/// The run's clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose time 0 is now.
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the start.
    pub fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    /// Waits until `deadline` (returns at once if it has passed); returns the time then.
    pub fn wait_until(&self, deadline: Nanos) -> Nanos {
        loop {
            let now = self.now();
            if now >= deadline {
                return now;
            }
            let left = deadline - now;
            if left > SPIN_NS {
                std::thread::sleep(Duration::from_nanos(left - SPIN_NS));
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_at_least_until_the_deadline() {
        let c = Clock::start();
        let d = c.now() + 3_000_000;
        let t = c.wait_until(d);
        assert!(t >= d);
        assert!(c.wait_until(0) >= t, "a past deadline returns at once");
    }
}
