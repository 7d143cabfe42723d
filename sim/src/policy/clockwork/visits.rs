//! Which GPUs a decision visits, in Clockwork's rotated order, without
//! looking at every GPU.
//!
//! Clockwork activates a model on every GPU that holds it when a request
//! arrives (`ModelInstance::activate`); each of those GPUs then files the
//! model's strategies when it next schedules. With every model on every GPU
//! that is work in the GPUs for every request, although only the first GPU
//! to schedule finds the request still queued: the others file nothing.
//!
//! Here an arrival only notes its model. A decision then visits, in rotated
//! order, the GPUs that may have something to do: those with strategies
//! filed or models activated by a finished load (a bit set, cleared lazily),
//! and the holders of the models that arrived. A model on at most [`FEW`]
//! GPUs has them put in the set; one on more has its holders walked, but
//! only while it still has requests queued. A holder reached after its
//! model's queue was emptied would file nothing and stay inactive, exactly
//! as if it had been activated and had found the queue empty; so skipping
//! it changes nothing. The caller files an arrived model on a holder that
//! is not already active for it, if its queue is not empty, at the holder's
//! first scheduling pass in the decision (its "activation").
//!
//! On a cluster of at most [`DENSE`] GPUs a decision simply visits every
//! GPU: there the set and the list cost about as much as they save.

use super::super::gpuset::GpuSet;
use crate::state::{GpuId, ModelId};

/// Holders up to which an arrived model's holders are watched rather than walked.
pub const FEW: usize = 64;

/// GPUs up to which a decision simply visits every GPU: on so few, keeping
/// the set and the list of visits costs about as much as looking at each
/// (measured: 1.2% fewer instructions visiting all on 4 GPUs, 5% on
/// `bench-100x8`; 1.5% more on 10 GPUs, 4% on 16, 9% on 32).
pub const DENSE: usize = 8;

/// A walk over one arrived model's holders in rotated order.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    model: ModelId,
    /// Index in the holders of the first at or after the decision's first GPU.
    start: usize,
    /// Holders passed.
    k: usize,
}

/// The GPUs a decision may visit, and what they need for it.
#[derive(Debug, Default)]
pub struct Visits {
    /// Per model, the GPUs its weights are loaded on, ascending: the
    /// state's `loaded_on` is in load order, and a walk in rotated order
    /// needs them sorted (debug builds check the two agree at arrivals).
    holders: Vec<Vec<GpuId>>,
    /// Models with arrivals since the last decision, each once.
    arrived: Vec<ModelId>,
    in_arrived: Vec<bool>,
    /// GPUs that may have something to do: strategies filed, models
    /// activated by a load, or holders of an arrived model on few GPUs (a
    /// superset, cleared by the caller where it finds nothing).
    watch: GpuSet,
    cursors: Vec<Cursor>,
    /// The decision's first GPU in rotated order, and the GPUs.
    first: usize,
    n: usize,
    /// The watched GPUs at the start of the decision, in rotated order, with
    /// their rotated positions, and how many were visited (only a visited
    /// GPU's own bit changes in a walk).
    watched: Vec<(usize, GpuId)>,
    taken: usize,
    /// Rotated position of the next GPU to look at.
    pos: usize,
    /// Holders up to which an arrived model's holders are watched ([`FEW`]).
    few: usize,
    /// Whether every GPU is visited (at most [`DENSE`] GPUs).
    dense: bool,
}

impl Visits {
    /// Nothing loaded, nothing arrived; an arrived model's holders are
    /// walked if there are more than `few` ([`FEW`]), else watched; on at
    /// most `dense` GPUs ([`DENSE`]) every GPU is visited.
    pub fn new(models: usize, gpus: usize, few: usize, dense: usize) -> Self {
        Visits {
            dense: gpus <= dense,
            holders: vec![Vec::new(); models],
            in_arrived: vec![false; models],
            watch: GpuSet::with_len(gpus),
            n: gpus,
            few,
            ..Default::default()
        }
    }

    /// `m` is now loaded on `g`.
    pub fn loaded(&mut self, m: ModelId, g: GpuId) {
        let h = &mut self.holders[m];
        let i = h.partition_point(|&x| x < g);
        debug_assert!(h.get(i) != Some(&g), "model {m} loaded twice on gpu {g}");
        h.insert(i, g);
    }

    /// `m` is no longer loaded on `g`.
    pub fn unloaded(&mut self, m: ModelId, g: GpuId) {
        let h = &mut self.holders[m];
        if let Ok(i) = h.binary_search(&g) {
            h.remove(i);
        }
    }

