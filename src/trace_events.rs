//! `simulate --trace-events FILE`: the run's GPU timeline in the Chrome
//! trace-event JSON format (the JSON object form), which Perfetto
//! (ui.perfetto.dev) and chrome://tracing open:
//!
//! - one process per GPU (`pid` = GPU index, named `GPU g`) with two tracks:
//!   `batches` (`tid` 0: each batch a complete event, `"ph": "X"`, named by
//!   its model, with `args` model, batch_size (the size it ran as), requests
//!   (how many) and request_ids) and `loads` (`tid` 1: each weights
//!   transfer, and each eviction as an instant event, `"ph": "i"`);
//! - one more process, `queues` (`pid` = number of GPUs), with a counter
//!   (`"ph": "C"`) per model of its queue length (`args.length`), one value
//!   per simulated instant at which it changed;
//! - timestamps and durations in microseconds, with the nanoseconds as three
//!   decimals (exact);
//! - `otherData`: scenario, policy, seed, the window, the number of events,
//!   and whether the cap cut the trace.
//!
//! The size is bounded: only events that overlap a window of simulated time
//! are kept (default: the whole run), and at most `max_events` of them
//! (default 1,000,000, about 130 MB); past the cap nothing more is written,
//! `otherData.truncated` is true and a warning is printed. The file is written
//! whole or not at all.

use crate::output::AtomicFile;
use anyhow::{Context, Result};
use inferfair_sim::engine::Observer;
use inferfair_sim::state::{Batch, GpuId, ModelId};
use inferfair_sim::time::Nanos;
use std::io::Write;
use std::path::Path;

/// Default cap on the number of events.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;

/// Options of a trace.
#[derive(Clone, Copy, Debug)]
pub struct TraceOptions {
    /// Keep events overlapping [from, to) of simulated time.
    pub from: Nanos,
    /// See `from`.
    pub to: Nanos,
    /// Stop writing after this many events.
    pub max_events: u64,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            from: 0,
            to: Nanos::MAX,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// Writes a trace-event file during a run (renamed into place by `finish`).
pub struct TraceEvents {
    file: AtomicFile,
    names: Vec<String>,
    queue_pid: usize,
    opts: TraceOptions,
    events: u64,
    truncated: bool,
    /// Per model: the last queue length seen but not yet written (coalesces
    /// several changes at one instant into one counter value).
    pending: Vec<Option<(Nanos, usize)>>,
    error: Option<std::io::Error>,
    meta: String,
}

/// Microseconds with three decimals, exactly.
fn us(ns: Nanos) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl TraceEvents {
    /// Starts a trace of a run of `scenario` under `policy` at `path`.
    pub fn create(
        path: &Path,
        scenario: &inferfair_sim::Scenario,
        policy: &str,
        opts: TraceOptions,
    ) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::output::ensure_dir(dir)?;
        }
        let mut file = AtomicFile::create(path)?;
        let gpus = scenario.cluster.gpus;
        let mut head = String::from("{\"traceEvents\":[\n");
        for g in 0..gpus {
            let c = &scenario.cluster;
            let label = if c.is_uniform() {
                format!("GPU {g}")
            } else {
                format!("GPU {g} ({})", c.pools[c.pool_of(g)].name)
            };
            head.push_str(&format!(
                "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{g},\"tid\":0,\"args\":{{\"name\":{}}}}},\n\
                 {{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":{g},\"tid\":0,\"args\":{{\"sort_index\":{g}}}}},\n\
                 {{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{g},\"tid\":0,\"args\":{{\"name\":\"batches\"}}}},\n\
                 {{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{g},\"tid\":1,\"args\":{{\"name\":\"loads\"}}}},\n",
                json_str(&label)
            ));
        }
        head.push_str(&format!(
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{gpus},\"tid\":0,\"args\":{{\"name\":\"queues\"}}}}"
        ));
        file.writer()
            .write_all(head.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        let meta = format!(
            "\"scenario\":{},\"policy\":{},\"seed\":{},\"window_us\":[{},{}]",
            json_str(&scenario.name),
            json_str(policy),
            scenario.seed,
            us(opts.from),
            if opts.to == Nanos::MAX {
                "null".to_string()
            } else {
                us(opts.to)
            }
        );
        Ok(TraceEvents {
            file,
            names: scenario.models.iter().map(|m| m.name.clone()).collect(),
            queue_pid: gpus,
            opts,
            events: 0,
            truncated: false,
            pending: vec![None; scenario.models.len()],
            error: None,
            meta,
        })
    }

