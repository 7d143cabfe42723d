//! `inferfair-replay`: runs a scenario in real time, with the very same
//! policy objects and serving core as the simulator, on a backend that
//! emulates GPUs (`cpu`) or runs real kernels on real GPUs (`cuda`, cargo
//! feature `cuda`), and compares what happened with the simulator's
//! prediction (`validate`). `docs/validation.md` explains the method.

pub mod backend;
pub mod clock;
pub mod driver;
pub mod interfere;
pub mod measure;
pub mod records;
pub mod sizing;
pub mod validate;

pub use backend::{Backend, backend};
pub use clock::Clock;
pub use driver::{BatchRecord, LoadRecord, ReplayOptions, Replayed, replay};
