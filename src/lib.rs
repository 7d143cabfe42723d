//! The `inferfair` library behind the command line: the command line itself
//! (`cli`, so that tests can parse command lines without running them),
//! progress bars (`progress`), result files (`output`; the resolved scenario beside them:
//! `resolved`), parameter sweeps (`sweep`), paper-style figures
//! (`figures`) and GPU timelines for Perfetto (`trace_events`). The
//! simulator itself is the `inferfair-sim` crate; charts are drawn by
//! `inferfair-plot`.

// The command-line modules name this crate `inferfair::`, as the binary did.
extern crate self as inferfair;

pub mod cli;
pub mod figures;
pub mod output;
pub mod progress;
pub mod resolved;
pub mod sweep;
pub mod trace_events;
