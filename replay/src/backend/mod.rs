//! Backends: where a replay's batches and weight transfers run. Each
//! scenario GPU is opened as workers: one batch runner ([`Exec`]) per batch
//! its pool may run at once (`max_concurrent`), and one that copies and
//! frees weights one at a time ([`Copier`]); the driver gives each its own
//! thread. Every operation reports its measured [`Span`] on the run's
//! [`Clock`]. The driver stops a batch that the policy preempts through
//! the GPU's [`Cancel`]: its runner returns early and the driver discards
//! what it reports.
//!
//! - `cpu`: a timed wait of the given duration (the profiled one), on a
//!   thread per batch runner: the driver, the policies in real time and the
//!   output path, testable anywhere. Batches that run at once on one GPU
//!   share it as the simulator's interference model says (it tests the
//!   driver, not the hardware). A cancelled wait returns at once.
//! - `cuda` (cargo feature `cuda`): real kernels on a real GPU, see `cuda.rs`;
//!   a batch runs in chunks of layers, so a cancelled one stops after the
//!   chunk in flight.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

use crate::clock::Clock;
use anyhow::Result;
use inferfair_sim::interference::{Interference, Runner};
use inferfair_sim::profile::ModelProfile;
use inferfair_sim::state::{BatchId, ModelId};
use inferfair_sim::time::Nanos;
use std::sync::{Arc, Condvar, Mutex};

/// When an operation ran, on the run's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Its start, as the host saw it.
    pub start: Nanos,
    /// Its end, as the host saw it.
    pub finish: Nanos,
    /// Its duration on the device (CUDA events), if the backend measures one.
    pub device_ns: Option<Nanos>,
}

/// One batch to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExecJob {
    /// Its id (unique in the run).
    pub batch: BatchId,
    /// The model instance.
    pub model: ModelId,
    /// The batch size it runs as.
    pub size: u32,
    /// How long the profile (with the scenario's noise) says it takes alone,
    /// which emulating backends wait and real ones ignore.
    pub target_ns: Nanos,
    /// What the interference model knows of it (emulating backends).
    pub runner: Runner,
}

/// Runs batches on one GPU, one at a time; a GPU that runs several batches
/// at once has several, each on its own thread.
pub trait Exec: Send {
    /// Runs `job` and returns when it is done.
    fn run(&mut self, clock: &Clock, job: &ExecJob) -> Result<Span>;
}

/// How many batches a GPU runs at once, and how they interfere (what an
/// emulating backend needs to share the GPU among them).
#[derive(Clone, Debug, Default)]
pub struct Slots {
    /// Batch runners to open (at least 1).
    pub k: u32,
    /// The pool's interference model.
    pub interference: Arc<Interference>,
}

/// Copies weights to one GPU and frees them, one operation at a time.
pub trait Copier: Send {
    /// Loads `model`'s weights; `target_ns` is its profiled load time.
    fn load(&mut self, clock: &Clock, model: ModelId, target_ns: Nanos) -> Result<Span>;
    /// Frees `model`'s weights.
    fn evict(&mut self, model: ModelId) -> Result<()>;
}

/// Stops the batches of one GPU that the driver preempts.
pub trait Cancel: Send + Sync {
    /// Stops `batch` if it runs: its runner returns soon after, with its
    /// span so far. A batch that has already ended is ignored.
    fn cancel(&self, batch: BatchId);
}

/// The batches cancelled on one GPU, for runners that check them (and can
/// wait on them).
#[derive(Debug, Default)]
pub struct Cancelled {
    ids: Mutex<Vec<BatchId>>,
    changed: Condvar,
}

impl Cancelled {
    /// Whether `batch` was cancelled (taking it off the list).
    pub fn take(&self, batch: BatchId) -> bool {
        let mut ids = self.ids.lock().expect("cancel lock");
        match ids.iter().position(|&b| b == batch) {
            Some(i) => {
                ids.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Waits until `deadline` or until `batch` is cancelled, sleeping until
    /// shortly before the deadline and spinning the rest (as
    /// [`Clock::wait_until`]); returns the time then and whether it was cancelled.
    pub fn wait_until(&self, clock: &Clock, batch: BatchId, deadline: Nanos) -> (Nanos, bool) {
        let mut ids = self.ids.lock().expect("cancel lock");
        loop {
            if let Some(i) = ids.iter().position(|&b| b == batch) {
                ids.swap_remove(i);
                return (clock.now(), true);
            }
            let now = clock.now();
            if now >= deadline {
                return (now, false);
            }
            let left = deadline - now;
            if left > crate::clock::SPIN_NS {
                let d = std::time::Duration::from_nanos(left - crate::clock::SPIN_NS);
                ids = self.changed.wait_timeout(ids, d).expect("cancel lock").0;
            } else {
                drop(ids);
                std::thread::yield_now();
                ids = self.ids.lock().expect("cancel lock");
            }
        }
    }
}

impl Cancel for Cancelled {
    fn cancel(&self, batch: BatchId) {
        self.ids.lock().expect("cancel lock").push(batch);
        self.changed.notify_all();
    }
}

/// One opened GPU.
pub struct Gpu {
    /// Its batch runners, one per batch it may run at once.
    pub execs: Vec<Box<dyn Exec>>,
    /// Its weight copier.
    pub copier: Box<dyn Copier>,
    /// Stops its preempted batches.
    pub cancel: Arc<dyn Cancel>,
}

/// A way to run batches and transfers.
pub trait Backend {
    /// Its name, as on the command line.
    fn name(&self) -> &'static str;
    /// What it runs on (for logs and file headers), e.g. the GPU's name and driver.
    fn describe(&self) -> String;
    /// Opens GPU `index` of a run for the model instances `models`, with the
    /// instances `resident` already loaded (untimed, before the run starts),
    /// and `slots.k` batch runners.
    fn open(
        &self,
        index: usize,
        models: &[ModelProfile],
        resident: &[ModelId],
        slots: &Slots,
    ) -> Result<Gpu>;
}

/// Names of the backends, as on the command line.
pub const NAMES: &[&str] = &["cpu", "cuda"];

/// The backend called `name`; `device` is the first CUDA device to use
/// (scenario GPU g runs on device `device + g`).
pub fn backend(name: &str, device: usize) -> Result<Box<dyn Backend>> {
    match name {
        "cpu" => Ok(Box::new(cpu::Cpu)),
        "cuda" => cuda_backend(device),
        _ => anyhow::bail!("unknown backend `{name}` (known: {})", NAMES.join(", ")),
    }
}

#[cfg(feature = "cuda")]
fn cuda_backend(device: usize) -> Result<Box<dyn Backend>> {
    Ok(Box::new(cuda::Cuda::new(device)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend(_device: usize) -> Result<Box<dyn Backend>> {
    anyhow::bail!(
        "this inferfair was built without the cuda backend: rebuild with `cargo build --release --features cuda`"
    )
}
