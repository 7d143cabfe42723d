//! One GPU as Clockwork's controller sees it (`Scheduler::GPU`): its
//! `WorkerTracker`s for execution and weight transfers, the model instances
//! on it (loaded, active, their strategies), the ordered set of strategies
//! (priority, smaller batch, model id), and the infer actions in flight.
//!
//! Clockwork files every strategy of a model in the set, but only ever takes
//! the first of the whole set, and then removes all strategies of that model
//! before filing new ones. A model's other strategies therefore never matter
//! before its best one does: the set here holds only each model's best
//! strategy, which selects exactly the same strategies in the same order.
//!
//! Since strategies leave the set at its front (taken) or when their model is
//! unloaded (rarely), the set is a binary heap: filing is a push; a tried
//! front is replaced in place by its model's new strategy (one sift down, where
//! a pop and a push take two), or popped if there is none; and an unloaded
//! model's strategy stays in the heap, out of date, until it reaches the
//! front and is skipped (its model no longer files that strategy).

use super::worker::WorkerTracker;
use crate::state::ModelId;
use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};

/// A strategy: (priority, batch size, model), ordered as Clockwork's `StrategyImpl::Comparator`.
pub type Strategy = (i64, u32, ModelId);

/// A strategy as the heap holds it: one integer ordered as the strategy
/// (the priority, its sign flipped, above the batch size above the model),
/// so that the heap's comparisons are one integer comparison each, without
/// a branch per field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Packed(u128);

impl Packed {
    fn new(p: i64, b: u32, m: ModelId) -> Self {
        debug_assert!(u32::try_from(m).is_ok());
        let p = (p as u64 ^ (1 << 63)) as u128;
        Packed(p << 64 | (b as u128) << 32 | m as u128)
    }

    fn get(self) -> Strategy {
        let p = ((self.0 >> 64) as u64 ^ (1 << 63)) as i64;
        (p, (self.0 >> 32) as u32, self.0 as u32 as ModelId)
    }
}

/// A model on one GPU (`ModelInstance`).
#[derive(Clone, Debug, Default)]
pub struct Instance {
    /// Weights loaded (usable).
    pub loaded: bool,
    /// Its strategies are in the GPU's set, or it waits in `activated` (an
    /// arrival's activation is filed directly: `visits`).
    pub active: bool,
    /// Its best strategy, filed in the GPU's set: (priority, batch size).
    pub strategy: Option<(i64, u32)>,
    /// Which of the model's estimates are this GPU's own, once it has run here.
    pub est: Option<u32>,
}

/// An infer action sent to the GPU and not yet done.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    /// The model.
    pub model: ModelId,
    /// Index of its batch size among the model's allowed sizes.
    pub size_index: usize,
    /// Execution demand of its requests.
    pub exec_demand: i64,
}

/// Scheduler state of one GPU.
#[derive(Clone, Debug)]
pub struct Gpu {
    /// Execution: when the GPU is expected to be free.
    pub exec: WorkerTracker,
    /// Weight transfers: when the link is expected to be free.
    pub pcie: WorkerTracker,
    /// Per model.
    pub instances: Vec<Instance>,
    /// Instances activated by a finished load since the last scheduling pass.
    pub activated: Vec<ModelId>,
    /// The strategies of active instances, least first (with out-of-date
    /// entries: see [`Gpu::first_strategy`]).
    strategies: BinaryHeap<Reverse<Packed>>,
    /// Instances whose strategy is filed.
    filed: usize,
    /// Infer actions in the order they were sent.
    pub in_flight: VecDeque<InFlight>,
}

impl Gpu {
    /// A GPU with nothing loaded.
    pub fn new(models: usize, lag: Nanos, future: Nanos) -> Self {
        assert!(u32::try_from(models).is_ok(), "at most 2^32 models");
        Gpu {
            exec: WorkerTracker::new(lag, future),
            pcie: WorkerTracker::new(lag, future),
            instances: vec![Instance::default(); models],
            activated: Vec::new(),
            strategies: BinaryHeap::new(),
            filed: 0,
            in_flight: VecDeque::new(),
        }
    }

    /// `ModelInstance::activate`: queue it for new strategies unless it is active already.
    pub fn activate(&mut self, m: ModelId) {
        let inst = &mut self.instances[m];
        if !inst.active {
            inst.active = true;
            self.activated.push(m);
        }
    }

    /// Whether no strategy is filed.
    pub fn no_strategies(&self) -> bool {
        self.filed == 0
    }

    /// The least filed strategy. Entries of models that no longer file them
    /// (unloaded since) are dropped on the way.
    pub fn first_strategy(&mut self) -> Option<Strategy> {
        while let Some(&Reverse(k)) = self.strategies.peek() {
            let (p, b, m) = k.get();
            if self.instances[m].strategy == Some((p, b)) {
                return Some((p, b, m));
            }
            self.strategies.pop();
        }
        None
    }

    /// Replaces the strategies of `m`, whose strategy is the least filed
    /// (the one [`Gpu::first_strategy`] returned), by `best`, the best of
    /// its new ones: one step of the heap where removing and filing take
    /// two. None deactivates it.
    pub fn refile_first(&mut self, m: ModelId, best: Option<(i64, u32)>) {
        let mut first = self.strategies.peek_mut().expect("a strategy filed");
        let inst = &mut self.instances[m];
        debug_assert!({
            let (p, b, fm) = first.0.get();
            fm == m && inst.strategy == Some((p, b))
        });
        inst.strategy = best;
        match best {
            Some((p, b)) => *first = Reverse(Packed::new(p, b, m)),
            None => {
                PeekMut::pop(first);
                inst.active = false;
                self.filed -= 1;
            }
        }
    }

