//! Where InferFair's models live: everything everywhere when it fits,
//! otherwise spread at start, loaded on demand for pending requests (never
//! for requests that could not finish even after the load), and an extra
//! replica at a period's end for a model whose share exceeds what its GPUs
//! give. Victims of eviction are idle models with nothing pending, lowest
//! estimated rate first, then least recently used. A model's parts (from
//! the grouping) stay on the GPUs where it is resident.

use super::InferFair;
use super::group::Part;
use crate::policy::common::ordered;
use crate::policy::{Action, Decision, View};
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Where each model is resident (loaded or loading), as the state has it
/// at a period's end: model m's GPUs, increasing, are
/// `at[start[m]..start[m + 1]]`. Worked out on first use only: where every
/// model is everywhere, a period never asks.
#[derive(Default)]
pub(super) struct Residence {
    built: std::cell::OnceCell<(Vec<usize>, Vec<GpuId>)>,
}

impl Residence {
    fn build(view: &View) -> (Vec<usize>, Vec<GpuId>) {
        let n = view.models.len();
        let mut start = vec![0usize; n + 1];
        for g in view.gpus {
            for &m in &g.resident {
                start[m + 1] += 1;
            }
        }
        for m in 0..n {
            start[m + 1] += start[m];
        }
        let mut at: Vec<GpuId> = vec![0; start[n]];
        let mut next = start.clone();
        for g in view.gpus {
            for &m in &g.resident {
                at[next[m]] = g.id;
                next[m] += 1;
            }
        }
        (start, at)
    }

    /// The GPUs where `m` is resident, increasing (`view`: the state at
    /// the period's end, the same at every call).
    pub(super) fn of(&self, view: &View, m: ModelId) -> &[GpuId] {
        let (start, at) = self.built.get_or_init(|| Self::build(view));
        &at[start[m]..start[m + 1]]
    }
}

/// A model's parts restricted to the GPUs where it is resident (loaded or
/// loading; `resident` from the state), keeping its share: the parts on
/// other GPUs are spread over the resident ones in proportion; with none of
/// its target GPUs resident, its share is split evenly over the GPUs where it
/// is; resident nowhere: no part. Appended to `out`.
pub(super) fn on_resident(
    view: &View,
    resident: &Residence,
    m: ModelId,
    share: f64,
    target: &[Part],
    out: &mut Vec<Part>,
) {
    let here = |g: GpuId| view.gpus[g].is_resident(m);
    let from = out.len();
    out.extend(target.iter().filter(|p| here(p.gpu)));
    if out.len() == from {
        out.extend((resident.of(view, m).iter()).map(|&gpu| Part { gpu, share: 1.0 }));
    }
    let parts = &mut out[from..];
    let sum: f64 = parts.iter().map(|p| p.share).sum();
    if sum > 0.0 {
        parts.iter_mut().for_each(|p| p.share *= share / sum);
    }
}

/// Initial loads: every model on every GPU when they all fit, otherwise model i on GPU i mod n.
pub(super) fn initial(view: &View, out: &mut Decision) {
    let n = view.gpus.len();
    let all_fit = view.gpus.iter().all(|g| {
        view.models
            .iter()
            .filter(|m| view.can_run(m.id, g.id) && !g.is_resident(m.id))
            .map(|m| view.weights_bytes(m.id, g.id))
            .sum::<u64>()
            <= g.free_bytes()
    });
    let mut free: Vec<u64> = view.gpus.iter().map(|g| g.free_bytes()).collect();
    for m in view.models {
        let runs: Vec<GpuId> = (0..n).filter(|&g| view.can_run(m.id, g)).collect();
        let targets: Vec<GpuId> = if all_fit {
            runs
        } else if view.gpus.iter().any(|g| g.is_resident(m.id)) {
            vec![]
        } else {
            vec![runs[m.id % runs.len()]]
        };
        for g in targets {
            let bytes = view.weights_bytes(m.id, g);
            if !view.gpus[g].is_resident(m.id) && free[g] >= bytes {
                free[g] -= bytes;
                out.actions.push(Action::Load {
                    gpu: g,
                    model: m.id,
                });
            }
        }
    }
}

/// Loads and evictions planned in the current decision, so that the planning
/// steps of one decision see each other's effect on memory and transfers.
#[derive(Debug, Default)]
pub(super) struct Plan {
    evicted: Vec<(GpuId, ModelId)>,
    loaded: Vec<(GpuId, ModelId)>,
    /// Per model: GPUs where it is resident, planned loads and evictions
    /// counted (kept across decisions: only this policy loads and evicts),
    /// and how many models are resident nowhere.
    held: Vec<u32>,
    nowhere: usize,
}

