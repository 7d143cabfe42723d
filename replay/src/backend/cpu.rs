//! The cpu backend: every batch and every transfer is a timed wait of the
//! duration the driver gives (the profiled one, with the scenario's noise),
//! on the GPU's worker thread. It emulates GPUs the way Clockwork's
//! "dummy worker" does, so the real-time driver, the policies in real time
//! and the output path run, and are tested, on any machine.

use super::{Backend, Copier, Exec, Gpu, Span};
use crate::clock::Clock;
use anyhow::Result;
use inferfair_sim::profile::ModelProfile;
use inferfair_sim::state::ModelId;
use inferfair_sim::time::Nanos;

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

impl Exec for Wait {
    fn run(
        &mut self,
        clock: &Clock,
        _model: ModelId,
        _size: u32,
        target_ns: Nanos,
    ) -> Result<Span> {
        Ok(wait(clock, target_ns))
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

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn describe(&self) -> String {
        "cpu (timed waits of the profiled durations)".into()
    }

    fn open(&self, _index: usize, _models: &[ModelProfile], _resident: &[ModelId]) -> Result<Gpu> {
        Ok(Gpu {
            exec: Box::new(Wait),
            copier: Box::new(Wait),
        })
    }
}
