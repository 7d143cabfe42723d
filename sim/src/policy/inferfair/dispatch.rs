//! InferFair's fine-grained adjustments at every decision: for each idle
//! GPU, the order of the models it holds parts of (normalized deficit of
//! GPU-time credit under overload, least slack otherwise), the drop of
//! requests that can no longer make their deadline, the batch (the largest
//! that meets its earliest deadline, or under overload the one that serves
//! the most requests per GPU second), waiting for a bigger batch, and guests:
//! a model with no part on a GPU runs there only batches shorter than the
//! room for queueing of the GPU's own models (with `guest_cover`, longer
//! ones too while each of those models could start at once on another idle
//! GPU), and under overload only when none of them can run.

use super::InferFair;
use super::ascending::Ascending;
use super::corun::{self, Running};
use crate::interference::Runner;
use crate::policy::common::ordered;
use crate::policy::{Action, Decision, Dispatch, View};
use crate::profile::ModelProfile;
use crate::state::{GpuId, GpuState, ModelId};
use crate::time::Nanos;
use std::cmp::Reverse;

/// A batch choice for one model: drop the first `skip` pending requests (in
/// deadline order), run the next `n`, which take `exec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Choice {
    pub skip: usize,
    pub n: usize,
    pub exec: Nanos,
}

/// The wall time on `g` of a batch of allowed size index `i` of a model
/// of `kind` with profile `p`, beside the batches `beside` (not empty), as
/// the interference model says.
#[cold]
fn slowed_beside(
    view: &View,
    g: GpuId,
    kind: u32,
    p: &ModelProfile,
    i: usize,
    beside: &[Runner],
) -> Nanos {
    let mut all = beside.to_vec();
    all.push(Runner {
        kind,
        util: p.util[i],
    });
    let s = view.gpus[g].interference().slowdown(&all, all.len() - 1);
    (p.exec_ns[i] as f64 * s.max(1.0)).ceil() as Nanos
}

impl InferFair {
    /// Drops the pending requests of `m` that cannot finish by their
    /// deadline even if their smallest batch started now.
    pub(super) fn drop_expired(&mut self, view: &View, m: ModelId, out: &mut Decision) {
        if self.remaining(view, m) == 0 {
            return;
        }
        let ms = &view.models[m];
        let k = self.queues[m].before(&ms.queue, view.now + ms.min_exec_ns);
        if k > 0 {
            let ids = self.take(view, m, k, out);
            out.actions.push(Action::Drop {
                model: m,
                requests: ids,
            });
        }
    }

    /// Chooses which of `m`'s pending requests to run now. Normally none is
    /// given up and the batch is the largest whose execution meets the
    /// earliest deadline in it. Under overload, the batch that serves the
    /// most requests per GPU second (Clockwork's per-batch-size drop step, in
    /// effect: the requests that a bigger batch cannot include in time are
    /// given up for it). Requests are taken in deadline order.
    ///
    /// On a GPU that runs several batches at once, `beside` are the batches
    /// it would run beside: a batch's deadlines are checked against its
    /// time slowed as the interference model says (its GPU cost stays its
    /// solo time).
    pub(super) fn batch_for(
        &self,
        view: &View,
        m: ModelId,
        g: GpuId,
        beside: &[Runner],
    ) -> Option<Choice> {
        let ms = &view.models[m];
        let (p, q, pend) = (view.profile(m, g)?, &ms.queue, &self.queues[m]);
        let len = self.remaining(view, m);
        if len == 0 {
            return None;
        }
        // The wall time of a batch of allowed size index i here.
        let slowed = |i: usize| -> Nanos {
            if beside.is_empty() {
                p.exec_ns[i]
            } else {
                slowed_beside(view, g, ms.kind, p, i, beside)
            }
        };
        if self.overloaded && self.cfg.efficient_batches {
            let mut best: Option<Choice> = None;
            for (i, &b) in p.batch_sizes.iter().enumerate() {
                let skip = pend.before(q, view.now + slowed(i));
                let n = (len - skip).min(b as usize);
                if n == 0 {
                    continue;
                }
                let exec = p.exec_for(n as u32).expect("n <= b");
                let c = Choice { skip, n, exec };
                let better = match best {
                    None => true,
                    // More requests per GPU second; then fewer given up; then the bigger batch.
                    Some(o) => {
                        let (lhs, rhs) = (
                            (n as u128) * (o.exec as u128),
                            (o.n as u128) * (exec as u128),
                        );
                        lhs > rhs
                            || (lhs == rhs
                                && (skip, std::cmp::Reverse(n)) < (o.skip, std::cmp::Reverse(o.n)))
                    }
                };
                if better {
                    best = Some(c);
                }
            }
            return best;
        }
        let avail = len.min(p.max_batch() as usize);
        let earliest = pend.deadline(q, 0);
        let mut best = None;
        for (i, (&b, &exec)) in p.batch_sizes.iter().zip(&p.exec_ns).enumerate() {
            let n = (b as usize).min(avail);
            if view.now + slowed(i) > earliest {
                break;
            }
            best = Some(Choice { skip: 0, n, exec });
            if n == avail {
                break;
            }
        }
        best
    }

