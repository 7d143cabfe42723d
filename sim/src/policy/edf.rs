//! EDF: earliest deadline first across models. While a GPU has a free slot
//! (one batch at a time by default, up to `max_concurrent` on pools that run
//! several), it serves the model whose pending request has the earliest
//! deadline: the batch is that model's requests in deadline order, the
//! largest number of them that still ends by the earliest deadline in it
//! (at least one). Requests that cannot finish in time even if started now
//! are dropped first (`drop`, default `hopeless`). The GPU is one where the
//! model is loaded, else one where it can be loaded now (least recently
//! used idle models evicted); models are preloaded where they all fit.

use super::common::{self, DropMode, Pending};
use super::{Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::ModelId;
use serde::{Deserialize, Serialize};

/// `[policy.edf]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdfConfig {
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// Which pending requests to drop: `hopeless` (default), `expired`, `never`.
    pub drop: DropMode,
}

impl Default for EdfConfig {
    fn default() -> Self {
        EdfConfig {
            max_batch: None,
            drop: DropMode::Hopeless,
        }
    }
}

impl EdfConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch == Some(0) {
            return Err("max_batch: must be at least 1".into());
        }
        Ok(())
    }
}

/// The EDF policy.
#[derive(Debug, Default)]
pub struct Edf {
    cfg: EdfConfig,
    pending: Pending,
    /// Per GPU: batches it can still take in this decision.
    slots: Vec<usize>,
}

impl Edf {
    /// An EDF policy.
    pub fn new(cfg: EdfConfig) -> Self {
        Edf {
            pending: Pending::new(cfg.drop),
            cfg,
            ..Default::default()
        }
    }

    /// The backlogged model, not in `skip`, that some GPU with a slot can
    /// run, whose next request has the earliest deadline (ties: the lower id).
    fn earliest(&mut self, view: &View, skip: &[ModelId]) -> Option<ModelId> {
        let mut best: Option<(u64, u64, ModelId)> = None;
        if !self.slots.iter().any(|&s| s > 0) {
            return None;
        }
        for i in 0..self.pending.backlog().len() {
            let m = self.pending.backlog()[i];
            if skip.contains(&m) || !common::runnable_somewhere(view, &self.slots, m) {
                continue;
            }
            if let Some(r) = self.pending.get(view, m, 0) {
                let key = (r.deadline, r.id, m);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
        }
        best.map(|b| b.2)
    }
}

impl Policy for Edf {
    fn name(&self) -> &'static str {
        "edf"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        if let Notice::Arrival(r) = notice {
            self.pending.arrived(view, r);
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
        while let Some(m) = self.earliest(view, &skip) {
            let Some((gpu, start)) = common::place(view, &mut self.slots, m, out) else {
                skip.push(m);
                continue;
            };
            let deadline = self.pending.get(view, m, 0).expect("backlogged").deadline;
            let cap = self.cfg.max_batch.unwrap_or(u32::MAX);
            let left = self.pending.left(view, m);
            let n = common::fit(view, m, gpu, start, deadline, left, cap).max(1);
            let ids = self.pending.take(view, m, n);
            out.actions
                .push(super::Action::Dispatch(Dispatch::new(gpu, m, ids)));
        }
        self.pending.forget_empty(view, |_| {});
    }
}
