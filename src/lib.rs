//! The `inferfair` library behind the command line: result files
//! (`output`), parameter sweeps (`sweep`), paper-style figures
//! (`figures`), GPU timelines for Perfetto (`trace_events`) and the speed
//! benchmarks' reference loop and generated scenarios (`bench`). The simulator itself is the `inferfair-sim` crate; charts are
//! drawn by `inferfair-plot`.

pub mod bench;
pub mod figures;
pub mod output;
pub mod sweep;
pub mod trace_events;
