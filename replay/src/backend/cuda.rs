//! The cuda backend: every scenario GPU is a real CUDA device (scenario GPU
//! g on device `first + g`), with one stream per batch it may run at once
//! (its pool's `max_concurrent`; each with its own cuBLAS handle and
//! activation buffers, so that concurrent batches really contend for the
//! device) and one for weight transfers, so that transfers overlap
//! execution as in Clockwork.
//!
//! - A batch runs the model's kernel plan ([`crate::sizing`]): per layer, a
//!   cuBLAS SGEMM of the activations by a slice of the model's weight buffer
//!   and a memory-bound kernel over its output (`kernels.ptx`, generated from
//!   `kernels.ll`, so no CUDA compiler is needed), then a synchronisation.
//!   Its span is the host's view (issue to completion); CUDA events time it
//!   on the device too. A batch longer than [`CHUNK_NS`] is queued in chunks
//!   of layers of about that length, the next chunk queued before waiting
//!   for the one before (so the device never idles between them); between
//!   chunks the runner checks whether the batch was cancelled (preempted)
//!   and, if so, stops queueing and returns once the chunk in flight is
//!   done: kernels already queued cannot be recalled, so a preempted batch
//!   keeps the device for at most about two chunks.
//! - Loading allocates a device buffer of the model's weight bytes and copies
//!   them from pinned host memory (one staging buffer per GPU, as large as
//!   the largest model); evicting frees the buffer.
//! - Everything is set up before the run's clock starts: the context, the
//!   kernels, cuBLAS, activation buffers, the preloaded models, and one
//!   warm-up run of every model and batch size.
//!
//! cudarc loads the CUDA libraries at run time and panics when one is
//! missing, so [`Cuda::new`] checks for them first and fails with a clear
//! error instead.

use super::{Backend, Cancelled, Copier, Exec, ExecJob, Gpu, Slots, Span};
use crate::clock::Clock;
use crate::sizing::NetPlan;
use anyhow::{Context, Result, anyhow, bail};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PinnedHostSlice,
    PushKernelArg,
};
use inferfair_sim::profile::ModelProfile;
use inferfair_sim::state::ModelId;
use inferfair_sim::time::Nanos;
use std::sync::{Arc, Mutex};

/// The memory-bound kernel `scale_relu(float *x, u64 n, float a, float c)`.
const PTX: &str = include_str!("kernels.ptx");

/// About how long a chunk of a batch's layers runs (by the profile): the
/// granularity at which a preempted batch stops.
pub const CHUNK_NS: Nanos = 1_000_000;

/// The CUDA version the backend is built for (cudarc feature `cuda-13000`).
const CUDA_BUILT: i32 = 13000;

/// The cuda backend.
pub struct Cuda {
    first: usize,
    devices: usize,
    describe: String,
}

fn cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, v % 1000 / 10)
}

/// The NVIDIA kernel driver's version (Linux), if it can be read.
fn driver_release() -> Option<String> {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version").ok()?;
    let line = text.lines().next()?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "Module")?;
    words.get(i + 1).map(|s| s.to_string())
}