    /// The models to look at for candidates on `gpu`: the pending ones or
    /// those resident there, whichever are fewer (a candidate is both; the
    /// caller checks, and sorts by a key unique to each model, so which list
    /// it reads changes nothing).
    fn pending_here<'a>(&'a self, gpu: &'a GpuState) -> &'a [ModelId] {
        if gpu.resident.len() < self.pending.len() {
            &gpu.resident
        } else {
            &self.pending
        }
    }

    /// The order key of model `m` on GPU `g` (smaller goes first; the
    /// deficit as an integer of the same order, `ordered`): under
    /// overload, the normalized deficit of its part there (unspent credit
    /// over this period's grant, largest first); otherwise, and for ties, the
    /// latest start time of its earliest deadline with the batch its queue
    /// can form, at most its largest SLO-feasible batch (least slack first).
    /// Inlined at both call sites: it runs for every candidate.
    #[inline(always)]
    fn key(&self, view: &View, m: ModelId, g: GpuId, fair_mode: bool) -> (u64, Nanos, ModelId) {
        let info = &self.models[m];
        let pool = view.gpus[g].pool;
        let latest = match info.latest.get() {
            Some((p, latest)) if p == pool => {
                debug_assert_eq!(latest, self.latest(view, m, g));
                latest
            }
            _ => {
                let latest = self.latest(view, m, g);
                info.latest.set(Some((pool, latest)));
                latest
            }
        };
        let deficit = match info.part(g) {
            _ if !fair_mode => 0.0,
            Some(p) if p.grant > 0.0 => -(p.balance / p.grant),
            _ => f64::MAX,
        };
        (ordered(deficit), latest, m)
    }

    /// The latest start on `g` of the batch that `m`'s queue can form
    /// (at most its largest SLO-feasible batch) for its earliest deadline.
    fn latest(&self, view: &View, m: ModelId, g: GpuId) -> Nanos {
        let p = view.profile(m, g).expect("a model loaded here runs here");
        let cap = *self.models[m].curve.sizes.last().expect("a batch size");
        let n = (self.remaining(view, m) as u32).min(cap).min(p.max_batch());
        let exec = p.exec_for(n).expect("n <= max batch");
        let queue = &view.models[m].queue;
        self.queues[m].deadline(queue, 0).saturating_sub(exec)
    }

    /// Whether `m` may run batch `c` on `g`: anywhere it has a part (or no
    /// part at all yet); elsewhere, as a guest, only a batch that fits the
    /// room for queueing of the GPU's own models, or with `guest_cover`
    /// any batch while those models are `covered` elsewhere.
    fn fits(&self, view: &View, m: ModelId, g: GpuId, c: Choice) -> bool {
        let parts = &self.models[m].parts;
        parts.is_empty()
            || parts.iter().any(|p| p.gpu == g)
            || c.exec <= self.gpu_room[g]
            || (self.cfg.guest_cover && self.covered(view, g))
    }

