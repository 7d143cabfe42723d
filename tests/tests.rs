//! All integration tests, in one binary (see `Cargo.toml`: `autotests = false`).

mod baselines;
mod cli;
mod clockwork;
mod common;
mod concurrent;
mod docs;
mod figures;
mod golden;
mod hand;
mod hetero;
mod inferfair;
mod invariants;
mod queueing;
mod robust;
mod scale;
mod swarm;
mod sweeps;
mod trace_events;
mod traces;
mod usage;