impl Cuda {
    /// Checks that the CUDA driver, cuBLAS and device `first` are there
    /// (before any call that would panic without them).
    pub fn new(first: usize) -> Result<Cuda> {
        // SAFETY: only tries to open the library.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            bail!(
                "the cuda backend needs the NVIDIA driver library (libcuda.so.1), which was not found: \
                 run on a machine with an NVIDIA GPU and its driver (or add the library's folder to \
                 LD_LIBRARY_PATH), or use --backend cpu"
            );
        }
        let mut v = 0;
        // SAFETY: the library is present; cuDriverGetVersion exists in every driver.
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
            .result()
            .map_err(|e| anyhow!("cannot query the CUDA driver's version: {e}"))?;
        if v < CUDA_BUILT {
            bail!(
                "the cuda backend is built for CUDA {} (NVIDIA driver 580 or later), but this driver supports CUDA {}: update the driver",
                cuda_version(CUDA_BUILT),
                cuda_version(v)
            );
        }
        // SAFETY: only tries to open the library.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            bail!(
                "cuBLAS for CUDA 13 (libcublas.so.13, with libcublasLt.so.13) was not found: install it \
                 (e.g. `pip install nvidia-cublas`) and add its lib folder to LD_LIBRARY_PATH \
                 (replay/gpu-check.sh adds pip's nvidia/*/lib folders)"
            );
        }
        let n = CudaContext::device_count().map_err(|e| anyhow!("cannot initialise CUDA: {e}"))?;
        let devices = n.max(0) as usize;
        if devices <= first {
            bail!("there is no CUDA device {first}: {devices} device(s) found");
        }
        let ctx =
            CudaContext::new(first).map_err(|e| anyhow!("cannot open CUDA device {first}: {e}"))?;
        let name = ctx.name().unwrap_or_else(|_| "an unnamed GPU".into());
        let mem = ctx.total_mem().unwrap_or(0) as f64 / (1u64 << 30) as f64;
        let describe = format!(
            "{name} (CUDA device {first} of {devices}, {mem:.0} GiB), driver {} (CUDA {})",
            driver_release().unwrap_or_else(|| "?".into()),
            cuda_version(v)
        );
        Ok(Cuda {
            first,
            devices,
            describe,
        })
    }
}

/// The weights loaded on one GPU, by model instance.
type Weights = Arc<Mutex<Vec<Option<Arc<CudaSlice<f32>>>>>>;

struct CudaExec {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    func: CudaFunction,
    sms: u32,
    plans: Arc<Vec<NetPlan>>,
    weights: Weights,
    a0: CudaSlice<f32>,
    a1: CudaSlice<f32>,
    ev0: CudaEvent,
    ev1: CudaEvent,
    /// Chunk boundaries (two, used in turn).
    marks: [CudaEvent; 2],
    cancelled: Arc<Cancelled>,
}

struct CudaCopier {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    staging: PinnedHostSlice<f32>,
    plans: Arc<Vec<NetPlan>>,
    weights: Weights,
    ev0: CudaEvent,
    ev1: CudaEvent,
}

fn timing_event(ctx: &Arc<CudaContext>) -> Result<CudaEvent> {
    Ok(ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?)
}

impl CudaExec {
    /// Queues the plan of a batch of `model` padded to `size` on the stream,
    /// with the weights `w` (every layer reads its own slice, or the first
    /// one when `scratch`).
    fn enqueue(
        &mut self,
        w: &CudaSlice<f32>,
        model: ModelId,
        size: u32,
        scratch: bool,
    ) -> Result<()> {
        let layers = self.plans[model].layers;
        self.enqueue_layers(w, model, size, scratch, 0..layers)
    }

    /// Queues layers `range` of the plan of a batch (see [`CudaExec::enqueue`]).
    fn enqueue_layers(
        &mut self,
        w: &CudaSlice<f32>,
        model: ModelId,
        size: u32,
        scratch: bool,
        range: std::ops::Range<u64>,
    ) -> Result<()> {
        let plan = &self.plans[model];
        let b = plan.batch(size);
        let n = (plan.dim * b.rows) as usize;
        let dd = (plan.dim * plan.dim) as usize;
        let dim = i32::try_from(plan.dim).context("layer width")?;
        let rows = i32::try_from(b.rows).context("batch rows")?;
        let cfg = GemmConfig {
            transa: cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N,
            transb: cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N,
            m: dim,
            n: rows,
            k: dim,
            alpha: 1.0f32,
            lda: dim,
            ldb: dim,
            beta: 0.0f32,
            ldc: dim,
        };
        let blocks = (n as u64).div_ceil(256).clamp(1, 8 * self.sms as u64) as u32;
        let launch = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let (n64, a, c) = (n as u64, 0.5f32, 0.01f32);
        for l in range {
            let off = if scratch {
                0
            } else {
                plan.weight_offset(l) as usize
            };
            let wv = w.slice(off..off + dd);
            let (src, dst) = if l % 2 == 0 {
                (&self.a0, &mut self.a1)
            } else {
                (&self.a1, &mut self.a0)
            };
            let x = src.slice(..n);
            let mut y = dst.slice_mut(..n);
            // SAFETY: the views hold dim*dim, dim*rows and dim*rows floats, as the
            // column-major product y (dim x rows) = w (dim x dim) x (dim x rows) needs.
            unsafe { self.blas.gemm(cfg, &wv, &x, &mut y) }?;
            let mut k = self.stream.launch_builder(&self.func);
            k.arg(&mut y).arg(&n64).arg(&a).arg(&c);
            // SAFETY: scale_relu(float *x, u64 n, float a, float c) touches x[0..n).
            unsafe { k.launch(launch) }?;
        }
        Ok(())
    }
}

