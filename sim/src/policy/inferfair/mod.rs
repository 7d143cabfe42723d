//! InferFair (Peng & Peng, FGCS 2023), as this project designs it from the
//! paper's abstract (see `docs/inferfair.md`): every period, estimate each
//! active model's effective throughput requirement (ETR) on the cluster and
//! allocate GPU time so that every model gets the same fraction of its ETR;
//! split each model's share over the GPUs so that models that hurt each
//! other are kept apart (`group`); within the period, adjust finely: each GPU
//! dispatches by normalized deficit of GPU time over the models it holds
//! parts of (least slack first when nothing is scarce), drops what cannot
//! make its deadline, waits for bigger batches when slack allows, and the
//! feedback moves weight toward the models that fall behind.

mod allocate;
mod ascending;
mod config;
mod corun;
mod dispatch;
mod estimate;
mod group;
mod pending;
mod placement;
mod record;

pub use config::InferFairConfig;
pub use estimate::ModelCurve;
pub use record::{ModelRecord, PartRecord, PeriodRecord};

use super::slots::Slots;
use super::{Decision, Notice, Policy, View, to_table};
use crate::cluster::PoolId;
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use allocate::Demand;
use estimate::ewma;
use pending::Pending;
use std::cell::Cell;

/// A model's part of its share on one GPU, and its credit there.
#[derive(Clone, Debug, PartialEq)]
struct Part {
    gpu: GpuId,
    /// GPU seconds per second of this GPU.
    share: f64,
    /// Unspent GPU-time credit (ns) and this period's grant.
    balance: f64,
    grant: f64,
    /// GPU time used and requests completed in time here in this period (for the record).
    used: f64,
    good: u64,
}

/// What InferFair keeps per model instance.
#[derive(Clone, Debug)]
struct ModelInfo {
    curve: ModelCurve,
    /// Room for queueing behind other models: (1 - slo_fraction) * SLO.
    room: Nanos,
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
    /// The share split over GPUs (GPUs ascending).
    parts: Vec<Part>,
    /// In the list of models that may have pending requests, and where.
    listed: bool,
    pos: usize,
    /// Requests were consumed from its queue since the last decision began.
    touched: bool,
    /// In `partless` (see there).
    partless: bool,
    /// In `live` (see there); when not, the number of period ends that its
    /// estimates have seen.
    live: bool,
    synced: u64,
    /// The second part of its order key (`key`) on a GPU of the pool it
    /// names, while its pending requests stay as they were then: forgotten
    /// whenever they change (an arrival, a take, a decision's reset), it is
    /// found again when next read. Most candidates of an idle GPU have not
    /// changed since the last GPU ordered them.
    latest: Cell<Option<(PoolId, Nanos)>>,
}

impl ModelInfo {
    fn part(&self, g: GpuId) -> Option<&Part> {
        self.parts.iter().find(|p| p.gpu == g)
    }
}

