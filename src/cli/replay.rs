//! `inferfair replay` (a scenario in real time on a backend) and
//! `inferfair validate` (the simulator's prediction against replays, per
//! policy and model). Method and files: `docs/validation.md`.

use super::output::{
    RequestLog, Table, WIDTH, fmt, json_doc, render_tables, write_atomic, write_results,
};
use super::{Format, Overrides};
use crate::progress::Progress;
use anyhow::Result;
use clap::Args;
use clap::builder::PossibleValuesParser;
use inferfair_replay::records::{self, BATCHES_HEADER, LOADS_HEADER};
use inferfair_replay::validate::{self, Row, Summary};
use inferfair_replay::{Backend, ReplayOptions, Replayed};
use inferfair_sim::Scenario;
use inferfair_sim::engine::Observer;
use inferfair_sim::time::ms;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What both commands take to pick the scenario and the backend.
#[derive(Args, Debug)]
pub struct Common {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Where batches and transfers run: `cpu` (timed waits of the profiled
    /// durations) or `cuda` (real kernels on a GPU; needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = PossibleValuesParser::new(inferfair_replay::backend::NAMES))]
    backend: String,
    /// First CUDA device: scenario GPU g runs on device N + g.
    #[arg(long, value_name = "N", default_value_t = 0)]
    gpu: usize,
    #[command(flatten)]
    overrides: Overrides,
    /// Use this profile instead of the scenario's (e.g. one measured with
    /// `profile measure`); with [[cluster.pools]], instead of every pool's.
    #[arg(long)]
    profile: Option<PathBuf>,
}

impl Common {
    fn scenario(&self) -> Result<Scenario> {
        let profile = self.profile.as_ref().map(std::path::absolute).transpose()?;
        super::load_scenario_with(&self.scenario, &self.overrides, |f| {
            if let Some(p) = profile {
                for pool in &mut f.cluster.pools {
                    pool.profile = Some(p.clone());
                }
                f.profile = Some(p);
            }
        })
    }

    fn backend(&self) -> Result<Box<dyn Backend>> {
        inferfair_replay::backend(&self.backend, self.gpu)
    }
}

/// Arguments of `replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Scheduling policy (any case).
    #[arg(long, default_value = "fifo", value_parser = super::policy_parser(), ignore_case = true)]
    policy: String,
    /// Write summary.json, per_model.csv, scenario.toml, batches.csv and loads.csv here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write requests.csv (one row per request) to --out.
    #[arg(long, requires = "out")]
    requests: bool,
    /// Also report isolation metrics, normalizing by the simulator's goodputs alone.
    #[arg(long)]
    isolation: bool,
}

/// Arguments of `validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    common: Common,
    /// Policies, comma-separated, any case (default: every implemented policy).
    #[arg(long, value_delimiter = ',', value_parser = super::policy_parser(), ignore_case = true)]
    policies: Vec<String>,
    /// Write validation.csv, validation.json, validation.txt, and the runs' files under sim/ and replay/.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Replay every model alone too for the real isolation metrics (one more
    /// real-time run per model and policy; default: the simulator's goodputs alone).
    #[arg(long)]
    real_alone: bool,
}

fn names(s: &Scenario) -> Vec<String> {
    s.models.iter().map(|m| m.name.clone()).collect()
}

