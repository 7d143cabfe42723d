//! InferFair (Peng & Peng, FGCS 2023), as this project designs it from the
//! paper's abstract (see `docs/inferfair.md`): every period, estimate each
//! active model's effective throughput requirement (ETR) and allocate GPU
//! time so that every model gets the same fraction of its ETR; within the
//! period, adjust finely: dispatch by normalized deficit of GPU time
//! (least slack first when nothing is scarce), drop what cannot make its
//! deadline, wait for bigger batches when slack allows, and move weight by
//! feedback toward the models that fall behind.

mod allocate;
mod config;
mod estimate;
mod placement;

pub use config::InferFairConfig;
pub use estimate::ModelCurve;

use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use allocate::Demand;
use estimate::ewma;

/// What InferFair keeps per model instance.
#[derive(Clone, Debug)]
struct ModelInfo {
    curve: ModelCurve,
    /// Arrivals in the current period.
    arrivals: u64,
    /// Arrival rate estimate (req/s), EWMA over periods.
    rate: f64,
    seen: bool,
    /// Requests completed within their deadline in the current period.
    good: u64,
    /// Smoothed good requests per period, and smoothed per-period requirement
    /// (arrivals capped by what the model alone could serve in a period).
    served: f64,
    required: f64,
    etr: f64,
    /// Expected batch size at the ETR, and its execution time.
    batch: u32,
    batch_exec: Nanos,
    /// The effective share (GPU s/s) after feedback weights.
    share: f64,
    weight: f64,
    /// Unspent GPU-time credit (ns) and this period's grant.
    balance: f64,
    grant: f64,
    /// In the list of models that may have pending requests.
    listed: bool,
}

/// The InferFair policy.
#[derive(Debug)]
pub struct InferFair {
    cfg: InferFairConfig,
    period: Nanos,
    models: Vec<ModelInfo>,
    next_period: Nanos,
    overloaded: bool,
    /// Models that may have pending requests.
    pending: Vec<ModelId>,
    /// Per model: requests consumed from the front of its queue in this decision.
    skip: Vec<usize>,
    /// Loads and evictions planned in this decision.
    plan: placement::Plan,
    /// Scratch: an idle GPU's candidates in dispatch order (kept to reuse its allocation).
    order: Vec<(f64, Nanos, ModelId)>,
}

struct DemandOf<'a> {
    info: &'a ModelInfo,
    floor: f64,
}

impl Demand for DemandOf<'_> {
    fn etr(&self) -> f64 {
        self.info.etr
    }
    fn need(&self, rate: f64) -> f64 {
        self.info.curve.need(rate)
    }
    fn floor(&self) -> f64 {
        self.floor
    }
}

impl InferFair {
    /// An InferFair policy (parameters already validated).
    pub fn new(cfg: InferFairConfig) -> Self {
        let period = crate::time::from_ms(cfg.period_ms).max(1);
        InferFair {
            cfg,
            period,
            models: Vec::new(),
            next_period: period,
            overloaded: false,
            pending: Vec::new(),
            skip: Vec::new(),
            plan: placement::Plan::default(),
            order: Vec::new(),
        }
    }

    fn remaining(&self, view: &View, m: ModelId) -> usize {
        view.models[m].queue.len() - self.skip[m]
    }

    /// Drops the front requests of `m` that cannot finish by their deadline
    /// even if their smallest batch started now.
    fn drop_expired(&mut self, view: &View, m: ModelId, out: &mut Decision) {
        let q = &view.models[m].queue;
        let min_exec = view.models[m].fastest().min_exec_ns();
        let start = self.skip[m];
        let k = q
            .range(start..)
            .take_while(|r| r.deadline < view.now + min_exec)
            .count();
        if k > 0 {
            let ids = q.range(start..start + k).map(|r| r.id).collect();
            out.actions.push(Action::Drop {
                model: m,
                requests: ids,
            });
            self.skip[m] += k;
        }
    }