/// Appends to `out` the union of `a` and `b`, both increasing, increasing.
fn union_into(a: &[ModelId], b: &[ModelId], out: &mut Vec<ModelId>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let m = a[i].min(b[j]);
        i += (a[i] == m) as usize;
        j += (b[j] == m) as usize;
        out.push(m);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// The InferFair policy.
#[derive(Debug)]
pub struct InferFair {
    cfg: InferFairConfig,
    period: Nanos,
    models: Vec<ModelInfo>,
    next_period: Nanos,
    overloaded: bool,
    fraction: f64,
    /// What each GPU gives per second, in seconds of each model's fastest
    /// pool (the unit of the allocation): 1 for every GPU of a one-pool
    /// cluster; on unequal GPUs, the demand-weighted harmonic mean of the
    /// active models' speed there (`sigma`); times `rho` where batches run at once.
    speed: Vec<f64>,
    /// Per model and pool: how fast the model runs there relative to its
    /// fastest pool (its SLO-feasible throughput there over that on its
    /// fastest pool; 0 where it cannot run).
    sigma: Vec<Vec<f64>>,
    /// The pool of each GPU.
    pool_of: Vec<usize>,
    /// Whether every GPU is of one type (then `sigma` is 1 everywhere).
    uniform: bool,
    /// Per GPU: solo work it completes per busy second (1 for one batch at a
    /// time; measured where batches run at once), and its current busy period.
    rho: Vec<f64>,
    busy: Vec<Busy>,
    /// Models that may have pending requests.
    pending: Vec<ModelId>,
    /// The models whose estimates a period's end updates. The others are
    /// quiet: not active, with no arrival, completion or pending request
    /// since the period end that found them so, each of which only decays
    /// their rate and achieved-fraction averages toward 0 and leaves the
    /// rest as it is: the decay is applied when they are next read or woken
    /// (`sync`), step by step, the same arithmetic in the same order.
    live: Vec<ModelId>,
    /// Models woken since the last period end (merged into `live`, which
    /// stays increasing, there), and a scratch list for the merge.
    woken: Vec<ModelId>,
    merged: Vec<ModelId>,
    /// Period ends so far.
    period_ends: u64,
    /// Per model: its pending requests in deadline order, less those consumed in this decision.
    queues: Vec<Pending>,
    /// Models whose queues were consumed from since the last decision began
    /// (only they need their queue state reset, and only they can have
    /// emptied their queue), and a scratch copy.
    touched: Vec<ModelId>,
    recheck: Vec<ModelId>,
    /// Scratch: the positions in `pending` of the models `forget_empty` takes off.
    forgotten: Vec<usize>,
    /// Pending requests of all models, less those consumed in this decision.
    left: usize,
    /// Per model: `cluster_cap`.
    caps: Vec<f64>,
    /// The models active in the last period (the only ones with parts or a share).
    was_active: Vec<ModelId>,
    /// Per GPU: the smallest room for queueing of the models with a part there.
    gpu_room: Vec<Nanos>,
    /// Per GPU: the models with a part there, increasing: an idle GPU's
    /// candidates under overload and the longest batches beside them,
    /// without a scan of every pending model.
    own: Vec<Vec<ModelId>>,
    /// The listed models that have no part anywhere (new since the last
    /// period end), with entries of models no longer listed: the other
    /// candidates of an idle GPU under overload.
    partless: Vec<ModelId>,
    /// Whether `own` and `partless` are set for this period's parts
    /// (`index_parts`; until then `partless` only gains models).
    own_fresh: bool,
    /// Loads and evictions planned in this decision.
    plan: placement::Plan,
    /// The GPUs' free batch slots, mirrored (a decision visits only the GPUs with some).
    slots: Slots,
    /// Per GPU: the last dispatch in which some model with requests left
    /// was loaded there (only those GPUs have candidates), and the count
    /// of dispatches; or every GPU may have candidates in this one.
    runnable: Vec<u64>,
    dispatches: u64,
    all_runnable: bool,
    /// Scratch, kept between periods for their buffers: the grouping's
    /// parts, those parts on resident GPUs, a model's parts being renewed.
    target: group::Split,
    new_parts: group::Split,
    spare_parts: Vec<Part>,
    /// Scratch: an idle GPU's candidates in dispatch order, or a GPU's
    /// candidates for eviction (`placement::victims`), kept to reuse its
    /// allocation.
    order: Vec<std::cmp::Reverse<(u64, Nanos, ModelId)>>,
    /// The record of periods, when asked for.
    log: Option<Vec<PeriodRecord>>,
}

/// A GPU's busy period, for the solo work it completes per busy second.
#[derive(Clone, Copy, Debug, Default)]
struct Busy {
    first: Nanos,
    last: Nanos,
    /// Solo work of the period's batches (profiled ns).
    work: f64,
    open: bool,
    /// Totals of the closed periods of this estimation period.
    busy_ns: f64,
    work_ns: f64,
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
    fn step(&self, rate: f64) -> usize {
        self.info.curve.batch_index(rate)
    }
    fn need_at(&self, rate: f64, step: usize) -> f64 {
        self.info.curve.need_at(rate, step)
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
            fraction: 1.0,
            speed: Vec::new(),
            sigma: Vec::new(),
            pool_of: Vec::new(),
            uniform: true,
            rho: Vec::new(),
            busy: Vec::new(),
            pending: Vec::new(),
            live: Vec::new(),
            woken: Vec::new(),
            merged: Vec::new(),
            period_ends: 0,
            queues: Vec::new(),
            touched: Vec::new(),
            recheck: Vec::new(),
            forgotten: Vec::new(),
            left: 0,
            caps: Vec::new(),
            was_active: Vec::new(),
            gpu_room: Vec::new(),
            own: Vec::new(),
            partless: Vec::new(),
            own_fresh: false,
            plan: placement::Plan::default(),
            slots: Slots::default(),
            runnable: Vec::new(),
            dispatches: 0,
            all_runnable: false,
            order: Vec::new(),
            target: group::Split::default(),
            new_parts: group::Split::default(),
            spare_parts: Vec::new(),
            log: None,
        }
    }

    /// Keeps a record of every period (see `periods`).
    pub fn record_periods(&mut self) {
        self.log = Some(Vec::new());
    }

    /// The periods recorded so far (empty unless `record_periods` was called).
    pub fn periods(&self) -> &[PeriodRecord] {
        self.log.as_deref().unwrap_or(&[])
    }

    /// Pending requests of `m` not consumed in this decision (a model not
    /// in `pending` has none: its queue state is only reset on its next arrival).
    fn remaining(&self, view: &View, m: ModelId) -> usize {
        if self.models[m].listed {
            self.queues[m].len(&view.models[m].queue)
        } else {
            0
        }
    }

    /// Consumes the first `k` pending requests of `m` in deadline order
    /// (dispatched or dropped); their ids, increasing, in a list from `out`.
    fn take(
        &mut self,
        view: &View,
        m: ModelId,
        k: usize,
        out: &mut Decision,
    ) -> Vec<crate::state::RequestId> {
        let info = &mut self.models[m];
        if !info.touched {
            info.touched = true;
            self.touched.push(m);
        }
        info.latest.set(None);
        self.left -= k;
        self.queues[m].take(&view.models[m].queue, k, out.ids())
    }

    /// Lists `m` among the models that may have pending requests.
    fn list(&mut self, m: ModelId) {
        let info = &mut self.models[m];
        info.listed = true;
        info.pos = self.pending.len();
        self.pending.push(m);
        if info.parts.is_empty() && !info.partless {
            info.partless = true;
            self.partless.push(m);
        }
    }

    /// Forgets the listed models among `cands` whose queues are empty, taking
    /// them off `pending` as a scan from its front would (each removed by
    /// `swap_remove`, the last model moving into its place), so that the
    /// order of `pending` is the same as if every model had been checked.
    fn forget_empty(&mut self, view: &View, cands: &[ModelId]) {
        let mut ks = std::mem::take(&mut self.forgotten);
        ks.clear();
        ks.extend(
            cands
                .iter()
                .filter(|&&m| self.models[m].listed && self.remaining(view, m) == 0)
                .map(|&m| self.models[m].pos),
        );
        debug_assert!(
            self.pending
                .iter()
                .all(|&m| self.remaining(view, m) > 0 || ks.contains(&self.models[m].pos)),
            "a listed model with an empty queue that was not consumed from"
        );
        ks.sort_unstable();
        ks.dedup();
        let mut i = 0;
        while i < ks.len() {
            let k = ks[i];
            let last = self.pending.len() - 1;
            let m = self.pending.swap_remove(k);
            self.models[m].listed = false;
            if k < last {
                let moved = self.pending[k];
                self.models[moved].pos = k;
                if ks.last() == Some(&last) {
                    // The model moved here is empty too: the scan removes it next, here.
                    ks.pop();
                    continue;
                }
            }
            i += 1;
        }
        self.forgotten = ks;
    }

    /// How fast model `m` runs on GPU `g` relative to its fastest pool.
    fn sigma(&self, m: ModelId, g: GpuId) -> f64 {
        if self.uniform {
            1.0
        } else {
            self.sigma[m][self.pool_of[g]]
        }
    }

    /// The most `m` could serve within its SLO with the whole cluster (req/s);
    /// fixed for a run, kept in `caps`.
    fn cluster_cap(&self, m: ModelId) -> f64 {
        let gpus: f64 = (0..self.pool_of.len()).map(|g| self.sigma(m, g)).sum();
        self.models[m].curve.cap_rps * gpus
    }

    /// Each GPU's speed for the current mix: on unequal GPUs, the harmonic
    /// mean of the active models' `sigma` there, weighted by their demand
    /// (the rate at which the GPU does a unit of the mix's work), over the
    /// models it can run; times the solo work per busy second (`rho`).
    fn refresh_speed(&mut self, active: &[ModelId]) {
        for g in 0..self.speed.len() {
            let base = if self.uniform {
                1.0
            } else {
                let (mut w, mut t) = (0.0, 0.0);
                for &m in active {
                    let s = self.sigma(m, g);
                    if s > 0.0 {
                        let d = self.models[m].curve.need(self.models[m].etr).max(1e-12);
                        w += d;
                        t += d / s;
                    }
                }
                if t > 0.0 { w / t } else { 0.0 }
            };
            self.speed[g] = base * self.rho[g];
        }
    }

    /// At a period's end: each GPU's solo work per busy second, smoothed
    /// (only where batches run at once and `measured_capacity` is on).
    fn refresh_rho(&mut self, view: &View) {
        for (g, b) in self.busy.iter_mut().enumerate() {
            if view.gpus[g].max_concurrent > 1 && self.cfg.measured_capacity && b.busy_ns > 0.0 {
                let measured = (b.work_ns / b.busy_ns).max(1e-3);
                self.rho[g] = ewma(self.rho[g], measured, self.cfg.achieved_ewma);
            }
            b.busy_ns = 0.0;
            b.work_ns = 0.0;
        }
    }

    /// Brings a quiet model's estimates up to date: one decay step per
    /// period end since it was found quiet, as `estimate` would have done
    /// (nothing arrived or completed and nothing was pending: each average
    /// moves toward 0 by `ewma(_, 0, w)`); none once they are all 0.
    fn sync(&mut self, m: ModelId) {
        let info = &mut self.models[m];
        if info.live {
            return;
        }
        let (a, r) = (self.cfg.achieved_ewma, self.cfg.rate_ewma);
        for _ in info.synced..self.period_ends {
            if info.required == 0.0 && info.served == 0.0 && info.rate == 0.0 {
                break;
            }
            info.required = ewma(info.required, 0.0, a);
            info.served = ewma(info.served, 0.0, a);
            info.rate = ewma(info.rate, 0.0, r);
        }
        info.synced = self.period_ends;
    }

    /// Something happened to `m` (an arrival, a completion): its estimates
    /// are updated at the next period's end.
    fn wake(&mut self, m: ModelId) {
        if !self.models[m].live {
            self.sync(m);
            self.models[m].live = true;
            self.woken.push(m);
        }
    }

    /// Estimates the rate, ETR and batch of every model that is not quiet
    /// (`live`) at a period's end; the active models, increasing.
    fn estimate(&mut self, view: &View) -> Vec<ModelId> {
        // A model with requests waiting had them arrive (woken then).
        debug_assert!(
            self.pending
                .iter()
                .all(|&m| self.remaining(view, m) == 0 || self.models[m].live)
        );
        self.period_ends += 1;
        if !self.woken.is_empty() {
            self.woken.sort_unstable();
            let mut merged = std::mem::take(&mut self.merged);
            merged.clear();
            union_into(&self.live, &self.woken, &mut merged);
            self.woken.clear();
            self.merged = std::mem::replace(&mut self.live, merged);
        }
        let p_s = self.period as f64 * 1e-9;
        let cfg = &self.cfg;
        let caps = &self.caps;
        let mut active = Vec::new();
        let mut kept = 0;
        for k in 0..self.live.len() {
            let i = self.live[k];
            let info = &mut self.models[i];
            let stirred = info.arrivals > 0 || info.good > 0;
            // Pending requests (see `remaining`).
            let backlog = if info.listed {
                self.queues[i].len(&view.models[i].queue)
            } else {
                0
            };
            let measured = info.arrivals as f64 / p_s;
            let required = (info.arrivals as f64).min(caps[i] * p_s);
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
            let is_active = backlog > 0 || info.rate * p_s >= 0.01;
            info.etr = if is_active {
                info.rate.min(caps[i])
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
            if is_active || stirred {
                self.live[kept] = i;
                kept += 1;
            } else {
                // Quiet from here (not active, so nothing is pending).
                info.live = false;
                info.synced = self.period_ends;
            }
        }
        self.live.truncate(kept);
        active
    }

    /// The shares of the active models: allocation, feedback, weights.
    fn shares(&mut self, view: &View, active: &[ModelId]) -> Vec<f64> {
        let p_s = self.period as f64 * 1e-9;
        let cfg = self.cfg.clone();
        let capacity = self.speed.iter().sum::<f64>() * (1.0 - cfg.headroom);
        let floors: Vec<f64> = active
            .iter()
            .map(|&i| {
                if !cfg.min_share {
                    return 0.0;
                }
                let per_period = if self.remaining(view, i) > 0 {
                    1.0 / p_s
                } else {
                    self.models[i].rate.min(1.0 / p_s)
                };
                self.models[i].curve.min_exec_s() * per_period
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
        let alloc = allocate::allocate(
            &demands,
            capacity,
            cfg.fairness,
            cfg.guarantee,
            cfg.proportional,
        );
        drop(demands);
        let mut shares = if cfg.estimation {
            alloc.shares
        } else {
            vec![capacity / active.len().max(1) as f64; active.len()]
        };
        self.overloaded = alloc.overloaded;
        self.fraction = alloc.fraction;
        if cfg.feedback && cfg.fairness > 0.0 && self.overloaded {
            self.feedback(active, &alloc.targets);
        }
        if !self.overloaded {
            // The feedback's weights correct the allocation of scarce GPU time only.
            return shares;
        }
        // Effective shares: weighted (the fairness knob tempers the feedback's
        // weights: weight^fairness), renormalized to the same total, floors kept.
        let total: f64 = shares.iter().sum();
        // (w^1 is w exactly: the default knob needs no power.)
        let eff = |w: f64| {
            if cfg.fairness == 1.0 {
                w
            } else {
                w.powf(cfg.fairness)
            }
        };
        let weighted: f64 = active
            .iter()
            .zip(&shares)
            .map(|(&i, s)| s * eff(self.models[i].weight))
            .sum();
        if weighted > 0.0 {
            for ((s, &i), f) in shares.iter_mut().zip(active).zip(&floors) {
                *s = (*s * eff(self.models[i].weight) * total / weighted).max(*f);
            }
        }
        shares
    }

    /// Moves weight toward the models whose achieved fraction, relative to
    /// their intended fraction (`targets`, in the order of `active`), is below the mean.
    fn feedback(&mut self, active: &[ModelId], targets: &[f64]) {
        let cfg = &self.cfg;
        let fed: Vec<(usize, f64)> = active
            .iter()
            .zip(targets)
            .filter(|(i, _)| self.models[**i].required > 0.0)
            .map(|(&i, &t)| (i, t.max(1e-3)))
            .collect();
        if fed.is_empty() {
            return;
        }
        let achieved =
            |info: &ModelInfo, t: f64| (info.served / info.required).clamp(1e-3, 1.0) / t;
        let mean = fed
            .iter()
            .map(|&(i, t)| achieved(&self.models[i], t))
            .sum::<f64>()
            / fed.len() as f64;
        let mut log_sum = 0.0;
        for &(i, t) in &fed {
            let info = &mut self.models[i];
            info.weight *= (mean / achieved(info, t)).powf(cfg.feedback_gain);
            log_sum += info.weight.ln();
        }
        // Keep the weights' geometric mean at 1 so that they cannot drift together into the clamps.
        let norm = (-log_sum / fed.len() as f64).exp();
        for &(i, _) in &fed {
            let info = &mut self.models[i];
            info.weight = (info.weight * norm).clamp(cfg.weight_min, cfg.weight_max);
        }
    }

    /// Splits every active model's share over GPUs (`resident`: where each
    /// model is) and renews the credits.
    fn assign(
        &mut self,
        view: &View,
        resident: &placement::Residence,
        active: &[ModelId],
        shares: &[f64],
    ) {
        let n = view.gpus.len();
        let cap: Vec<f64> = self
            .speed
            .iter()
            .map(|s| s * (1.0 - self.cfg.headroom))
            .collect();
        let members: Vec<group::Member> = active
            .iter()
            .zip(shares)
            .map(|(&m, &share)| group::Member {
                share,
                room: if self.cfg.grouping {
                    self.models[m].room as f64 * 1e-9
                } else {
                    0.0
                },
            })
            .collect();
        let mut target = std::mem::take(&mut self.target);
        if self.cfg.grouping {
            group::split_into(&members, &cap, self.cfg.group_min_part, &mut target);
        } else {
            let total: f64 = cap.iter().sum();
            target.set(members.len(), |i, v| {
                v.extend((0..n).map(|g| group::Part {
                    gpu: g,
                    share: members[i].share * cap[g] / total,
                }))
            });
        }
        let p_ns = self.period as f64;
        let carry = self.cfg.carry_periods;
        let mut new_parts = std::mem::take(&mut self.new_parts);
        new_parts.set(active.len(), |i, v| {
            let (m, from) = (active[i], v.len());
            placement::on_resident(view, resident, m, shares[i], target.of(i), v);
            if !self.uniform {
                // From the model's fastest pool's seconds to this GPU's.
                for p in &mut v[from..] {
                    let s = self.sigma(m, p.gpu);
                    p.share = if s > 0.0 { p.share / s } else { 0.0 };
                }
            }
        });
        self.target = target;
        // Only the models active in the last period or this one have parts
        // or a share, old or new: the union of the two lists (both
        // increasing), merged.
        let was = std::mem::take(&mut self.was_active);
        let mut with_parts = Vec::with_capacity(was.len() + active.len());
        union_into(&was, active, &mut with_parts);
        let mut next = 0;
        // Each model's parts are written into `fresh`, which then takes the
        // place of its old ones (whose buffer serves the next model).
        let mut fresh = std::mem::take(&mut self.spare_parts);
        for &m in &with_parts {
            let new: &[group::Part] = match active.get(next) {
                Some(&a) if a == m => {
                    next += 1;
                    new_parts.of(next - 1)
                }
                _ => &[],
            };
            let empty = self.remaining(view, m) == 0;
            let info = &mut self.models[m];
            info.share = 0.0;
            let old = &info.parts;
            fresh.clear();
            fresh.extend(new.iter().map(|p| {
                let grant = p.share * p_ns;
                let before = old
                    .iter()
                    .find(|o| o.gpu == p.gpu)
                    .map_or(0.0, |o| o.balance);
                // Carry at most `carry_periods` of unused credit; an empty queue banks none.
                let cap = if empty { 0.0 } else { grant * carry };
                Part {
                    gpu: p.gpu,
                    share: p.share,
                    balance: before.clamp(-grant, cap) + grant,
                    grant,
                    used: 0.0,
                    good: 0,
                }
            }));
            std::mem::swap(&mut info.parts, &mut fresh);
        }
        self.spare_parts = fresh;
        self.new_parts = new_parts;
        for (&m, &s) in active.iter().zip(shares) {
            self.models[m].share = s;
        }
        debug_assert!(self.models.iter().enumerate().all(|(m, i)| {
            active.binary_search(&m).is_ok() || (i.parts.is_empty() && i.share == 0.0)
        }));
        with_parts.clear();
        with_parts.extend_from_slice(active);
        self.was_active = with_parts;
        self.gpu_room.iter_mut().for_each(|r| *r = Nanos::MAX);
        for &m in active {
            let info = &self.models[m];
            for p in &info.parts {
                self.gpu_room[p.gpu] = self.gpu_room[p.gpu].min(info.room);
            }
        }
        self.own_fresh = false;
    }

    /// Sets `own` and `partless` for the parts of this period, when first
    /// needed in it (only overloaded periods, and `guest_cover`, read them).
    fn index_parts(&mut self) {
        if self.own_fresh {
            return;
        }
        self.own_fresh = true;
        self.own.iter_mut().for_each(Vec::clear);
        for &m in &self.was_active {
            for p in &self.models[m].parts {
                self.own[p.gpu].push(m);
            }
        }
        for m in self.partless.drain(..) {
            self.models[m].partless = false;
        }
        for &m in &self.pending {
            let info = &mut self.models[m];
            if info.parts.is_empty() {
                info.partless = true;
                self.partless.push(m);
            }
        }
    }

    /// The end of a period: estimate, allocate, feedback, split over GPUs, credits, clean-up, replicas.
    fn end_period(&mut self, view: &View, out: &mut Decision) {
        let active = self.estimate(view);
        self.refresh_rho(view);
        self.refresh_speed(&active);
        let shares = self.shares(view, &active);
        let used: Option<Vec<Vec<(GpuId, f64, u64)>>> = self.log.as_ref().map(|_| {
            self.models
                .iter()
                .map(|i| i.parts.iter().map(|p| (p.gpu, p.used, p.good)).collect())
                .collect()
        });
        let resident = placement::Residence::default();
        self.assign(view, &resident, &active, &shares);
        if let Some(used) = used {
            self.record(view.now, used);
        }
        // Clean-up: requests that can no longer make their deadline.
        for k in 0..self.pending.len() {
            let m = self.pending[k];
            self.drop_expired(view, m, out);
        }
        if self.cfg.replicas {
            placement::replicas(self, view, &resident, out);
        }
    }

    /// A batch of solo work `work` ran on `gpu` from `start` to `end`: a busy
    /// period lasts from its first batch's start until no batch runs there.
    fn busy_batch(&mut self, view: &View, gpu: GpuId, work: Nanos, start: Nanos, end: Nanos) {
        let b = &mut self.busy[gpu];
        if !b.open {
            (b.first, b.last, b.work, b.open) = (start, end, 0.0, true);
        }
        b.first = b.first.min(start);
        b.last = b.last.max(end);
        b.work += work as f64;
        if view.gpus[gpu].running() == 0 {
            b.busy_ns += (b.last - b.first) as f64;
            b.work_ns += b.work;
            b.open = false;
        }
    }

    fn record(&mut self, at: Nanos, used: Vec<Vec<(GpuId, f64, u64)>>) {
        for m in 0..self.models.len() {
            self.sync(m);
        }
        let models = self
            .models
            .iter()
            .zip(used)
            .map(|(i, used)| {
                let mut parts: Vec<PartRecord> = i
                    .parts
                    .iter()
                    .map(|p| PartRecord {
                        gpu: p.gpu,
                        share: p.share,
                        used_ns: 0.0,
                        good: 0,
                    })
                    .collect();
                for (g, u, good) in used {
                    match parts.iter_mut().find(|p| p.gpu == g) {
                        Some(p) => (p.used_ns, p.good) = (u, good),
                        None => parts.push(PartRecord {
                            gpu: g,
                            share: 0.0,
                            used_ns: u,
                            good,
                        }),
                    }
                }
                parts.sort_by_key(|p| p.gpu);
                ModelRecord {
                    rate: i.rate,
                    etr: i.etr,
                    batch: i.batch,
                    demand: i.curve.need(i.etr),
                    share: i.share,
                    weight: i.weight,
                    achieved: if i.required > 0.0 {
                        i.served / i.required
                    } else {
                        1.0
                    },
                    parts,
                }
            })
            .collect();
        let rec = PeriodRecord {
            at,
            overloaded: self.overloaded,
            fraction: self.fraction,
            models,
        };
        if let Some(log) = &mut self.log {
            log.push(rec);
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

    /// With `concurrency = false`, one batch at a time on each GPU.
    fn max_concurrent(&self) -> Option<u32> {
        (!self.cfg.concurrency).then_some(1)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        let f = self.cfg.slo_fraction;
        self.models = view
            .models
            .iter()
            .map(|m| {
                let curve = ModelCurve::new(m.fastest(), m.slo, f);
                ModelInfo {
                    batch: curve.sizes[0],
                    batch_exec: (curve.exec_s[0] * 1e9) as Nanos,
                    curve,
                    room: (m.slo as f64 * (1.0 - f)) as Nanos,
                    arrivals: 0,
                    rate: 0.0,
                    seen: false,
                    good: 0,
                    served: 0.0,
                    required: 0.0,
                    etr: 0.0,
                    share: 0.0,
                    weight: 1.0,
                    parts: Vec::new(),
                    listed: false,
                    pos: 0,
                    touched: false,
                    partless: false,
                    live: false,
                    synced: 0,
                    latest: Cell::new(None),
                }
            })
            .collect();
        self.queues = vec![Pending::default(); view.models.len()];
        self.speed = vec![1.0; view.gpus.len()];
        self.rho = vec![1.0; view.gpus.len()];
        self.busy = vec![Busy::default(); view.gpus.len()];
        self.pool_of = view.gpus.iter().map(|g| g.pool).collect();
        self.uniform = view.pools() == 1 || !self.cfg.pool_pricing;
        self.sigma = view
            .models
            .iter()
            .zip(&self.models)
            .map(|(m, info)| {
                (0..view.pools())
                    .map(|p| {
                        view.pool_profile(m.id, p).map_or(0.0, |prof| {
                            ModelCurve::new(prof, m.slo, f).cap_rps / info.curve.cap_rps
                        })
                    })
                    .collect()
            })
            .collect();
        self.gpu_room = vec![Nanos::MAX; view.gpus.len()];
        self.own = vec![Vec::new(); view.gpus.len()];
        self.caps = (0..self.models.len())
            .map(|m| self.cluster_cap(m))
            .collect();
        placement::initial(view, out);
        self.plan.count_held(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        match notice {
            Notice::Arrival(r) => {
                self.wake(r.model);
                let info = &mut self.models[r.model];
                info.arrivals += 1;
                info.latest.set(None);
                self.left += 1;
                if !info.listed {
                    // Its queue was empty: start afresh.
                    self.list(r.model);
                    self.queues[r.model] = Pending::default();
                }
                self.queues[r.model].arrived(&view.models[r.model].queue);
            }
            Notice::BatchDone {
                gpu,
                batch,
                started,
                finished,
            } => {
                let good = batch
                    .requests
                    .iter()
                    .filter(|r| r.deadline >= *finished)
                    .count() as u64;
                if good > 0 {
                    self.wake(batch.model);
                }
                let info = &mut self.models[batch.model];
                info.good += good;
                if let Some(p) = info.parts.iter_mut().find(|p| p.gpu == *gpu) {
                    p.good += good;
                }
                if view.gpus[*gpu].max_concurrent > 1 {
                    self.busy_batch(view, *gpu, batch.expected_ns, *started, *finished);
                }
                self.slots.gave_back(*gpu);
            }
            Notice::BatchRejected { gpu, batch } => {
                self.wake(batch.model);
                self.slots.gave_back(*gpu);
            }
            Notice::LoadDone { .. } => {}
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        // Only the queues consumed from in the last decision have state to reset.
        let mut recheck = std::mem::take(&mut self.recheck);
        recheck.clear();
        for m in self.touched.drain(..) {
            self.models[m].touched = false;
            self.models[m].latest.set(None);
            self.queues[m].reset(&view.models[m].queue);
            recheck.push(m);
        }
        self.plan.reset();
        while view.now >= self.next_period {
            self.end_period(view, out);
            self.next_period += self.period;
        }
        // Forget models whose queues are empty: only those consumed from can be.
        recheck.extend_from_slice(&self.touched);
        self.forget_empty(view, &recheck);
        self.recheck = recheck;
        debug_assert_eq!(
            self.left,
            self.pending
                .iter()
                .map(|&m| self.remaining(view, m))
                .sum::<usize>()
        );
        self.slots.begin(view);
        self.dispatch(view, out);
        placement::on_demand(self, view, out);
        out.wake(self.next_period);
    }
}

#[cfg(test)]
mod tests {
    use super::union_into;

    #[test]
    fn union_of_increasing_lists_keeps_each_once_in_order() {
        let mut out = vec![9];
        union_into(&[1, 3, 5, 8], &[2, 3, 8, 10, 11], &mut out);
        assert_eq!(out, [9, 1, 2, 3, 5, 8, 10, 11]);
        let mut out = Vec::new();
        union_into(&[], &[4], &mut out);
        union_into(&[6, 7], &[], &mut out);
        assert_eq!(out, [4, 6, 7]);
    }
}
