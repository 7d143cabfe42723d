//! `common::load_lru` without sorting a GPU's models at every load: each
//! GPU's loaded models kept ordered by (last use there, model), as a policy
//! that loads on demand (EDF, fair queuing, Shepherd) sees them. A model
//! whose entry may be out of date (dispatched, loaded or evicted there
//! since) is noted, and the GPU's order is brought up to date from the
//! state when that GPU next needs room. The victims and the actions are
//! those of `common::load_lru`.

use super::{Action, Decision, View};
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use std::collections::BTreeSet;

/// Per GPU, its loaded models by last use (see the module's doc).
#[derive(Debug, Default)]
pub struct Lru {
    ready: bool,
    /// Per GPU: its loaded models by (last use, model), as filed.
    order: Vec<BTreeSet<(Nanos, ModelId)>>,
    /// Per GPU and model: its key in `order`, if filed.
    filed: Vec<Vec<Option<Nanos>>>,
    /// Per GPU: models whose entry may be out of date, and whether each is noted.
    stale: Vec<Vec<ModelId>>,
    noted: Vec<Vec<bool>>,
    /// Models to evict (reused).
    evict: Vec<ModelId>,
}

impl Lru {
    /// Mirrors `view` (once, before anything is dispatched, loaded or evicted).
    pub fn set_up(&mut self, view: &View) {
        if self.ready {
            return;
        }
        self.ready = true;
        let n = view.models.len();
        self.order = vec![BTreeSet::new(); view.gpus.len()];
        self.filed = vec![vec![None; n]; view.gpus.len()];
        self.stale = vec![Vec::new(); view.gpus.len()];
        self.noted = vec![vec![false; n]; view.gpus.len()];
        for g in view.gpus {
            for &m in &g.resident {
                self.note(g.id, m);
            }
        }
    }

    /// `model`'s entry on `gpu` may be out of date: a batch of it was
    /// dispatched there, or its load there finished (`Notice::LoadDone`).
    /// (Its evictions by [`Lru::load`] are noted there; before `set_up`
    /// nothing is mirrored yet, and `set_up` reads the state.)
    pub fn note(&mut self, gpu: GpuId, model: ModelId) {
        if self.ready && !self.noted[gpu][model] {
            self.noted[gpu][model] = true;
            self.stale[gpu].push(model);
        }
    }

    /// Brings `gpu`'s order up to date with the state.
    fn refresh(&mut self, view: &View, gpu: GpuId) {
        let g = &view.gpus[gpu];
        for m in self.stale[gpu].drain(..) {
            self.noted[gpu][m] = false;
            let key = g.is_loaded(m).then(|| g.last_used[m]);
            let filed = &mut self.filed[gpu][m];
            if *filed != key {
                if let Some(t) = *filed {
                    self.order[gpu].remove(&(t, m));
                }
                if let Some(t) = key {
                    self.order[gpu].insert((t, m));
                }
                *filed = key;
            }
        }
        debug_assert!(
            {
                let mut want: Vec<(Nanos, ModelId)> = (g.resident.iter())
                    .filter(|&&v| g.is_loaded(v))
                    .map(|&v| (g.last_used[v], v))
                    .collect();
                want.sort_unstable();
                self.order[gpu].iter().copied().eq(want)
            },
            "gpu {gpu}: the order of loaded models differs from the state's"
        );
    }

    /// `common::load_lru`: plans loading `model` on `gpu` now, evicting the
    /// least recently used loaded models with nothing queued there; pushes
    /// the evictions and the load, or nothing and `false` if it cannot fit.
    pub fn load(&mut self, view: &View, gpu: GpuId, model: ModelId, out: &mut Decision) -> bool {
        self.set_up(view);
        self.refresh(view, gpu);
        let g = &view.gpus[gpu];
        let need = view.weights_bytes(model, gpu);
        let mut free_bytes = g.free_bytes();
        self.evict.clear();
        for &(_, v) in &self.order[gpu] {
            if free_bytes >= need {
                break;
            }
            if !g.has_work_for(v) {
                free_bytes += view.weights_bytes(v, gpu);
                self.evict.push(v);
            }
        }
        if free_bytes < need {
            return false;
        }
        for i in 0..self.evict.len() {
            let v = self.evict[i];
            out.actions.push(Action::Evict { gpu, model: v });
            self.note(gpu, v);
        }
        out.actions.push(Action::Load { gpu, model });
        true
    }
}