impl Exec for CudaExec {
    fn run(&mut self, clock: &Clock, job: &ExecJob) -> Result<Span> {
        let (model, size) = (job.model, job.size);
        self.ctx.bind_to_thread()?;
        let w = self.weights.lock().expect("weights lock")[model]
            .clone()
            .ok_or_else(|| anyhow!("model {model} runs but is not loaded"))?;
        let layers = self.plans[model].layers;
        // Layers per chunk: about CHUNK_NS of the batch's profiled time each.
        let per = (layers * CHUNK_NS)
            .div_ceil(job.target_ns.max(1))
            .clamp(1, layers);
        let start = clock.now();
        self.ev0.record(&self.stream)?;
        let mut done = 0;
        let mut k = 0;
        while done < layers {
            let next = (done + per).min(layers);
            self.enqueue_layers(&w, model, size, false, done..next)?;
            done = next;
            if done < layers {
                // Chunk k is queued: wait for the one before it, then stop
                // here if the batch was cancelled meanwhile.
                self.marks[k % 2].record(&self.stream)?;
                if k > 0 {
                    self.marks[(k - 1) % 2].synchronize()?;
                }
                k += 1;
                if self.cancelled.take(job.batch) {
                    break;
                }
            }
        }
        self.ev1.record(&self.stream)?;
        self.stream.synchronize()?;
        let finish = clock.now();
        let ms = self.ev0.elapsed_ms(&self.ev1)?;
        Ok(Span {
            start,
            finish,
            device_ns: Some((ms as f64 * 1e6).round() as Nanos),
        })
    }
}

impl CudaCopier {
    /// Queues the allocation and the copy of `model`'s weights.
    fn enqueue(&mut self, model: ModelId) -> Result<CudaSlice<f32>> {
        let n = self.plans[model].weight_floats as usize;
        // SAFETY: every float is written by the copy before use.
        let mut buf = unsafe { self.stream.alloc::<f32>(n) }?;
        let src = &self.staging.as_slice()?[..n];
        self.stream.memcpy_htod(src, &mut buf)?;
        Ok(buf)
    }

    fn install(&mut self, model: ModelId, buf: CudaSlice<f32>) {
        self.weights.lock().expect("weights lock")[model] = Some(Arc::new(buf));
    }
}

impl Copier for CudaCopier {
    fn load(&mut self, clock: &Clock, model: ModelId, _target_ns: Nanos) -> Result<Span> {
        self.ctx.bind_to_thread()?;
        let start = clock.now();
        self.ev0.record(&self.stream)?;
        let buf = self.enqueue(model)?;
        self.ev1.record(&self.stream)?;
        self.stream.synchronize()?;
        let finish = clock.now();
        let ms = self.ev0.elapsed_ms(&self.ev1)?;
        self.install(model, buf);
        Ok(Span {
            start,
            finish,
            device_ns: Some((ms as f64 * 1e6).round() as Nanos),
        })
    }

    fn evict(&mut self, model: ModelId) -> Result<()> {
        self.ctx.bind_to_thread()?;
        self.weights.lock().expect("weights lock")[model] = None;
        Ok(())
    }
}