    /// Whether every model with a part on `g` could run at once on another
    /// GPU, idle and untouched in this decision, where it is loaded and
    /// has a part or its expected batch fits the room: a request of theirs
    /// arriving while a guest's long batch runs on `g` finds a GPU free.
    fn covered(&self, view: &View, g: GpuId) -> bool {
        self.own[g].iter().all(|&o| {
            let info = &self.models[o];
            let mut next = self.slots.next_from(0);
            while let Some(h) = next {
                let gh = &view.gpus[h];
                if h != g
                    && gh.is_loaded(o)
                    && gh.running() == 0
                    && self.slots.untouched(view, h)
                    && (info.part(h).is_some() || info.batch_exec <= self.gpu_room[h])
                {
                    return true;
                }
                next = self.slots.next_from(h + 1);
            }
            false
        })
    }

    /// The longest batch another model with a part on `g` may be running
    /// when one of them is dispatched: the two longest expected batches of
    /// the pending models with a part there (the shorter of the two lists
    /// is read; among equal batches the order does not change the values
    /// `can_wait` reads).
    fn longest(&self, g: GpuId) -> [(Nanos, ModelId); 2] {
        let mut top = [(0, usize::MAX); 2];
        let own = &self.own[g];
        let from = if own.len() < self.pending.len() {
            own
        } else {
            &self.pending
        };
        for &m in from {
            if !self.models[m].listed || self.models[m].part(g).is_none() {
                continue;
            }
            let e = self.models[m].batch_exec;
            if e > top[0].0 {
                top = [(e, m), top[0]];
            } else if e > top[1].0 {
                top[1] = (e, m);
            }
        }
        debug_assert!({
            // What a scan of every pending model finds, where it can differ.
            let mut all = [(0, usize::MAX); 2];
            for &m in &self.pending {
                let e = self.models[m].batch_exec;
                if self.models[m].part(g).is_some() && e > all[0].0 {
                    all = [(e, m), all[0]];
                } else if self.models[m].part(g).is_some() && e > all[1].0 {
                    all[1].0 = e;
                }
            }
            (all[0].0, all[1].0) == (top[0].0, top[1].0)
                && (all[0].0 == all[1].0 || all[0].1 == top[0].1)
        });
        top
    }

    /// Whether `m` (with its choice `c`) can wait for a bigger batch on `g`:
    /// its queue is short of its expected batch and its earliest request can
    /// still afford that batch after the longest batch another model may be
    /// running. Returns when the wait must end.
    ///
    /// On a GPU that runs several batches at once, the bigger batch will not
    /// wait behind another one but run beside them, as much slower as the
    /// interference model says with what runs there now (`beside`, this
    /// decision's batches included).
    fn can_wait(
        &self,
        view: &View,
        g: GpuId,
        m: ModelId,
        c: Choice,
        top: &[(Nanos, ModelId); 2],
        beside: &[Runner],
    ) -> Option<Nanos> {
        let info = &self.models[m];
        if c.n as u32 >= info.batch || self.remaining(view, m) - c.skip >= info.batch as usize {
            return None;
        }
        let gpu = &view.gpus[g];
        let (other, exec) = if gpu.max_concurrent > 1 {
            let mut runners = beside.to_vec();
            runners.push(Runner {
                kind: view.models[m].kind,
                util: view
                    .profile(m, g)
                    .and_then(|p| p.util_for(info.batch))
                    .unwrap_or(1.0),
            });
            let s = gpu.interference().slowdown(&runners, runners.len() - 1);
            (0, (info.batch_exec as f64 * s.max(1.0)).ceil() as Nanos)
        } else {
            let other = if top[0].1 == m { top[1].0 } else { top[0].0 };
            (other, info.batch_exec)
        };
        let front = self.queues[m].deadline(&view.models[m].queue, c.skip);
        let latest = front.saturating_sub(exec);
        (latest > view.now + other).then(|| latest - other)
    }