    /// Removes the strategies of `m` from the set.
    pub fn remove_strategies(&mut self, m: ModelId) {
        let Some((p, b)) = self.instances[m].strategy.take() else {
            return;
        };
        self.filed -= 1;
        if self.strategies.peek() == Some(&Reverse(Packed::new(p, b, m))) {
            self.strategies.pop();
        } else if self.strategies.len() > 2 * self.filed + 64 {
            // Out-of-date entries pile up only behind unloaded models: sweep them.
            let instances = &self.instances;
            self.strategies.retain(|&Reverse(k)| {
                let (p, b, m) = k.get();
                instances[m].strategy == Some((p, b))
            });
        }
    }

    /// `add_model_strategies`: files `best`, the best of `m`'s new strategies;
    /// none deactivates it.
    pub fn set_strategies(&mut self, m: ModelId, best: Option<(i64, u32)>) {
        debug_assert!(self.instances[m].strategy.is_none());
        match best {
            None => self.instances[m].active = false,
            Some((p, b)) => {
                self.strategies.push(Reverse(Packed::new(p, b, m)));
                self.instances[m].strategy = best;
                self.filed += 1;
            }
        }
    }

    /// The model's weights are gone from this GPU: no more strategies for it.
    pub fn unload(&mut self, m: ModelId) {
        self.remove_strategies(m);
        let inst = &mut self.instances[m];
        inst.loaded = false;
        inst.active = false;
        self.activated.retain(|&x| x != m);
    }

    /// Whether an infer action of `m` is in flight here.
    pub fn busy_with(&self, m: ModelId) -> bool {
        self.in_flight.iter().any(|f| f.model == m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes every strategy filed, least first.
    fn take_all(g: &mut Gpu) -> Vec<Strategy> {
        let mut order = vec![];
        while let Some(s) = g.first_strategy() {
            order.push(s);
            g.remove_strategies(s.2);
        }
        order
    }

    #[test]
    fn strategies_are_ordered_by_priority_then_smaller_batch_then_model() {
        let mut g = Gpu::new(4, 0, 0);
        g.set_strategies(3, Some((9, 8)));
        g.set_strategies(2, Some((10, 4)));
        g.set_strategies(1, Some((10, 2)));
        g.set_strategies(0, Some((10, 2)));
        let order = take_all(&mut g);
        assert_eq!(order, vec![(9, 8, 3), (10, 2, 0), (10, 2, 1), (10, 4, 2)]);
        assert!(g.no_strategies());
        g.instances[2].active = true;
        g.set_strategies(2, None);
        assert!(!g.instances[2].active);
    }

    #[test]
    fn packed_strategies_order_as_the_strategies() {
        let all = [i64::MIN, -7, -1, 0, 1, 7, i64::MAX];
        let mut strategies = vec![];
        for p in all {
            for b in [0, 1, 8, u32::MAX] {
                for m in [0, 3, u32::MAX as ModelId] {
                    strategies.push((p, b, m));
                }
            }
        }
        for &x in &strategies {
            assert_eq!(Packed::new(x.0, x.1, x.2).get(), x);
            for &y in &strategies {
                let (px, py) = (Packed::new(x.0, x.1, x.2), Packed::new(y.0, y.1, y.2));
                assert_eq!(px.cmp(&py), x.cmp(&y), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn refiling_the_first_strategy_reorders_or_removes_it() {
        let mut g = Gpu::new(3, 0, 0);
        g.set_strategies(0, Some((5, 4)));
        g.set_strategies(1, Some((7, 1)));
        g.set_strategies(2, Some((6, 1)));
        // A failed try files a smaller batch, later than another model's ...
        assert_eq!(g.first_strategy(), Some((5, 4, 0)));
        g.refile_first(0, Some((8, 2)));
        assert_eq!(g.first_strategy(), Some((6, 1, 2)));
        // ... an empty queue files none and deactivates its model.
        g.instances[2].active = true;
        g.refile_first(2, None);
        assert!(!g.instances[2].active && g.instances[2].strategy.is_none());
        let order = take_all(&mut g);
        assert_eq!(order, vec![(7, 1, 1), (8, 2, 0)]);
        assert!(g.no_strategies());
    }

    #[test]
    fn an_unloaded_models_strategy_is_never_taken() {
        let mut g = Gpu::new(3, 0, 0);
        g.set_strategies(0, Some((5, 1)));
        g.set_strategies(1, Some((7, 1)));
        g.set_strategies(2, Some((6, 1)));
        // Model 2's entry stays in the heap, out of date ...
        g.unload(2);
        // ... and when it files the very same strategy again, it is taken once.
        g.set_strategies(2, Some((6, 1)));
        let order = take_all(&mut g);
        assert_eq!(order, vec![(5, 1, 0), (6, 1, 2), (7, 1, 1)]);
        g.unload(1);
        assert!(g.no_strategies());
    }

    #[test]
    fn activation_is_once_until_deactivated() {
        let mut g = Gpu::new(2, 0, 0);
        g.activate(1);
        g.activate(1);
        assert_eq!(g.activated, vec![1]);
        g.unload(1);
        assert!(g.activated.is_empty() && !g.instances[1].active);
    }
}