impl Plan {
    /// Counts where each model is resident, once the initial loads (in `out`) are planned.
    pub(super) fn count_held(&mut self, view: &View, out: &Decision) {
        self.held = view
            .models
            .iter()
            .map(|m| view.gpus.iter().filter(|g| g.is_resident(m.id)).count() as u32)
            .collect();
        for a in &out.actions {
            if let Action::Load { model, .. } = a {
                self.held[*model] += 1;
            }
        }
        self.nowhere = self.held.iter().filter(|&&h| h == 0).count();
    }

    fn hold(&mut self, model: ModelId, up: bool) {
        let h = &mut self.held[model];
        if *h == 0 {
            self.nowhere -= 1;
        }
        if up {
            *h += 1
        } else {
            *h -= 1
        }
        if *h == 0 {
            self.nowhere += 1;
        }
    }

    /// Starts a decision's plan.
    pub(super) fn reset(&mut self) {
        self.evicted.clear();
        self.loaded.clear();
    }

    fn load(&mut self, gpu: GpuId, model: ModelId, victims: Vec<ModelId>, out: &mut Decision) {
        for v in victims {
            self.evicted.push((gpu, v));
            self.hold(v, false);
            out.actions.push(Action::Evict { gpu, model: v });
        }
        self.loaded.push((gpu, model));
        self.hold(model, true);
        out.actions.push(Action::Load { gpu, model });
    }

    /// Whether `gpu` is transferring weights or has a load planned in this decision.
    fn transferring(&self, view: &View, gpu: GpuId) -> bool {
        view.gpus[gpu].is_transferring() || self.loaded.iter().any(|l| l.0 == gpu)
    }

    fn resident(&self, view: &View, gpu: GpuId, model: ModelId) -> bool {
        (view.gpus[gpu].is_resident(model) && !self.evicted.contains(&(gpu, model)))
            || self.loaded.contains(&(gpu, model))
    }
}

/// `gpu`'s free memory once this decision's planned loads and evictions are done.
fn free_bytes(plan: &Plan, view: &View, gpu: GpuId) -> u64 {
    let bytes = |list: &[(GpuId, ModelId)]| -> u64 {
        list.iter()
            .filter(|e| e.0 == gpu)
            .map(|e| view.weights_bytes(e.1, gpu))
            .sum()
    };
    (view.gpus[gpu].free_bytes() + bytes(&plan.evicted)).saturating_sub(bytes(&plan.loaded))
}

/// Whether `model` fits on `gpu` without evicting anything.
fn fits(p: &InferFair, view: &View, gpu: GpuId, model: ModelId) -> bool {
    view.can_run(model, gpu) && free_bytes(&p.plan, view, gpu) >= view.weights_bytes(model, gpu)
}

/// Plans to fit `model` on `gpu`: the models to evict (empty if it fits), or None.
fn victims(p: &mut InferFair, view: &View, gpu: GpuId, model: ModelId) -> Option<Vec<ModelId>> {
    let g = &view.gpus[gpu];
    if !view.can_run(model, gpu) {
        return None;
    }
    let need = view.weights_bytes(model, gpu);
    let mut free = free_bytes(&p.plan, view, gpu);
    if free >= need {
        return Some(vec![]);
    }
    // Idle models with nothing pending, by (estimated rate, last use here,
    // id): a heap, popped only until the room suffices (usually one or two
    // of many), rather than a sort of all of them.
    let mut room = free;
    let mut cands: Vec<Reverse<(u64, Nanos, ModelId)>> = std::mem::take(&mut p.order);
    cands.clear();
    for &v in &g.resident {
        if g.is_loaded(v)
            && !g.has_work_for(v)
            && view.models[v].queue.is_empty()
            && !p.plan.evicted.contains(&(gpu, v))
        {
            room += view.weights_bytes(v, gpu);
            p.sync(v);
            cands.push(Reverse((ordered(p.models[v].rate), g.last_used[v], v)));
        }
    }
    if room < need {
        // Even evicting all of them would not make room.
        p.order = cands;
        return None;
    }
    let mut cands = BinaryHeap::from(cands);
    let mut out = Vec::new();
    while free < need {
        let Reverse((_, _, v)) = cands.pop().expect("the candidates make room");
        free += view.weights_bytes(v, gpu);
        out.push(v);
    }
    p.order = cands.into_vec();
    Some(out)
}

