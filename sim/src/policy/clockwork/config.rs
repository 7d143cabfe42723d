//! `[policy.clockwork]`: every constant of Clockwork's INFER5 scheduler, with
//! the value Clockwork uses as its default, and the same values converted to
//! nanoseconds for the scheduler (`Params`).

use crate::time::{Nanos, Unit, checked};
use serde::{Deserialize, Serialize};

/// `[policy.clockwork]`. Defaults are Clockwork's (see `docs/clockwork.md`
/// for where each one lives in its code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockworkConfig {
    /// Aim this much before the SLO: exec_slo = max(SLO - buffer, schedule_ahead + buffer)
    /// (`Scheduler::buffer`, 5 ms).
    pub buffer_ms: f64,
    /// Plan a GPU's work (and its weight transfers) up to this far ahead (`schedule_ahead`, 10 ms).
    pub schedule_ahead_ms: f64,
    /// An action may start this late before the worker rejects it (`latest_delta`,
    /// which Clockwork's controller sets to schedule_ahead, 10 ms).
    pub latest_delta_ms: f64,
    /// Expected delay for an action to reach a worker: the controller never plans
    /// an action earlier than now + future (`Scheduler::future`, 1 ms).
    pub future_ms: f64,
    /// How far a worker may lag behind the expected completion of its running action
    /// before the controller stops trusting its estimate (`Scheduler::lag`, 10 ms).
    pub lag_ms: f64,
    /// Capacity of the load tracker: Clockwork passes its default SLO (`default_slo`, 100 ms).
    pub tracker_capacity_ms: f64,
    /// Work the load tracker assumes every GPU has outstanding (`LoadTracker::GPU::outstanding`, 1 ms).
    pub tracker_gpu_outstanding_ms: f64,
    /// Initial weight of every GPU in the load tracker (`LoadTracker::GPU::weight`, 0.01).
    pub tracker_gpu_weight: f64,
    /// Cap on the deadline of a request's weight-load demand (`max_loadweights_slo`, 25 ms).
    pub max_loadweights_slo_ms: f64,
    /// Measurements kept per batch size (and for weight transfers) (`estimate_window_size`, 10).
    pub estimate_window: usize,
    /// Percentile of the window used as the estimate (`estimate_percentile`, 0.99).
    pub estimate_percentile: f64,
    /// Batch sizes above this are not used, except the smallest (`max_batch_size`, 8).
    pub max_batch: u32,
    /// Batch sizes whose profiled time exceeds this are not used, except the
    /// smallest (`max_allowable_exec_time`, 250 ms).
    pub max_exec_ms: f64,
    /// Page size of the GPU weights cache (`weights_cache_page_size`, 16 MiB).
    pub page_size_mib: f64,
    /// Withdraw a request's load demand once its weights deadline has passed, as
    /// `LoadTracker::checkRequests` intends. Clockwork's concurrent tracker records
    /// that demand as 0 (it reads `new_loadweights` after resetting it), so by
    /// default the demand stays until the request runs or times out.
    pub load_demand_expires: bool,
    /// Skip a load when the best candidate's load priority is <= 0 ("all demand
    /// satisfied"), as `LoadTracker::loadModel` intends. Clockwork compares the
    /// pointer, not the priority, so the check never fires: default false.
    pub load_requires_positive_priority: bool,
}

impl Default for ClockworkConfig {
    fn default() -> Self {
        ClockworkConfig {
            buffer_ms: 5.0,
            schedule_ahead_ms: 10.0,
            latest_delta_ms: 10.0,
            future_ms: 1.0,
            lag_ms: 10.0,
            tracker_capacity_ms: 100.0,
            tracker_gpu_outstanding_ms: 1.0,
            tracker_gpu_weight: 0.01,
            max_loadweights_slo_ms: 25.0,
            estimate_window: 10,
            estimate_percentile: 0.99,
            max_batch: 8,
            max_exec_ms: 250.0,
            page_size_mib: 16.0,
            load_demand_expires: false,
            load_requires_positive_priority: false,
        }
    }
}

/// The configuration in the scheduler's units (nanoseconds, bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// `buffer`.
    pub buffer: Nanos,
    /// `schedule_ahead`.
    pub schedule_ahead: Nanos,
    /// `latest_delta`.
    pub latest_delta: Nanos,
    /// `future`.
    pub future: Nanos,
    /// `lag`.
    pub lag: Nanos,
    /// Load tracker capacity.
    pub capacity: i64,
    /// Load tracker's initial outstanding work per GPU.
    pub gpu_outstanding: i64,
    /// Load tracker's initial GPU weight.
    pub gpu_weight: f64,
    /// `max_loadweights_slo`.
    pub max_loadweights_slo: Nanos,
    /// Estimator window.
    pub window: usize,
    /// Estimator percentile.
    pub percentile: f64,
    /// `max_batch_size`.
    pub max_batch: u32,
    /// `max_allowable_exec_time`.
    pub max_exec: Nanos,
    /// Page size in bytes.
    pub page_bytes: u64,
    /// See [`ClockworkConfig::load_demand_expires`].
    pub load_demand_expires: bool,
    /// See [`ClockworkConfig::load_requires_positive_priority`].
    pub positive_priority_only: bool,
}

