//! All integration tests, in one binary (see `Cargo.toml`: `autotests = false`).

mod common;
mod cli;
mod hand;
mod invariants;
mod queueing;
mod replay;
