//! FIFO: first-come first-served across all models, the naive baseline. A
//! free GPU takes the oldest pending request and batches it with the next
//! pending requests of the same model, up to the model's largest batch size;
//! nothing is ever dropped. Models are preloaded everywhere when they fit,
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
    /// Pending requests in arrival order (entries already served are skipped lazily).
    order: VecDeque<(RequestId, ModelId)>,
    /// Requests taken from the front of a model's queue in this decision
    /// (a few models at most: one per idle GPU).
    taken: Vec<(ModelId, usize)>,
    assigned: Vec<bool>,
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
            let missing = view.models.iter().filter(|m| !g.is_resident(m.id));
            if missing
                .clone()
                .map(|m| m.profile.weights_bytes)
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

    fn notify(&mut self, _view: &View, notice: &Notice) {
        if let Notice::Arrival(r) = notice {
            self.order.push_back((r.id, r.model));
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        if !view.gpus.iter().any(|g| g.is_idle()) || self.order.is_empty() {
            return;
        }
        self.taken.clear();
        self.assigned.clear();
        self.assigned.extend(view.gpus.iter().map(|g| !g.is_idle()));
        loop {
            // Skip entries already served; the front is then the oldest pending request.
            while let Some(&(id, m)) = self.order.front() {
                match view.models[m].queue.get(self.taken_from(m)) {
                    Some(front) if front.id <= id => break,
                    _ => {
                        self.order.pop_front();
                    }
                }
            }
            let Some(&(_, model)) = self.order.front() else {
                break;
            };
            let free = |g: usize| !self.assigned[g];
            let gpu = view
                .gpus
                .iter()
                .find(|g| free(g.id) && g.is_resident(model))
                .or_else(|| view.gpus.iter().find(|g| free(g.id)))
                .map(|g| g.id);
            let Some(gpu) = gpu else { break };
            let g = &view.gpus[gpu];
            if !g.is_resident(model) {
                // Load on demand, evicting least recently used models with nothing queued.
                let need = view.models[model].profile.weights_bytes;
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
                    free_bytes += view.models[v].profile.weights_bytes;
                    evict.push(v);
                }
                if free_bytes < need {
                    // Everything here is busy or loading; try again when something finishes.
                    self.assigned[gpu] = true;
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
                .min(m.profile.max_batch())
                .max(1) as usize;
            let start = self.taken_from(model);
            let n = (m.queue.len() - start).min(max);
            let ids = m.queue.range(start..start + n).map(|r| r.id).collect();
            match self.taken.iter_mut().find(|t| t.0 == model) {
                Some(t) => t.1 += n,
                None => self.taken.push((model, n)),
            }
            self.assigned[gpu] = true;
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, model, ids)));
        }
    }
}