    /// The GPUs holding `m`, ascending.
    pub fn holders(&self, m: ModelId) -> &[GpuId] {
        &self.holders[m]
    }

    /// A request of `m` arrived.
    pub fn arrival(&mut self, m: ModelId) {
        if !self.in_arrived[m] {
            self.in_arrived[m] = true;
            self.arrived.push(m);
        }
    }

    /// The models with arrivals since the last decision.
    pub fn arrived(&self) -> &[ModelId] {
        &self.arrived
    }

    /// Sets whether GPU `g` is watched (may have strategies or activated
    /// models: every GPU that has must be).
    pub fn watch(&mut self, g: GpuId, on: bool) {
        self.watch.set(g, on);
    }

    /// Starts a decision whose rotated order begins at GPU `first`.
    pub fn begin(&mut self, first: usize) {
        self.first = first;
        self.pos = 0;
        if self.dense {
            return;
        }
        // A model held on few GPUs has them watched (as cheap as walking
        // them, and one list to merge); one held on many is walked, to stop
        // at the first holder that empties its queue.
        self.cursors.clear();
        for &model in &self.arrived {
            let h = &self.holders[model];
            if h.len() <= self.few {
                for &g in h {
                    self.watch.set(g, true);
                }
            } else {
                let start = start_of(h, first, self.n);
                self.cursors.push(Cursor { model, start, k: 0 });
            }
        }
        self.watched.clear();
        self.taken = 0;
        // GPUs first..n, then 0..first: the first word's high bits, the
        // words after it, the words before it, the first word's low bits.
        let words = self.n.div_ceil(64);
        let (fw, high) = (first / 64, !0u64 << (first % 64));
        let (ahead, behind) = (0usize.wrapping_sub(first), self.n - first);
        self.push_watched(fw, high, ahead);
        for i in fw + 1..words {
            self.push_watched(i, !0, ahead);
        }
        for i in 0..fw {
            self.push_watched(i, !0, behind);
        }
        self.push_watched(fw, !high, behind);
    }

    /// Appends the watched GPUs of word `i` selected by `mask`, each at
    /// rotated position its id + `offset` (wrapping).
    fn push_watched(&mut self, i: usize, mask: u64, offset: usize) {
        let mut w = self.watch.word(i) & mask;
        while w != 0 {
            let g = i * 64 + w.trailing_zeros() as usize;
            self.watched.push((g.wrapping_add(offset), g));
            w &= w - 1;
        }
    }

    /// Rotated position of GPU `g`: its place in the walk.
    fn rot(&self, g: GpuId) -> usize {
        if g >= self.first {
            g - self.first
        } else {
            g + self.n - self.first
        }
    }

    /// The next GPU to visit, with its rotated position: the next watched
    /// GPU or holder of an arrived model whose queue is not `empty`,
    /// whichever comes first. Each GPU is returned at most once per decision.
    pub fn next(&mut self, empty: impl Fn(ModelId) -> bool) -> Option<(usize, GpuId)> {
        if self.dense {
            let p = self.pos;
            self.pos += 1;
            return (p < self.n).then(|| (p, self.gpu_at(p)));
        }
        let watched = self.watched.get(self.taken).copied();
        if self.cursors.is_empty() {
            self.taken += 1;
            return watched;
        }
        let p = self.next_holder(watched.map(|w| w.0), empty)?;
        if watched.is_some_and(|w| w.0 == p) {
            self.taken += 1;
        }
        self.pos = p + 1;
        Some((p, self.gpu_at(p)))
    }

    /// The GPU at rotated position `p`.
    fn gpu_at(&self, p: usize) -> GpuId {
        if self.first + p < self.n {
            self.first + p
        } else {
            self.first + p - self.n
        }
    }

    /// The least of `best` and the rotated positions of the next holders of
    /// the arrived models whose queues are not `empty`; a model whose queue
    /// is empty, or whose holders are all passed, leaves the walk.
    fn next_holder(
        &mut self,
        mut best: Option<usize>,
        empty: impl Fn(ModelId) -> bool,
    ) -> Option<usize> {
        let mut i = 0;
        while i < self.cursors.len() {
            let c = self.cursors[i];
            let h = &self.holders[c.model];
            let mut k = c.k;
            let mut p = usize::MAX;
            if !empty(c.model) {
                while k < h.len() {
                    let j = c.start + k;
                    let g = if j < h.len() { h[j] } else { h[j - h.len()] };
                    p = self.rot(g);
                    if p >= self.pos {
                        break;
                    }
                    k += 1;
                }
            }
            if k == h.len() || p == usize::MAX {
                self.cursors.swap_remove(i);
                continue;
            }
            self.cursors[i].k = k;
            best = Some(best.map_or(p, |b| b.min(p)));
            i += 1;
        }
        best
    }

