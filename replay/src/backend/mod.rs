//! Backends: where a replay's batches and weight transfers run. Each
//! scenario GPU is opened as a pair of workers, one that runs batches one at
//! a time ([`Exec`]) and one that copies and frees weights one at a time
//! ([`Copier`]); the driver gives each its own thread. Every operation
//! reports its measured [`Span`] on the run's [`Clock`].
//!
//! - `cpu`: a timed wait of the given duration (the profiled one), on a
//!   thread per GPU: the driver, the policies in real time and the output
//!   path, testable anywhere.
//! - `cuda` (cargo feature `cuda`): real kernels on a real GPU, see `cuda.rs`.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

use crate::clock::Clock;
use anyhow::Result;
use inferfair_sim::profile::ModelProfile;
use inferfair_sim::state::ModelId;
use inferfair_sim::time::Nanos;

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

/// Runs the batches of one GPU, one at a time.
pub trait Exec: Send {
    /// Runs a batch of `model` padded to `size`; `target_ns` is how long the
    /// profile (with the scenario's noise) says it takes, which emulating
    /// backends wait and real ones ignore.
    fn run(&mut self, clock: &Clock, model: ModelId, size: u32, target_ns: Nanos) -> Result<Span>;
}

/// Copies weights to one GPU and frees them, one operation at a time.
pub trait Copier: Send {
    /// Loads `model`'s weights; `target_ns` is its profiled load time.
    fn load(&mut self, clock: &Clock, model: ModelId, target_ns: Nanos) -> Result<Span>;
    /// Frees `model`'s weights.
    fn evict(&mut self, model: ModelId) -> Result<()>;
}

/// One opened GPU.
pub struct Gpu {
    /// Its batch runner.
    pub exec: Box<dyn Exec>,
    /// Its weight copier.
    pub copier: Box<dyn Copier>,
}

/// A way to run batches and transfers.
pub trait Backend {
    /// Its name, as on the command line.
    fn name(&self) -> &'static str;
    /// What it runs on (for logs and file headers), e.g. the GPU's name and driver.
    fn describe(&self) -> String;
    /// Opens GPU `index` of a run for the model instances `models`, with the
    /// instances `resident` already loaded (untimed, before the run starts).
    fn open(&self, index: usize, models: &[ModelProfile], resident: &[ModelId]) -> Result<Gpu>;
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
