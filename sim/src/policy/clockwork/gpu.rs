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

use super::worker::WorkerTracker;
use crate::state::ModelId;
use crate::time::Nanos;
use std::collections::{BTreeSet, VecDeque};

/// A strategy: (priority, batch size, model), ordered as Clockwork's `StrategyImpl::Comparator`.
pub type Strategy = (i64, u32, ModelId);

/// A model on one GPU (`ModelInstance`).
#[derive(Clone, Debug, Default)]
pub struct Instance {
    /// Weights loaded (usable).
    pub loaded: bool,
    /// Its strategies are in the GPU's set, or it waits in `activated`.
    pub active: bool,
    /// Its best strategy, filed in the GPU's set: (priority, batch size).
    pub strategy: Option<(i64, u32)>,
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
    /// Instances activated since the last scheduling pass.
    pub activated: Vec<ModelId>,
    /// All strategies of active instances.
    pub strategies: BTreeSet<Strategy>,
    /// Infer actions in the order they were sent.
    pub in_flight: VecDeque<InFlight>,
}

impl Gpu {
    /// A GPU with nothing loaded.
    pub fn new(models: usize, lag: Nanos, future: Nanos) -> Self {
        Gpu {
            exec: WorkerTracker::new(lag, future),
            pcie: WorkerTracker::new(lag, future),
            instances: vec![Instance::default(); models],
            activated: Vec::new(),
            strategies: BTreeSet::new(),
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

    /// Removes the strategies of `m` from the set.
    pub fn remove_strategies(&mut self, m: ModelId) {
        if let Some((p, b)) = self.instances[m].strategy.take() {
            let removed = self.strategies.remove(&(p, b, m));
            debug_assert!(removed, "strategy missing from the set");
        }
    }

    /// `add_model_strategies`: files `best`, the best of `m`'s new strategies;
    /// none deactivates it.
    pub fn set_strategies(&mut self, m: ModelId, best: Option<(i64, u32)>) {
        debug_assert!(self.instances[m].strategy.is_none());
        match best {
            None => self.instances[m].active = false,
            Some((p, b)) => {
                self.strategies.insert((p, b, m));
                self.instances[m].strategy = best;
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

    #[test]
    fn strategies_are_ordered_by_priority_then_smaller_batch_then_model() {
        let mut g = Gpu::new(4, 0, 0);
        g.set_strategies(3, Some((9, 8)));
        g.set_strategies(2, Some((10, 4)));
        g.set_strategies(1, Some((10, 2)));
        g.set_strategies(0, Some((10, 2)));
        let order: Vec<_> = g.strategies.iter().copied().collect();
        assert_eq!(order, vec![(9, 8, 3), (10, 2, 0), (10, 2, 1), (10, 4, 2)]);
        g.remove_strategies(2);
        assert_eq!(g.strategies.len(), 3);
        g.instances[2].active = true;
        g.set_strategies(2, None);
        assert!(!g.instances[2].active);
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