impl Backend for Cuda {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn open(
        &self,
        index: usize,
        models: &[ModelProfile],
        resident: &[ModelId],
        slots: &Slots,
    ) -> Result<Gpu> {
        let ordinal = self.first + index;
        if ordinal >= self.devices {
            bail!(
                "scenario GPU {index} needs CUDA device {ordinal}, but there are {} device(s) (from --gpu {})",
                self.devices,
                self.first
            );
        }
        let ctx = CudaContext::new(ordinal)?;
        // Each worker synchronises its own stream after every operation, and
        // weights are written by the copier before the executors read them
        // (concurrent executors only read the shared weights).
        // SAFETY: no buffer is written by two streams at once.
        unsafe { ctx.disable_event_tracking() };
        let copy_stream = ctx.new_stream()?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(PTX))
            .context("cannot load the backend's kernels")?;
        let func = module.load_function("scale_relu")?;
        let sms = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?
            .max(1) as u32;
        let plans: Arc<Vec<NetPlan>> = Arc::new(models.iter().map(NetPlan::new).collect());
        let act = models
            .iter()
            .zip(plans.iter())
            .flat_map(|(m, p)| m.batch_sizes.iter().map(|&b| p.batch(b).act_floats))
            .max()
            .unwrap_or(1) as usize;
        let max_weights = plans.iter().map(|p| p.weight_floats).max().unwrap_or(1) as usize;
        let max_layer = plans.iter().map(|p| p.dim * p.dim).max().unwrap_or(1) as usize;
        let weights: Weights = Arc::new(Mutex::new(vec![None; models.len()]));
        let cancelled = Arc::new(Cancelled::default());
        let mut execs = Vec::new();
        for _ in 0..slots.k.max(1) {
            let stream = ctx.new_stream()?;
            execs.push(CudaExec {
                blas: CudaBlas::new(stream.clone())?,
                ctx: ctx.clone(),
                stream: stream.clone(),
                func: func.clone(),
                sms,
                plans: plans.clone(),
                weights: weights.clone(),
                a0: stream.alloc_zeros::<f32>(act)?,
                a1: stream.alloc_zeros::<f32>(act)?,
                ev0: timing_event(&ctx)?,
                ev1: timing_event(&ctx)?,
                marks: [timing_event(&ctx)?, timing_event(&ctx)?],
                cancelled: cancelled.clone(),
            });
        }
        // SAFETY: filled right below.
        let mut staging = unsafe { ctx.alloc_pinned_with_flags::<f32>(max_weights, 0) }
            .with_context(|| {
                format!(
                    "cannot allocate {} MiB of pinned host memory",
                    (max_weights * 4) >> 20
                )
            })?;
        staging.as_mut_slice()?.fill(1e-3);
        let mut copier = CudaCopier {
            ctx: ctx.clone(),
            stream: copy_stream,
            staging,
            plans: plans.clone(),
            weights,
            ev0: timing_event(&ctx)?,
            ev1: timing_event(&ctx)?,
        };
        for &m in resident {
            let buf = copier
                .enqueue(m)
                .with_context(|| format!("cannot preload model {m}"))?;
            copier.stream.synchronize()?;
            copier.install(m, buf);
        }
        // Warm-up: every model at every batch size once on every stream, on scratch weights.
        for exec in &mut execs {
            let stream = exec.stream.clone();
            let mut scratch = stream.alloc_zeros::<f32>(max_layer)?;
            stream.memset_zeros(&mut scratch)?;
            for (i, m) in models.iter().enumerate() {
                for &b in &m.batch_sizes {
                    exec.enqueue(&scratch, i, b, true)?;
                }
            }
            stream.synchronize()?;
        }
        Ok(Gpu {
            execs: execs
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn Exec>)
                .collect(),
            copier: Box::new(copier),
            cancel: cancelled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_driver_library_opening_is_a_clear_error() {
        // SAFETY: only tries to open the library.
        if unsafe { cudarc::driver::sys::is_culib_present() } {
            return; // a machine with a GPU driver: nothing to check here
        }
        let e = Cuda::new(0)
            .err()
            .expect("no driver, no backend")
            .to_string();
        assert!(
            e.contains("libcuda.so.1") && e.contains("--backend cpu"),
            "{e}"
        );
    }
}
