//! The cpu backend: every batch and every transfer is a timed wait of the
//! duration the driver gives (the profiled one, with the scenario's noise),
//! on the runner's thread. It emulates GPUs the way Clockwork's "dummy
//! worker" does, so the real-time driver, the policies in real time and the
//! output path run, and are tested, on any machine.
//!
//! A GPU that runs several batches at once shares one emulated device among
//! its runners: each batch progresses at the rate the simulator's
//! interference model gives ([`Fluid`]), so a start or an end on one runner
//! moves the others' ends. This tests the concurrent driver, not the
//! hardware: it can only agree with the simulator.
//!
//! A cancelled batch (the policy preempted it) stops waiting at once and
//! frees its runner, as a preempted batch frees the GPU in the simulator.

use super::{Backend, Cancel, Cancelled, Copier, Exec, ExecJob, Gpu, Slots, Span};
use crate::clock::{Clock, SPIN_NS};
use anyhow::Result;
use inferfair_sim::interference::{Fluid, Interference};
use inferfair_sim::profile::ModelProfile;
use inferfair_sim::state::{BatchId, ModelId};
use inferfair_sim::time::Nanos;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The cpu backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

struct Wait;

fn wait(clock: &Clock, target_ns: Nanos) -> Span {
    let start = clock.now();
    let finish = clock.wait_until(start + target_ns);
    Span {
        start,
        finish,
        device_ns: None,
    }
}

/// The runner of a GPU that runs one batch at a time: a wait that a cancel ends.
struct CancellableWait(Arc<Cancelled>);

impl Exec for CancellableWait {
    fn run(&mut self, clock: &Clock, job: &ExecJob) -> Result<Span> {
        let start = clock.now();
        let (finish, _) = self.0.wait_until(clock, job.batch, start + job.target_ns);
        Ok(Span {
            start,
            finish,
            device_ns: None,
        })
    }
}

impl Copier for Wait {
    fn load(&mut self, clock: &Clock, _model: ModelId, target_ns: Nanos) -> Result<Span> {
        Ok(wait(clock, target_ns))
    }

    fn evict(&mut self, _model: ModelId) -> Result<()> {
        Ok(())
    }
}

/// One emulated device shared by several runners.
struct Shared {
    fluid: Mutex<Device>,
    changed: Condvar,
    interference: Arc<Interference>,
}

/// The running batches of a shared device, and those cancelled.
#[derive(Default)]
struct Device {
    fluid: Fluid,
    cancelled: Vec<BatchId>,
}

impl Cancel for Shared {
    fn cancel(&self, batch: BatchId) {
        self.fluid
            .lock()
            .expect("device lock")
            .cancelled
            .push(batch);
        self.changed.notify_all();
    }
}

/// A runner of a shared device.
struct FluidWait(Arc<Shared>);

impl Exec for FluidWait {
    fn run(&mut self, clock: &Clock, job: &ExecJob) -> Result<Span> {
        let dev = &self.0;
        let mut f = dev.fluid.lock().expect("device lock");
        let start = clock.now();
        f.fluid.start(
            start,
            job.batch,
            job.runner,
            job.target_ns,
            &dev.interference,
        );
        dev.changed.notify_all();
        loop {
            let end = f
                .fluid
                .ends()
                .find(|e| e.0 == job.batch)
                .map(|e| e.1)
                .expect("running");
            let now = clock.now();
            let cancelled = f.cancelled.iter().position(|&b| b == job.batch);
            if let Some(i) = cancelled {
                f.cancelled.swap_remove(i);
            }
            if now >= end || cancelled.is_some() {
                f.fluid.finish(now, job.batch, &dev.interference);
                dev.changed.notify_all();
                return Ok(Span {
                    start,
                    finish: now,
                    device_ns: None,
                });
            }
            if end - now > SPIN_NS {
                // Sleep until shortly before the end, or until another runner
                // starts or ends a batch (which moves this end).
                let wait = Duration::from_nanos(end - now - SPIN_NS);
                f = dev.changed.wait_timeout(f, wait).expect("device lock").0;
            } else {
                drop(f);
                std::thread::yield_now();
                f = dev.fluid.lock().expect("device lock");
            }
        }
    }
}

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn describe(&self) -> String {
        "cpu (timed waits of the profiled durations)".into()
    }

    fn open(
        &self,
        _index: usize,
        _models: &[ModelProfile],
        _resident: &[ModelId],
        slots: &Slots,
    ) -> Result<Gpu> {
        let (execs, cancel): (Vec<Box<dyn Exec>>, Arc<dyn Cancel>) = if slots.k <= 1 {
            let cancelled = Arc::new(Cancelled::default());
            (
                vec![Box::new(CancellableWait(cancelled.clone()))],
                cancelled,
            )
        } else {
            let dev = Arc::new(Shared {
                fluid: Mutex::new(Device::default()),
                changed: Condvar::new(),
                interference: slots.interference.clone(),
            });
            let execs = (0..slots.k)
                .map(|_| Box::new(FluidWait(dev.clone())) as Box<dyn Exec>)
                .collect();
            (execs, dev)
        };
        Ok(Gpu {
            execs,
            copier: Box::new(Wait),
            cancel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferfair_sim::interference::Runner;

    #[test]
    fn two_runners_share_the_emulated_device() {
        // Processor sharing: two 40 ms batches started together take about 80 ms.
        let gpu = Cpu
            .open(
                0,
                &[],
                &[],
                &Slots {
                    k: 2,
                    interference: Arc::default(),
                },
            )
            .unwrap();
        let clock = Clock::start();
        let spans: Vec<Span> = std::thread::scope(|s| {
            let handles: Vec<_> = gpu
                .execs
                .into_iter()
                .enumerate()
                .map(|(i, mut e)| {
                    let clock = &clock;
                    s.spawn(move || {
                        let job = ExecJob {
                            batch: i as u64,
                            model: 0,
                            size: 1,
                            target_ns: 40_000_000,
                            runner: Runner { kind: 0, util: 1.0 },
                        };
                        e.run(clock, &job).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for s in spans {
            let d = s.finish - s.start;
            assert!((75_000_000..110_000_000).contains(&d), "{d} ns");
        }
    }
}
