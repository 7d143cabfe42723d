//! The `inferfair` library behind the command line: result files
//! (`output`), parameter sweeps (`sweep`), paper-style figures
//! (`figures`) and GPU timelines for Perfetto (`trace_events`). The simulator itself is the `inferfair-sim` crate; charts are
//! drawn by `inferfair-plot`.

pub mod figures;
pub mod output;
pub mod sweep;
pub mod trace_events;