/// The replay's timing fidelity, one table row per replay: how far measured
/// batch durations were from the profile's, and how late the driver
/// released inputs (arrivals and timers).
fn timing_table(replays: &[&Replayed]) -> String {
    let mut t = Table::new(&[
        "policy",
        "batches",
        "dur. err p50",
        "mean |err|",
        "p99 |err|",
        "issue ms",
        "late p50",
        "p99",
        "max",
    ]);
    for r in replays {
        let late = |q: f64| fmt(r.lateness.quantile(q).map(ms), 3);
        let mut row = vec![r.result.policy.clone()];
        match records::duration_error(&r.batches) {
            Some(e) => row.extend([
                e.count.to_string(),
                format!("{:+.2}%", e.median_pct),
                format!("{:.2}%", e.mean_abs_pct),
                format!("{:.2}%", e.p99_abs_pct),
                format!("{:.3}", ms(e.median_issue_ns)),
            ]),
            None => row.extend(["0".into(), "-".into(), "-".into(), "-".into(), "-".into()]),
        }
        row.extend([late(0.5), late(0.99), late(1.0)]);
        t.row(row);
    }
    format!(
        "replay timing: batch durations measured against profiled (error in %), the driver's\n\
         median delay in issuing a batch (ms), and how late it released inputs (ms):\n{}",
        t.render_fit(WIDTH, 1, &[1, 3, 1, 3])
    )
}

fn replay_json(r: &Replayed) -> serde_json::Value {
    let e = records::duration_error(&r.batches);
    let q = |p: f64| r.lateness.quantile(p).map(ms);
    json!({
        "policy": r.result.policy,
        "batches": r.batches.len(),
        "loads": r.loads.len(),
        "duration_error_median_pct": e.map(|e| e.median_pct),
        "duration_error_mean_abs_pct": e.map(|e| e.mean_abs_pct),
        "duration_error_p99_abs_pct": e.map(|e| e.p99_abs_pct),
        "lateness_ms": { "p50": q(0.5), "p99": q(0.99), "max": q(1.0) },
    })
}

/// Writes `batches.csv` and `loads.csv` of some replays to `dir`.
fn write_records(dir: &Path, scenario: &Scenario, replays: &[&Replayed]) -> Result<()> {
    let names = names(scenario);
    let mut b = format!("{BATCHES_HEADER}\n");
    let mut l = format!("{LOADS_HEADER}\n");
    for r in replays {
        records::batch_rows(&r.result.policy, &names, &r.batches, &mut b);
        records::load_rows(&r.result.policy, &names, &r.loads, &mut l);
    }
    write_atomic(&dir.join("batches.csv"), b.as_bytes())?;
    write_atomic(&dir.join("loads.csv"), l.as_bytes())
}