    /// The end of a period: estimate, allocate, feedback, credits, clean-up, replicas.
    fn end_period(&mut self, view: &View, out: &mut Decision) {
        let p_s = self.period as f64 * 1e-9;
        let cfg = self.cfg.clone();
        let mut active = Vec::new();
        for (i, info) in self.models.iter_mut().enumerate() {
            let measured = info.arrivals as f64 / p_s;
            let required = (info.arrivals as f64).min(info.curve.cap_rps * p_s);
            info.required = ewma(info.required, required, cfg.achieved_ewma);
            info.served = ewma(info.served, info.good as f64, cfg.achieved_ewma);
            if !info.seen && info.arrivals > 0 {
                info.seen = true;
                info.rate = measured;
            } else {
                let w = if measured > info.rate {
                    cfg.rate_ewma_up
                } else {
                    cfg.rate_ewma
                };
                info.rate = ewma(info.rate, measured, w);
            }
            info.arrivals = 0;
            let backlog = view.models[i].queue.len() - self.skip[i];
            let is_active = backlog > 0 || info.rate * p_s >= 0.01;
            info.etr = if is_active {
                info.curve.etr(info.rate)
            } else {
                0.0
            };
            let bi = info.curve.batch_index(info.etr);
            info.batch = info.curve.sizes[bi];
            info.batch_exec = (info.curve.exec_s[bi] * 1e9) as Nanos;
            info.good = 0;
            if is_active {
                active.push(i);
            }
        }
        let capacity = view.gpus.len() as f64 * (1.0 - cfg.headroom);
        let floors: Vec<f64> = active
            .iter()
            .map(|&i| {
                let info = &self.models[i];
                if !cfg.min_share {
                    return 0.0;
                }
                let per_period = if view.models[i].queue.len() > self.skip[i] {
                    1.0 / p_s
                } else {
                    info.rate.min(1.0 / p_s)
                };
                info.curve.min_exec_s() * per_period
            })
            .collect();
        let demands: Vec<DemandOf> = active
            .iter()
            .zip(&floors)
            .map(|(&i, &floor)| DemandOf {
                info: &self.models[i],
                floor,
            })
            .collect();
        let alloc = allocate::allocate(&demands, capacity, cfg.fairness);
        let mut shares = if cfg.estimation {
            alloc.shares.clone()
        } else {
            vec![capacity / active.len().max(1) as f64; active.len()]
        };
        drop(demands);
        self.overloaded = alloc.overloaded;

        if cfg.feedback && cfg.fairness > 0.0 && self.overloaded {
            let fed: Vec<usize> = active
                .iter()
                .copied()
                .filter(|&i| self.models[i].required > 0.0)
                .collect();
            if !fed.is_empty() {
                let achieved = |info: &ModelInfo| (info.served / info.required).clamp(1e-3, 1.0);
                let mean =
                    fed.iter().map(|&i| achieved(&self.models[i])).sum::<f64>() / fed.len() as f64;
                let mut log_sum = 0.0;
                for &i in &fed {
                    let info = &mut self.models[i];
                    info.weight *= (mean / achieved(info)).powf(cfg.feedback_gain);
                    log_sum += info.weight.ln();
                }
                // Keep the weights' geometric mean at 1 so that they cannot drift together into the clamps.
                let norm = (-log_sum / fed.len() as f64).exp();
                for &i in &fed {
                    let info = &mut self.models[i];
                    info.weight = (info.weight * norm).clamp(cfg.weight_min, cfg.weight_max);
                }
            }
        }
        // Effective shares: weighted (the fairness knob tempers the feedback's
        // weights: weight^fairness), renormalized to the same total, floors kept.
        let total: f64 = shares.iter().sum();
        let eff = |w: f64| w.powf(cfg.fairness);
        let weighted: f64 = active
            .iter()
            .zip(&shares)
            .map(|(&i, s)| s * eff(self.models[i].weight))
            .sum();
        if weighted > 0.0 {
            for ((s, &i), f) in shares.iter_mut().zip(&active).zip(&floors) {
                *s = (*s * eff(self.models[i].weight) * total / weighted).max(*f);
            }
        }
        for info in &mut self.models {
            info.share = 0.0;
        }
        for (&i, &s) in active.iter().zip(&shares) {
            self.models[i].share = s;
        }
        // Credits: carry at most `carry_periods` of unused credit; an empty queue banks none.
        let p_ns = self.period as f64;
        for (i, info) in self.models.iter_mut().enumerate() {
            let grant = info.share * p_ns;
            let empty = view.models[i].queue.len() == self.skip[i];
            let cap = if empty {
                0.0
            } else {
                grant * cfg.carry_periods
            };
            info.balance = info.balance.clamp(-grant, cap) + grant;
            info.grant = grant;
        }
        // Clean-up: requests that can no longer make their deadline.
        for k in 0..self.pending.len() {
            let m = self.pending[k];
            self.drop_expired(view, m, out);
        }
        if cfg.replicas {
            placement::replicas(self, view, out);
        }
    }

