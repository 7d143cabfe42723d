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
use super::keyed::Keyed;
use super::lru::Lru;
use super::slots::Slots;
use super::{Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{ModelId, RequestId};
use crate::time::Nanos;
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
///
/// So that a decision costs time in the models and GPUs it uses, the
/// backlogged models with requests left are kept ordered by the deadline
/// (then id) of their next request, refiled when a decision takes from them
/// or an arrival comes before it, and the GPUs' free slots are mirrored
/// ([`Slots`]): the earliest model is the first in that order that a GPU
/// with a slot can run.
#[derive(Debug, Default)]
pub struct Edf {
    cfg: EdfConfig,
    pending: Pending,
    slots: Slots,
    lru: Lru,
    /// Backlogged models with requests left, by (deadline, id) of their
    /// next one.
    by_front: Keyed<(Nanos, RequestId)>,
    scratch: Vec<ModelId>,
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

    /// Files `m` under its next request in this decision.
    fn refile(&mut self, view: &View, m: ModelId) {
        let key = self.pending.get(view, m, 0).map(|r| (r.deadline, r.id));
        self.by_front.file(m, key);
    }

    /// The backlogged model that some GPU with a slot can run, whose next
    /// request has the earliest deadline (ties: the lower request id). The
    /// models passed over are set aside until the decision ends: no GPU
    /// will have a slot for them in it.
    fn earliest(&mut self, view: &View) -> Option<ModelId> {
        if !self.slots.any() {
            return None;
        }
        while let Some((_, m)) = self.by_front.first() {
            if self.slots.runnable(view, m) {
                return Some(m);
            }
            self.by_front.set_aside(m);
        }
        None
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
        self.lru.set_up(view);
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        match notice {
            Notice::Arrival(r) => {
                self.pending.arrived(view, r);
                // Its next request is the earlier of this one and the one filed.
                let key = (r.deadline, r.id);
                let key = self.by_front.key(r.model).map_or(key, |k| k.min(key));
                self.by_front.file(r.model, Some(key));
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
            self.refile(view, m);
        }
        self.scratch = changed;
        self.slots.begin(view);
        while let Some(m) = self.earliest(view) {
            let Some((gpu, start)) = self.slots.place(view, &mut self.lru, m, out) else {
                // No GPU can take it in this decision.
                self.by_front.set_aside(m);
                continue;
            };
            let deadline = self.pending.get(view, m, 0).expect("backlogged").deadline;
            let cap = self.cfg.max_batch.unwrap_or(u32::MAX);
            let left = self.pending.left(view, m);
            let n = common::fit(view, m, gpu, start, deadline, left, cap).max(1);
            let ids = self.pending.take(view, m, n, out);
            self.refile(view, m);
            out.actions
                .push(super::Action::Dispatch(Dispatch::new(gpu, m, ids)));
        }
        self.by_front.restore();
        self.pending.forget_empty(view, |_| {});
    }
}
