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
use super::keyed::Keyed;
use super::lru::Lru;
use super::slots::Slots;
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
///
/// So that a decision costs time in the models and GPUs it uses, the
/// backlogged models with requests left are kept ordered by counter (then
/// id), refiled when a decision charges or empties them, and the GPUs'
/// free slots are mirrored ([`Slots`]): the least model is the first in
/// that order that a GPU with a slot can run, and the floor a model is
/// lifted to is the first counter in it.
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
    slots: Slots,
    lru: Lru,
    /// Backlogged models with requests left, by (counter, model): a
    /// counter is never negative, so its bits order as the number does.
    by_counter: Keyed<u64>,
    scratch: Vec<ModelId>,
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
            slots: Slots::default(),
            lru: Lru::default(),
            by_counter: Keyed::default(),
            scratch: Vec::new(),
        })
    }

    /// Each model's counter: GPU time received (ns) over its weight.
    pub fn counters(&self) -> &[f64] {
        &self.counter
    }

    /// Files `m` under its counter if it has requests left in this
    /// decision (`left`), else takes it out of the order.
    fn file(&mut self, m: ModelId, left: bool) {
        debug_assert!(self.counter[m] >= 0.0, "a negative counter");
        let key = left.then(|| self.counter[m].to_bits());
        self.by_counter.file(m, key);
    }

    /// The backlogged model that some GPU with a slot can run, with the
    /// smallest counter (ties: the lower id). The models passed over are
    /// set aside until the decision ends: no GPU will have a slot for them
    /// in it.
    fn least(&mut self, view: &View) -> Option<ModelId> {
        if !self.slots.any() {
            return None;
        }
        while let Some((_, m)) = self.by_counter.first() {
            if self.slots.runnable(view, m) {
                return Some(m);
            }
            self.by_counter.set_aside(m);
        }
        None
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
        self.lru.set_up(view);
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        match notice {
            Notice::Arrival(r) => {
                // The smallest counter among the backlogged (all of them
                // are in the order between decisions), before this model
                // joins them.
                let floor = self
                    .by_counter
                    .first()
                    .map_or(self.last_left, |(k, _)| f64::from_bits(k));
                if self.pending.arrived(view, r) {
                    let c = &mut self.counter[r.model];
                    *c = c.max(floor);
                    self.file(r.model, true);
                }
            }
            Notice::BatchDone { gpu, .. } | Notice::BatchRejected { gpu, .. } => {
                self.slots.gave_back(*gpu);
            }
            Notice::LoadDone { gpu, model, .. } => {
                self.lru.loaded(view, *gpu, *model);
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        self.pending.begin(view);
        self.pending.drop_due(view, out);
        let mut changed = std::mem::take(&mut self.scratch);
        changed.clear();
        changed.extend_from_slice(self.pending.changed());
        for &m in &changed {
            self.file(m, self.pending.left(view, m) > 0);
        }
        self.scratch = changed;
        self.slots.begin(view);
        while let Some(m) = self.least(view) {
            let Some((gpu, start)) = self.slots.place(view, &mut self.lru, m, out) else {
                // No GPU can take it in this decision.
                self.by_counter.set_aside(m);
                continue;
            };
            let deadline = self.pending.get(view, m, 0).expect("backlogged").deadline;
            let cap = self.cfg.max_batch.unwrap_or(u32::MAX);
            let left = self.pending.left(view, m);
            let n = common::fit(view, m, gpu, start, deadline, left, cap).max(1);
            let ids = self.pending.take(view, m, n, out);
            let exec = view.exec_ns(m, gpu, n as u32).expect("a batch it can run");
            self.counter[m] += exec as f64 / self.weight[m];
            self.file(m, left > n);
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, m, ids)));
        }
        self.by_counter.restore();
        let (counter, last_left) = (&self.counter, &mut self.last_left);
        self.pending.forget_empty(view, |m| *last_left = counter[m]);
    }
}
