//! The policy interface: a policy sees the serving state read-only (a
//! `View`), is told what happened (`Notice`), and answers with actions
//! (`Decision`): dispatch a batch of specific requests of one model on one
//! GPU, drop requests, load or evict a model, and when to be called again.
//! It never touches the clock, the queues or the metrics, and it does not
//! assume simulated time: the same object drives the real-time replay.
//!
//! Policies are found by name ([`build`], [`check_params`], [`names`]): the
//! built-in ones ([`NAMES`]) and those registered at run time by a program
//! that defines its own ([`register`]; `docs/policies.md`,
//! `examples/custom_policy.rs`).

pub mod clockwork;
pub mod common;
mod counts;
mod edf;
mod fair;
mod fifo;
mod gpuset;
pub mod inferfair;
mod keyed;
mod lru;
mod recency;
mod shepherd;
mod slots;

pub use clockwork::Clockwork;
pub use edf::{Edf, EdfConfig};
pub use fair::{Fair, FairConfig};
pub use fifo::{Fifo, FifoConfig};
pub use inferfair::InferFair;
pub use shepherd::{Shepherd, ShepherdConfig};

use crate::cluster::PoolId;
use crate::error::{Error, Result};
use crate::profile::ModelProfile;
use crate::scenario::Scenario;
use crate::state::{Batch, BatchId, GpuId, GpuState, ModelId, ModelState, Request, RequestId};
use crate::time::Nanos;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a policy sees when it decides.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The current time.
    pub now: Nanos,
    /// Model instances and their pending requests.
    pub models: &'a [ModelState],
    /// GPUs: resident models, memory, queued batches and transfers.
    pub gpus: &'a [GpuState],
}

/// What batches cost where: every policy reads execution times, weights and
/// load times through these, never from "the" profile of a model, because a
/// model costs different amounts on GPUs of different pools (and cannot run
/// at all on a pool that does not profile it).
impl<'a> View<'a> {
    /// The profile of `model` on `gpu`'s pool; `None` if it cannot run there.
    pub fn profile(&self, model: ModelId, gpu: GpuId) -> Option<&'a ModelProfile> {
        self.models[model].profiles[self.gpus[gpu].pool].as_ref()
    }

    /// The profile of `model` on pool `pool`; `None` if it cannot run there.
    pub fn pool_profile(&self, model: ModelId, pool: PoolId) -> Option<&'a ModelProfile> {
        self.models[model].profiles[pool].as_ref()
    }

    /// Number of pools (GPU types).
    pub fn pools(&self) -> usize {
        self.models.first().map_or(1, |m| m.profiles.len())
    }

    /// Whether `model` can run on `gpu` (its pool profiles it and its weights fit).
    pub fn can_run(&self, model: ModelId, gpu: GpuId) -> bool {
        self.profile(model, gpu).is_some()
    }

    /// Profiled execution time of a batch of `n` requests of `model` on `gpu`
    /// (padded to an allowed size); `None` if it cannot run there or `n`
    /// exceeds its largest batch size there.
    pub fn exec_ns(&self, model: ModelId, gpu: GpuId, n: u32) -> Option<Nanos> {
        self.profile(model, gpu)?.exec_for(n)
    }

    #[inline]
    fn on(&self, model: ModelId, gpu: GpuId) -> &'a ModelProfile {
        match self.profile(model, gpu) {
            Some(p) => p,
            None => cannot_run(model, gpu),
        }
    }

    /// Bytes of `model`'s weights on `gpu` (which must be able to run it).
    pub fn weights_bytes(&self, model: ModelId, gpu: GpuId) -> u64 {
        self.on(model, gpu).weights_bytes
    }

    /// Time to load `model`'s weights on `gpu` (which must be able to run it).
    pub fn load_ns(&self, model: ModelId, gpu: GpuId) -> Nanos {
        self.on(model, gpu).load_ns
    }

    /// Largest batch size of `model` on `gpu` (which must be able to run it).
    pub fn max_batch(&self, model: ModelId, gpu: GpuId) -> u32 {
        self.on(model, gpu).max_batch()
    }
}

