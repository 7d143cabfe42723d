//! Pieces the simple policies share (FIFO, EDF, fair queuing, Shepherd):
//! preloading, when a load planned now completes, the "hopeless request"
//! test, the largest batch that meets a deadline, queue drop modes, and a
//! model's pending requests in deadline order as a policy takes them within
//! one decision, and an integer key for ordering floats in heaps and sets.

use super::{Action, Decision, View};
use crate::profile::ModelProfile;
use crate::state::{GpuId, ModelId, Request};
use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// Which pending requests a policy drops instead of running (`drop = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropMode {
    /// Never: every request runs, however late.
    #[default]
    Never,
    /// Those at or past their deadline (Triton's queue timeout, with the
    /// request's SLO as the timeout).
    Expired,
    /// Those that cannot finish in time even if they started now alone, on
    /// the fastest GPU that runs their model.
    Hopeless,
}

impl DropMode {
    /// Whether `r` is to be dropped at `now`.
    pub fn drops(self, view: &View, r: &Request) -> bool {
        match self {
            DropMode::Never => false,
            DropMode::Expired => view.now >= r.deadline,
            DropMode::Hopeless => hopeless(view, r),
        }
    }
}

/// Whether `r` cannot finish by its deadline even if it started now, alone,
/// on the fastest GPU that runs its model.
pub fn hopeless(view: &View, r: &Request) -> bool {
    view.now + view.models[r.model].min_exec_ns > r.deadline
}

/// The largest number of requests, at most `avail` and `cap`, that a batch
/// of `model` on `gpu` starting at `start` can hold and still end by
/// `deadline` (0 if not even the smallest batch can).
pub fn fit(
    view: &View,
    model: ModelId,
    gpu: GpuId,
    start: Nanos,
    deadline: Nanos,
    avail: usize,
    cap: u32,
) -> usize {
    view.profile(model, gpu)
        .map_or(0, |p| largest_fitting(p, start, deadline, avail, cap))
}

/// [`fit`] for profile `p`: the largest allowed batch size, at most `cap`
/// (at least 1), whose execution from `start` ends by `deadline`, at most
/// `avail` (0 if none).
fn largest_fitting(
    p: &ModelProfile,
    start: Nanos,
    deadline: Nanos,
    avail: usize,
    cap: u32,
) -> usize {
    // The sizes ascend: the first from the top that fits is the largest.
    let cap = cap.max(1);
    for (&size, &exec) in p.batch_sizes.iter().zip(&p.exec_ns).rev() {
        if size <= cap && start + exec <= deadline {
            return (size as usize).min(avail);
        }
    }
    0
}

