//! The `inferfair` library behind the command line: result files
//! (`output`), written whole (`atomic`) into run folders with a manifest
//! (`rundir`), parameter sweeps (`sweep`), paper-style figures
//! (`figures`), GPU timelines for Perfetto (`trace_events`) and the seeded
//! swarm tester (`swarm`). The simulator itself is the `inferfair-sim` crate; charts are
//! drawn by `inferfair-plot`.

pub mod atomic;
pub mod figures;
pub mod output;
pub mod rundir;
pub mod swarm;
pub mod sweep;
pub mod trace_events;
