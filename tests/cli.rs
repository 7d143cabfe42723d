//! The command line: outputs, determinism of files, and clear errors on bad input.

use crate::common::{bin, data, files, tmp};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn toy() -> String {
    data().join("toy.toml").display().to_string()
}

#[test]
fn simulate_json_has_the_documented_keys() {
    let out = run(&["simulate", &toy(), "--format", "json", "--isolation"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenario"], "toy");
    assert_eq!(v["seed"], 7);
    let r = &v["results"][0];
    assert_eq!(r["policy"], "fifo");
    for k in [
        "arrived",
        "good",
        "late",
        "dropped",
        "unfinished",
        "goodput_rps",
        "slo_attainment",
        "isolation_gap",
        "jain",
        "min_normalized_goodput",
        "disparity",
        "stp",
    ] {
        assert!(r["overall"].get(k).is_some(), "overall.{k}");
    }
    for k in [
        "model",
        "arrived",
        "good",
        "late",
        "dropped",
        "unfinished",
        "goodput_rps",
        "slo_attainment",
        "normalized_goodput",
    ] {
        assert!(r["models"][0].get(k).is_some(), "models[0].{k}");
    }
    for k in ["mean", "p50", "p90", "p99", "p999"] {
        assert!(
            r["models"][0]["latency_ms"].get(k).is_some(),
            "latency_ms.{k}"
        );
    }
    assert!(r["events"].as_u64().unwrap() > 0);
    assert!(r["wall_s"].as_f64().is_some());
}

#[test]
fn same_seed_gives_byte_identical_files_whatever_the_thread_count() {
    let a = tmp("det-a");
    let b = tmp("det-b");
    let c = tmp("det-c");
    for (dir, threads) in [(&a, "1"), (&b, "2")] {
        let out = bin()
            .args([
                "simulate",
                &toy(),
                "--isolation",
                "--requests",
                "--out",
                dir.to_str().unwrap(),
            ])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let fa = files(&a);
    assert_eq!(
        fa.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        vec![
            "inputs/toy.csv",
            "manifest.json",
            "per_gpu.csv",
            "per_model.csv",
            "requests.csv",
            "scenario.toml",
            "summary.json"
        ]
    );
    assert_eq!(fa, files(&b));
    let out = run(&[
        "simulate",
        &toy(),
        "--seed",
        "8",
        "--out",
        c.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_ne!(
        files(&c).iter().find(|f| f.0 == "summary.json"),
        fa.iter().find(|f| f.0 == "summary.json")
    );
    // The resolved scenario runs again and gives the same results.
    let d = tmp("det-d");
    let out = run(&[
        "simulate",
        a.join("scenario.toml").to_str().unwrap(),
        "--isolation",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(d.join("per_model.csv")).unwrap(),
        std::fs::read(a.join("per_model.csv")).unwrap()
    );
    let reqs = String::from_utf8(std::fs::read(a.join("requests.csv")).unwrap()).unwrap();
    assert!(reqs.starts_with(
        "request_id,model,arrival_ns,deadline_ns,start_ns,finish_ns,gpu,batch_size,outcome,in_window,pool\n"
    ));
    for d in [a, b, c, d] {
        std::fs::remove_dir_all(d).ok();
    }
}

/// Writes `scenario` (and `profile`) to a temporary folder, runs `simulate`, returns stderr.
fn fails_with(scenario: &str, profile: Option<&str>, extra: &[&str]) -> String {
    let d = tmp(&format!(
        "bad-{:x}",
        inferfair_sim::rng::fnv1a(&format!("{scenario}{profile:?}{extra:?}"))
    ));
    let prof = match profile {
        Some(p) => {
            std::fs::write(d.join("p.csv"), p).unwrap();
            "p.csv".to_string()
        }
        None => data().join("toy.csv").display().to_string(),
    };
    let path = d.join("s.toml");
    std::fs::write(&path, scenario.replace("PROFILE", &prof)).unwrap();
    let mut args = vec!["simulate", path.to_str().unwrap()];
    args.extend(extra);
    let out = run(&args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail: {scenario}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    std::fs::remove_dir_all(d).ok();
    err
}

const GOOD: &str = "name = \"x\"\nduration_s = 1\nprofile = \"PROFILE\"\n[cluster]\ngpus = 1\n[[models]]\nmodel = \"small\"\nslo_ms = 50\narrival = { process = \"poisson\", rate_rps = 10 }\n";

#[test]
fn bad_input_gives_a_clear_error_naming_the_place() {
    let cases: Vec<(String, Option<&str>, Vec<&str>, &str)> = vec![
        (
            GOOD.replace("duration_s = 1", "duration_s = = 1"),
            None,
            vec![],
            "s.toml:2",
        ),
        (
            GOOD.replace("gpus = 1", "gpus = 1\ncolour = 3"),
            None,
            vec![],
            "unknown field `colour`",
        ),
        (
            GOOD.replace("model = \"small\"", "model = \"resnet9000\""),
            None,
            vec![],
            "models[0].model: unknown model `resnet9000`",
        ),
        (
            GOOD.replace("rate_rps = 10", "rate_rps = -3"),
            None,
            vec![],
            "models[0].arrival.rate_rps",
        ),
        (
            GOOD.replace("rate_rps = 10", "rate_rps = 0"),
            None,
            vec![],
            "must be a positive number",
        ),
        (
            GOOD.replace("slo_ms = 50", "slo_ms = 0.5"),
            None,
            vec![],
            "shorter than `small`'s fastest execution",
        ),
        (
            GOOD.replace("poisson", "fractal"),
            None,
            vec![],
            "unknown variant `fractal`",
        ),
        (
            GOOD.replace("gpus = 1", "gpus = 0"),
            None,
            vec![],
            "cluster.gpus",
        ),
        (
            format!("{GOOD}[policy.lottery]\nx = 1\n"),
            None,
            vec![],
            "policy.lottery",
        ),
        (
            format!("{GOOD}[policy.fifo]\nmax_batchh = 1\n"),
            None,
            vec![],
            "unknown field `max_batchh`",
        ),
        (
            GOOD.replace("PROFILE", "missing.csv"),
            None,
            vec![],
            "missing.csv",
        ),
        (
            GOOD.to_string(),
            Some("model,batch_size,exec_us,weights_mib,load_us\nsmall,1,abc,1,1\n"),
            vec![],
            "p.csv:2",
        ),
        (
            GOOD.to_string(),
            Some("model,batch_size\nsmall,1\n"),
            vec![],
            "missing column `exec_us`",
        ),
        (
            GOOD.replace("duration_s = 1\n", "duration_s = 1\nwarmup_s = 2\n"),
            None,
            vec![],
            "warmup_s: must be in [0, duration_s = 1)",
        ),
    ];
    for (scenario, profile, extra, want) in cases {
        let err = fails_with(&scenario, profile, &extra);
        assert!(err.contains(want), "error {err:?} should contain {want:?}");
        assert!(err.starts_with("inferfair: error:"), "{err}");
    }
    let out = run(&["simulate", "/nonexistent/s.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/s.toml"));
}

#[test]
fn compare_runs_the_given_policies_in_order() {
    let out = run(&["compare", &toy(), "--policies", "fifo,fifo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("iso gap"), "{text}");
    assert!(text.contains("small"));
}