/// The panic of [`View::on`], out of the way of the lookup.
#[cold]
#[inline(never)]
fn cannot_run(model: ModelId, gpu: GpuId) -> ! {
    panic!("model {model} cannot run on gpu {gpu}: check View::can_run first")
}

/// Run a batch of specific pending requests of one model on one GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The GPU; the model must be loaded or loading there.
    pub gpu: GpuId,
    /// The model instance.
    pub model: ModelId,
    /// Pending requests of `model`, ids increasing; at most its largest batch size.
    /// The batch runs as the smallest allowed batch size that holds them.
    pub requests: Vec<RequestId>,
    /// The batch must not start earlier (0: as soon as the GPU is free).
    pub not_before: Nanos,
    /// If it cannot start by then, it is rejected and its requests dropped
    /// (`Nanos::MAX`: no limit). Clockwork's action window.
    pub not_after: Nanos,
}

impl Dispatch {
    /// A dispatch with no start window.
    pub fn new(gpu: GpuId, model: ModelId, requests: Vec<RequestId>) -> Self {
        Dispatch {
            gpu,
            model,
            requests,
            not_before: 0,
            not_after: Nanos::MAX,
        }
    }
}

/// One action of a policy. More kinds may be added: a policy outside this
/// crate that matches on actions needs a `_` arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Queue a batch on a GPU; it starts, in dispatch order, once fewer than
    /// the GPU's `max_concurrent` batches run there (one at a time by default).
    Dispatch(Dispatch),
    /// Drop pending requests (ids increasing): they end as dropped.
    Drop {
        /// The model instance.
        model: ModelId,
        /// Its pending requests to drop.
        requests: Vec<RequestId>,
    },
    /// Copy a model's weights to a GPU (one transfer at a time per GPU; memory is taken now).
    Load {
        /// The GPU.
        gpu: GpuId,
        /// The model instance.
        model: ModelId,
    },
    /// Free a loaded model's memory (it must have no batch queued there).
    Evict {
        /// The GPU.
        gpu: GpuId,
        /// The model instance.
        model: ModelId,
    },
    /// Abort a batch dispatched to a GPU, running or waiting: its requests go
    /// back to their model's queue (in id order, with their arrival and
    /// deadline) and may be dispatched again, even in the same decision. The
    /// GPU time a running batch used is lost (counted as wasted); its slot is
    /// free at once.
    Preempt {
        /// The GPU.
        gpu: GpuId,
        /// The batch ([`Batch::id`], from `View::gpus[gpu].exec`).
        batch: BatchId,
    },
}

/// A policy's answer: actions, applied in order, and when to be called
/// again if nothing else happens before (replaces any earlier request).
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Actions to apply, in order.
    pub actions: Vec<Action>,
    /// Call `decide` again at this time (must be later than now).
    pub wake_at: Option<Nanos>,
    /// Emptied request-id lists of applied actions, for [`Decision::ids`].
    spare_ids: Vec<Vec<RequestId>>,
}

impl Decision {
    /// Empties it for reuse.
    pub fn clear(&mut self) {
        self.actions.clear();
        self.wake_at = None;
    }

    /// An empty list for the request ids of a dispatch or drop: one that an
    /// earlier action used, so that deciding allocates nothing.
    pub fn ids(&mut self) -> Vec<RequestId> {
        self.spare_ids.pop().unwrap_or_default()
    }

    /// Keeps an emptied list for [`Decision::ids`] (a few at most).
    pub fn give_ids(&mut self, mut ids: Vec<RequestId>) {
        if self.spare_ids.len() < 64 {
            ids.clear();
            self.spare_ids.push(ids);
        }
    }

    /// Asks to be woken at `t`, keeping the earliest of several asks.
    pub fn wake(&mut self, t: Nanos) {
        self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t)));
    }
}