/// Loads, on some GPU, the pending models that are resident nowhere.
pub(super) fn on_demand(p: &mut InferFair, view: &View, out: &mut Decision) {
    if p.plan.nowhere == 0 {
        return;
    }
    let mut want: Vec<(usize, ModelId)> = p
        .pending
        .iter()
        .map(|&m| (p.remaining(view, m), m))
        .filter(|&(r, m)| r > 0 && p.plan.held[m] == 0)
        .collect();
    debug_assert!(p.pending.iter().all(
        |&m| (p.plan.held[m] > 0) == (0..view.gpus.len()).any(|g| p.plan.resident(view, g, m))
    ));
    if want.is_empty() {
        return;
    }
    want.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (n, m) in want {
        let ms = &view.models[m];
        let latest = p.queues[m].last_deadline(&ms.queue).expect("pending");
        let in_time = |g: GpuId| {
            view.profile(m, g)
                .is_some_and(|pr| latest >= view.now + pr.load_ns + pr.min_exec_ns())
        };
        if !(0..view.gpus.len()).any(in_time) {
            // No pending request could finish even right after a load: drop rather than load in vain.
            let ids = p.take(view, m, n, out);
            out.actions.push(Action::Drop {
                model: m,
                requests: ids,
            });
            continue;
        }
        // The GPU needing the fewest evictions, then free the soonest. One
        // where it fits as it is needs none: if there is one, the others'
        // victims need not be worked out.
        let open = |g: GpuId| !p.plan.transferring(view, g) && in_time(g);
        let free_at = |g: GpuId| view.gpus[g].expected_free_at(view.now);
        let roomy = (0..view.gpus.len())
            .filter(|&g| open(g) && fits(p, view, g, m))
            .min_by_key(|&g| (free_at(g), g));
        let best = match roomy {
            Some(g) => Some((g, Vec::new())),
            None => {
                // Each needs at least one eviction: tried by (free at, id), the
                // first that needs only one is the best, and no other's
                // victims need be worked out.
                let mut gpus: Vec<GpuId> = (0..view.gpus.len()).filter(|&g| open(g)).collect();
                gpus.sort_unstable_by_key(|&g| (free_at(g), g));
                let mut best: Option<(usize, GpuId, Vec<ModelId>)> = None;
                for g in gpus {
                    if let Some(v) = victims(p, view, g, m)
                        && best.as_ref().is_none_or(|b| v.len() < b.0)
                    {
                        let one = v.len() == 1;
                        best = Some((v.len(), g, v));
                        if one {
                            break;
                        }
                    }
                }
                best.map(|(_, g, v)| (g, v))
            }
        };
        let Some((g, vs)) = best else { continue };
        p.plan.load(g, m, vs, out);
    }
}

/// At a period's end: one more replica for each model whose share exceeds what its GPUs give.
pub(super) fn replicas(p: &mut InferFair, view: &View, resident: &Residence, out: &mut Decision) {
    let n = view.gpus.len();
    if n < 2 {
        return;
    }
    // The GPUs' count: the planned one less what this decision planned (an earlier period's replicas).
    let mut holders: Vec<usize> = p.plan.held.iter().map(|&h| h as usize).collect();
    for &(_, m) in &p.plan.loaded {
        holders[m] -= 1;
    }
    for &(_, m) in &p.plan.evicted {
        holders[m] += 1;
    }
    debug_assert!(
        (0..view.models.len())
            .all(|m| holders[m] == view.gpus.iter().filter(|g| g.is_resident(m)).count())
    );
    // Only the models active in the last period have a share (the others'
    // is 0): at Azure scale a few hundred of 4,000.
    let active = &p.was_active;
    let mut order: Vec<ModelId> = active
        .iter()
        .copied()
        .filter(|&m| p.models[m].share > 0.0 && holders[m] > 0 && holders[m] < n)
        .collect();
    if order.is_empty() {
        // Every model with a share is everywhere already.
        return;
    }
    // Each GPU's subscription: the shares of its models, each split over
    // its holders (0 for a model without a share, as 0 / holders would be).
    let mut per_holder = vec![0.0; view.models.len()];
    for &m in active {
        per_holder[m] = p.models[m].share / holders[m] as f64;
    }
    let mut sub: Vec<f64> = view
        .gpus
        .iter()
        .map(|g| g.resident.iter().map(|&m| per_holder[m]).sum())
        .collect();
    order.sort_unstable_by(|&a, &b| {
        p.models[b]
            .share
            .total_cmp(&p.models[a].share)
            .then(a.cmp(&b))
    });
    let mut gpus: Vec<GpuId> = Vec::with_capacity(n);
    for m in order {
        let share = p.models[m].share;
        let part = share / holders[m] as f64;
        let give: f64 = (resident.of(view, m).iter())
            .map(|&g| (1.0 - (sub[g] - part)).max(0.0))
            .sum();
        if share <= 1.1 * give {
            continue;
        }
        // The least subscribed GPU that can make room: tried in that order,
        // the first that can is the one (victims are worked out only until then).
        gpus.clear();
        gpus.extend(
            (0..n).filter(|&g| !p.plan.transferring(view, g) && !p.plan.resident(view, g, m)),
        );
        gpus.sort_unstable_by(|&a, &b| sub[a].total_cmp(&sub[b]).then(a.cmp(&b)));
        let best = gpus
            .iter()
            .find_map(|&g| victims(p, view, g, m).map(|v| (g, v)));
        let Some((g, vs)) = best else { continue };
        for &v in &vs {
            sub[g] -= p.models[v].share / holders[v].max(1) as f64;
        }
        p.plan.load(g, m, vs, out);
        sub[g] += share / (holders[m] + 1) as f64;
    }
}
