//! The `inferfair` library behind the command line: the command line itself
//! (`cli`, so that tests can parse command lines without running them, and
//! so that a program that registers its own policies with
//! `inferfair_sim::policy::register` and then calls `cli::main` gets every
//! command with them, see `examples/custom_policy.rs`), progress bars
//! (`progress`), result files (`output`; the resolved scenario beside them:
//! `resolved`), written whole (`atomic`) into run folders with a manifest
//! (`rundir`), parameter sweeps (`sweep`), paper-style figures (`figures`),
//! GPU timelines for Perfetto (`trace_events`), the speed benchmarks'
//! reference loop and generated scenarios (`bench`) and the seeded swarm
//! tester (`swarm`). The simulator itself is the `inferfair-sim` crate;
//! charts are drawn by `inferfair-plot`.

// The command line's modules name this crate `inferfair`, as the binary did.
extern crate self as inferfair;

pub mod atomic;
pub mod bench;
pub mod cli;
pub mod figures;
pub mod output;
pub mod progress;
pub mod resolved;
pub mod rundir;
pub mod swarm;
pub mod sweep;
pub mod trace_events;