/// Something that happened, told to the policy before it next decides (a
/// policy is not told of its own actions). More kinds may be added: match
/// with a `_` arm.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// A request arrived (it is already in its model's queue).
    Arrival(Request),
    /// A batch finished on a GPU, measured from `started` to `finished`.
    BatchDone {
        /// The GPU.
        gpu: GpuId,
        /// The batch.
        batch: &'a Batch,
        /// Measured start.
        started: Nanos,
        /// Measured end.
        finished: Nanos,
    },
    /// A batch missed its start window and was rejected.
    BatchRejected {
        /// The GPU.
        gpu: GpuId,
        /// The batch.
        batch: &'a Batch,
    },
    /// A model finished loading on a GPU.
    LoadDone {
        /// The GPU.
        gpu: GpuId,
        /// The model instance.
        model: ModelId,
        /// Measured start of the transfer.
        started: Nanos,
        /// Measured end.
        finished: Nanos,
    },
}

/// A scheduling policy.
pub trait Policy: Send {
    /// Its name, as on the command line.
    fn name(&self) -> &'static str;
    /// Its effective parameters (every default filled in), written beside results.
    fn params(&self) -> toml::Table;
    /// Called once at time 0 before anything arrives (e.g. to preload models).
    fn init(&mut self, _view: &View, _out: &mut Decision) {}
    /// Told what happened; called before `decide`.
    fn notify(&mut self, _view: &View, _notice: &Notice) {}
    /// Decide what to do now.
    fn decide(&mut self, view: &View, out: &mut Decision);
    /// The most batches it runs at once on one GPU, whatever the cluster
    /// allows (`None`: what each pool's `max_concurrent` allows).
    fn max_concurrent(&self) -> Option<u32> {
        None
    }
}

/// The built-in policies, by name (see [`names`] for those registered too).
pub const NAMES: &[&str] = &["fifo", "clockwork", "inferfair", "edf", "fair", "shepherd"];

/// Builds a registered policy from a scenario and its `[policy.NAME]` table
/// (every default filled in by the policy); an error is a message.
type BuildFn = dyn Fn(&Scenario, &toml::Table) -> Result<Box<dyn Policy>, String> + Send + Sync;
/// Checks a registered policy's `[policy.NAME]` table without a scenario.
type CheckFn = dyn Fn(&toml::Table) -> Result<(), String> + Send + Sync;

struct Registered {
    name: &'static str,
    check: Box<CheckFn>,
    build: Box<BuildFn>,
}

static REGISTRY: std::sync::RwLock<Vec<Registered>> = std::sync::RwLock::new(Vec::new());

fn registry() -> std::sync::RwLockReadGuard<'static, Vec<Registered>> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner())
}

