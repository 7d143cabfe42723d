//! `inferfair-sim`: a fast, deterministic discrete-event simulator of
//! multi-model DNN inference serving on a cluster of GPUs.
//!
//! A [`scenario::Scenario`] says which model instances receive which traffic
//! on which GPUs; a [`policy::Policy`] decides which requests run, in which
//! batches, where, and which models are loaded; the [`engine::Engine`] acts on
//! those decisions with execution times from a [`profile::Profile`] and
//! records [`metrics`]. [`run`] ties them together, with isolation runs for
//! the isolation metrics of `docs/metrics.md`.
#![warn(missing_docs)]

pub mod check;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod event;
pub mod hist;
pub mod interference;
pub mod isolation;
pub mod limits;
pub mod metrics;
pub mod mix;
pub mod policy;
pub mod profile;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod set;
pub mod state;
pub mod text;
pub mod time;
pub mod trace;
pub mod workload;

pub use error::{Error, Result};
pub use run::{RunOptions, RunResult, compare, simulate, simulate_isolated};
pub use scenario::Scenario;