/// Loads every model on every GPU that runs it, where all of them fit.
pub fn preload_all(view: &View, out: &mut Decision) {
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

/// Models' pending requests in deadline order (ties by id), as a policy
/// takes them from the front within one decision: taken requests (to run or
/// to drop) are skipped until the next decision. While a model's requests
/// arrive in deadline order (one SLO per model, the usual case) its queue
/// is already in that order; otherwise its queue is sorted when first used
/// in a decision.
///
/// The backlog (models that may have pending requests, in the order they
/// were listed) is kept without rescans: a model leaves it only when a
/// decision took requests from it, and the models whose front request the
/// drop mode may drop are found from a heap of the times at which that can
/// first happen.
#[derive(Debug, Default)]
pub struct Pending {
    /// Which requests `drop_due` drops.
    drop: DropMode,
    /// Per model: what is kept of it, in one record (one cache line where
    /// there are thousands of models).
    at: Vec<PerModel>,
    /// Per model, when not `ordered`: queue indices in deadline order (this decision).
    sorted: Vec<Option<Vec<u32>>>,
    /// Models used in this decision (`PerModel::used`).
    touched: Vec<ModelId>,
    /// Models requests were taken from in this decision (and those listed
    /// again by `list` after the last one): only they can have nothing left.
    emptied: Vec<ModelId>,
    relisted: Vec<ModelId>,
    /// Models that may have pending requests, in the order they were listed
    /// (compacted when read), with each listing's number; an entry counts
    /// only while its model is listed under that number.
    entries: Vec<(u64, ModelId)>,
    backlog: Vec<ModelId>,
    stale: bool,
    next_seq: u64,
    /// The heap of the models' `due_at` times; an entry counts only while
    /// it is its model's time.
    due: std::collections::BinaryHeap<std::cmp::Reverse<(Nanos, ModelId)>>,
    scratch: Vec<ModelId>,
}

/// What [`Pending`] keeps of one model.
#[derive(Clone, Copy, Debug)]
struct PerModel {
    /// The deadline of its last arrival.
    last: Nanos,
    /// Requests taken in this decision.
    taken: usize,
    /// Its listing's number, while listed.
    seq: u64,
    /// The earliest time at which the drop mode may drop one of its
    /// requests (no later than the truth).
    due_at: Option<Nanos>,
    /// Whether its requests arrived in deadline order.
    ordered: bool,
    /// Whether it is used in this decision (among `touched`).
    used: bool,
    /// Whether it may have pending requests (in the backlog).
    listed: bool,
}

impl Default for PerModel {
    fn default() -> Self {
        PerModel {
            last: 0,
            taken: 0,
            seq: 0,
            due_at: None,
            ordered: true,
            used: false,
            listed: false,
        }
    }
}

impl Pending {
    /// Pending requests for a policy that drops what `drop` says (`drop_due`).
    pub fn new(drop: DropMode) -> Self {
        Pending {
            drop,
            ..Default::default()
        }
    }

    #[inline]
    fn size(&mut self, n: usize) {
        if self.at.len() < n {
            self.grow(n);
        }
    }

    #[cold]
    fn grow(&mut self, n: usize) {
        self.at.resize(n, PerModel::default());
        self.sorted.resize(n, None);
    }

    /// The first time at which the drop mode drops `r` (`None`: never).
    fn drop_time(&self, view: &View, r: &Request) -> Option<Nanos> {
        match self.drop {
            DropMode::Never => None,
            DropMode::Expired => Some(r.deadline),
            // `now + min_exec > deadline`.
            DropMode::Hopeless => {
                let exec = view.models[r.model].min_exec_ns;
                Some(r.deadline.checked_sub(exec).map_or(0, |t| t + 1))
            }
        }
    }

    /// `m` may have something to drop from `t` on.
    fn watch(&mut self, m: ModelId, t: Nanos) {
        if self.at[m].due_at.is_none_or(|d| t < d) {
            self.at[m].due_at = Some(t);
            self.due.push(std::cmp::Reverse((t, m)));
        }
    }

    /// A request arrived (call from `Policy::notify`): lists its model;
    /// returns whether the model was not listed (it became backlogged).
    pub fn arrived(&mut self, view: &View, r: &Request) -> bool {
        self.size(view.models.len());
        let at = &mut self.at[r.model];
        if r.deadline < at.last {
            at.ordered = false;
        }
        at.last = at.last.max(r.deadline);
        if let Some(t) = self.drop_time(view, r) {
            self.watch(r.model, t);
        }
        self.enlist(r.model)
    }

    /// Lists `m` among the models that may have pending requests (e.g. after
    /// preempting one of its batches: its requests are checked for drops at
    /// the next decision); returns whether it was not listed.
    pub fn list(&mut self, m: ModelId) -> bool {
        self.size(m + 1);
        if self.drop != DropMode::Never {
            self.watch(m, 0);
        }
        self.relisted.push(m);
        self.enlist(m)
    }

    fn enlist(&mut self, m: ModelId) -> bool {
        let new = !self.at[m].listed;
        if new {
            self.next_seq += 1;
            let at = &mut self.at[m];
            at.listed = true;
            at.seq = self.next_seq;
            if self.entries.len() > 2 * self.at.len() + 16 {
                // Many models left since the backlog was last read: compact it.
                self.backlog();
            }
            self.entries.push((self.next_seq, m));
            self.backlog.push(m);
        }
        new
    }

    /// The listed models, in the order they were listed.
    pub fn backlog(&mut self) -> &[ModelId] {
        if self.stale {
            let at = &self.at;
            self.entries
                .retain(|&(s, m)| at[m].listed && at[m].seq == s);
            self.backlog.clear();
            self.backlog.extend(self.entries.iter().map(|e| e.1));
            self.stale = false;
        }
        &self.backlog
    }

    /// The models requests were taken from in this decision so far (to
    /// run or to drop, with repeats), and those listed again by `list`
    /// before it: only their next request can have changed since the last
    /// decision ended, other than by arrivals.
    pub fn changed(&self) -> &[ModelId] {
        &self.emptied
    }

    /// Takes the models with nothing left (in this decision) off the list,
    /// calling `gone` for each, in the order they were listed. Only models
    /// that requests were taken from (or that were listed by `list`) can have
    /// nothing left.
    pub fn forget_empty(&mut self, view: &View, mut gone: impl FnMut(ModelId)) {
        let mut empty = std::mem::take(&mut self.scratch);
        empty.clear();
        empty.extend(
            self.emptied
                .iter()
                .copied()
                .filter(|&m| self.at[m].listed && self.left(view, m) == 0),
        );
        debug_assert!(
            self.entries
                .iter()
                .filter(|&&(s, m)| self.at[m].listed && self.at[m].seq == s)
                .all(|&(_, m)| self.left(view, m) > 0 || empty.contains(&m)),
            "a listed model with nothing left that no request was taken from"
        );
        empty.sort_unstable_by_key(|&m| self.at[m].seq);
        empty.dedup();
        for &m in &empty {
            self.at[m].listed = false;
            self.stale = true;
            gone(m);
        }
        self.scratch = empty;
    }

    /// Starts a decision: nothing is taken.
    pub fn begin(&mut self, view: &View) {
        self.size(view.models.len());
        for m in self.touched.drain(..) {
            let at = &mut self.at[m];
            at.taken = 0;
            at.used = false;
            if !at.ordered {
                // (Only a model whose requests came out of order is sorted.)
                self.sorted[m] = None;
            }
        }
        self.emptied.clear();
        self.emptied.append(&mut self.relisted);
    }

    fn touch(&mut self, view: &View, m: ModelId) {
        let at = &mut self.at[m];
        if !at.used {
            at.used = true;
            self.touched.push(m);
        }
        if !at.ordered && self.sorted[m].is_none() {
            let q = &view.models[m].queue;
            let mut idx: Vec<u32> = (0..q.len() as u32).collect();
            idx.sort_by_key(|&i| (q[i as usize].deadline, q[i as usize].id));
            self.sorted[m] = Some(idx);
        }
    }

    /// Requests of `m` not taken yet.
    pub fn left(&self, view: &View, m: ModelId) -> usize {
        view.models[m].queue.len() - self.at.get(m).map_or(0, |at| at.taken)
    }

    /// The `i`-th request of `m` not taken yet, in deadline order.
    #[inline]
    pub fn get<'v>(&mut self, view: &View<'v>, m: ModelId, i: usize) -> Option<&'v Request> {
        let at = &self.at[m];
        if at.ordered {
            // Its queue is in deadline order: nothing to set up (`touch`
            // matters only to what `take` changes and to sorted queues).
            return view.models[m].queue.get(at.taken + i);
        }
        self.touch(view, m);
        let k = self.at[m].taken + i;
        let q = &view.models[m].queue;
        match &self.sorted[m] {
            Some(idx) => idx.get(k).map(|&j| &q[j as usize]),
            None => q.get(k),
        }
    }

    /// Takes the next `n` requests of `m` (in deadline order); returns their
    /// ids, increasing, in a list from `out` ([`Decision::ids`]).
    pub fn take(&mut self, view: &View, m: ModelId, n: usize, out: &mut Decision) -> Vec<u64> {
        self.touch(view, m);
        let k = self.at[m].taken;
        assert!(
            k + n <= view.models[m].queue.len(),
            "taking more than is pending"
        );
        let q = &view.models[m].queue;
        let mut ids = out.ids();
        match &self.sorted[m] {
            Some(idx) => ids.extend(idx[k..k + n].iter().map(|&j| q[j as usize].id)),
            None => ids.extend(q.range(k..k + n).map(|r| r.id)),
        }
        self.at[m].taken += n;
        self.emptied.push(m);
        ids.sort_unstable();
        ids
    }

    /// Drops, from every listed model in the order they were listed, the
    /// requests at its front that the drop mode drops now (one `Drop`
    /// action per model): only the models whose front may be dropped by
    /// now are looked at.
    pub fn drop_due(&mut self, view: &View, out: &mut Decision) {
        if self.due.peek().is_none_or(|e| e.0.0 > view.now) {
            // Nothing may be dropped yet (the usual case).
            self.debug_check_drops(view);
            return;
        }
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        while let Some(&std::cmp::Reverse((t, m))) = self.due.peek() {
            if t > view.now {
                break;
            }
            self.due.pop();
            if self.at[m].due_at == Some(t) {
                self.at[m].due_at = None;
                due.push(m);
            }
        }
        due.sort_unstable_by_key(|&m| self.at[m].seq);
        for &m in &due {
            if !self.at[m].listed {
                continue;
            }
            self.drop_front(view, m, self.drop, out);
            if let Some(r) = self.get(view, m, 0) {
                let t = self.drop_time(view, r).expect("a drop mode");
                self.watch(m, t);
            }
        }
        self.scratch = due;
        self.debug_check_drops(view);
    }

    /// Debug builds: no listed model's next request is one the drop mode drops now.
    fn debug_check_drops(&self, view: &View) {
        debug_assert!(
            self.entries
                .iter()
                .filter(|&&(s, m)| self.at[m].listed && self.at[m].seq == s)
                .all(|&(_, m)| {
                    let k = self.at[m].taken;
                    let q = &view.models[m].queue;
                    let front = match &self.sorted[m] {
                        Some(idx) => idx.get(k).map(|&j| &q[j as usize]),
                        None if self.at[m].ordered => q.get(k),
                        None => q.iter().skip(k).min_by_key(|r| (r.deadline, r.id)),
                    };
                    front.is_none_or(|r| !self.drop.drops(view, r))
                }),
            "a request the drop mode drops was left"
        );
    }

    /// Takes the requests of `m`, from the front, that `mode` drops, pushing
    /// one `Drop` action for them; returns how many.
    pub fn drop_front(
        &mut self,
        view: &View,
        m: ModelId,
        mode: DropMode,
        out: &mut Decision,
    ) -> usize {
        if mode == DropMode::Never {
            return 0;
        }
        let mut n = 0;
        // Those that expire or are hopeless first are the earliest deadlines.
        while let Some(r) = self.get(view, m, n) {
            if !mode.drops(view, r) {
                break;
            }
            n += 1;
        }
        if n > 0 {
            let requests = self.take(view, m, n, out);
            out.actions.push(Action::Drop { model: m, requests });
        }
        n
    }
}