/// Registers a policy defined outside this crate under `name`, so that
/// everything that finds policies by name runs it: [`build`] (`simulate`,
/// `compare`, isolation runs, sweeps, figures, the replay and the command
/// line when the program calls `inferfair::cli::main`), [`check_params`]
/// (scenario files) and [`names`]. Its parameters are the scenario's
/// `[policy.NAME]` table parsed as `C` (unknown keys are errors when `C` has
/// `#[serde(deny_unknown_fields)]`); `build` gets them with the scenario and
/// may reject them with a message. Register before loading scenarios that
/// have its table. Fails if the name is taken or not a plain name
/// (lowercase letters, digits, `-`, `_`).
pub fn register<C, F>(name: &'static str, build: F) -> Result<()>
where
    C: DeserializeOwned + 'static,
    F: Fn(&Scenario, C) -> Result<Box<dyn Policy>, String> + Send + Sync + 'static,
{
    let place = format!("policy `{name}`");
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || !name.chars().all(plain) {
        return Err(Error::invalid(
            &place,
            "a policy name is lowercase letters, digits, `-` and `_`",
        ));
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if NAMES.contains(&name) || reg.iter().any(|r| r.name == name) {
        return Err(Error::invalid(
            &place,
            "a policy of that name exists already",
        ));
    }
    reg.push(Registered {
        name,
        check: Box::new(|t| parse_params::<C>(t).map(|_| ())),
        build: Box::new(move |s, t| build(s, parse_params::<C>(t)?)),
    });
    Ok(())
}

/// Every policy that can be built: the built-in ones ([`NAMES`]), then
/// those registered, in registration order.
pub fn names() -> Vec<&'static str> {
    let reg = registry();
    NAMES
        .iter()
        .copied()
        .chain(reg.iter().map(|r| r.name))
        .collect()
}

/// Parses a parameter table into a policy's configuration.
pub fn parse_params<T: DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// A configuration as a TOML table.
pub fn to_table<T: Serialize>(cfg: &T) -> toml::Table {
    match toml::Value::try_from(cfg).expect("a policy configuration serializes") {
        toml::Value::Table(t) => t,
        _ => unreachable!("configurations are structs"),
    }
}

fn unknown(name: &str) -> String {
    format!("unknown policy `{name}` (known: {})", names().join(", "))
}

/// Checks a `[policy.NAME]` table of a scenario.
pub fn check_params(name: &str, table: &toml::Table) -> Result<(), String> {
    match name {
        "fifo" => parse_params::<FifoConfig>(table)?.validate(),
        "clockwork" => parse_params::<clockwork::ClockworkConfig>(table)?.validate(),
        "inferfair" => parse_params::<inferfair::InferFairConfig>(table)?.validate(),
        "edf" => parse_params::<EdfConfig>(table)?.validate(),
        "fair" => parse_params::<FairConfig>(table)?.validate(),
        "shepherd" => parse_params::<ShepherdConfig>(table)?.validate(),
        _ => match registry().iter().find(|r| r.name == name) {
            Some(r) => (r.check)(table),
            None => Err(unknown(name)),
        },
    }
}

/// Builds policy `name` with the scenario's parameters for it.
pub fn build(name: &str, scenario: &Scenario) -> Result<Box<dyn Policy>> {
    let empty = toml::Table::new();
    let table = scenario.file.policy.get(name).unwrap_or(&empty);
    let place = format!("policy.{name}");
    let invalid = |m: String| Error::invalid(&place, m);
    match name {
        "fifo" => {
            let cfg: FifoConfig = parse_params(table).map_err(invalid)?;
            cfg.validate().map_err(invalid)?;
            Ok(Box::new(Fifo::new(cfg)))
        }
        "edf" => {
            let cfg: EdfConfig = parse_params(table).map_err(invalid)?;
            cfg.validate().map_err(invalid)?;
            Ok(Box::new(Edf::new(cfg)))
        }
        "fair" => {
            let cfg: FairConfig = parse_params(table).map_err(invalid)?;
            cfg.validate().map_err(invalid)?;
            Ok(Box::new(Fair::new(cfg, scenario).map_err(invalid)?))
        }
        "shepherd" => {
            let cfg: ShepherdConfig = parse_params(table).map_err(invalid)?;
            cfg.validate().map_err(invalid)?;
            Ok(Box::new(Shepherd::new(cfg)))
        }
        "clockwork" => {
            let cfg: clockwork::ClockworkConfig =
                parse_params(table).map_err(|m| Error::invalid(&place, m))?;
            cfg.validate().map_err(|m| Error::invalid(&place, m))?;
            cfg.check_scenario(scenario)
                .map_err(|m| Error::invalid(&place, m))?;
            Ok(Box::new(Clockwork::new(cfg)))
        }
        "inferfair" => {
            let cfg: inferfair::InferFairConfig =
                parse_params(table).map_err(|m| Error::invalid(&place, m))?;
            cfg.validate().map_err(|m| Error::invalid(&place, m))?;
            cfg.check_scenario(scenario)
                .map_err(|m| Error::invalid(&place, m))?;
            Ok(Box::new(InferFair::new(cfg)))
        }
        _ => match registry().iter().find(|r| r.name == name) {
            Some(r) => (r.build)(scenario, table).map_err(invalid),
            None => Err(Error::invalid("--policy", unknown(name))),
        },
    }
}
