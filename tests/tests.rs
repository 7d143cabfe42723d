//! All integration tests, in one binary (see `Cargo.toml`: `autotests = false`).

mod cli;
mod clockwork;
mod common;
mod figures;
mod golden;
mod hand;
mod inferfair;
mod invariants;
mod queueing;
mod robust;
mod swarm;
mod sweeps;
mod trace_events;
mod traces;