    /// Chooses which of `m`'s pending requests to run now: `(k, n, exec)` =
    /// skip (drop) the first `k`, run the next `n`. Normally `k = 0` and `n` is
    /// the largest batch whose execution meets the earliest deadline in it.
    /// Under overload, the batch that serves the most requests per GPU second
    /// (Clockwork's per-batch-size drop step, in effect: the oldest requests
    /// that a bigger batch cannot include in time are given up for it).
    fn batch_for(&self, view: &View, m: ModelId, g: GpuId) -> Option<(usize, usize, Nanos)> {
        let ms = &view.models[m];
        let p = view.profile(m, g)?;
        let q = &ms.queue;
        let start = self.skip[m];
        if start >= q.len() {
            return None;
        }
        if self.overloaded && self.cfg.efficient_batches {
            let mut best: Option<(usize, usize, Nanos)> = None;
            for &b in &p.batch_sizes {
                let exec_b = p.exec_exact(b).expect("an allowed size");
                let k = q
                    .partition_point(|r| r.deadline < view.now + exec_b)
                    .max(start)
                    - start;
                let n = (q.len() - start - k).min(b as usize);
                if n == 0 {
                    continue;
                }
                let exec = p.exec_for(n as u32).expect("n <= b");
                let better = match best {
                    None => true,
                    // More requests per GPU second; then fewer given up; then the bigger batch.
                    Some((bk, bn, be)) => {
                        let (lhs, rhs) =
                            ((n as u128) * (be as u128), (bn as u128) * (exec as u128));
                        lhs > rhs
                            || (lhs == rhs
                                && (k, std::cmp::Reverse(n)) < (bk, std::cmp::Reverse(bn)))
                    }
                };
                if better {
                    best = Some((k, n, exec));
                }
            }
            return best;
        }
        let avail = (q.len() - start).min(p.max_batch() as usize);
        let mut best = None;
        let mut min_deadline = Nanos::MAX;
        for (k, r) in q.range(start..start + avail).enumerate() {
            min_deadline = min_deadline.min(r.deadline);
            let n = k + 1;
            if !(p.batch_sizes.contains(&(n as u32)) || n == avail) {
                continue;
            }
            let exec = p.exec_for(n as u32).expect("n <= max batch");
            if view.now + exec > min_deadline {
                break;
            }
            best = Some((0, n, exec));
        }
        best
    }

    /// The order key of model `m` (smaller goes first): under overload, the
    /// normalized deficit (unspent credit over this period's grant, largest
    /// first); otherwise, and for ties, the latest start time of its front
    /// request with the batch its queue can form (least slack first).
    fn key(&self, view: &View, m: ModelId, g: GpuId, fair_mode: bool) -> (f64, Nanos, ModelId) {
        let ms = &view.models[m];
        let start = self.skip[m];
        let n = (ms.queue.len() - start).min(view.max_batch(m, g) as usize) as u32;
        let exec = view.exec_ns(m, g, n).expect("n <= max batch");
        let latest = ms.queue[start].deadline.saturating_sub(exec);
        let info = &self.models[m];
        let deficit = if !fair_mode {
            0.0
        } else if info.grant > 0.0 {
            -(info.balance / info.grant)
        } else {
            f64::MAX
        };
        (deficit, latest, m)
    }