    fn emit(&mut self, line: String) {
        if self.error.is_some() || self.truncated {
            return;
        }
        if self.events >= self.opts.max_events {
            self.truncated = true;
            return;
        }
        self.events += 1;
        if let Err(e) = write!(self.file.writer(), ",\n{line}") {
            self.error = Some(e);
        }
    }

    fn in_window(&self, start: Nanos, end: Nanos) -> bool {
        end >= self.opts.from && start < self.opts.to
    }

    fn flush_queue(&mut self, m: ModelId) {
        if let Some((t, len)) = self.pending[m].take() {
            let line = format!(
                "{{\"name\":{},\"ph\":\"C\",\"ts\":{},\"pid\":{},\"tid\":0,\"args\":{{\"length\":{len}}}}}",
                json_str(&format!("queue {}", self.names[m])),
                us(t),
                self.queue_pid
            );
            self.emit(line);
        }
    }

    /// Finishes the file and renames it into place; returns the number of
    /// events written and whether the cap cut the trace.
    pub fn finish(mut self) -> Result<(u64, bool)> {
        for m in 0..self.pending.len() {
            self.flush_queue(m);
        }
        if let Some(e) = self.error {
            return Err(e).with_context(|| format!("cannot write {}", self.file.dest().display()));
        }
        let tail = format!(
            "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{{{},\"events\":{},\"max_events\":{},\"truncated\":{}}}}}\n",
            self.meta, self.events, self.opts.max_events, self.truncated
        );
        let dest = self.file.dest().to_path_buf();
        self.file
            .writer()
            .write_all(tail.as_bytes())
            .with_context(|| format!("cannot write {}", dest.display()))?;
        let (n, t) = (self.events, self.truncated);
        self.file.commit()?;
        Ok((n, t))
    }
}

impl Observer for TraceEvents {
    fn batch(&mut self, gpu: GpuId, b: &Batch, start: Nanos, finish: Nanos) {
        if !self.in_window(start, finish) {
            return;
        }
        let ids: Vec<String> = b.requests.iter().map(|r| r.id.to_string()).collect();
        let name = json_str(&self.names[b.model]);
        let line = format!(
            "{{\"name\":{name},\"cat\":\"batch\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{gpu},\"tid\":0,\"args\":{{\"model\":{name},\"batch_size\":{},\"requests\":{},\"request_ids\":[{}]}}}}",
            us(start),
            us(finish - start),
            b.size,
            b.requests.len(),
            ids.join(",")
        );
        self.emit(line);
    }

    fn preempted(&mut self, gpu: GpuId, b: &Batch, start: Nanos, now: Nanos) {
        if !self.in_window(start, now) {
            return;
        }
        let name = json_str(&self.names[b.model]);
        let line = format!(
            "{{\"name\":{},\"cat\":\"preempted\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{gpu},\"tid\":0,\"args\":{{\"model\":{name},\"batch_size\":{},\"requests\":{}}}}}",
            json_str(&format!("preempted {}", self.names[b.model])),
            us(start),
            us(now - start),
            b.size,
            b.requests.len()
        );
        self.emit(line);
    }

    fn load(&mut self, gpu: GpuId, model: ModelId, start: Nanos, finish: Nanos) {
        if !self.in_window(start, finish) {
            return;
        }
        let name = json_str(&self.names[model]);
        let line = format!(
            "{{\"name\":{},\"cat\":\"load\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{gpu},\"tid\":1,\"args\":{{\"model\":{name}}}}}",
            json_str(&format!("load {}", self.names[model])),
            us(start),
            us(finish - start)
        );
        self.emit(line);
    }

    fn evict(&mut self, gpu: GpuId, model: ModelId, now: Nanos) {
        if !self.in_window(now, now) {
            return;
        }
        let name = json_str(&self.names[model]);
        let line = format!(
            "{{\"name\":{},\"cat\":\"evict\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{gpu},\"tid\":1,\"args\":{{\"model\":{name}}}}}",
            json_str(&format!("evict {}", self.names[model])),
            us(now)
        );
        self.emit(line);
    }

    fn queue(&mut self, now: Nanos, model: ModelId, len: usize) {
        if !self.in_window(now, now) {
            return;
        }
        if self.pending[model].is_some_and(|(t, _)| t != now) {
            self.flush_queue(model);
        }
        self.pending[model] = Some((now, len));
    }
}
