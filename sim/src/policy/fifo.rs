//! FIFO: first-come first-served across all models, the naive baseline. A
//! free GPU takes the oldest pending request it can run (work-conserving over
//! every GPU whose pool profiles the model) and batches it with the next
//! pending requests of the same model, up to the model's largest batch size
//! there; nothing is ever dropped. On GPUs that run several batches at once
//! (`max_concurrent = k`), a GPU takes work while fewer than k batches run or
//! wait there: the Triton-like baseline with k instances per model. Models are preloaded everywhere when they fit,
//! otherwise loaded on demand, evicting the least recently used idle model.

use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{ModelId, RequestId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `[policy.fifo]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FifoConfig {
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
}

/// The FIFO policy.
#[derive(Debug, Default)]
pub struct Fifo {
    cfg: FifoConfig,
    /// Per pool: the pending requests of the models that can run there, in
    /// arrival order (entries already served are skipped lazily).
    order: Vec<VecDeque<(RequestId, ModelId)>>,
    /// Requests taken from the front of a model's queue in this decision
    /// (a few models at most: one per idle GPU).
    taken: Vec<(ModelId, usize)>,
    /// Per GPU: batches it can still take in this decision.
    slots: Vec<usize>,
}

impl Fifo {
    /// A FIFO policy.
    pub fn new(cfg: FifoConfig) -> Self {
        Fifo {
            cfg,
            ..Default::default()
        }
    }
}

impl Fifo {
    fn taken_from(&self, model: ModelId) -> usize {
        self.taken.iter().find(|t| t.0 == model).map_or(0, |t| t.1)
    }

    /// The oldest pending request that a free GPU can run: pops served
    /// entries off the front of every pool with a free GPU, then takes the
    /// oldest front among them.
    fn oldest(&mut self, view: &View) -> Option<ModelId> {
        let mut best: Option<(RequestId, ModelId)> = None;
        for pool in 0..self.order.len() {
            let free = view
                .gpus
                .iter()
                .any(|g| g.pool == pool && self.slots[g.id] > 0);
            if !free {
                continue;
            }
            // Skip entries already served; the front is then the oldest pending request.
            while let Some(&(id, m)) = self.order[pool].front() {
                match view.models[m].queue.get(self.taken_from(m)) {
                    Some(front) if front.id <= id => break,
                    _ => {
                        self.order[pool].pop_front();
                    }
                }
            }
            if let Some(&e) = self.order[pool].front()
                && best.is_none_or(|b| e.0 < b.0)
            {
                best = Some(e);
            }
        }
        best.map(|b| b.1)
    }
}

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        for g in view.gpus {
            let missing = view
                .models
                .iter()
                .filter(|m| view.can_run(m.id, g.id) && !g.is_resident(m.id));
            if missing
                .clone()
                .map(|m| view.weights_bytes(m.id, g.id))
                .sum::<u64>()
                <= g.free_bytes()
            {
                for m in missing {
                    out.actions.push(Action::Load {
                        gpu: g.id,
                        model: m.id,
                    });
                }
            }
        }
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        if let Notice::Arrival(r) = notice {
            if self.order.is_empty() {
                self.order = vec![VecDeque::new(); view.pools()];
            }
            for (pool, q) in self.order.iter_mut().enumerate() {
                if view.pool_profile(r.model, pool).is_some() {
                    q.push_back((r.id, r.model));
                }
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        if !view.gpus.iter().any(|g| g.free_slots() > 0) || self.order.iter().all(|q| q.is_empty())
        {
            return;
        }
        self.taken.clear();
        self.slots.clear();
        self.slots.extend(view.gpus.iter().map(|g| g.free_slots()));
        while let Some(model) = self.oldest(view) {
            let free = |g: usize| self.slots[g] > 0 && view.can_run(model, g);
            let gpu = view
                .gpus
                .iter()
                .find(|g| free(g.id) && g.is_resident(model))
                .or_else(|| view.gpus.iter().find(|g| free(g.id)))
                .map(|g| g.id);
            let Some(gpu) = gpu else { break };
            let g = &view.gpus[gpu];
            let loads = !g.is_resident(model);
            if loads {
                if self.slots[gpu] < g.free_slots() {
                    // It took a batch in this decision already: memory and
                    // victims are planned on a quiet GPU only.
                    self.slots[gpu] = 0;
                    continue;
                }
                // Load on demand, evicting least recently used models with nothing queued.
                let need = view.weights_bytes(model, gpu);
                let mut free_bytes = g.free_bytes();
                let mut victims: Vec<ModelId> = g
                    .resident
                    .iter()
                    .copied()
                    .filter(|&v| g.is_loaded(v) && !g.has_work_for(v))
                    .collect();
                victims.sort_by_key(|&v| (g.last_used[v], v));
                let mut evict = Vec::new();
                for v in victims {
                    if free_bytes >= need {
                        break;
                    }
                    free_bytes += view.weights_bytes(v, gpu);
                    evict.push(v);
                }
                if free_bytes < need {
                    // Everything here is busy or loading; try again when something finishes.
                    self.slots[gpu] = 0;
                    continue;
                }
                for v in evict {
                    out.actions.push(Action::Evict { gpu, model: v });
                }
                out.actions.push(Action::Load { gpu, model });
            }
            let m = &view.models[model];
            let max = self
                .cfg
                .max_batch
                .unwrap_or(u32::MAX)
                .min(view.max_batch(model, gpu))
                .max(1) as usize;
            let start = self.taken_from(model);
            let n = (m.queue.len() - start).min(max);
            let ids = m.queue.range(start..start + n).map(|r| r.id).collect();
            match self.taken.iter_mut().find(|t| t.0 == model) {
                Some(t) => t.1 += n,
                None => self.taken.push((model, n)),
            }
            // A GPU that loads takes nothing else in this decision.
            self.slots[gpu] = if loads { 0 } else { self.slots[gpu] - 1 };
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, model, ids)));
        }
    }
}
