//! Fair queuing over GPU time: the virtual token counter (VTC) of Sheng et
//! al. (OSDI'24, "Fairness in Serving Large Language Models") transposed
//! from LLM tokens to DNN batches. Each model instance has a counter of the
//! GPU time it has received, divided by its weight (`weights`, default 1):
//! a batch is charged its profiled execution time on the GPU it runs on,
//! when it is dispatched. While a GPU has a free slot it serves the
//! backlogged model with the smallest counter (ties: the lower id) among
//! those it can run. A model that becomes backlogged is lifted to the
//! smallest counter among the backlogged models (to the counter of the last
//! model that left the backlog if none is), so that idle time is not
//! banked as credit.
//!
//! The batch rule is EDF's: the chosen model's requests in deadline order,
//! as many as still end by the earliest deadline among them (at least one),
//! after dropping those that cannot finish in time even if started now
//! (`drop`, default `hopeless`). Placement and loading are FIFO's.

use super::common::{self, DropMode, Pending};
use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::scenario::Scenario;
use crate::state::ModelId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[policy.fair]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FairConfig {
    /// Weight of each model instance, by name (default 1): a model with
    /// weight 2 is entitled to twice the GPU time of one with weight 1.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// Which pending requests to drop: `hopeless` (default), `expired`, `never`.
    pub drop: DropMode,
}

impl Default for FairConfig {
    fn default() -> Self {
        FairConfig {
            weights: BTreeMap::new(),
            max_batch: None,
            drop: DropMode::Hopeless,
        }
    }
}

impl FairConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch == Some(0) {
            return Err("max_batch: must be at least 1".into());
        }
        for (name, &w) in &self.weights {
            if !(w.is_finite() && w > 0.0) {
                return Err(format!(
                    "weights.{name}: must be a positive number, found {w}"
                ));
            }
        }
        Ok(())
    }
}

/// The fair-queuing policy.
#[derive(Debug)]
pub struct Fair {
    cfg: FairConfig,
    /// Per model: its weight.
    weight: Vec<f64>,
    /// Per model: GPU time received (ns) over its weight.
    counter: Vec<f64>,
    /// The counter of the last model that left the backlog.
    last_left: f64,
    pending: Pending,
    /// Per GPU: batches it can still take in this decision.
    slots: Vec<usize>,
}

impl Fair {
    /// A fair-queuing policy for `scenario` (whose model names the weights use).
    pub fn new(cfg: FairConfig, scenario: &Scenario) -> Result<Self, String> {
        for name in cfg.weights.keys() {
            if !scenario.models.iter().any(|m| &m.name == name) {
                return Err(format!(
                    "weights: unknown model instance `{name}` (the scenario's: {})",
                    scenario
                        .models
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let weight = scenario
            .models
            .iter()
            .map(|m| cfg.weights.get(&m.name).copied().unwrap_or(1.0))
            .collect();
        Ok(Fair {
            pending: Pending::new(cfg.drop),
            cfg,
            weight,
            counter: vec![0.0; scenario.models.len()],
            last_left: 0.0,
            slots: Vec::new(),
        })
    }

    /// Each model's counter: GPU time received (ns) over its weight.
    pub fn counters(&self) -> &[f64] {
        &self.counter
    }

    /// The backlogged model, not in `skip`, that some GPU with a slot can
    /// run, with the smallest counter (ties: the lower id).
    fn least(&mut self, view: &View, skip: &[ModelId]) -> Option<ModelId> {
        let mut best: Option<(f64, ModelId)> = None;
        if !self.slots.iter().any(|&s| s > 0) {
            return None;
        }
        for i in 0..self.pending.backlog().len() {
            let m = self.pending.backlog()[i];
            if skip.contains(&m)
                || self.pending.left(view, m) == 0
                || !common::runnable_somewhere(view, &self.slots, m)
            {
                continue;
            }
            let key = (self.counter[m], m);
            if best.is_none_or(|b| key.0 < b.0 || (key.0 == b.0 && key.1 < b.1)) {
                best = Some(key);
            }
        }
        best.map(|b| b.1)
    }
}

impl Policy for Fair {
    fn name(&self) -> &'static str {
        "fair"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        if let Notice::Arrival(r) = notice {
            // The smallest counter among the backlogged, before this model joins them.
            let floor = if self.pending.is_listed(r.model) {
                0.0 // not used: the model is backlogged already
            } else {
                self.pending
                    .backlog()
                    .iter()
                    .map(|&m| self.counter[m])
                    .reduce(f64::min)
                    .unwrap_or(self.last_left)
            };
            if self.pending.arrived(view, r) {
                let c = &mut self.counter[r.model];
                *c = c.max(floor);
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        self.pending.begin(view);
        self.pending.drop_due(view, out);
        self.slots.clear();
        if self.pending.any_left(view) {
            // (With nothing left, no model would be chosen: no GPU is looked at.)
            self.slots.extend(view.gpus.iter().map(|g| g.free_slots()));
        }
        let mut skip = Vec::new();
        while let Some(m) = self.least(view, &skip) {
            let Some((gpu, start)) = common::place(view, &mut self.slots, m, out) else {
                skip.push(m);
                continue;
            };
            let deadline = self.pending.get(view, m, 0).expect("backlogged").deadline;
            let cap = self.cfg.max_batch.unwrap_or(u32::MAX);
            let left = self.pending.left(view, m);
            let n = common::fit(view, m, gpu, start, deadline, left, cap).max(1);
            let ids = self.pending.take(view, m, n);
            let exec = view.exec_ns(m, gpu, n as u32).expect("a batch it can run");
            self.counter[m] += exec as f64 / self.weight[m];
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, m, ids)));
        }
        let (counter, last_left) = (&self.counter, &mut self.last_left);
        self.pending.forget_empty(view, |m| *last_left = counter[m]);
    }
}
