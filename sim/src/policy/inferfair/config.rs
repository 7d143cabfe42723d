//! `[policy.inferfair]`: every parameter of InferFair, with its default.
//! Documented in `docs/inferfair.md`.

use serde::{Deserialize, Serialize};

/// InferFair's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferFairConfig {
    /// Estimation period (ms).
    pub period_ms: f64,
    /// Weight of the newest period in the arrival-rate EWMA when the rate falls.
    pub rate_ewma: f64,
    /// ... when the rate rises (fast attack: bursts are seen within a period).
    pub rate_ewma_up: f64,
    /// Share of a model's SLO that filling and running one batch may take
    /// (the rest is room for queueing behind other models).
    pub slo_fraction: f64,
    /// Fraction of the cluster's GPU time kept out of the allocation.
    pub headroom: f64,
    /// Ablation: with `false`, shares are static and equal (no rate estimation in the allocation).
    pub estimation: bool,
    /// Ablation: with `false`, no feedback step.
    pub feedback: bool,
    /// Damping exponent of the feedback's multiplicative weight update.
    pub feedback_gain: f64,
    /// Weight of the newest period in the achieved-fraction EWMA.
    pub achieved_ewma: f64,
    /// Smallest feedback weight.
    pub weight_min: f64,
    /// Largest feedback weight.
    pub weight_max: f64,
    /// Ablation: with `false`, never wait for a bigger batch.
    pub batching: bool,
    /// Under overload, run the batch that serves the most requests per GPU
    /// second, giving up front requests it cannot include in time (ablation:
    /// `false` = the largest batch that meets the oldest request's deadline).
    pub efficient_batches: bool,
    /// 1 = equal degradation (isolation), 0 = cheapest GPU time per request first (throughput).
    pub fairness: f64,
    /// Under equal degradation, every model keeps at least this part of its
    /// max-min fair share of GPU time (0 = pure equal fractions of the ETR).
    pub guarantee: f64,
    /// Under overload, how far the fractions lean toward the models with
    /// small demands: each model's fraction of its ETR is proportional to
    /// (its demand / the largest demand)^-`proportional` (α-fairness with
    /// α = 1 / `proportional`): 0 = equal degradation (every model the same
    /// fraction), 1 = proportional fairness (every model the same GPU time,
    /// capped at its demand).
    pub proportional: f64,
    /// Deficit ordering and waiting only in overloaded periods (least slack first otherwise).
    pub overload_only: bool,
    /// Every model with traffic keeps a minimum share of one smallest batch per period.
    pub min_share: bool,
    /// Unused credit carried into the next period, in periods of credit.
    pub carry_periods: f64,
    /// Load extra replicas of models whose share exceeds what their GPUs give.
    pub replicas: bool,
    /// Split each model's share over GPUs so that models with little room
    /// for queueing are kept apart from models with long batches (ablation:
    /// `false` = every model's share spread evenly over every GPU).
    pub grouping: bool,
    /// A model's part on a GPU smaller than this fraction of the GPU is moved
    /// to its neighbouring part.
    pub group_min_part: f64,
    /// On GPUs of several types, price each model's GPU time by its speed on
    /// each pool (ablation: `false` = a second of any GPU counts as a second
    /// of the model's fastest one).
    pub pool_pricing: bool,
    /// Where GPUs run several batches at once (`max_concurrent` > 1), use
    /// the extra slots (ablation: `false` = one batch at a time, as Clockwork).
    pub concurrency: bool,
    /// Start a batch beside running ones only if the interference model
    /// predicts that every one of them still meets its deadline and the GPU
    /// does more work per second than without it (ablation: `false` = fill
    /// free slots as FIFO does).
    pub corun_admission: bool,
    /// Under overload, the first model whose batch is refused beside the
    /// running ones reserves the GPU: others start there only if it still
    /// comes free as soon (ablation: `false` = no reservation; a model whose
    /// batches are never admitted beside others may wait for ever).
    pub corun_reservation: bool,
    /// Price a GPU that runs batches at once by the solo work it was
    /// measured to complete per busy second (default `false`: a GPU second
    /// is a GPU second, whatever runs beside; measured capacity made
    /// InferFair miss overload on unseen mixes, docs/results.md).
    pub measured_capacity: bool,
    /// A guest may also run a batch longer than the room of a GPU's own
    /// models when each of them could start at once on another idle GPU
    /// (loaded there, with a part there or a batch that fits its room).
    pub guest_cover: bool,
}

