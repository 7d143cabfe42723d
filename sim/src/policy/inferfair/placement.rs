//! Where InferFair's models live: everything everywhere when it fits,
//! otherwise spread at start, loaded on demand for pending requests (never
//! for requests that could not finish even after the load), and an extra
//! replica at a period's end for a model whose share exceeds what its GPUs
//! give. Victims of eviction are idle models with nothing pending, lowest
//! estimated rate first, then least recently used. A model's parts (from
//! the grouping) stay on the GPUs where it is resident.

use super::InferFair;
use super::group::Part;
use crate::policy::{Action, Decision, View};
use crate::state::{GpuId, ModelId};

/// A model's parts restricted to the GPUs where it is resident (loaded or
/// loading), keeping its share: the parts on other GPUs are spread over the
/// resident ones in proportion; with none of its target GPUs resident, its
/// share is split evenly over the GPUs where it is; resident nowhere: no part.
pub(super) fn on_resident(view: &View, m: ModelId, share: f64, target: Vec<Part>) -> Vec<Part> {
    let here = |g: GpuId| view.gpus[g].is_resident(m);
    let mut parts: Vec<Part> = target.into_iter().filter(|p| here(p.gpu)).collect();
    if parts.is_empty() {
        parts = (0..view.gpus.len())
            .filter(|&g| here(g))
            .map(|gpu| Part { gpu, share: 1.0 })
            .collect();
    }
    let sum: f64 = parts.iter().map(|p| p.share).sum();
    if sum > 0.0 {
        parts.iter_mut().for_each(|p| p.share *= share / sum);
    }
    parts
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

/// Plans to fit `model` on `gpu`: the models to evict (empty if it fits), or None.
fn victims(p: &InferFair, view: &View, gpu: GpuId, model: ModelId) -> Option<Vec<ModelId>> {
    let plan = &p.plan;
    let g = &view.gpus[gpu];
    if !view.can_run(model, gpu) {
        return None;
    }
    let need = view.weights_bytes(model, gpu);
    let bytes = |list: &[(GpuId, ModelId)]| -> u64 {
        list.iter()
            .filter(|e| e.0 == gpu)
            .map(|e| view.weights_bytes(e.1, gpu))
            .sum()
    };
    let mut free = (g.free_bytes() + bytes(&plan.evicted)).saturating_sub(bytes(&plan.loaded));
    if free >= need {
        return Some(vec![]);
    }
    let mut cands: Vec<ModelId> = g
        .resident
        .iter()
        .copied()
        .filter(|&v| {
            g.is_loaded(v)
                && !g.has_work_for(v)
                && view.models[v].queue.is_empty()
                && !plan.evicted.contains(&(gpu, v))
        })
        .collect();
    cands.sort_by(|&a, &b| {
        p.models[a]
            .rate
            .total_cmp(&p.models[b].rate)
            .then(g.last_used[a].cmp(&g.last_used[b]))
            .then(a.cmp(&b))
    });
    let mut out = Vec::new();
    for v in cands {
        if free >= need {
            break;
        }
        free += view.weights_bytes(v, gpu);
        out.push(v);
    }
    (free >= need).then_some(out)
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
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (n, m) in want {
        let ms = &view.models[m];
        let latest = p.queues[m].last_deadline(&ms.queue).expect("pending");
        let in_time = |g: GpuId| {
            view.profile(m, g)
                .is_some_and(|pr| latest >= view.now + pr.load_ns + pr.min_exec_ns())
        };
        if !(0..view.gpus.len()).any(in_time) {
            // No pending request could finish even right after a load: drop rather than load in vain.
            let ids = p.take(view, m, n);
            out.actions.push(Action::Drop {
                model: m,
                requests: ids,
            });
            continue;
        }
        let best = (0..view.gpus.len())
            .filter(|&g| !p.plan.transferring(view, g) && in_time(g))
            .filter_map(|g| {
                victims(p, view, g, m)
                    .map(|v| (v.len(), view.gpus[g].expected_free_at(view.now), g, v))
            })
            .min_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let Some((_, _, g, vs)) = best else { continue };
        p.plan.load(g, m, vs, out);
    }
}

/// At a period's end: one more replica for each model whose share exceeds what its GPUs give.
pub(super) fn replicas(p: &mut InferFair, view: &View, out: &mut Decision) {
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
    let mut sub: Vec<f64> = view
        .gpus
        .iter()
        .map(|g| {
            g.resident
                .iter()
                .map(|&m| p.models[m].share / holders[m] as f64)
                .sum()
        })
        .collect();
    let mut order: Vec<ModelId> = (0..view.models.len())
        .filter(|&m| p.models[m].share > 0.0 && holders[m] > 0 && holders[m] < n)
        .collect();
    order.sort_by(|&a, &b| {
        p.models[b]
            .share
            .total_cmp(&p.models[a].share)
            .then(a.cmp(&b))
    });
    for m in order {
        let share = p.models[m].share;
        let part = share / holders[m] as f64;
        let give: f64 = view
            .gpus
            .iter()
            .filter(|g| g.is_resident(m))
            .map(|g| (1.0 - (sub[g.id] - part)).max(0.0))
            .sum();
        if share <= 1.1 * give {
            continue;
        }
        let best = (0..n)
            .filter(|&g| !p.plan.transferring(view, g) && !p.plan.resident(view, g, m))
            .filter_map(|g| victims(p, view, g, m).map(|v| (sub[g], g, v)))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let Some((_, g, vs)) = best else { continue };
        for &v in &vs {
            sub[g] -= p.models[v].share / holders[v].max(1) as f64;
        }
        p.plan.load(g, m, vs, out);
        sub[g] += share / (holders[m] + 1) as f64;
    }
}