    /// What runs on `g` as the admission sees it: the running batches and
    /// those this decision already started there (`planned`).
    fn running_here(&self, view: &View, g: GpuId, planned: &[Running]) -> Vec<Running> {
        let gpu = &view.gpus[g];
        let now = view.now;
        let batches: Vec<_> = gpu
            .running_batches()
            .map(|b| {
                let deadline = b.requests.iter().map(|r| r.deadline).min();
                (
                    b.runner(),
                    b.expected_end.unwrap_or(now),
                    deadline.unwrap_or(Nanos::MAX),
                )
            })
            .collect();
        let mut running = corun::running(gpu.interference(), &batches, now);
        running.extend_from_slice(planned);
        running
    }

    /// `m`'s batch `c` on `g` as the interference model sees it.
    fn runner(&self, view: &View, g: GpuId, m: ModelId, c: Choice) -> Runner {
        let util = view
            .profile(m, g)
            .and_then(|p| p.util_for(c.n as u32))
            .unwrap_or(1.0);
        Runner {
            kind: view.models[m].kind,
            util,
        }
    }

    /// Whether `m` may start batch `c` on `g` beside what runs there
    /// (`here`, from `running_here`): always on a GPU that runs one batch at
    /// a time; elsewhere as `corun::admit` says.
    fn admissible(&self, view: &View, g: GpuId, m: ModelId, c: Choice, here: &[Running]) -> bool {
        let gpu = &view.gpus[g];
        if gpu.max_concurrent <= 1 || !self.cfg.corun_admission {
            return true;
        }
        let cand = self.runner(view, g, m, c);
        let deadline = self.queues[m].deadline(&view.models[m].queue, c.skip);
        corun::admit(gpu.interference(), here, cand, c.exec, deadline, view.now)
    }

    /// `corun_reservation`: `m`'s batch `c` was refused beside what runs on
    /// `g` (`here`); when the GPU drains, if that is soon enough for the
    /// batch to meet its earliest deadline alone (then `m` reserves the GPU).
    fn reservation(
        &self,
        view: &View,
        g: GpuId,
        m: ModelId,
        c: Choice,
        here: &[Running],
    ) -> Option<Nanos> {
        let free = corun::drained(view.gpus[g].interference(), here, view.now);
        let deadline = self.queues[m].deadline(&view.models[m].queue, c.skip);
        (free.saturating_add(c.exec) <= deadline).then_some(free)
    }

    /// Whether `m`'s batch `c` would make `g`, running `here`, drain after
    /// `by` (a reservation).
    fn delays(
        &self,
        view: &View,
        g: GpuId,
        m: ModelId,
        c: Choice,
        here: &[Running],
        by: Nanos,
    ) -> bool {
        let cand = self.runner(view, g, m, c);
        corun::delays(
            view.gpus[g].interference(),
            here,
            cand,
            c.exec,
            view.now,
            by,
        )
    }

