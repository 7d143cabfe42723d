//! Sweeps: grid expansion, resume after an interruption, shards merged into
//! byte-identical results, and confidence intervals on known inputs.

use crate::common::{data, files, tmp};
use inferfair::sweep::grid;
use inferfair::sweep::merge::{GridFile, PointRef, Results};
use inferfair::sweep::point::{self, PointFile, take_models};
use inferfair::sweep::spec::{SweepSpec, fmt_value};
use inferfair::sweep::stats::mean_ci95;
use std::path::PathBuf;
use std::process::Command;

fn inferfair(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "inferfair {args:?} failed:\n{err}");
    err
}

fn spec(text: &str) -> SweepSpec {
    SweepSpec::from_table(toml::from_str(text).unwrap(), &data(), "t", "test sweep").unwrap()
}

fn spec_err(text: &str) -> String {
    SweepSpec::from_table(toml::from_str(text).unwrap(), &data(), "t", "test sweep")
        .unwrap_err()
        .to_string()
}

#[test]
fn grid_expands_axes_then_policies_then_seeds_and_a_parameter_axis_only_where_it_applies() {
    let s = spec(
        r#"
        scenario = "toy.toml"
        policies = ["fifo", { label = "fifo-b1", policy = "fifo", params = { max_batch = 1 } }]
        seeds = [1, 2]
        [grid]
        "policy.fifo.max_batch" = [2, 4]
        rate_scale = [0.5, 1.0]
        "#,
    );
    // Scenario axes first whatever the order written, then parameter axes.
    let names: Vec<&str> = s.axes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["rate_scale", "policy.fifo.max_batch"]);
    let pts = grid::expand(&s);
    let got: Vec<String> = pts
        .iter()
        .map(|p| {
            let c: Vec<String> = p
                .coords
                .iter()
                .map(|v| v.as_ref().map(fmt_value).unwrap_or("-".into()))
                .collect();
            format!("{} {} {}", s.policies[p.variant].label, p.seed, c.join(","))
        })
        .collect();
    let want = [
        "fifo 1 0.5,2",
        "fifo 2 0.5,2",
        "fifo-b1 1 0.5,-",
        "fifo-b1 2 0.5,-",
        "fifo 1 0.5,4",
        "fifo 2 0.5,4",
        "fifo 1 1,2",
        "fifo 2 1,2",
        "fifo-b1 1 1,-",
        "fifo-b1 2 1,-",
        "fifo 1 1,4",
        "fifo 2 1,4",
    ];
    assert_eq!(got, want);

    // Each point's scenario carries its values; the variant keeps its own max_batch.
    let f = point::scenario_file(&s, &pts[4]).unwrap();
    assert_eq!((f.rate_scale, f.seed), (0.5, 1));
    assert_eq!(f.policy["fifo"]["max_batch"].as_integer(), Some(4));
    let f = point::scenario_file(&s, &pts[2]).unwrap();
    assert_eq!(f.policy["fifo"]["max_batch"].as_integer(), Some(1));

    // Ids: stable, distinct for distinct configurations, shared by equal ones.
    let h = point::ContentHashes::default();
    let ids: Vec<String> = pts
        .iter()
        .map(|p| point::resolve(&s, p, &h).unwrap().id)
        .collect();
    let again: Vec<String> = pts
        .iter()
        .map(|p| point::resolve(&s, p, &h).unwrap().id)
        .collect();
    assert_eq!(ids, again);
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 12);
}

#[test]
fn scenario_axes_and_the_models_axis() {
    let s = spec(
        r#"
        scenario = "toy.toml"
        policies = ["fifo"]
        [grid]
        gpus = [1, 2]
        cv_scale = [2.0]
        slo_scale = [1.5]
        models = [1, 3]
        "#,
    );
    let pts = grid::expand(&s);
    assert_eq!(pts.len(), 4);
    assert_eq!(s.seeds, vec![7], "the default seed is the scenario's");
    let h = point::ContentHashes::default();
    let p = point::resolve(&s, &pts[3], &h).unwrap();
    assert_eq!(p.scenario.cluster.gpus, 2);
    assert_eq!(p.scenario.file.cv_scale, 2.0);
    // toy's SLOs are 20 and 100 ms.
    let names: Vec<(&str, f64)> = p
        .scenario
        .models
        .iter()
        .map(|m| (m.name.as_str(), inferfair_sim::time::ms(m.slo)))
        .collect();
    assert_eq!(
        names,
        [("small-0", 30.0), ("small-1", 30.0), ("big", 150.0)]
    );
    let p = point::resolve(&s, &pts[0], &h).unwrap();
    assert_eq!(p.scenario.models.len(), 1);
    assert_eq!(p.scenario.models[0].name, "small");
}