/// When `model`, whose load on `gpu` is planned now, can expect to be
/// loaded: after the transfers queued there, then its own.
pub fn loaded_after_transfers(view: &View, gpu: GpuId, model: ModelId) -> Nanos {
    let mut t = view.now;
    for tr in &view.gpus[gpu].transfers {
        t = match tr.started_at {
            Some(s) => (s + tr.expected_ns).max(t),
            None => t + tr.expected_ns,
        };
    }
    t + view.load_ns(model, gpu)
}

/// A key whose integer order is `f64::total_cmp`'s order of `x` (for
/// heaps and ordered sets of float keys).
pub fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

#[cfg(test)]
mod tests {
    use super::{largest_fitting, ordered};
    use crate::profile::ModelProfile;
    use crate::rng::Rng;

    #[test]
    fn the_largest_fitting_batch_is_the_best_of_all_sizes() {
        // Sizes ascend; times need not (a profile built by hand), so the
        // answer is checked against every size, as a scan of all would.
        let mut rng = Rng::new(3);
        for _ in 0..5_000 {
            let n = 1 + rng.below(6) as usize;
            let mut sizes: Vec<u32> = (0..n).map(|_| 1 + rng.below(40) as u32).collect();
            sizes.sort_unstable();
            sizes.dedup();
            let exec = sizes.iter().map(|_| 1 + rng.below(100)).collect();
            let p = ModelProfile::for_tests(sizes, exec);
            let (start, deadline) = (rng.below(50), rng.below(150));
            let (avail, cap) = (rng.below(50) as usize, rng.below(45) as u32);
            let all = p
                .batch_sizes
                .iter()
                .zip(&p.exec_ns)
                .filter(|&(&b, &e)| b <= cap.max(1) && start + e <= deadline)
                .map(|(&b, _)| b as usize)
                .max()
                .unwrap_or(0)
                .min(avail);
            assert_eq!(
                largest_fitting(&p, start, deadline, avail, cap),
                all,
                "{p:?}"
            );
        }
        let p = ModelProfile::for_tests(vec![1, 2, 4, 8], vec![10, 16, 24, 40]);
        // From 5 with a deadline of 30: batch 4 (24) ends at 29, batch 8 at 45.
        assert_eq!(largest_fitting(&p, 5, 30, 100, u32::MAX), 4);
        assert_eq!(largest_fitting(&p, 5, 30, 3, u32::MAX), 3);
        assert_eq!(largest_fitting(&p, 5, 30, 100, 2), 2);
        assert_eq!(largest_fitting(&p, 5, 30, 100, 0), 1);
        assert_eq!(largest_fitting(&p, 25, 30, 100, u32::MAX), 0);
    }

    #[test]
    fn ordered_keys_sort_as_total_cmp() {
        let xs = [
            f64::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5e9,
            f64::INFINITY,
        ];
        for a in xs {
            for b in xs {
                assert_eq!(ordered(a).cmp(&ordered(b)), a.total_cmp(&b), "{a} vs {b}");
            }
        }
    }
}