    /// Ends the decision's first turn: the arrived models are forgotten.
    pub fn end_arrivals(&mut self) {
        for &m in &self.arrived {
            self.in_arrived[m] = false;
        }
        self.arrived.clear();
        self.cursors.clear();
    }
}

/// Index of the first of the holders `h` (ascending, among GPUs 0..n) at
/// or after GPU `first`: guessed as if they were spread evenly (exact when
/// a model is on every GPU), searched only if the guess is wrong.
fn start_of(h: &[GpuId], first: usize, n: usize) -> usize {
    let at_or_after = |i: usize| i == h.len() || h[i] >= first;
    let guess = first * h.len() / n.max(1);
    if at_or_after(guess) && (guess == 0 || !at_or_after(guess - 1)) {
        guess
    } else {
        h.partition_point(|&g| g < first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(v: &mut Visits, first: usize, empty: impl Fn(ModelId) -> bool) -> Vec<(usize, GpuId)> {
        v.begin(first);
        std::iter::from_fn(|| v.next(&empty)).collect()
    }

    #[test]
    fn visits_watched_gpus_and_holders_of_arrivals_in_rotated_order_once() {
        let mut v = Visits::new(3, 10, 0, 0);
        for g in [1, 4, 8] {
            v.loaded(0, g);
        }
        for g in [8, 2] {
            v.loaded(1, g);
        }
        v.loaded(2, 5);
        assert_eq!(v.holders(1), &[2, 8]);
        v.watch(6, true);
        v.watch(8, true);
        v.arrival(0);
        v.arrival(1);
        v.arrival(0);
        assert_eq!(v.arrived(), &[0, 1]);
        // From GPU 5 on: 6, 8 (watched and a holder: once), then 1, 2, 4.
        assert_eq!(
            walk(&mut v, 5, |_| false),
            vec![(1, 6), (3, 8), (6, 1), (7, 2), (9, 4)]
        );
        // Holders of an emptied model are not visited.
        assert_eq!(walk(&mut v, 5, |m| m == 0), vec![(1, 6), (3, 8), (7, 2)]);
        v.end_arrivals();
        assert!(v.arrived().is_empty());
        assert_eq!(walk(&mut v, 0, |_| false), vec![(6, 6), (8, 8)]);
        v.unloaded(0, 4);
        v.watch(8, false);
        v.arrival(0);
        assert_eq!(walk(&mut v, 9, |_| false), vec![(2, 1), (7, 6), (9, 8)]);
    }

    #[test]
    fn stops_on_a_model_when_its_queue_empties_mid_walk() {
        let mut v = Visits::new(1, 6, 0, 0);
        for g in 0..6 {
            v.loaded(0, g);
        }
        v.arrival(0);
        v.begin(2);
        let emptied = std::cell::Cell::new(false);
        assert_eq!(v.next(|_| emptied.get()), Some((0, 2)));
        assert_eq!(v.next(|_| emptied.get()), Some((1, 3)));
        emptied.set(true);
        assert_eq!(v.next(|_| emptied.get()), None);
    }

    #[test]
    fn the_walk_starts_at_the_first_holder_from_the_first_gpu() {
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..500 {
            let n = 1 + rng.below(300) as usize;
            let h: Vec<GpuId> = (0..n).filter(|_| rng.below(3) > 0).collect();
            for first in 0..n {
                let want = h.partition_point(|&g| g < first);
                assert_eq!(start_of(&h, first, n), want, "{h:?} from {first}");
            }
        }
        let all: Vec<GpuId> = (0..100).collect();
        assert_eq!(start_of(&all, 37, 100), 37);
    }

    #[test]
    fn a_model_on_few_gpus_has_its_holders_watched() {
        let mut v = Visits::new(2, 8, FEW, 0);
        for g in [1, 5] {
            v.loaded(0, g);
        }
        v.arrival(0);
        // Watched from then on (cleared by the caller when it finds nothing
        // to do there), so visited even once its queue is empty.
        assert_eq!(walk(&mut v, 3, |_| true), vec![(2, 5), (6, 1)]);
        v.end_arrivals();
        assert_eq!(walk(&mut v, 0, |_| true), vec![(1, 1), (5, 5)]);
    }

    #[test]
    fn on_few_gpus_every_gpu_is_visited() {
        let mut v = Visits::new(1, 4, FEW, DENSE);
        v.loaded(0, 2);
        v.arrival(0);
        assert_eq!(
            walk(&mut v, 3, |_| true),
            vec![(0, 3), (1, 0), (2, 1), (3, 2)]
        );
    }
}