    /// The batch GPU `g` runs now, if any. Under overload: its own models by
    /// normalized deficit (those that can wait after those that cannot),
    /// then guests. Otherwise every model loaded here, least slack first,
    /// guests limited to batches that fit the room. Asks to be woken when a
    /// wait must end.
    fn choose(
        &mut self,
        view: &View,
        g: GpuId,
        planned: &[Running],
        out: &mut Decision,
    ) -> Option<(ModelId, Choice)> {
        let fair_mode = self.overloaded || !self.cfg.overload_only;
        let batching = fair_mode && self.cfg.batching;
        let gpu = &view.gpus[g];
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        // Its own models (a part here), and models that have no part
        // anywhere yet (new ones); when nothing is scarce, every model loaded
        // here, guests limited below to batches that fit the room of the
        // GPU's own models. Under overload those lists are read instead of
        // every pending model when they are shorter: the keys are distinct,
        // so the order is the same.
        let scan = self.pending_here(gpu);
        let indexed = fair_mode && self.own[g].len() + self.partless.len() < scan.len();
        let (from, own, new): (&[ModelId], &[ModelId], &[ModelId]) = if indexed {
            (&[], &self.own[g], &self.partless)
        } else {
            (scan, &[], &[])
        };
        for &m in from.iter().chain(own).chain(new) {
            if !gpu.is_loaded(m) || self.remaining(view, m) == 0 {
                continue;
            }
            let parts = &self.models[m].parts;
            if !fair_mode || parts.is_empty() || parts.iter().any(|p| p.gpu == g) {
                order.push(Reverse(self.key(view, m, g, fair_mode)));
            }
        }
        debug_assert!(
            !indexed || {
                let mut all: Vec<_> = scan
                    .iter()
                    .filter(|&&m| gpu.is_loaded(m) && self.remaining(view, m) > 0)
                    .filter(|&&m| {
                        let parts = &self.models[m].parts;
                        parts.is_empty() || parts.iter().any(|p| p.gpu == g)
                    })
                    .map(|&m| Reverse(self.key(view, m, g, fair_mode)))
                    .collect();
                let mut got = order.clone();
                all.sort_unstable();
                got.sort_unstable();
                all == got
            }
        );
        // Taken in key order until one is chosen (usually the first):
        // cheaper than sorting every candidate.
        let mut cands = Ascending::new(order);
        // What runs here (and what this decision started here), once for
        // every candidate: only where batches run at once.
        let here: Vec<Running> = if gpu.max_concurrent > 1 {
            self.running_here(view, g, planned)
        } else {
            Vec::new()
        };
        let beside: Vec<Runner> = here.iter().map(|r| r.runner).collect();
        // The longest batches of the other models here, found when first needed.
        let mut top = None;
        // Models that can afford to wait for a bigger batch go last: they run only if nothing else can.
        let mut deferred = None;
        let mut chosen = None;
        // Under overload, the first model whose batch is refused beside the
        // running ones reserves the GPU (`corun::drained`): later ones start
        // only if the GPU still drains by then.
        let reserving = fair_mode
            && self.cfg.corun_reservation
            && self.cfg.corun_admission
            && gpu.max_concurrent > 1;
        let mut reserved: Option<Nanos> = None;
        while let Some((_, _, m)) = cands.pop() {
            self.drop_expired(view, m, out);
            let Some(c) = self.batch_for(view, m, g, &beside) else {
                continue;
            };
            if !self.fits(view, m, g, c) {
                continue;
            }
            if !self.admissible(view, g, m, c, &here) {
                if reserving && reserved.is_none() {
                    reserved = self.reservation(view, g, m, c, &here);
                }
                continue;
            }
            if let Some(by) = reserved
                && self.delays(view, g, m, c, &here, by)
            {
                continue;
            }
            if batching
                && let Some(t) = {
                    let top = top.get_or_insert_with(|| self.longest(g));
                    self.can_wait(view, g, m, c, top, &beside)
                }
            {
                out.wake(t);
                deferred = deferred.or(Some((m, c)));
                continue;
            }
            chosen = Some((m, c));
            break;
        }
        // A GPU is never left idle only to wait; one that is running other
        // batches (several at once) is not idle: a model that can wait does.
        let busy = view.gpus[g].running() > 0 || !planned.is_empty();
        let pick = if busy { chosen } else { chosen.or(deferred) };
        let mut order = cands.into_vec();
        let pick = match pick {
            None if fair_mode => self.guest(view, g, (&here, &beside), reserved, &mut order, out),
            pick => pick,
        };
        self.order = order;
        pick
    }

    /// When none of `g`'s own models runs (under overload, or always
    /// without `overload_only`): its guests,
    /// models loaded here with parts elsewhere, least slack first, batches
    /// that fit the room (and, after a reservation, do not delay it).
    /// `here`: what runs on `g` (and its batches as the interference model
    /// sees them); `order`: a buffer to reuse. Out of line: about one
    /// choice in eight gets here, and `choose` stays small without it.
    #[inline(never)]
    fn guest(
        &mut self,
        view: &View,
        g: GpuId,
        (here, beside): (&[Running], &[Runner]),
        reserved: Option<Nanos>,
        order: &mut Vec<Reverse<(u64, Nanos, ModelId)>>,
        out: &mut Decision,
    ) -> Option<(ModelId, Choice)> {
        let gpu = &view.gpus[g];
        order.clear();
        for &m in self.pending_here(gpu) {
            let info = &self.models[m];
            if gpu.is_loaded(m)
                && self.remaining(view, m) > 0
                && !info.parts.is_empty()
                && info.part(g).is_none()
            {
                order.push(Reverse(self.key(view, m, g, false)));
            }
        }
        let mut cands = Ascending::new(std::mem::take(order));
        let mut pick = None;
        while let Some((_, _, m)) = cands.pop() {
            self.drop_expired(view, m, out);
            if let Some(c) = self.batch_for(view, m, g, beside)
                && self.fits(view, m, g, c)
                && self.admissible(view, g, m, c, here)
                && reserved.is_none_or(|by| !self.delays(view, g, m, c, here, by))
            {
                pick = Some((m, c));
                break;
            }
        }
        *order = cands.into_vec();
        pick
    }

