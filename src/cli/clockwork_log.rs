//! `clockwork_requests.tsv`: one row per request in the column layout of
//! Clockwork's request log (`RequestTelemetryFileLogger`), so that its
//! analysis scripts read simulated runs. Tab-separated with a header line;
//! times in nanoseconds (simulated time since the start of the run). Column
//! meanings are in `docs/clockwork.md`. Written to a temporary name during
//! the run and renamed into place at the end.

use super::output::AtomicFile;
use anyhow::{Context, Result};
use inferfair_sim::engine::Observer;
use inferfair_sim::state::{GpuId, ModelId, Outcome, RequestEnd, State};
use inferfair_sim::time::Nanos;
use std::io::Write;
use std::path::Path;

/// Clockwork's status codes (`clockworkSuccess`, `clockworkTimeout`).
const SUCCESS: u32 = 0;
const TIMEOUT: u32 = 4;

/// Header of the file.
pub const HEADER: &str = "t\trequest_id\tresult\tuser_id\tmodel_id\tslo_factor\tlatency\tdeadline\tdeadline_met\tarrival_count\tdeparture_count\tis_coldstart";

/// Streams the log during a run.
pub struct ClockworkLog {
    file: AtomicFile,
    error: Option<std::io::Error>,
    /// Per model: its `[[models]]` entry (Clockwork's user id) and slo_factor.
    user: Vec<usize>,
    slo_factor: Vec<f64>,
    /// Per model: GPUs it is loaded on now, and every change as (time, count).
    copies: Vec<u32>,
    history: Vec<Vec<(Nanos, u32)>>,
    initial: Vec<u32>,
}

impl ClockworkLog {
    /// Starts `dir/clockwork_requests.tsv`.
    pub fn create(dir: &Path, scenario: &inferfair_sim::Scenario) -> Result<Self> {
        super::output::ensure_dir(dir)?;
        let mut file = AtomicFile::create(&dir.join("clockwork_requests.tsv"))?;
        writeln!(file.writer(), "{HEADER}")?;
        // Models the scenario preloads count as loaded from the start.
        let state = State::new(scenario);
        let mut initial = vec![0; scenario.models.len()];
        for g in &state.gpus {
            for &m in &g.resident {
                if g.is_loaded(m) {
                    initial[m] += 1;
                }
            }
        }
        Ok(ClockworkLog {
            file,
            error: None,
            user: scenario.models.iter().map(|m| m.entry).collect(),
            slo_factor: scenario
                .models
                .iter()
                .map(|m| scenario.file.models[m.entry].slo_factor.unwrap_or(0.0))
                .collect(),
            copies: initial.clone(),
            history: vec![Vec::new(); scenario.models.len()],
            initial,
        })
    }

    /// Renames the log into place, or reports the first write error.
    pub fn finish(self) -> Result<()> {
        if let Some(e) = self.error {
            return Err(e).with_context(|| format!("cannot write {}", self.file.dest().display()));
        }
        self.file.commit()
    }

    /// GPUs `model` was loaded on at time `t`.
    fn copies_at(&self, model: ModelId, t: Nanos) -> u32 {
        let h = &self.history[model];
        match h.partition_point(|&(at, _)| at <= t) {
            0 => self.initial[model],
            i => h[i - 1].1,
        }
    }

    fn changed(&mut self, model: ModelId, now: Nanos) {
        self.history[model].push((now, self.copies[model]));
    }
}

impl Observer for ClockworkLog {
    fn load(&mut self, _gpu: GpuId, model: ModelId, _start: Nanos, finish: Nanos) {
        self.copies[model] += 1;
        self.changed(model, finish);
    }

    fn evict(&mut self, _gpu: GpuId, model: ModelId, now: Nanos) {
        self.copies[model] -= 1;
        self.changed(model, now);
    }

    fn request_end(&mut self, e: &RequestEnd) {
        // Clockwork logs responses; a request still pending at the end never got one.
        if self.error.is_some() || e.outcome == Outcome::Unfinished {
            return;
        }
        let m = e.req.model;
        let result = match e.outcome {
            Outcome::Good | Outcome::Late => SUCCESS,
            _ => TIMEOUT,
        };
        let arrival_count = self.copies_at(m, e.req.arrival);
        let departure_count = self.copies[m];
        if let Err(err) = writeln!(
            self.file.writer(),
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.finish,
            e.req.id,
            result,
            self.user[m],
            m,
            self.slo_factor[m],
            e.finish - e.req.arrival,
            e.req.deadline - e.req.arrival,
            u8::from(e.outcome == Outcome::Good),
            arrival_count,
            departure_count,
            u8::from(departure_count > arrival_count && arrival_count == 0),
        ) {
            self.error = Some(err);
        }
    }
}
