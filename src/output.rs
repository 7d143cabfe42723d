//! Result files and tables: files are written whole or not at all
//! (`crate::atomic`), so an interrupted run leaves no half-written file
//! behind. Files hold no wall-clock times, so the same seed gives
//! byte-identical files.

use anyhow::{Context, Result};
use inferfair_sim::RunResult;
use inferfair_sim::engine::Observer;
use inferfair_sim::state::{Batch, GpuId, ModelId, RequestEnd};
use inferfair_sim::text::{csv_field, pad};
use inferfair_sim::time::Nanos;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

pub use crate::atomic::{AtomicFile, write_atomic};

/// Creates the output folder.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// The JSON document of `simulate`/`compare`: `{scenario, seed, results}`.
pub fn json_doc(
    scenario: &inferfair_sim::Scenario,
    results: &[RunResult],
    with_wall: bool,
) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).expect("results serialize");
            if !with_wall {
                v.as_object_mut().unwrap().remove("wall_s");
            }
            v
        })
        .collect();
    json!({ "scenario": scenario.name, "seed": scenario.seed, "results": results })
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// Header of `per_model.csv`.
pub const PER_MODEL_HEADER: &str = "policy,model,profile_model,slo_ms,arrived,good,late,dropped,unfinished,offered_rps,goodput_rps,slo_attainment,normalized_goodput,alone_goodput_rps,latency_mean_ms,latency_p50_ms,latency_p90_ms,latency_p99_ms,latency_p999_ms,mean_batch,gpu_share,coldstarts";

/// Rows of `per_model.csv` for one result.
pub fn per_model_rows(r: &RunResult, out: &mut String) {
    for m in &r.models {
        let l = &m.latency_ms;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&r.policy),
            csv_field(&m.model),
            csv_field(&m.profile_model),
            m.slo_ms,
            m.arrived,
            m.good,
            m.late,
            m.dropped,
            m.unfinished,
            m.offered_rps,
            m.goodput_rps,
            opt(m.slo_attainment),
            opt(m.normalized_goodput),
            opt(m.alone_goodput_rps),
            opt(l.mean),
            opt(l.p50),
            opt(l.p90),
            opt(l.p99),
            opt(l.p999),
            opt(m.mean_batch),
            m.gpu_share,
            m.coldstarts
        ));
    }
}

/// Writes `summary.json`, `per_model.csv` and the resolved `scenario.toml` to `dir`.
pub fn write_results(
    dir: &Path,
    scenario: &inferfair_sim::Scenario,
    results: &[RunResult],
) -> Result<()> {
    ensure_dir(dir)?;
    let doc = json_doc(scenario, results, false);
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    write_atomic(&dir.join("summary.json"), text.as_bytes())?;
    let mut csv = String::from(PER_MODEL_HEADER);
    csv.push('\n');
    for r in results {
        per_model_rows(r, &mut csv);
    }
    write_atomic(&dir.join("per_model.csv"), csv.as_bytes())?;
    let mut file = scenario.file.clone();
    for r in results {
        file.policy.insert(r.policy.clone(), r.params.clone());
    }
    let toml = format!(
        "# Resolved scenario: every default filled in; written by inferfair {}\n{}",
        env!("CARGO_PKG_VERSION"),
        toml::to_string(&file)?
    );
    write_atomic(&dir.join("scenario.toml"), toml.as_bytes())
}

/// Streams `requests.csv` during a run (renamed into place by `finish`).
pub struct RequestLog {
    file: AtomicFile,
    names: Vec<String>,
    error: Option<std::io::Error>,
}

impl RequestLog {
    /// Starts `dir/requests.csv`.
    pub fn create(dir: &Path, scenario: &inferfair_sim::Scenario) -> Result<Self> {
        ensure_dir(dir)?;
        let mut file = AtomicFile::create(&dir.join("requests.csv"))?;
        writeln!(
            file.writer(),
            "request_id,model,arrival_ns,deadline_ns,start_ns,finish_ns,gpu,batch_size,outcome"
        )?;
        Ok(RequestLog {
            file,
            names: scenario.models.iter().map(|m| m.name.clone()).collect(),
            error: None,
        })
    }

    /// Renames the log into place, or reports the first write error.
    pub fn finish(self) -> Result<()> {
        if let Some(e) = self.error {
            return Err(e).with_context(|| format!("cannot write {}", self.file.dest().display()));
        }
        self.file.commit()
    }
}

impl Observer for RequestLog {
    fn request_end(&mut self, e: &RequestEnd) {
        if self.error.is_some() {
            return;
        }
        let start = e.start.map(|s| s.to_string()).unwrap_or_default();
        let gpu = e.gpu.map(|g| g.to_string()).unwrap_or_default();
        if let Err(err) = writeln!(
            self.file.writer(),
            "{},{},{},{},{},{},{},{},{}",
            e.req.id,
            csv_field(&self.names[e.req.model]),
            e.req.arrival,
            e.req.deadline,
            start,
            e.finish,
            gpu,
            e.batch_size,
            e.outcome.as_str()
        ) {
            self.error = Some(err);
        }
    }
}

