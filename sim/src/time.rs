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

/// The longest time the simulator represents: 10^17 ns, about 3.2 years.
/// Every configured time (durations, SLOs, start times, trace timestamps,
/// execution and load times, policy periods) must be at most this, so that
/// sums of a few of them never overflow 64 bits.
pub const MAX_TIME: Nanos = 100_000_000_000_000_000;

/// The unit a configured time is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
}

impl Unit {
    fn ns(self) -> f64 {
        match self {
            Unit::S => NS_PER_S as f64,
            Unit::Ms => NS_PER_MS as f64,
            Unit::Us => NS_PER_US as f64,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::S => "s",
            Unit::Ms => "ms",
            Unit::Us => "us",
        }
    }
}

/// A configured time to nanoseconds, checked: it must be a finite number,
/// non-negative (positive when `positive`), at most [`MAX_TIME`], and a
/// positive value must not round to 0 ns. The message says what is wrong
/// (the caller names the field).
pub fn checked(v: f64, unit: Unit, positive: bool) -> Result<Nanos, String> {
    use crate::limits::show;
    let what = if positive { "positive" } else { "non-negative" };
    if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
        return Err(format!(
            "must be a {what} number ({}), found {}",
            unit.name(),
            show(v)
        ));
    }
    let ns = (v * unit.ns()).round();
    if ns > MAX_TIME as f64 {
        return Err(format!(
            "{} {} is longer than the simulator's longest time, {} {} (10^17 ns, about 3 years)",
            show(v),
            unit.name(),
            show(MAX_TIME as f64 / unit.ns()),
            unit.name()
        ));
    }
    if positive && ns == 0.0 {
        return Err(format!(
            "{} {} rounds to 0 ns (times are whole nanoseconds): give at least {} {}",
            show(v),
            unit.name(),
            show(0.5 / unit.ns()),
            unit.name()
        ));
    }
    Ok(ns as Nanos)
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

    #[test]
    fn checked_refuses_overflow_zero_and_nonsense() {
        assert_eq!(checked(1.5, Unit::S, true), Ok(1_500_000_000));
        assert_eq!(checked(0.0, Unit::Ms, false), Ok(0));
        assert_eq!(checked(0.0005, Unit::Us, true), Ok(1));
        assert_eq!(checked(1e8, Unit::S, true), Ok(MAX_TIME));
        for (v, unit, want) in [
            (
                1e12,
                Unit::S,
                "1e12 s is longer than the simulator's longest time, 100000000 s",
            ),
            (1e300, Unit::Ms, "longest time"),
            (0.0001, Unit::Us, "rounds to 0 ns"),
            (0.0, Unit::Ms, "must be a positive number (ms), found 0"),
            (-1.0, Unit::S, "positive"),
            (f64::NAN, Unit::S, "found NaN"),
            (f64::INFINITY, Unit::S, "found inf"),
        ] {
            let e = checked(v, unit, true).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
