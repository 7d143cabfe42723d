//! Simulated time: integer nanoseconds, and the few conversions the rest of
//! the crate needs. Floats appear only at the edges (configuration in, summaries out).

/// A point in time or a duration, in nanoseconds since the start of a run.
pub type Nanos = u64;

/// Nanoseconds per microsecond.
pub const NS_PER_US: Nanos = 1_000;
/// Nanoseconds per millisecond.
pub const NS_PER_MS: Nanos = 1_000_000;
/// Nanoseconds per second.
pub const NS_PER_S: Nanos = 1_000_000_000;

/// Seconds (as configured) to nanoseconds, rounded to the nearest nanosecond.
pub fn from_secs(s: f64) -> Nanos {
    (s * NS_PER_S as f64).round() as Nanos
}

/// Milliseconds to nanoseconds, rounded.
pub fn from_ms(ms: f64) -> Nanos {
    (ms * NS_PER_MS as f64).round() as Nanos
}

/// Microseconds to nanoseconds, rounded.
pub fn from_us(us: f64) -> Nanos {
    (us * NS_PER_US as f64).round() as Nanos
}

/// Nanoseconds to seconds.
pub fn secs(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// Nanoseconds to milliseconds.
pub fn ms(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(from_ms(3.322), 3_322_000);
        assert_eq!(from_us(8372.0), 8_372_000);
        assert_eq!(from_secs(1.5), 1_500_000_000);
        assert_eq!(ms(2_500_000), 2.5);
        assert_eq!(secs(NS_PER_S), 1.0);
    }
}
