//! The simulator's limits, in one place. Inputs beyond them are refused when
//! a scenario is resolved, before anything large is allocated, with the
//! estimate in the message; a run that still grows past [`MAX_PENDING`]
//! stops with an error instead of exhausting memory. Documented in
//! `docs/reliability.md`. (The longest representable time is
//! [`crate::time::MAX_TIME`].)

/// GPUs in a cluster.
pub const MAX_GPUS: u64 = 10_000;

/// Model instances in a scenario (all `count`s together).
pub const MAX_INSTANCES: u64 = 100_000;

/// GPUs times model instances: the serving state and the policies keep a
/// few words per model per GPU (about 100 bytes in all).
pub const MAX_GPU_MODEL_CELLS: u64 = 10_000_000;

/// Closed-loop clients in a scenario: each has a pending event.
pub const MAX_CLIENTS: u64 = 1_000_000;

/// Expected arrivals (and on/off switches) of one run: about an hour of
/// simulation at the simulator's speed.
pub const MAX_ARRIVALS: f64 = 1e10;

/// Requests of one instance per second: the mean gap must be at least 1 ns.
pub const MAX_RATE_RPS: f64 = 1e9;

/// Coefficient of variation of inter-arrival times: above it Gamma gaps put
/// thousands of arrivals at the same nanosecond.
pub const MAX_CV: f64 = 100.0;

/// Coefficient of variation of execution times: above it most batches would
/// take a tiny fraction of their profiled time (many exactly 1 ns).
pub const MAX_EXEC_CV: f64 = 2.0;

/// Memory of a GPU, GiB (1 PiB).
pub const MAX_GPU_MEMORY_GIB: f64 = 1_048_576.0;

/// Requests pending at once in one run (queued, not yet dispatched or
/// dropped), over all models. A policy that never drops (FIFO) far past
/// capacity holds every request that arrives; each costs about 50 to 100
/// bytes, so the run stops with an error here (about 1 to 2 GB) instead of
/// growing until the machine runs out of memory.
pub const MAX_PENDING: usize = 1 << 24;

/// Points of a sweep grid (with policies and seeds).
pub const MAX_SWEEP_POINTS: u64 = 1_000_000;

/// Bins of a histogram over time (`trace stats --bin-s`, timelines).
pub const MAX_BINS: u64 = 10_000_000;

/// A configured number for messages, as written: `1e300`, `0.5`, `1e-7`.
pub fn show(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e9).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A count or estimate for messages: `1.20e10`, `3500`.
pub fn approx(v: f64) -> String {
    if v.is_finite() && v.abs() < 1e6 {
        format!("{}", v.round())
    } else {
        format!("{v:.2e}")
    }
}
