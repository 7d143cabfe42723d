//! A record of InferFair's periods, for tests and debugging: what it
//! estimated, allocated and achieved per model, and its parts per GPU.
//! Off by default; `InferFair::record_periods` turns it on and
//! `InferFair::periods` reads it after a run (`simulate_with`).

use crate::time::Nanos;

/// One period's end.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodRecord {
    /// When the period ended.
    pub at: Nanos,
    /// Whether the demands exceeded the capacity (deficit order, waiting and efficient batches on).
    pub overloaded: bool,
    /// The equal fraction of every ETR the allocation could give (1 when not
    /// overloaded); with `proportional` > 0, the largest demand's fraction.
    pub fraction: f64,
    /// Per model instance, in scenario order.
    pub models: Vec<ModelRecord>,
}

/// One model at a period's end.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRecord {
    /// Arrival rate estimate (req/s).
    pub rate: f64,
    /// Effective throughput requirement (req/s).
    pub etr: f64,
    /// The batch size expected at that rate.
    pub batch: u32,
    /// GPU seconds per second needed to serve the ETR.
    pub demand: f64,
    /// The effective share after feedback (GPU s/s).
    pub share: f64,
    /// The feedback weight.
    pub weight: f64,
    /// Smoothed achieved fraction: good requests / requirement.
    pub achieved: f64,
    /// Its parts for the next period.
    pub parts: Vec<PartRecord>,
}

/// A model's part on one GPU.
#[derive(Clone, Debug, PartialEq)]
pub struct PartRecord {
    /// The GPU.
    pub gpu: usize,
    /// GPU s/s of that GPU for the next period.
    pub share: f64,
    /// GPU time (ns) the model used on that GPU in the period that ended.
    pub used_ns: f64,
    /// Its requests completed in time on that GPU in the period that ended.
    pub good: u64,
}