#[test]
fn take_models_repeats_the_instance_list_and_cuts_it() {
    let base: Vec<inferfair_sim::scenario::ModelEntry> =
        toml::from_str::<inferfair_sim::scenario::ScenarioFile>(
            r#"
        name = "x"
        duration_s = 1
        profile = "toy.csv"
        [cluster]
        [[models]]
        model = "small"
        count = 2
        arrival = { process = "poisson", rate_rps = 1 }
        [[models]]
        model = "big"
        arrival = { process = "poisson", rate_rps = 1 }
        "#,
        )
        .unwrap()
        .models;
    let counts = |n: u32| {
        let mut m = base.clone();
        take_models(&mut m, n);
        m.iter()
            .map(|e| (e.model.clone(), e.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(1), [("small".to_string(), 1)]);
    assert_eq!(counts(2), [("small".to_string(), 2)]);
    assert_eq!(
        counts(3),
        [("small".to_string(), 2), ("big".to_string(), 1)]
    );
    assert_eq!(
        counts(4),
        [("small".to_string(), 3), ("big".to_string(), 1)]
    );
    assert_eq!(
        counts(7),
        [("small".to_string(), 5), ("big".to_string(), 2)]
    );
}

#[test]
fn bad_sweeps_say_where_and_what() {
    let e = spec_err("scenario = \"toy.toml\"\npolicies = [\"fifo\"]\n[grid]\nrate = [1.0]\n");
    assert!(e.contains("grid.rate") && e.contains("unknown axis"), "{e}");
    let e = spec_err("scenario = \"toy.toml\"\npolicies = [\"fifo\"]\n[grid]\ngpus = [0]\n");
    assert!(
        e.contains("grid.gpus") && e.contains("whole numbers"),
        "{e}"
    );
    let e = spec_err(
        "scenario = \"toy.toml\"\npolicies = [\"fifo\"]\n[grid]\n\"policy.inferfair.fairness\" = [0.5]\n",
    );
    assert!(e.contains("not in `policies`"), "{e}");
    let e = spec_err(
        "scenario = \"toy.toml\"\npolicies = [\"fifo\"]\n[grid]\nrate_scale = [1.0, 1.0]\n",
    );
    assert!(e.contains("appears twice"), "{e}");
    let e = spec_err("scenario = \"nope.toml\"\npolicies = [\"fifo\"]\n");
    assert!(e.contains("scenario") && e.contains("nope.toml"), "{e}");
    let e = spec_err("scenario = \"toy.toml\"\npolicies = [\"fifo\", \"fifo\"]\n");
    assert!(e.contains("used twice"), "{e}");
    // A value the scenario rejects names the point.
    let s = spec("scenario = \"toy.toml\"\npolicies = [\"fifo\"]\n[grid]\nslo_scale = [0.01]\n");
    let e = point::resolve(&s, &grid::expand(&s)[0], &point::ContentHashes::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("slo_scale=0.01") && e.contains("shorter than"),
        "{e}"
    );
}

fn sweep_file() -> String {
    data().join("sweep.toml").display().to_string()
}

#[test]
fn an_interrupted_sweep_resumes_and_never_reruns_a_finished_point() {
    let dir = tmp("resume");
    let out = dir.to_str().unwrap();
    let log = inferfair(&["sweep", &sweep_file(), "--out", out, "--jobs", "2"]);
    assert!(
        log.contains("18 points (0 already done, 18 to run)"),
        "{log}"
    );
    let points = dir.join("points");
    let before = files(&points);
    assert_eq!(before.len(), 18);
    let results = std::fs::read(dir.join("results.csv")).unwrap();

    // Interrupt: one point's file is lost; another one carries a marker.
    let (lost, lost_bytes) = &before[3];
    std::fs::remove_file(points.join(lost)).unwrap();
    let (marked, bytes) = &before[5];
    let mut f: PointFile = serde_json::from_slice(bytes).unwrap();
    f.config = "MARKER: not rerun".into();
    std::fs::write(points.join(marked), serde_json::to_string(&f).unwrap()).unwrap();

    let log = inferfair(&["sweep", &sweep_file(), "--out", out]);
    assert!(
        log.contains("18 points (17 already done, 1 to run)"),
        "{log}"
    );
    assert_eq!(
        &std::fs::read(points.join(lost)).unwrap(),
        lost_bytes,
        "the same seed gives the same file"
    );
    let kept: PointFile =
        serde_json::from_slice(&std::fs::read(points.join(marked)).unwrap()).unwrap();
    assert_eq!(kept.config, "MARKER: not rerun");
    assert_eq!(std::fs::read(dir.join("results.csv")).unwrap(), results);

    let dry = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args(["sweep", &sweep_file(), "--out", out, "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains("  done  ")).count(),
        18,
        "{text}"
    );
    assert!(
        text.contains("18 points (18 already done, 0 to run)"),
        "{text}"
    );
}

#[test]
fn shards_merge_into_results_byte_identical_to_one_machine() {
    let one = tmp("one");
    inferfair(&["sweep", &sweep_file(), "--out", one.to_str().unwrap()]);
    let shards: Vec<PathBuf> = (0..3).map(|k| tmp(&format!("shard{k}"))).collect();
    let mut seen = Vec::new();
    for (k, d) in shards.iter().enumerate() {
        let log = inferfair(&[
            "sweep",
            &sweep_file(),
            "--out",
            d.to_str().unwrap(),
            "--shard",
            &format!("{k}/3"),
        ]);
        assert!(log.contains("6 points (0 already done, 6 to run)"), "{log}");
        assert!(
            !d.join("results.csv").exists(),
            "a shard alone has no merged results"
        );
        seen.extend(files(&d.join("points")).into_iter().map(|f| f.0));
    }
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(
        (n, seen.len()),
        (18, 18),
        "the shards are disjoint and cover the sweep"
    );

    let merged = tmp("merged");
    let mut args = vec!["sweep", "merge"];
    let names: Vec<String> = shards.iter().map(|d| d.display().to_string()).collect();
    args.extend(names.iter().map(|s| s.as_str()));
    args.extend(["--out", merged.to_str().unwrap()]);
    inferfair(&args);
    for f in ["results.csv", "results_ci.csv", "grid.json"] {
        assert_eq!(
            std::fs::read(merged.join(f)).unwrap(),
            std::fs::read(one.join(f)).unwrap(),
            "{f} differs"
        );
    }
    assert_eq!(files(&merged.join("points")), files(&one.join("points")));

    // Merging too few shards says what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args([
            "sweep",
            "merge",
            &names[0],
            "--out",
            tmp("partial").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("12 of the 18 points") && err.contains("no result"),
        "{err}"
    );
}

#[test]
fn results_have_overall_and_model_rows_with_the_axes_as_columns() {
    let dir = tmp("rows");
    inferfair(&["sweep", &sweep_file(), "--out", dir.to_str().unwrap()]);
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("no column {n}"))
    };
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        rows.len(),
        18 * 3,
        "an overall row and two model rows per point"
    );
    assert_eq!(&rows[0][col("model")], "*");
    assert_eq!(&rows[1][col("model")], "small");
    assert_eq!(&rows[0][col("rate_scale")], "0.5");
    assert_eq!(&rows[0][col("gpus")], "1");
    assert_eq!(&rows[0][col("models")], "2");
    assert_eq!(&rows[0][col("policy.fifo.max_batch")], "2");
    let b1 = rows
        .iter()
        .find(|r| &r[col("policy")] == "fifo-b1")
        .unwrap();
    assert_eq!(
        &b1[col("policy.fifo.max_batch")],
        "",
        "the axis does not apply to that variant"
    );
    // Overall rows hold isolation metrics, model rows normalized goodput.
    assert!(
        !rows[0][col("isolation_gap")].is_empty() && rows[0][col("normalized_goodput")].is_empty()
    );
    assert!(
        rows[1][col("isolation_gap")].is_empty() && !rows[1][col("normalized_goodput")].is_empty()
    );
    // Good requests add up.
    let good = |r: &csv::StringRecord| r[col("good")].parse::<f64>().unwrap();
    assert_eq!(good(&rows[0]), good(&rows[1]) + good(&rows[2]));

    // results_ci.csv: one row per point without its seed, and the means match.
    let ci = std::fs::read_to_string(dir.join("results_ci.csv")).unwrap();
    let mut r = csv::Reader::from_reader(ci.as_bytes());
    let hc = r.headers().unwrap().clone();
    let cc = |n: &str| hc.iter().position(|c| c == n).unwrap();
    let crow: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(crow.len(), 6 * 3);
    assert_eq!(&crow[0][cc("seeds")], "3");
    let seeds: Vec<f64> = rows
        .iter()
        .filter(|r| &r[col("model")] == "*" && &r[col("policy")] == "fifo")
        .take(3)
        .map(|r| r[col("goodput_rps")].parse().unwrap())
        .collect();
    let m = mean_ci95(&seeds).unwrap();
    assert_eq!(
        crow[0][cc("goodput_rps_mean")].parse::<f64>().unwrap(),
        m.mean
    );
    assert_eq!(
        crow[0][cc("goodput_rps_ci95")].parse::<f64>().unwrap(),
        m.half_width.unwrap()
    );
}

