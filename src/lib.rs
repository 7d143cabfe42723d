//! The `inferfair` library behind the command line: result files
//! (`output`), parameter sweeps (`sweep`) and paper-style figures
//! (`figures`). The simulator itself is the `inferfair-sim` crate; charts are
//! drawn by `inferfair-plot`.

pub mod figures;
pub mod output;
pub mod sweep;
