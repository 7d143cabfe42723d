//! Day-to-day use of the command line: `--set`, the resolved scenario that
//! reruns anywhere to the same bytes, flag errors that blame the flag, the
//! comparison's wording and JSON, `requests.csv`'s measured window.

use crate::common::{bin, data, files, tmp};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "should fail");
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn toy() -> String {
    data().join("toy.toml").display().to_string()
}

#[test]
fn set_gives_the_results_of_the_edited_file() {
    let d = tmp("set-edit");
    let text = std::fs::read_to_string(data().join("toy.toml"))
        .unwrap()
        .replace(
            "profile = \"toy.csv\"",
            &format!("profile = {:?}", data().join("toy.csv")),
        )
        .replace("slo_ms = 20", "slo_ms = 35")
        .replace("gpus = 1", "gpus = 2")
        .replace("cv = 2 }", "cv = 3 }");
    let edited = d.join("edited.toml");
    std::fs::write(
        &edited,
        format!("{text}[policy.inferfair]\nfairness = 0.5\n"),
    )
    .unwrap();
    let a = ok(&run(&[
        "simulate",
        edited.to_str().unwrap(),
        "--policy",
        "inferfair",
        "--format",
        "json",
    ]));
    let b = ok(&run(&[
        "simulate",
        &toy(),
        "--policy",
        "InferFair",
        "--set",
        "models.0.slo_ms=35",
        "--set",
        "cluster.gpus=2",
        "--set",
        "models[1].arrival.cv=3",
        "--set",
        "policy.inferfair.fairness=0.5",
        "--format",
        "json",
    ]));
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["results"][0].as_object_mut().unwrap().remove("wall_s");
        v
    };
    assert_eq!(strip(&a), strip(&b));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn set_errors_name_the_key() {
    for (set, want) in [
        ("cluster.gpu=2", "--set cluster.gpu=2: unknown field `gpu`"),
        ("models.5.slo_ms=3", "`models` has 2 entries"),
        ("cluster.gpus=two", "--set cluster.gpus=two"),
        (
            "models.0.slo_ms=-3",
            "with --set models.0.slo_ms=-3: models[0].slo_ms",
        ),
        (
            "policy.inferfair.fairness=2",
            "policy.inferfair: `fairness` must be in [0, 1]",
        ),
        ("gpus", "expected KEY=VALUE"),
    ] {
        let e = err(&run(&["simulate", &toy(), "--set", set]));
        assert!(e.contains(want), "--set {set}: {e}");
    }
}

