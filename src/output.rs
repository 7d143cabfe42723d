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
    let mut doc = json!({ "scenario": scenario.name, "seed": scenario.seed, "results": results });
    if let Some(c) = comparison(results_of(&results)) {
        doc["comparison"] = c;
    }
    doc
}

fn results_of(v: &[Value]) -> (Option<&Value>, Option<&Value>) {
    let get = |n: &str| v.iter().find(|r| r["policy"] == n);
    (get("inferfair"), get("clockwork"))
}

/// `a / b`, when `b` is positive.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// The JSON `comparison` of InferFair with Clockwork (when both ran): each
/// ratio is InferFair's value over Clockwork's (null when Clockwork's is 0
/// or the metric is missing).
fn comparison((inf, cw): (Option<&Value>, Option<&Value>)) -> Option<Value> {
    let (inf, cw) = (inf?, cw?);
    let r = |k: &str| {
        let (a, b) = (inf["overall"][k].as_f64(), cw["overall"][k].as_f64());
        a.zip(b).and_then(|(a, b)| ratio(a, b))
    };
    Some(json!({
        "policy": "inferfair",
        "baseline": "clockwork",
        "goodput_ratio": r("goodput_rps"),
        "isolation_gap_ratio": r("isolation_gap"),
        "stp_ratio": r("stp"),
    }))
}

/// Policy `na`'s non-negative value `a` against `nb`'s `b`, in words: how
/// many times smaller or larger, equal, or which one alone is above 0.
pub fn compare_words(a: f64, b: f64, na: &str, nb: &str) -> String {
    if a == b {
        "equal".into()
    } else if a == 0.0 {
        format!("only {nb}'s is above 0")
    } else if b == 0.0 {
        format!("only {na}'s is above 0")
    } else if a < b {
        format!("{:.2}x smaller", b / a)
    } else {
        format!("{:.2}x larger", a / b)
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// Header of `per_model.csv`.
pub const PER_MODEL_HEADER: &str = "policy,model,profile_model,slo_ms,arrived,good,late,dropped,unfinished,offered_rps,goodput_rps,slo_attainment,normalized_goodput,alone_goodput_rps,latency_mean_ms,latency_p50_ms,latency_p90_ms,latency_p99_ms,latency_p999_ms,mean_batch,gpu_share,coldstarts,preempted,wasted_share";

/// Rows of `per_model.csv` for one result.
pub fn per_model_rows(r: &RunResult, out: &mut String) {
    for m in &r.models {
        let l = &m.latency_ms;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
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
            m.coldstarts,
            m.preempted,
            m.wasted_share
        ));
    }
}

/// The columns of `per_gpu.csv`.
pub const PER_GPU_HEADER: &str = "policy,gpu,pool,utilization,concurrency,preemptions,wasted";

/// One `per_gpu.csv` row per GPU of a result.
pub fn per_gpu_rows(r: &RunResult, out: &mut String) {
    for g in &r.gpus {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.policy,
            g.gpu,
            g.pool,
            g.utilization,
            opt(g.concurrency),
            g.preemptions,
            g.wasted
        ));
    }
}

/// Writes `summary.json`, `per_model.csv`, `per_gpu.csv` and the resolved
/// `scenario.toml` (with the files it names in `inputs/`: `resolved`) to `dir`.
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
    let mut csv = String::from(PER_GPU_HEADER);
    csv.push('\n');
    for r in results {
        per_gpu_rows(r, &mut csv);
    }
    write_atomic(&dir.join("per_gpu.csv"), csv.as_bytes())?;
    crate::resolved::write(dir, &scenario.file, results)
}

/// Header of `requests.csv`: one row per request, in the order requests
/// ended (columns and order: docs/cli.md).
pub const REQUESTS_HEADER: &str = "request_id,model,arrival_ns,deadline_ns,start_ns,finish_ns,gpu,batch_size,outcome,in_window,pool";

/// Streams `requests.csv` during a run (renamed into place by `finish`).
pub struct RequestLog {
    file: AtomicFile,
    names: Vec<String>,
    /// The pool of each GPU.
    pools: Vec<String>,
    /// The measured window: requests arriving in [from, to) count in the results.
    window: (Nanos, Nanos),
    error: Option<std::io::Error>,
}

