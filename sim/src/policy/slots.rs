//! The free batch slots of every GPU, mirrored by a policy that fills them
//! (EDF, fair queuing, InferFair), so that a decision costs time in the
//! GPUs it uses, not in all of them: each GPU's free slots as the state
//! will have them (the policy's own dispatches take one, finished or
//! rejected batches give one back), the slots it can still use in the
//! current decision, a bit set of the GPUs that have some and a count per
//! pool. [`Slots::place`] places a batch over that set.

use super::common;
use super::gpuset::GpuSet;
use super::lru::Lru;
use super::{Decision, View};
use crate::cluster::PoolId;
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;

/// Free batch slots per GPU (see the module's doc).
#[derive(Debug, Default)]
pub struct Slots {
    ready: bool,
    /// Per GPU: its pool.
    pool: Vec<PoolId>,
    /// Per GPU: free slots once this decision's dispatches are applied.
    mirror: Vec<usize>,
    /// Per GPU: batches it can still take in this decision.
    left: Vec<usize>,
    /// GPUs whose `left` may differ from `mirror` (set right at `begin`).
    dirty: Vec<GpuId>,
    is_dirty: Vec<bool>,
    /// GPUs with `left > 0`, how many, and how many per pool.
    free: GpuSet,
    free_count: usize,
    free_in_pool: Vec<usize>,
}

impl Slots {
    /// Mirrors the slots of `view` (once, before anything is dispatched).
    fn set_up(&mut self, view: &View) {
        if self.ready {
            return;
        }
        self.ready = true;
        let n = view.gpus.len();
        self.pool = view.gpus.iter().map(|g| g.pool).collect();
        self.mirror = view.gpus.iter().map(|g| g.free_slots()).collect();
        self.left = vec![0; n];
        self.is_dirty = vec![true; n];
        self.dirty = (0..n).collect();
        self.free = GpuSet::with_len(n);
        self.free_in_pool = vec![0; view.pools()];
    }

    fn mark(&mut self, g: GpuId) {
        if !self.is_dirty[g] {
            self.is_dirty[g] = true;
            self.dirty.push(g);
        }
    }

    /// Sets the slots `g` can still use in this decision.
    fn set_left(&mut self, g: GpuId, n: usize) {
        let (was, now) = (self.left[g] > 0, n > 0);
        self.left[g] = n;
        if was != now {
            self.free.set(g, now);
            let p = &mut self.free_in_pool[self.pool[g]];
            if now {
                self.free_count += 1;
                *p += 1;
            } else {
                self.free_count -= 1;
                *p -= 1;
            }
        }
        self.mark(g);
    }

    /// A batch on `g` finished or was rejected: its slot is free. (Before
    /// the first decision nothing is mirrored yet: the state has it.)
    pub fn gave_back(&mut self, g: GpuId) {
        if !self.ready {
            return;
        }
        self.mirror[g] += 1;
        self.mark(g);
    }

    /// Starts a decision: every GPU can use its free slots.
    pub fn begin(&mut self, view: &View) {
        self.set_up(view);
        for i in 0..self.dirty.len() {
            let g = self.dirty[i];
            self.set_left(g, self.mirror[g]);
            self.is_dirty[g] = false;
        }
        self.dirty.clear();
        debug_assert!(
            view.gpus
                .iter()
                .all(|g| self.left[g.id] == g.free_slots() && self.mirror[g.id] == g.free_slots()),
            "the mirrored slots differ from the state's"
        );
    }

    /// The first GPU from `g` on with a slot left in this decision.
    pub fn next_from(&self, g: GpuId) -> Option<GpuId> {
        self.free.next_from(g)
    }

    /// A batch was dispatched to `g` in this decision (without `place`): it takes a slot.
    pub fn took(&mut self, g: GpuId) {
        self.set_left(g, self.left[g] - 1);
        self.mirror[g] -= 1;
    }

    /// Whether `g` has taken no batch in this decision.
    pub fn untouched(&self, view: &View, g: GpuId) -> bool {
        self.left[g] == view.gpus[g].free_slots()
    }

    /// Whether some GPU can take a batch in this decision.
    pub fn any(&self) -> bool {
        self.free_count > 0
    }

    /// Whether some GPU with a slot left can run `model`.
    pub fn runnable(&self, view: &View, model: ModelId) -> bool {
        self.free_in_pool
            .iter()
            .enumerate()
            .any(|(p, &n)| n > 0 && view.pool_profile(model, p).is_some())
    }

    /// The first GPU with a slot that can run `model` and, if `resident`,
    /// holds it.
    fn first(&self, view: &View, model: ModelId, resident: bool) -> Option<GpuId> {
        self.free.iter().find(|&g| {
            view.pool_profile(model, self.pool[g]).is_some()
                && (!resident || view.gpus[g].is_resident(model))
        })
    }

    /// Where the next batch of `model` runs, over the GPUs with slots left:
    /// the first that holds it (loaded or loading), else the first where it
    /// can be loaded now, least recently used idle models evicted ([`Lru`];
    /// the load and evictions are pushed to `out`); a GPU that loads takes
    /// nothing else in this decision, and one that took a batch in it loads
    /// nothing. Takes a slot there; returns the GPU and when the batch can
    /// expect to start.
    pub fn place(
        &mut self,
        view: &View,
        lru: &mut Lru,
        model: ModelId,
        out: &mut Decision,
    ) -> Option<(GpuId, Nanos)> {
        loop {
            let g = self
                .first(view, model, true)
                .or_else(|| self.first(view, model, false))?;
            let gpu = &view.gpus[g];
            if gpu.is_resident(model) {
                lru.used(view, g, model);
                self.took(g);
                return Some((g, gpu.expected_loaded_at(model, view.now)));
            }
            let loads = self.untouched(view, g) && lru.load(view, g, model, out);
            self.set_left(g, 0);
            if loads {
                self.mirror[g] -= 1;
                return Some((g, common::loaded_after_transfers(view, g, model)));
            }
        }
    }
}
