//! All integration tests, in one binary (see `Cargo.toml`: `autotests = false`).

mod cli;
mod clockwork;
mod common;
mod hand;
mod inferfair;
mod invariants;
mod queueing;
mod traces;