impl RequestLog {
    /// Starts `dir/requests.csv`.
    pub fn create(dir: &Path, scenario: &inferfair_sim::Scenario) -> Result<Self> {
        ensure_dir(dir)?;
        let mut file = AtomicFile::create(&dir.join("requests.csv"))?;
        writeln!(file.writer(), "{REQUESTS_HEADER}")?;
        Ok(RequestLog {
            file,
            names: scenario.models.iter().map(|m| m.name.clone()).collect(),
            pools: (0..scenario.cluster.gpus)
                .map(|g| {
                    scenario.cluster.pools[scenario.cluster.pool_of(g)]
                        .name
                        .clone()
                })
                .collect(),
            window: (scenario.warmup, scenario.duration),
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
        let pool = e.gpu.map_or("", |g| self.pools[g].as_str());
        let a = e.req.arrival;
        let in_window = a >= self.window.0 && a < self.window.1;
        if let Err(err) = writeln!(
            self.file.writer(),
            "{},{},{},{},{},{},{},{},{},{in_window},{}",
            e.req.id,
            csv_field(&self.names[e.req.model]),
            e.req.arrival,
            e.req.deadline,
            start,
            e.finish,
            gpu,
            e.batch_size,
            e.outcome.as_str(),
            pool
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
    fn preempted(&mut self, gpu: GpuId, b: &Batch, start: Nanos, now: Nanos) {
        self.0
            .iter_mut()
            .for_each(|o| o.preempted(gpu, b, start, now));
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

/// Terminal width that tables fit (`Table::render_fit`).
pub const WIDTH: usize = 100;

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

    /// Renders within `max` characters a line: the first `keys` columns,
    /// then as many of the column groups (consecutive columns that belong
    /// together, `groups` giving their sizes) as fit; the groups that do not
    /// fit go to further tables, each repeating the key columns, separated
    /// by a blank line. A single group wider than `max` gets a table of its own.
    /// Columns beyond the groups form one last group (none is ever left out).
    pub fn render_fit(&self, max: usize, keys: usize, groups: &[usize]) -> String {
        let widths = self.widths();
        let mut groups = groups.to_vec();
        let grouped = keys + groups.iter().sum::<usize>();
        if grouped < self.header.len() {
            groups.push(self.header.len() - grouped);
        }
        let width_of = |cols: &[usize]| -> usize {
            cols.iter().map(|&c| widths[c]).sum::<usize>() + 2 * cols.len().saturating_sub(1)
        };
        let key_cols: Vec<usize> = (0..keys).collect();
        let mut blocks: Vec<Vec<usize>> = Vec::new();
        let mut cur = key_cols.clone();
        let mut next = keys;
        for g in groups {
            let g = g.min(self.header.len() - next);
            let cols: Vec<usize> = (next..next + g).collect();
            next += g;
            let mut with = cur.clone();
            with.extend(&cols);
            if width_of(&with) > max && cur.len() > keys {
                blocks.push(std::mem::replace(&mut cur, key_cols.clone()));
                cur.extend(&cols);
            } else {
                cur = with;
            }
        }
        if cur.len() > keys || blocks.is_empty() {
            blocks.push(cur);
        }
        let parts: Vec<String> = blocks.iter().map(|b| self.render_cols(b)).collect();
        parts.join("\n")
    }

    fn widths(&self) -> Vec<usize> {
        let mut w = vec![0; self.header.len()];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        w
    }

    /// Renders the columns `cols` only.
    fn render_cols(&self, cols: &[usize]) -> String {
        let pick = |r: &Vec<String>| -> Vec<String> {
            cols.iter()
                .map(|&c| r.get(c).cloned().unwrap_or_default())
                .collect()
        };
        Table {
            header: pick(&self.header),
            rows: self.rows.iter().map(pick).collect(),
        }
        .render()
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

/// The cluster in a few words: `1 GPU`, `4 GPUs`, or `2 v100 + 1 h100 GPUs`.
pub fn gpus_label(c: &inferfair_sim::cluster::Cluster) -> String {
    if c.is_uniform() {
        format!("{} GPU{}", c.gpus, if c.gpus == 1 { "" } else { "s" })
    } else {
        let parts: Vec<String> = c
            .pools
            .iter()
            .map(|p| format!("{} {}", p.count, p.name))
            .collect();
        format!("{} GPUs", parts.join(" + "))
    }
}

/// On a cluster that runs batches concurrently: each policy's mean running
/// batches while busy, and which run one at a time whatever the cluster allows.
fn concurrency_note(scenario: &inferfair_sim::Scenario, results: &[RunResult]) -> String {
    let most = scenario
        .cluster
        .pools
        .iter()
        .map(|p| p.max_concurrent)
        .max()
        .unwrap_or(1);
    if most <= 1 {
        return String::new();
    }
    let parts: Vec<String> = results
        .iter()
        .map(|r| {
            let conc = fmt(r.overall.gpu_concurrency, 2);
            if r.gpus.iter().all(|g| g.max_concurrent == 1) {
                format!("{} {conc} (one batch at a time by design)", r.policy)
            } else {
                format!("{} {conc}", r.policy)
            }
        })
        .collect();
    format!(
        "batches running at once when busy (up to {most} allowed): {}\n",
        parts.join(", ")
    )
}

/// The tables people read: overall per policy, ratios, and per model, each
/// within `WIDTH` characters a line (split into two tables when wider).
pub fn render_tables(scenario: &inferfair_sim::Scenario, results: &[RunResult]) -> String {
    let mut s = format!(
        "scenario {}  seed {}  {}  {} models  measured {:.1} s\n\n",
        scenario.name,
        scenario.seed,
        gpus_label(&scenario.cluster),
        scenario.models.len(),
        inferfair_sim::time::secs(scenario.window())
    );
    let iso = results.iter().any(|r| r.overall.isolation.is_some());
    let preempts = results.iter().any(|r| r.overall.preemptions > 0);
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
    if preempts {
        cols.extend(["preempted", "wasted"]);
    }
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
        if preempts {
            row.extend([
                o.preemptions.to_string(),
                format!("{:.1}%", o.gpu_wasted * 100.0),
            ]);
        }
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
    let first = cols.len() - 1 - if iso { 5 } else { 0 };
    s.push_str(&t.render_fit(WIDTH, 1, &[first, 5]));
    s.push_str(&concurrency_note(scenario, results));
    let get = |n: &str| results.iter().find(|r| r.policy == n);
    if let (Some(inf), Some(cw)) = (get("inferfair"), get("clockwork")) {
        s.push('\n');
        if let (Some(a), Some(b)) = (&inf.overall.isolation, &cw.overall.isolation) {
            s.push_str(&format!(
                "inferfair vs clockwork: isolation gap {:.3} vs {:.3} ({}), STP {:.2} vs {:.2}\n",
                a.isolation_gap,
                b.isolation_gap,
                compare_words(a.isolation_gap, b.isolation_gap, "inferfair", "clockwork"),
                a.stp,
                b.stp
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
            s.push_str(&t.render_fit(WIDTH, 2, &[6]));
            s.push_str(&format!(
                "... and {} more models (see per_model.csv with --out, or --format json)\n",
                scenario.models.len() - i - 1
            ));
            return s;
        }
    }
    s.push_str(&t.render_fit(WIDTH, 2, &[6]));
    s
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn render_fit_splits_groups_and_never_drops_a_column() {
        let mut t = Table::new(&["key", "a", "b", "c", "d"]);
        t.row(vec![
            "k".into(),
            "1".into(),
            "2".into(),
            "3".into(),
            "4".into(),
        ]);
        // Groups cover only a and b: c and d form a last group.
        let wide = t.render_fit(100, 1, &[2]);
        assert_eq!(wide.lines().next().unwrap().split_whitespace().count(), 5);
        // Too narrow for more than one group beside the key: three tables.
        let narrow = t.render_fit(8, 1, &[1, 1]);
        for col in ["a", "b", "c", "d"] {
            assert!(
                narrow
                    .lines()
                    .any(|l| l.split_whitespace().any(|w| w == col)),
                "{col} missing:\n{narrow}"
            );
        }
    }
}