#[test]
fn the_resolved_scenario_reruns_anywhere_to_the_same_bytes() {
    let d = tmp("rerun");
    // A scenario with a profile and a request trace elsewhere, named relatively.
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    std::fs::copy(data().join("toy.csv"), d.join("src/toy.csv")).unwrap();
    let mut trace = String::from("arrival_ms,model\n");
    for i in 0..400 {
        trace.push_str(&format!("{},big\n", i * 7));
    }
    std::fs::write(d.join("src/trace.csv"), trace).unwrap();
    let text = std::fs::read_to_string(data().join("toy.toml"))
        .unwrap()
        .replace("profile = \"toy.csv\"", "profile = \"../toy.csv\"")
        .replace(
            "arrival = { process = \"gamma\", rate_rps = 30, cv = 2 }",
            "arrival = { process = \"trace\", path = \"../trace.csv\" }",
        );
    std::fs::write(d.join("src/sub/s.toml"), text).unwrap();
    let a = d.join("a");
    ok(&bin()
        .current_dir(d.join("src"))
        .args([
            "simulate",
            "sub/s.toml",
            "--set",
            "cluster.exec_cv=0.1",
            "--isolation",
            "--requests",
            "--out",
            a.to_str().unwrap(),
        ])
        .output()
        .unwrap());
    let text = std::fs::read_to_string(a.join("scenario.toml")).unwrap();
    for k in [
        "drain_s = ",
        "exec_cv = 0.1",
        "cv_scale = 1.0",
        "slo_scale = 1.0",
        "rate_scale = 1.0",
        "weights_memory_gib = ",
        "profile = \"inputs/toy.csv\"",
        "path = \"inputs/trace.csv\"",
        "[policy.fifo]",
    ] {
        assert!(text.contains(k), "{k} in\n{text}");
    }
    assert!(
        !text.contains(d.to_str().unwrap()),
        "no absolute path:\n{text}"
    );
    // Moved elsewhere and run from another folder, it writes the same bytes.
    std::fs::rename(&a, d.join("moved")).unwrap();
    std::fs::remove_dir_all(d.join("src")).unwrap();
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    ok(&bin()
        .current_dir(d.join("elsewhere"))
        .args([
            "simulate",
            "../moved/scenario.toml",
            "--isolation",
            "--requests",
            "--out",
            "b",
        ])
        .output()
        .unwrap());
    let (fa, fb) = (files(&d.join("moved")), files(&d.join("elsewhere/b")));
    assert_eq!(
        fa.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        [
            "inputs/toy.csv",
            "inputs/trace.csv",
            "manifest.json",
            "per_gpu.csv",
            "per_model.csv",
            "requests.csv",
            "scenario.toml",
            "summary.json"
        ]
    );
    assert!(fa == fb, "the rerun differs");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn flag_errors_blame_the_flag() {
    let e = err(&run(&["simulate", &toy(), "--rate-scale=0"]));
    assert!(e.contains("--rate-scale") && e.contains("positive"), "{e}");
    let e = err(&run(&["compare", &toy(), "--policies", "fifo,clockwrk"]));
    assert!(e.contains("--policies") && e.contains("clockwork"), "{e}");
    let e = err(&run(&["simulate", &toy(), "--policy", "lottery"]));
    assert!(e.contains("--policy") && e.contains("lottery"), "{e}");
    // Policy names are case-insensitive.
    let out = ok(&run(&[
        "simulate",
        &toy(),
        "--policy",
        "FIFO",
        "--format",
        "json",
    ]));
    assert!(out.contains("\"policy\": \"fifo\""), "{out}");
}

#[test]
fn the_comparison_says_smaller_or_larger_and_gives_ratios_in_json() {
    let text = ok(&run(&["compare", &toy()]));
    let line = text
        .lines()
        .find(|l| l.contains("isolation gap"))
        .expect("a comparison line");
    assert!(!line.contains("(inf"), "{line}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&run(&["compare", &toy(), "--format", "json"]))).unwrap();
    let c = &v["comparison"];
    assert_eq!(c["policy"], "inferfair");
    assert_eq!(c["baseline"], "clockwork");
    let gap = |p: usize| {
        v["results"][p]["overall"]["isolation_gap"]
            .as_f64()
            .unwrap()
    };
    let (inf, cw) = (gap(2), gap(1));
    assert!((c["isolation_gap_ratio"].as_f64().unwrap() - inf / cw).abs() < 1e-12);
    let word = if inf < cw { "smaller" } else { "larger" };
    assert!(line.contains(word), "{line}");
    for l in text.lines() {
        assert!(l.chars().count() <= 100, "wider than 100: {l}");
    }
}

#[test]
fn requests_csv_marks_the_measured_window() {
    let d = tmp("in-window");
    ok(&run(&[
        "simulate",
        &toy(),
        "--requests",
        "--out",
        d.to_str().unwrap(),
    ]));
    let csv = std::fs::read_to_string(d.join("requests.csv")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
    let (mut inside, mut outside) = (0, 0);
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let arrival: u64 = f[2].parse().unwrap();
        let flag = f[9] == "true";
        assert_eq!(
            flag,
            (1_000_000_000..10_000_000_000).contains(&arrival),
            "{line}"
        );
        if flag { inside += 1 } else { outside += 1 }
    }
    let arrived = summary["results"][0]["overall"]["arrived"]
        .as_u64()
        .unwrap();
    assert_eq!(inside, arrived);
    assert!(outside > 0);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn trace_stats_takes_format_json_and_its_older_spellings() {
    let t = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces/maf2019-example-4models.csv.gz")
        .display()
        .to_string();
    let a = ok(&run(&["trace", "stats", &t, "--format", "json"]));
    assert_eq!(a, ok(&run(&["trace", "stats", &t, "--json"])));
    assert_eq!(
        a,
        ok(&run(&[
            "trace",
            "stats",
            &t,
            "--json",
            "--format",
            "canonical"
        ]))
    );
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["group_kind"], "model");
}

#[test]
fn sweep_set_changes_the_base_scenario() {
    let d = tmp("sweep-set");
    let sweep = data().join("sweep.toml").display().to_string();
    let out = d.to_str().unwrap();
    ok(&run(&[
        "sweep",
        &sweep,
        "--out",
        out,
        "--set",
        "cluster.gpus=2",
        "--jobs",
        "1",
    ]));
    let csv = std::fs::read_to_string(d.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let gpus = header.iter().position(|c| *c == "gpus").unwrap();
    for line in csv.lines().skip(1) {
        assert_eq!(line.split(',').nth(gpus), Some("2"), "{line}");
    }
    let e = err(&run(&[
        "sweep",
        &sweep,
        "--out",
        out,
        "--set",
        "cluster.gpux=2",
    ]));
    assert!(e.contains("--set cluster.gpux=2"), "{e}");
    std::fs::remove_dir_all(d).ok();
}