/// Runs `replay`.
pub fn replay(a: ReplayArgs) -> Result<()> {
    let scenario = a.common.scenario()?;
    let mut policy = inferfair_sim::policy::build(&a.policy, &scenario)?;
    let backend = a.common.backend()?;
    let run_dir = a
        .out
        .as_deref()
        .map(inferfair::rundir::RunDir::begin)
        .transpose()?;
    let mut log = match (&a.out, a.requests) {
        (Some(dir), true) => Some(RequestLog::create(dir, &scenario)?),
        _ => None,
    };
    eprintln!(
        "replaying {} under {} on {} for up to {:.1} s",
        scenario.name,
        a.policy,
        backend.describe(),
        inferfair_sim::time::secs(scenario.duration + scenario.drain)
    );
    let progress = Progress::new(
        format!("{} / {} (real time)", scenario.name, a.policy),
        1.0,
        0,
        Duration::ZERO,
    );
    let mut tick = |f: f64| progress.set(f);
    let opts = ReplayOptions {
        observer: log.as_mut().map(|l| l as &mut dyn Observer),
        progress: Some(&mut tick),
        timeline_bin: None,
    };
    let mut r = inferfair_replay::replay(&scenario, policy.as_mut(), backend.as_ref(), opts)?;
    drop(progress);
    if a.isolation {
        let alone = inferfair_sim::run::alone_goodputs(&scenario, &a.policy)?;
        inferfair_sim::run::apply_isolation(&mut r.result, &alone);
    }
    let results = [r.result.clone()];
    if let Some(dir) = &a.out {
        if let Some(l) = log {
            l.finish()?;
        }
        write_results(dir, &scenario, &results)?;
        write_records(dir, &scenario, &[&r])?;
    }
    if let Some(d) = run_dir {
        d.finish(super::simulate::about("replay", &scenario, &results))?;
    }
    match a.format {
        Format::Table => {
            print!("{}", render_tables(&scenario, &results));
            println!("\nreplay on {}", backend.describe());
            print!("{}", timing_table(&[&r]));
        }
        Format::Json => {
            let mut doc = json_doc(&scenario, &results, true);
            doc["backend"] = json!(backend.describe());
            doc["replay"] = replay_json(&r);
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}

fn pts(v: Option<f64>) -> String {
    v.map(|x| format!("{x:+.2}")).unwrap_or_else(|| "-".into())
}

fn pc(v: Option<f64>) -> String {
    v.map(|x| format!("{x:+.1}%")).unwrap_or_else(|| "-".into())
}

fn att(v: Option<f64>) -> String {
    v.map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The tables of a validation, each within `WIDTH` characters a line.
fn render_validation(
    scenario: &Scenario,
    device: &str,
    rows: &[Row],
    s: &Summary,
    timing: &str,
) -> String {
    let mut out = format!(
        "validation of {} (seed {}): simulator (sim) against real-time replay (real)\non {}\n\
         (errors of sim against real; model * is the policy's overall row; every column is in validation.csv)\n\n",
        scenario.name, scenario.seed, device
    );
    let mut t = Table::new(&[
        "policy",
        "model",
        "att. sim",
        "real",
        "diff pts",
        "goodput sim",
        "real",
        "err",
        "iso gap sim",
        "real",
    ]);
    let mut l = Table::new(&[
        "policy",
        "model",
        "mean ms sim",
        "real",
        "err",
        "p50 sim",
        "real",
        "err",
        "p99 sim",
        "real",
        "err",
    ]);
    for r in rows {
        t.row(vec![
            r.policy.clone(),
            r.model.clone(),
            att(r.sim.slo_attainment),
            att(r.real.slo_attainment),
            pts(r.attainment_diff_pts()),
            format!("{:.1}", r.sim.goodput_rps),
            format!("{:.1}", r.real.goodput_rps),
            pc(r.goodput_err_pct()),
            fmt(r.sim.isolation_gap, 3),
            fmt(r.real.isolation_gap, 3),
        ]);
        l.row(vec![
            r.policy.clone(),
            r.model.clone(),
            fmt(r.sim.mean_ms, 2),
            fmt(r.real.mean_ms, 2),
            pc(r.mean_err_pct()),
            fmt(r.sim.p50_ms, 2),
            fmt(r.real.p50_ms, 2),
            pc(r.p50_err_pct()),
            fmt(r.sim.p99_ms, 2),
            fmt(r.real.p99_ms, 2),
            pc(r.p99_err_pct()),
        ]);
    }
    out.push_str(&t.render_fit(WIDTH, 2, &[3, 3, 2]));
    out.push_str("\nlatency\n");
    out.push_str(&l.render_fit(WIDTH, 2, &[3, 3, 3]));
    out.push_str(&format!(
        "\nagreement: SLO attainment |sim - real| mean {:.2}, worst {:.2} points over the policies;\n\
         \x20 per model mean {:.2}, worst {:.2} points\n\
         MAPE per model: goodput {:.2}%, mean latency {:.2}%, p50 {:.2}%, p99 {:.2}%;\n\
         \x20 all (goodput, p50, p99) {:.2}%\n",
        s.attainment_mean_pts,
        s.attainment_max_pts,
        s.model_attainment_mean_pts,
        s.model_attainment_max_pts,
        s.mape_goodput,
        s.mape_mean,
        s.mape_p50,
        s.mape_p99,
        s.mape
    ));
    if let Some(g) = s.isolation_gap_max_diff {
        out.push_str(&format!("isolation gap: worst |sim - real| {g:.3}\n"));
    }
    out.push('\n');
    out.push_str(timing);
    out
}

/// Runs `validate`.
pub fn validate(a: ValidateArgs) -> Result<()> {
    let scenario = a.common.scenario()?;
    let policies: Vec<String> = if a.policies.is_empty() {
        inferfair_sim::policy::names()
            .into_iter()
            .filter(|n| inferfair_sim::policy::build(n, &scenario).is_ok())
            .map(|n| n.to_string())
            .collect()
    } else {
        a.policies.clone()
    };
    for p in &policies {
        inferfair_sim::policy::build(p, &scenario)?;
    }
    let backend = a.common.backend()?;
    let device = backend.describe();
    let per_run = inferfair_sim::time::secs(scenario.duration + scenario.drain);
    let runs = policies.len()
        * if a.real_alone {
            1 + scenario.models.len()
        } else {
            1
        };
    eprintln!(
        "validating {} on {device}:\n  {} policies, {runs} real-time runs of up to {per_run:.1} s each",
        scenario.name,
        policies.len()
    );
    // Real-time runs all take about per_run seconds; the simulator's time is not counted.
    let progress = Progress::new(
        format!("validate {}: runs", scenario.name),
        runs as f64,
        runs,
        Duration::ZERO,
    );
    let mut started = 0usize;
    let mut last = String::new();
    let v = validate::validate(
        &scenario,
        &policies,
        backend.as_ref(),
        a.real_alone,
        &mut |what, f| {
            if what != last {
                last = what.to_string();
                if what != "simulator" {
                    started += 1;
                    progress.advance(0.0, true);
                }
                progress.stage(what);
            }
            if started > 0 {
                progress.set(started as f64 - 1.0 + f);
            }
        },
    )?;
    drop(progress);
    let timing = timing_table(&v.real.iter().collect::<Vec<_>>());
    let text = render_validation(&scenario, &device, &v.rows, &v.summary, &timing);
    let s = &v.summary;
    let doc = json!({
        "scenario": scenario.name,
        "seed": scenario.seed,
        "backend": device,
        "isolation_alone": if a.real_alone { "replay" } else { "simulator" },
        "summary": {
            "attainment_mean_pts": s.attainment_mean_pts,
            "attainment_max_pts": s.attainment_max_pts,
            "model_attainment_mean_pts": s.model_attainment_mean_pts,
            "model_attainment_max_pts": s.model_attainment_max_pts,
            "mape_goodput_pct": s.mape_goodput,
            "mape_mean_pct": s.mape_mean,
            "mape_p50_pct": s.mape_p50,
            "mape_p99_pct": s.mape_p99,
            "mape_pct": s.mape,
            "isolation_gap_max_diff": s.isolation_gap_max_diff,
        },
        "replay": v.real.iter().map(replay_json).collect::<Vec<_>>(),
    });
    if let Some(dir) = &a.out {
        use inferfair::rundir::RunDir;
        let (top, sim_dir, replay_dir) = (dir.clone(), dir.join("sim"), dir.join("replay"));
        let folders = [
            RunDir::begin(&top)?,
            RunDir::begin(&sim_dir)?,
            RunDir::begin(&replay_dir)?,
        ];
        write_results(&sim_dir, &scenario, &v.sim)?;
        let real: Vec<_> = v.real.iter().map(|r| r.result.clone()).collect();
        write_results(&replay_dir, &scenario, &real)?;
        write_records(&replay_dir, &scenario, &v.real.iter().collect::<Vec<_>>())?;
        write_atomic(
            &dir.join("validation.csv"),
            validate::csv(&v.rows).as_bytes(),
        )?;
        write_atomic(&dir.join("validation.txt"), text.as_bytes())?;
        let mut j = serde_json::to_string_pretty(&doc)?;
        j.push('\n');
        write_atomic(&dir.join("validation.json"), j.as_bytes())?;
        let [top, sim_d, replay_d] = folders;
        sim_d.finish(super::simulate::about(
            "validate (simulator)",
            &scenario,
            &v.sim,
        ))?;
        replay_d.finish(super::simulate::about(
            "validate (replay)",
            &scenario,
            &real,
        ))?;
        top.finish(super::simulate::about("validate", &scenario, &v.sim))?;
    }
    match a.format {
        Format::Table => print!("{text}"),
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
    }
    Ok(())
}