impl Default for InferFairConfig {
    fn default() -> Self {
        InferFairConfig {
            period_ms: 100.0,
            rate_ewma: 0.2,
            rate_ewma_up: 0.2,
            slo_fraction: 0.5,
            headroom: 0.02,
            estimation: true,
            feedback: true,
            feedback_gain: 0.5,
            achieved_ewma: 0.3,
            weight_min: 0.125,
            weight_max: 8.0,
            batching: true,
            efficient_batches: true,
            fairness: 1.0,
            guarantee: 0.0,
            proportional: 0.0,
            overload_only: true,
            min_share: true,
            carry_periods: 1.0,
            replicas: true,
            grouping: true,
            group_min_part: 0.05,
            pool_pricing: true,
            concurrency: true,
            corun_admission: true,
            corun_reservation: true,
            measured_capacity: false,
            guest_cover: false,
        }
    }
}

/// The most estimation periods one run may take.
pub const MAX_PERIODS: f64 = 1e9;

impl InferFairConfig {
    /// Checks what depends on the scenario: the number of periods in a run.
    pub fn check_scenario(&self, s: &crate::scenario::Scenario) -> Result<(), String> {
        let period = crate::time::checked(self.period_ms, crate::time::Unit::Ms, true)?;
        let periods = (s.duration + s.drain) as f64 / period as f64;
        if periods > MAX_PERIODS {
            return Err(format!(
                "`period_ms` = {}: a run of {} s would take {} estimation periods, more than {}: use a longer period",
                crate::limits::show(self.period_ms),
                crate::time::secs(s.duration + s.drain),
                crate::limits::approx(periods),
                crate::limits::approx(MAX_PERIODS)
            ));
        }
        Ok(())
    }

    /// Checks the values are possible.
    pub fn validate(&self) -> Result<(), String> {
        let in01 = |name: &str, v: f64, zero_ok: bool| {
            if v.is_finite() && v <= 1.0 && (v > 0.0 || (zero_ok && v == 0.0)) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` must be in {}0, 1], found {v}",
                    if zero_ok { "[" } else { "(" }
                ))
            }
        };
        if !(self.period_ms.is_finite() && self.period_ms > 0.0) {
            return Err(format!(
                "`period_ms` must be positive, found {}",
                self.period_ms
            ));
        }
        crate::time::checked(self.period_ms, crate::time::Unit::Ms, true)
            .map_err(|m| format!("`period_ms`: {m}"))?;
        in01("rate_ewma", self.rate_ewma, false)?;
        in01("rate_ewma_up", self.rate_ewma_up, false)?;
        in01("slo_fraction", self.slo_fraction, false)?;
        in01("achieved_ewma", self.achieved_ewma, false)?;
        in01("fairness", self.fairness, true)?;
        in01("group_min_part", self.group_min_part, true)?;
        in01("guarantee", self.guarantee, true)?;
        in01("proportional", self.proportional, true)?;
        if !(self.headroom >= 0.0 && self.headroom < 1.0) {
            return Err(format!(
                "`headroom` must be in [0, 1), found {}",
                self.headroom
            ));
        }
        if !(self.feedback_gain >= 0.0 && self.feedback_gain.is_finite()) {
            return Err(format!(
                "`feedback_gain` must be non-negative, found {}",
                self.feedback_gain
            ));
        }
        if !(self.weight_min > 0.0
            && self.weight_min <= 1.0
            && self.weight_max >= 1.0
            && self.weight_max.is_finite())
        {
            return Err("need 0 < weight_min <= 1 <= weight_max".into());
        }
        if !(self.carry_periods >= 0.0 && self.carry_periods.is_finite()) {
            return Err(format!(
                "`carry_periods` must be non-negative, found {}",
                self.carry_periods
            ));
        }
        Ok(())
    }
}