#[test]
fn student_t_interval_on_known_inputs() {
    // 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776445, half-width = t s / sqrt(5) = 1.963243.
    let c = mean_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(c.mean, 3.0);
    assert!((c.half_width.unwrap() - 1.963243).abs() < 1e-5, "{c:?}");
    // 10, 12, 14: mean 12, s = 2, t(0.975, 2) = 4.302653, half-width = 4.968275.
    let c = mean_ci95(&[10.0, 12.0, 14.0]).unwrap();
    assert!((c.half_width.unwrap() - 4.968275).abs() < 1e-5, "{c:?}");
    assert_eq!(mean_ci95(&[7.0]).unwrap().half_width, None);

    // Through merging: three seeds of one point with goodputs 10, 12 and 14.
    let dir = tmp("ci");
    let points_dir = dir.join("points");
    std::fs::create_dir_all(&points_dir).unwrap();
    let mut grid = GridFile {
        sweep: "hand".into(),
        inferfair: "0".into(),
        param_axes: vec![],
        points: vec![],
    };
    for (seed, good) in [(1u64, 10.0), (2, 12.0), (3, 14.0)] {
        let id = format!("{seed:016x}");
        let result = serde_json::json!({
            "policy": "fifo",
            "overall": {"arrived": 20, "good": good, "late": 0, "dropped": 0, "unfinished": 0,
                        "goodput_rps": good, "slo_attainment": good / 20.0,
                        "latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0},
                        "gpu_utilization": 0.5, "coldstarts": 0},
            "models": [{"model": "m", "profile_model": "small", "slo_ms": 20.0, "arrived": 20, "good": good,
                        "late": 0, "dropped": 0, "unfinished": 0, "offered_rps": 20.0, "goodput_rps": good,
                        "slo_attainment": good / 20.0, "normalized_goodput": null, "alone_goodput_rps": null,
                        "latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0},
                        "mean_batch": 1.0, "gpu_share": 0.5, "coldstarts": 0}],
        });
        let f = PointFile {
            id: id.clone(),
            inferfair: "0".into(),
            scenario: "hand".into(),
            policy: "fifo".into(),
            seed,
            params: serde_json::json!({}),
            result,
            latency_cdf: None,
            timeline: None,
            config: String::new(),
        };
        std::fs::write(
            point::path(&points_dir, &id),
            serde_json::to_string(&f).unwrap(),
        )
        .unwrap();
        grid.points.push(PointRef {
            id,
            scenario: "hand".into(),
            policy: "fifo".into(),
            seed,
            axes: vec![
                Some(toml::Value::Float(1.0)),
                Some(toml::Value::Float(1.0)),
                Some(toml::Value::Float(1.0)),
                Some(toml::Value::Integer(1)),
                Some(toml::Value::Integer(1)),
            ],
        });
    }
    let r = Results::load(grid, &points_dir).unwrap();
    let g = &r.groups()[0];
    let k = inferfair::sweep::merge::metric_index("goodput_rps").unwrap();
    let s = g.stats[k].unwrap();
    assert_eq!((g.seeds, s.mean), (3, 12.0));
    assert!((s.half_width.unwrap() - 4.968275).abs() < 1e-5);
    let ci = r.ci_csv().unwrap();
    let line = ci.lines().nth(1).unwrap();
    assert!(line.starts_with("hand,1,1,1,1,1,fifo,*,,,3,"), "{line}");
}

/// `sweep --set` reaches the scenarios of a sweep over random mixes too
/// (each generated mix), before the grid's axes.
#[test]
fn set_overrides_apply_to_each_generated_mix() {
    let mut s = spec(
        "policies = [\"fifo\"]\n[mix]\nprofile = \"toy.csv\"\nmodels = 2\n[grid]\nmix_seed = \"1-2\"\ngpus = [1, 3]\n",
    );
    s.sets = vec![
        "cluster.max_concurrent=4".parse().unwrap(),
        "cluster.gpus=2".parse().unwrap(),
    ];
    let points = grid::expand(&s);
    assert_eq!(points.len(), 4);
    for gp in &points {
        let f = point::scenario_file(&s, gp).unwrap();
        assert_eq!(f.cluster.max_concurrent, Some(4));
        // The grid's axis wins over the override.
        assert!(
            matches!(f.cluster.gpus, Some(1) | Some(3)),
            "{:?}",
            f.cluster.gpus
        );
    }
    // Without the override, a mix has one batch at a time.
    s.sets.clear();
    let f = point::scenario_file(&s, &points[0]).unwrap();
    assert_eq!(f.cluster.max_concurrent, None);
}