    /// Gives every idle GPU the best batch among the models loaded on it.
    fn dispatch(&mut self, view: &View, out: &mut Decision) {
        let idle: Vec<usize> = view
            .gpus
            .iter()
            .filter(|g| g.is_idle())
            .map(|g| g.id)
            .collect();
        if idle.is_empty() {
            return;
        }
        let fair_mode = self.overloaded || !self.cfg.overload_only;
        let batching = fair_mode && self.cfg.batching;
        // The longest batch another model may be running when a model is dispatched.
        let mut top = [(0u64, usize::MAX); 2];
        if batching {
            for &m in &self.pending {
                let e = self.models[m].batch_exec;
                if e > top[0].0 {
                    top = [(e, m), top[0]];
                } else if e > top[1].0 {
                    top[1] = (e, m);
                }
            }
        }
        let mut wake: Option<Nanos> = None;
        let mut order = std::mem::take(&mut self.order);
        for &g in &idle {
            let gpu = &view.gpus[g];
            order.clear();
            order.extend(
                self.pending
                    .iter()
                    .filter(|&&m| self.remaining(view, m) > 0 && gpu.is_loaded(m))
                    .map(|&m| self.key(view, m, g, fair_mode)),
            );
            order.sort_unstable_by(|a, b| {
                a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
            });
            // Models that can afford to wait for a bigger batch go last: they run only if nothing else can.
            let mut deferred: Option<(ModelId, usize, usize, Nanos)> = None;
            let mut chosen = None;
            for &(_, _, m) in &order {
                if self.remaining(view, m) == 0 {
                    continue;
                }
                self.drop_expired(view, m, out);
                let Some((k, n, exec)) = self.batch_for(view, m, g) else {
                    continue;
                };
                if batching {
                    let info = &self.models[m];
                    if (n as u32) < info.batch && self.remaining(view, m) - k < info.batch as usize
                    {
                        let other = if top[0].1 == m { top[1].0 } else { top[0].0 };
                        let front = view.models[m].queue[self.skip[m] + k];
                        let latest = front.deadline.saturating_sub(info.batch_exec);
                        if latest > view.now + other {
                            let t = latest - other;
                            wake = Some(wake.map_or(t, |w| w.min(t)));
                            deferred = deferred.or(Some((m, k, n, exec)));
                            continue;
                        }
                    }
                }
                chosen = Some((m, k, n, exec));
                break;
            }
            let Some((m, k, n, exec)) = chosen.or(deferred) else {
                continue;
            };
            let start = self.skip[m];
            if k > 0 {
                let ids = view.models[m]
                    .queue
                    .range(start..start + k)
                    .map(|r| r.id)
                    .collect();
                out.actions.push(Action::Drop {
                    model: m,
                    requests: ids,
                });
            }
            let ids = view.models[m]
                .queue
                .range(start + k..start + k + n)
                .map(|r| r.id)
                .collect();
            self.skip[m] += k + n;
            self.models[m].balance -= exec as f64;
            out.actions.push(Action::Dispatch(Dispatch::new(g, m, ids)));
        }
        self.order = order;
        if let Some(w) = wake {
            out.wake(w);
        }
    }
}

impl Policy for InferFair {
    fn name(&self) -> &'static str {
        "inferfair"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        self.models = view
            .models
            .iter()
            .map(|m| {
                let curve = ModelCurve::new(m.fastest(), m.slo, self.cfg.slo_fraction);
                ModelInfo {
                    batch: curve.sizes[0],
                    batch_exec: (curve.exec_s[0] * 1e9) as Nanos,
                    curve,
                    arrivals: 0,
                    rate: 0.0,
                    seen: false,
                    good: 0,
                    served: 0.0,
                    required: 0.0,
                    etr: 0.0,
                    share: 0.0,
                    weight: 1.0,
                    balance: 0.0,
                    grant: 0.0,
                    listed: false,
                }
            })
            .collect();
        self.skip = vec![0; view.models.len()];
        placement::initial(view, out);
    }

    fn notify(&mut self, _view: &View, notice: &Notice) {
        match notice {
            Notice::Arrival(r) => {
                let info = &mut self.models[r.model];
                info.arrivals += 1;
                if !info.listed {
                    info.listed = true;
                    self.pending.push(r.model);
                }
            }
            Notice::BatchDone {
                batch, finished, ..
            } => {
                let good = batch
                    .requests
                    .iter()
                    .filter(|r| r.deadline >= *finished)
                    .count();
                self.models[batch.model].good += good as u64;
            }
            _ => {}
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        for &m in &self.pending {
            self.skip[m] = 0;
        }
        self.plan.reset(view);
        while view.now >= self.next_period {
            self.end_period(view, out);
            self.next_period += self.period;
        }
        // Forget models whose queues are empty.
        let mut k = 0;
        while k < self.pending.len() {
            let m = self.pending[k];
            if view.models[m].queue.len() == self.skip[m] {
                self.models[m].listed = false;
                self.skip[m] = 0;
                self.pending.swap_remove(k);
            } else {
                k += 1;
            }
        }
        self.dispatch(view, out);
        placement::on_demand(self, view, out);
        out.wake(self.next_period);
    }
}