impl ClockworkConfig {
    /// Checks every value; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let times = [
            ("buffer_ms", self.buffer_ms),
            ("schedule_ahead_ms", self.schedule_ahead_ms),
            ("latest_delta_ms", self.latest_delta_ms),
            ("future_ms", self.future_ms),
            ("lag_ms", self.lag_ms),
            (
                "tracker_gpu_outstanding_ms",
                self.tracker_gpu_outstanding_ms,
            ),
        ];
        for (name, v) in times {
            checked(v, Unit::Ms, false).map_err(|m| format!("`{name}`: {m}"))?;
        }
        let positive = [
            ("tracker_capacity_ms", self.tracker_capacity_ms),
            ("tracker_gpu_weight", self.tracker_gpu_weight),
            ("max_loadweights_slo_ms", self.max_loadweights_slo_ms),
            ("max_exec_ms", self.max_exec_ms),
            ("page_size_mib", self.page_size_mib),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "`{name}` must be a positive number, found {}",
                    crate::limits::show(v)
                ));
            }
        }
        for (name, v) in [
            ("tracker_capacity_ms", self.tracker_capacity_ms),
            ("max_loadweights_slo_ms", self.max_loadweights_slo_ms),
            ("max_exec_ms", self.max_exec_ms),
        ] {
            checked(v, Unit::Ms, true).map_err(|m| format!("`{name}`: {m}"))?;
        }
        if checked(self.schedule_ahead_ms, Unit::Ms, false)?
            <= checked(self.future_ms, Unit::Ms, false)?
        {
            return Err(format!(
                "`schedule_ahead_ms` ({}) must be greater than `future_ms` ({}): the scheduler only plans work that starts before now + schedule_ahead, and never earlier than now + future, so nothing would ever run",
                self.schedule_ahead_ms, self.future_ms
            ));
        }
        if (self.page_size_mib * 1024.0 * 1024.0).round() < 1.0 {
            return Err(format!(
                "`page_size_mib` = {} rounds to 0 bytes",
                crate::limits::show(self.page_size_mib)
            ));
        }
        if self.tracker_gpu_outstanding_ms <= 0.0 {
            return Err(
                "`tracker_gpu_outstanding_ms` must be positive (the tracker divides by it)".into(),
            );
        }
        if self.estimate_window == 0 {
            return Err("`estimate_window` must be at least 1".into());
        }
        if !(self.estimate_percentile >= 0.0 && self.estimate_percentile <= 1.0) {
            return Err(format!(
                "`estimate_percentile` must be in [0, 1], found {}",
                self.estimate_percentile
            ));
        }
        if self.max_batch == 0 {
            return Err("`max_batch` must be at least 1".into());
        }
        Ok(())
    }

    /// Checks what depends on the scenario: every model must fit in the
    /// pages of each pool it can run on (with huge pages a GPU holds none).
    pub fn check_scenario(&self, s: &crate::scenario::Scenario) -> Result<(), String> {
        let page = self.params().page_bytes;
        for (p, pool) in s.cluster.pools.iter().enumerate() {
            let total = pool.weights_bytes / page;
            for m in &s.models {
                let Some(mp) = m.profile_on(p) else { continue };
                let need = super::memory::pages_for(mp.weights_bytes, page);
                if need as u64 > total {
                    return Err(format!(
                        "`page_size_mib` = {}: a GPU's {:.1} MiB for weights{} holds {total} pages, fewer than the {need} that `{}` needs: it could never be loaded (use smaller pages)",
                        crate::limits::show(self.page_size_mib),
                        pool.weights_bytes as f64 / 1048576.0,
                        if s.cluster.is_uniform() {
                            String::new()
                        } else {
                            format!(" in pool `{}`", pool.name)
                        },
                        m.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The values in nanoseconds and bytes (the configuration must be valid).
    pub fn params(&self) -> Params {
        Params {
            buffer: ms(self.buffer_ms),
            schedule_ahead: ms(self.schedule_ahead_ms),
            latest_delta: ms(self.latest_delta_ms),
            future: ms(self.future_ms),
            lag: ms(self.lag_ms),
            capacity: ms(self.tracker_capacity_ms) as i64,
            gpu_outstanding: ms(self.tracker_gpu_outstanding_ms) as i64,
            gpu_weight: self.tracker_gpu_weight,
            max_loadweights_slo: ms(self.max_loadweights_slo_ms),
            window: self.estimate_window,
            percentile: self.estimate_percentile,
            max_batch: self.max_batch,
            max_exec: ms(self.max_exec_ms),
            page_bytes: (self.page_size_mib * 1024.0 * 1024.0)
                .round()
                .clamp(1.0, u64::MAX as f64) as u64,
            load_demand_expires: self.load_demand_expires,
            positive_priority_only: self.load_requires_positive_priority,
        }
    }
}

/// Milliseconds to nanoseconds, for a value `validate` accepted.
fn ms(v: f64) -> Nanos {
    checked(v, Unit::Ms, false).unwrap_or(crate::time::MAX_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_clockworks() {
        let p = ClockworkConfig::default().params();
        assert_eq!(p.buffer, 5_000_000);
        assert_eq!(p.schedule_ahead, 10_000_000);
        assert_eq!(p.latest_delta, 10_000_000);
        assert_eq!(p.future, 1_000_000);
        assert_eq!(p.capacity, 100_000_000);
        assert_eq!(p.max_loadweights_slo, 25_000_000);
        assert_eq!(p.page_bytes, 16 << 20);
        assert_eq!((p.max_batch, p.max_exec), (8, 250_000_000));
        assert_eq!((p.window, p.percentile), (10, 0.99));
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut c = ClockworkConfig {
            buffer_ms: -1.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("buffer_ms"));
        c = ClockworkConfig {
            estimate_percentile: 1.5,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("estimate_percentile"));
        c = ClockworkConfig {
            page_size_mib: 0.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("page_size_mib"));
        c = ClockworkConfig {
            schedule_ahead_ms: 0.0,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("`schedule_ahead_ms` (0) must be greater than `future_ms` (1)")
        );
        c = ClockworkConfig {
            lag_ms: 1e300,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("`lag_ms`: 1e300 ms is longer")
        );
        assert!(ClockworkConfig::default().validate().is_ok());
    }
}