    /// Stamps the GPUs where some model with requests left is loaded, from
    /// the models' side (a model is loaded on few GPUs where they do not
    /// all fit): the candidates of every other GPU are empty for the whole
    /// decision, since requests are only taken and loads only complete
    /// between decisions. Where the models are loaded on many GPUs, that
    /// would cost more than the visits it saves (each scans the pending
    /// models): past a few visits' worth, or at a model loaded everywhere,
    /// every GPU counts as stamped.
    fn mark_runnable(&mut self, view: &View) {
        self.dispatches += 1;
        let n = view.gpus.len();
        if self.runnable.len() < n {
            self.runnable.resize(n, 0);
        }
        self.all_runnable = false;
        let mut budget = 4 * self.pending.len().max(8);
        let mut marked = 0;
        for &m in &self.pending {
            if self.remaining(view, m) == 0 {
                continue;
            }
            let on = &view.models[m].loaded_on;
            if on.len() > budget || on.len() == n {
                self.all_runnable = true;
                return;
            }
            budget -= on.len();
            for &g in on {
                if self.runnable[g] != self.dispatches {
                    self.runnable[g] = self.dispatches;
                    marked += 1;
                    if marked == n {
                        return;
                    }
                }
            }
        }
    }

    /// Gives every GPU with a free slot (in id order, from the slot mirror)
    /// the best batches among the models loaded on it: one on a GPU that
    /// runs one batch at a time (when it is idle), up to its free slots
    /// where batches run at once, each admitted beside the others (`corun`).
    pub(super) fn dispatch(&mut self, view: &View, out: &mut Decision) {
        if !self.slots.any() || self.left == 0 {
            // No GPU can take a batch, or nothing is left to run (what
            // follows would visit no GPU; its indexes wait for a decision
            // that needs them).
            return;
        }
        let mut planned: Vec<Running> = Vec::new();
        if self.overloaded || !self.cfg.overload_only || self.cfg.guest_cover {
            self.index_parts();
        }
        self.mark_runnable(view);
        let mut next = self.slots.next_from(0);
        while let Some(g) = next {
            if self.left == 0 {
                // Nothing left to run (a GPU would find no candidate).
                break;
            }
            if !self.all_runnable && self.runnable[g] != self.dispatches {
                // No model with requests left is loaded here (nor will be
                // in this decision): it would find no candidate.
                next = self.slots.next_from(g + 1);
                continue;
            }
            planned.clear();
            for _ in 0..view.gpus[g].free_slots() {
                let Some((m, c)) = self.choose(view, g, &planned, out) else {
                    break;
                };
                let q = &view.models[m].queue;
                if c.skip > 0 {
                    let ids = self.take(view, m, c.skip, out);
                    out.actions.push(Action::Drop {
                        model: m,
                        requests: ids,
                    });
                }
                if view.gpus[g].max_concurrent > 1 {
                    planned.push(Running {
                        runner: self.runner(view, g, m, c),
                        work: c.exec as f64,
                        deadline: self.queues[m].deadline(q, 0),
                    });
                }
                let ids = self.take(view, m, c.n, out);
                if let Some(p) = self.models[m].parts.iter_mut().find(|p| p.gpu == g) {
                    p.balance -= c.exec as f64;
                    p.used += c.exec as f64;
                }
                out.actions.push(Action::Dispatch(Dispatch::new(g, m, ids)));
                self.slots.took(g);
            }
            next = self.slots.next_from(g + 1);
        }
    }
}
