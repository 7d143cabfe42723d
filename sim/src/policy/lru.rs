//! Loading on demand with least-recently-used eviction, for the policies
//! that load so (FIFO, EDF, fair queuing, Shepherd), without sorting a
//! GPU's models at every load: each GPU's loaded models are kept ordered
//! by (last use there, model). A loaded model dispatched there is listed
//! with the last use it is filed under, and refiled when that GPU next
//! needs room; a finished load files its model, an eviction takes it out.
//! The order is a [`Recency`]: a use is refiled at the newest time, a load
//! among the recent ones, so an ordered set's walks down a tree (and their
//! cache misses, where models load all the time) are not needed.

use super::recency::Recency;
use super::{Action, Decision, View};
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;

/// Per GPU, its loaded models by last use (see the module's doc).
#[derive(Debug, Default)]
pub struct Lru {
    ready: bool,
    /// Per GPU: its loaded models by (last use, model), least recent first,
    /// as filed.
    order: Vec<Recency>,
    /// Per GPU: the loaded models dispatched there since its order was last
    /// brought up to date, with the last use they are filed under, and
    /// whether each is listed (by GPU and model).
    used: Vec<Vec<(Nanos, ModelId)>>,
    is_used: Vec<Vec<bool>>,
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
        self.order = (view.gpus.iter())
            .map(|g| {
                let mut order = Recency::default();
                for &m in g.resident.iter().filter(|&&m| g.is_loaded(m)) {
                    order.file(g.last_used[m], m);
                }
                order
            })
            .collect();
        self.used = vec![Vec::new(); view.gpus.len()];
        self.is_used = vec![vec![false; view.models.len()]; view.gpus.len()];
    }

    /// A batch of `model` is dispatched to `gpu` in this decision (the
    /// view still shows its last use before it): if loaded there, it is
    /// refiled when that GPU next needs room. (Before `set_up` nothing is
    /// mirrored yet: `set_up` reads the state.)
    pub fn used(&mut self, view: &View, gpu: GpuId, model: ModelId) {
        let g = &view.gpus[gpu];
        if self.ready && g.is_loaded(model) && !self.is_used[gpu][model] {
            self.is_used[gpu][model] = true;
            self.used[gpu].push((g.last_used[model], model));
        }
    }

    /// `model`'s load on `gpu` finished (`Notice::LoadDone`).
    pub fn loaded(&mut self, view: &View, gpu: GpuId, model: ModelId) {
        if self.ready {
            self.order[gpu].file(view.gpus[gpu].last_used[model], model);
        }
    }

    /// Brings `gpu`'s order up to date with the state.
    fn refresh(&mut self, view: &View, gpu: GpuId) {
        let g = &view.gpus[gpu];
        for (filed, m) in self.used[gpu].drain(..) {
            self.is_used[gpu][m] = false;
            if self.order[gpu].key(m) == Some(filed) {
                self.order[gpu].file(g.last_used[m], m);
            }
        }
        debug_assert!(
            {
                let mut want: Vec<(Nanos, ModelId)> = (g.resident.iter())
                    .filter(|&&v| g.is_loaded(v))
                    .map(|&v| (g.last_used[v], v))
                    .collect();
                want.sort_unstable();
                self.order[gpu].iter().eq(want.iter().map(|w| w.1))
                    && want.iter().all(|&(t, v)| self.order[gpu].key(v) == Some(t))
            },
            "gpu {gpu}: the order of loaded models differs from the state's"
        );
    }

    /// Plans loading `model` (which `gpu` can run) on `gpu` now, evicting
    /// the least recently used loaded models with nothing queued there:
    /// pushes the evictions and the load, or nothing and `false` if it
    /// cannot fit now. Plan it only on a GPU that took no batch in the same
    /// decision (the view does not show batches dispatched in it).
    pub fn load(&mut self, view: &View, gpu: GpuId, model: ModelId, out: &mut Decision) -> bool {
        self.set_up(view);
        self.refresh(view, gpu);
        let g = &view.gpus[gpu];
        let need = view.weights_bytes(model, gpu);
        let mut free_bytes = g.free_bytes();
        self.evict.clear();
        for v in self.order[gpu].iter() {
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
        for &v in &self.evict {
            debug_assert_eq!(self.order[gpu].key(v), Some(g.last_used[v]));
            self.order[gpu].removed(v);
            out.actions.push(Action::Evict { gpu, model: v });
        }
        out.actions.push(Action::Load { gpu, model });
        true
    }
}
