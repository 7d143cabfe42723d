//! The policy interface: a policy sees the serving state read-only (a
//! `View`), is told what happened (`Notice`), and answers with actions
//! (`Decision`): dispatch a batch of specific requests of one model on one
//! GPU, drop requests, load or evict a model, and when to be called again.
//! It never touches the clock, the queues or the metrics, and it does not
//! assume simulated time: the same object drives the real-time replay.

pub mod clockwork;
mod fifo;
pub mod inferfair;

pub use clockwork::Clockwork;
pub use fifo::Fifo;
pub use inferfair::InferFair;

use crate::error::{Error, Result};
use crate::scenario::Scenario;
use crate::state::{Batch, GpuId, GpuState, ModelId, ModelState, Request, RequestId};
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

/// One action of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Queue a batch on a GPU; GPUs run their batches one at a time, in order.
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
}

/// A policy's answer: actions, applied in order, and when to be called
/// again if nothing else happens before (replaces any earlier request).
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Actions to apply, in order.
    pub actions: Vec<Action>,
    /// Call `decide` again at this time (must be later than now).
    pub wake_at: Option<Nanos>,
}

impl Decision {
    /// Empties it for reuse.
    pub fn clear(&mut self) {
        self.actions.clear();
        self.wake_at = None;
    }

    /// Asks to be woken at `t`, keeping the earliest of several asks.
    pub fn wake(&mut self, t: Nanos) {
        self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t)));
    }
}

/// Something that happened, told to the policy before it next decides.
#[derive(Clone, Copy, Debug)]
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
}

/// Every policy name the project knows, implemented or planned.
pub const NAMES: &[&str] = &["fifo", "clockwork", "inferfair"];

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
    if NAMES.contains(&name) {
        format!("policy `{name}` is not implemented yet (implemented: fifo, clockwork, inferfair)")
    } else {
        format!("unknown policy `{name}` (known: {})", NAMES.join(", "))
    }
}

/// Checks a `[policy.NAME]` table of a scenario.
pub fn check_params(name: &str, table: &toml::Table) -> Result<(), String> {
    match name {
        "fifo" => parse_params::<fifo::FifoConfig>(table).map(|_| ()),
        "clockwork" => parse_params::<clockwork::ClockworkConfig>(table)?.validate(),
        "inferfair" => parse_params::<inferfair::InferFairConfig>(table)?.validate(),
        _ => Err(unknown(name)),
    }
}

/// Builds policy `name` with the scenario's parameters for it.
pub fn build(name: &str, scenario: &Scenario) -> Result<Box<dyn Policy>> {
    let empty = toml::Table::new();
    let table = scenario.file.policy.get(name).unwrap_or(&empty);
    let place = format!("policy.{name}");
    match name {
        "fifo" => Ok(Box::new(Fifo::new(
            parse_params(table).map_err(|m| Error::invalid(&place, m))?,
        ))),
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
        _ => Err(Error::invalid("--policy", unknown(name))),
    }
}