/// Several observers of one run, each told everything in turn.
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Observers<'_> {
    fn request_end(&mut self, e: &RequestEnd) {
        self.0.iter_mut().for_each(|o| o.request_end(e));
    }
    fn batch(&mut self, gpu: GpuId, b: &Batch, start: Nanos, finish: Nanos) {
        self.0
            .iter_mut()
            .for_each(|o| o.batch(gpu, b, start, finish));
    }
    fn load(&mut self, gpu: GpuId, model: ModelId, start: Nanos, finish: Nanos) {
        self.0
            .iter_mut()
            .for_each(|o| o.load(gpu, model, start, finish));
    }
    fn evict(&mut self, gpu: GpuId, model: ModelId, now: Nanos) {
        self.0.iter_mut().for_each(|o| o.evict(gpu, model, now));
    }
    fn queue(&mut self, now: Nanos, model: ModelId, len: usize) {
        self.0.iter_mut().for_each(|o| o.queue(now, model, len));
    }
}

/// A plain text table with aligned columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: vec![],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders: first column left-aligned, the others right-aligned.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w = vec![0; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i == 0 {
                    line.push_str(&pad(c, w[i], true));
                } else {
                    line.push_str("  ");
                    line.push_str(&pad(c, w[i], false));
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

/// Formats an optional number with `d` decimals ("-" when absent).
pub fn fmt(v: Option<f64>, d: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.d$}"),
        Some(_) => "inf".into(),
        None => "-".into(),
    }
}

/// Formats a fraction as a percentage.
pub fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The tables people read: overall per policy, ratios, and per model.
pub fn render_tables(scenario: &inferfair_sim::Scenario, results: &[RunResult]) -> String {
    let mut s = format!(
        "scenario {}  seed {}  {} GPUs  {} models  measured {:.1} s\n\n",
        scenario.name,
        scenario.seed,
        scenario.cluster.gpus,
        scenario.models.len(),
        inferfair_sim::time::secs(scenario.window())
    );
    let iso = results.iter().any(|r| r.overall.isolation.is_some());
    let mut cols = vec![
        "policy",
        "goodput r/s",
        "SLO att.",
        "dropped",
        "late",
        "unfinished",
        "p99 ms",
        "GPU util",
    ];
    if iso {
        cols.extend(["iso gap", "min N", "Jain", "disparity", "STP"]);
    }
    let mut t = Table::new(&cols);
    for r in results {
        let o = &r.overall;
        let mut row = vec![
            r.policy.clone(),
            format!("{:.1}", o.goodput_rps),
            pct(o.slo_attainment),
            o.dropped.to_string(),
            o.late.to_string(),
            o.unfinished.to_string(),
            fmt(o.latency_ms.p99, 1),
            format!("{:.1}%", o.gpu_utilization * 100.0),
        ];
        if iso {
            match &o.isolation {
                Some(i) => row.extend([
                    format!("{:.3}", i.isolation_gap),
                    format!("{:.3}", i.min_normalized_goodput),
                    format!("{:.3}", i.jain),
                    fmt(Some(i.disparity), 2),
                    format!("{:.2}", i.stp),
                ]),
                None => row.extend(std::iter::repeat_n("-".to_string(), 5)),
            }
        }
        t.row(row);
    }
    s.push_str(&t.render());
    let get = |n: &str| results.iter().find(|r| r.policy == n);
    if let (Some(inf), Some(cw)) = (get("inferfair"), get("clockwork")) {
        s.push('\n');
        if let (Some(a), Some(b)) = (&inf.overall.isolation, &cw.overall.isolation) {
            let ratio = if a.isolation_gap > 0.0 {
                format!("{:.2}x", b.isolation_gap / a.isolation_gap)
            } else {
                "inf".into()
            };
            s.push_str(&format!(
                "inferfair vs clockwork: isolation gap {:.3} vs {:.3} ({ratio} smaller), STP {:.2} vs {:.2}\n",
                a.isolation_gap, b.isolation_gap, a.stp, b.stp
            ));
        }
        let gain = if cw.overall.goodput_rps > 0.0 {
            format!(
                "{:+.1}%",
                (inf.overall.goodput_rps / cw.overall.goodput_rps - 1.0) * 100.0
            )
        } else {
            "-".into()
        };
        s.push_str(&format!(
            "inferfair vs clockwork: goodput {:.1} vs {:.1} r/s ({gain})\n",
            inf.overall.goodput_rps, cw.overall.goodput_rps
        ));
    }
    s.push('\n');
    let mut cols = vec![
        "model",
        "policy",
        "slo ms",
        "offered",
        "goodput",
        "SLO att.",
        "dropped",
        "late",
        "unfinished",
        "p50 ms",
        "p99 ms",
        "batch",
    ];
    if iso {
        cols.push("N");
    }
    let mut t = Table::new(&cols);
    for (i, m) in scenario.models.iter().enumerate() {
        for r in results {
            let ms = &r.models[i];
            let mut row = vec![
                m.name.clone(),
                r.policy.clone(),
                format!("{:.0}", ms.slo_ms),
                format!("{:.1}", ms.offered_rps),
                format!("{:.1}", ms.goodput_rps),
                pct(ms.slo_attainment),
                ms.dropped.to_string(),
                ms.late.to_string(),
                ms.unfinished.to_string(),
                fmt(ms.latency_ms.p50, 2),
                fmt(ms.latency_ms.p99, 2),
                fmt(ms.mean_batch, 1),
            ];
            if iso {
                row.push(fmt(ms.normalized_goodput, 3));
            }
            t.row(row);
        }
        if i >= 40 && scenario.models.len() > 50 {
            s.push_str(&t.render());
            s.push_str(&format!(
                "... and {} more models (see per_model.csv with --out, or --format json)\n",
                scenario.models.len() - i - 1
            ));
            return s;
        }
    }
    s.push_str(&t.render());
    s
}
