//! Regression tests of issue 11: per-request SLO bugs, inputs that overflow
//! or never end, runs that would exhaust memory, and output files that stay
//! whole. Each test asserts the error message or the corrected numbers.

use crate::common::{bin, data, files, record, scenario, tmp};
use inferfair_sim::Scenario;
use inferfair_sim::state::Outcome;
use std::path::{Path, PathBuf};

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// The error of resolving a scenario (paths relative to `tests/data`).
fn scenario_err(text: &str) -> String {
    match Scenario::parse(text, &data().join("inline.toml")) {
        Ok(_) => panic!("the scenario was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// A one-model scenario on the toy profile with `extra` lines at the top
/// level (before `[cluster]`), `cluster` lines, and `model` lines.
fn one(top: &str, cluster: &str, model: &str) -> String {
    format!(
        "name = \"t\"\nduration_s = 2.0\nprofile = \"toy.csv\"\n{top}\n[cluster]\ngpus = 1\n{cluster}\n[[models]]\nmodel = \"small\"\n{model}\n"
    )
}

fn poisson(rate: &str) -> String {
    format!("arrival = {{ process = \"poisson\", rate_rps = {rate} }}")
}

fn expect(e: &str, want: &[&str]) {
    for w in want {
        assert!(e.contains(w), "{e:?} should contain {w:?}");
    }
}

#[test]
fn clockwork_expects_and_measures_a_padded_batch_at_the_size_it_runs() {
    // Bug 4. Per-request SLOs (toy profile: small runs 1 / 1.5 / 2 ms at
    // batch 1 / 2 / 4). Two `small` requests with 20 ms SLOs time out at
    // 15.01 and 15.02 ms while `big` holds the GPU; at 23 ms Clockwork takes
    // a batch of 4 from its queue, leaves the two timed-out requests out, and
    // the batch runs padded to 2 (32 .. 33.5 ms). Its 1.5 ms are a batch-2
    // measurement: the batch-4 estimate stays 2 ms. So at 56 ms four new
    // requests (internal deadline 66.6 ms) cannot run as a batch of 4 from
    // 65 ms (65 + 2 > 66.6): two run as a batch of 2 (65 .. 66.5 ms) and two
    // time out. Recorded under batch 4, the 1.5 ms made Clockwork run all
    // four as a batch of 4 that it expected to end at 66.5 ms and that ended
    // at 67 ms, past their internal deadline.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.1
        profile = "toy.csv"
        [cluster]
        gpus = 1
        preload = true
        [[models]]
        model = "small"
        arrival = { process = "trace", path = "clockwork_padded.csv" }
        [[models]]
        model = "big"
        arrival = { process = "trace", path = "clockwork_padded.csv" }
        "#,
    );
    let (_, rec) = record(&s, "clockwork");
    assert_eq!(
        rec.batches,
        vec![
            (0, 1, 2, 2, 0, 16 * MS),
            (0, 1, 2, 2, 16 * MS, 32 * MS),
            (0, 0, 2, 2, 32 * MS, 33500 * US),
            (0, 1, 2, 2, 49 * MS, 65 * MS),
            (0, 0, 2, 2, 65 * MS, 66500 * US),
        ]
    );
    let last: Vec<_> = rec.ends[10..].iter().map(|e| e.outcome).collect();
    assert_eq!(
        last,
        [
            Outcome::Good,
            Outcome::Good,
            Outcome::Dropped,
            Outcome::Dropped
        ]
    );
}

/// A trace file in a fresh folder, and a scenario of one `small` instance replaying it.
fn trace_scenario(name: &str, trace: &str, top: &str, model: &str) -> Result<Scenario, String> {
    let d = tmp(name);
    std::fs::copy(data().join("toy.csv"), d.join("toy.csv")).unwrap();
    std::fs::write(d.join("t.csv"), trace).unwrap();
    let text = format!(
        "name = \"t\"\nduration_s = 1.0\nprofile = \"toy.csv\"\n{top}\n[cluster]\ngpus = 1\npreload = true\n[[models]]\nmodel = \"small\"\n{model}\narrival = {{ process = \"trace\", path = \"t.csv\" }}\n"
    );
    Scenario::parse(&text, &d.join("s.toml")).map_err(|e| e.to_string())
}

#[test]
fn slo_scale_applies_to_a_traces_own_slos() {
    // Bug 2: a request with its own 10 ms SLO gets a 20 ms deadline at slo_scale 2.
    let trace = "arrival_ms,model,slo_ms\n5,small,10\n6,small,\n";
    let s = trace_scenario("slo-scale", trace, "slo_scale = 2.0", "slo_ms = 30").unwrap();
    let (_, rec) = record(&s, "fifo");
    let deadlines: Vec<u64> = rec.ends.iter().map(|e| e.req.deadline).collect();
    assert_eq!(deadlines, vec![25 * MS, 66 * MS]);
    // A sweep over slo_scale is no longer flat on such a trace.
    let s1 = trace_scenario("slo-scale-1", trace, "", "slo_ms = 30").unwrap();
    let (_, rec1) = record(&s1, "fifo");
    assert_eq!(rec1.ends[0].req.deadline, 15 * MS);
}

#[test]
fn the_default_drain_waits_for_the_longest_per_request_slo() {
    // Bug 3: the model's SLO is 20 ms but the last request (at 999 ms) has
    // its own 500 ms SLO; the GPU is busy with 300 requests until well
    // after the model's 20 ms drain. The drain is now 500 ms, so it finishes, good.
    let mut trace = String::from("arrival_ms,model,slo_ms\n");
    for i in 0..300 {
        trace.push_str(&format!("{},small,500\n", 990.0 + i as f64 * 0.01));
    }
    trace.push_str("999.5,small,500\n");
    let s = trace_scenario("drain", &trace, "", "slo_ms = 20").unwrap();
    assert_eq!(s.drain, 500 * MS);
    let (r, _) = record(&s, "fifo");
    assert_eq!((r.models[0].good, r.models[0].unfinished), (301, 0));
}

#[test]
fn a_trace_slo_below_the_fastest_execution_is_refused() {
    let e = trace_scenario(
        "short-slo",
        "arrival_ms,model,slo_ms\n1,small,0.5\n2,small,0.7\n3,small,\n",
        "",
        "",
    )
    .unwrap_err();
    expect(
        &e,
        &[
            "models[0].arrival",
            "2 of its 3 requests have an SLO shorter than `small`'s fastest execution (1.000 ms at batch size 1)",
            "the shortest 0.500 ms",
        ],
    );
    // The same through slo_scale: 2 ms times 0.25.
    let e = trace_scenario(
        "short-slo-2",
        "arrival_ms,model,slo_ms\n1,small,2\n",
        "slo_scale = 0.25",
        "slo_ms = 20",
    )
    .unwrap_err();
    expect(&e, &["1 of its 1 requests", "0.500 ms (after slo_scale)"]);
}

#[test]
fn times_that_overflow_or_round_to_zero_are_refused_with_their_key() {
    let p = poisson("100");
    for (text, want) in [
        (
            one("", "", &p).replace("duration_s = 2.0", "duration_s = 1e12"),
            vec!["duration_s: 1e12 s is longer than the simulator's longest time, 100000000 s"],
        ),
        (
            one("drain_s = 1e12", "", &p),
            vec!["drain_s: 1e12 s is longer"],
        ),
        (
            one("", "", &format!("slo_ms = 1e300\n{p}")),
            vec!["models[0].slo_ms: 1e300 ms is longer"],
        ),
        (
            one(
                "",
                "",
                "slo_ms = 1e-7\narrival = { process = \"poisson\", rate_rps = 1 }",
            ),
            vec!["models[0].slo_ms: 1e-7 ms rounds to 0 ns"],
        ),
        (
            one(
                "",
                "",
                "arrival = { process = \"poisson\", rate_rps = 1, start_s = 1e12 }",
            ),
            vec!["models[0].arrival.start_s: 1e12 s is longer"],
        ),
        (
            one(
                "",
                "",
                "arrival = { process = \"closed\", clients = 1, think_ms = 1e300 }",
            ),
            vec!["models[0].arrival.think_ms: 1e300 ms is longer"],
        ),
        (
            one(
                "",
                "",
                "arrival = { process = \"piecewise\", times_s = [0, 1e300], rates_rps = [1, 2] }",
            ),
            vec!["models[0].arrival.times_s[1]: 1e300 s is longer"],
        ),
    ] {
        expect(&scenario_err(&text), &want);
    }
}

#[test]
fn trace_timestamps_that_overflow_are_refused_with_their_line() {
    let e = trace_scenario("ts", "arrival_ms,model\n1,small\n1e300,small\n", "", "").unwrap_err();
    expect(&e, &["t.csv:3: `arrival_ms`: 1e300 ms is longer"]);
    // Divided by a tiny rate_scale, a sane timestamp overflows too.
    let e = trace_scenario(
        "ts2",
        "arrival_ms,model\n1000,small\n",
        "rate_scale = 1e-12",
        "",
    )
    .unwrap_err();
    expect(
        &e,
        &[
            "models[0].arrival.path",
            "divided by rate_scale 0.000000000001",
        ],
    );
}

#[test]
fn a_profile_time_that_rounds_to_zero_is_refused() {
    let d = tmp("zero-exec");
    std::fs::write(
        d.join("p.csv"),
        "model,batch_size,exec_us,weights_mib,load_us\nm,1,0.0001,1,1\n",
    )
    .unwrap();
    let text = "name = \"t\"\nduration_s = 1\nprofile = \"p.csv\"\n[cluster]\n[[models]]\nmodel = \"m\"\narrival = { process = \"poisson\", rate_rps = 1 }\n";
    let e = Scenario::parse(text, &d.join("s.toml"))
        .unwrap_err()
        .to_string();
    expect(&e, &["p.csv:2: `exec_us`: 0.0001 us rounds to 0 ns"]);
}

#[test]
fn parameters_that_make_no_progress_are_refused() {
    let p = poisson("100");
    let build = |policy: &str, table: &str| -> String {
        let text = format!("{}\n[policy.{policy}]\n{table}\n", one("", "", &p));
        match Scenario::parse(&text, &data().join("inline.toml")) {
            Err(e) => e.to_string(),
            Ok(s) => match inferfair_sim::policy::build(policy, &s) {
                Ok(_) => panic!("[policy.{policy}] {table} was accepted"),
                Err(e) => e.to_string(),
            },
        }
    };
    expect(
        &build("inferfair", "period_ms = 1e-7"),
        &["policy.inferfair", "`period_ms`: 1e-7 ms rounds to 0 ns"],
    );
    expect(
        &build("inferfair", "period_ms = 1e-6"),
        &[
            "policy.inferfair",
            "a run of 2.1 s would take 2.10e9 estimation periods, more than 1.00e9",
        ],
    );
    expect(
        &build("clockwork", "schedule_ahead_ms = 0"),
        &[
            "`schedule_ahead_ms` (0) must be greater than `future_ms` (1)",
            "nothing would ever run",
        ],
    );
    expect(
        &build("clockwork", "page_size_mib = 1e300"),
        &[
            "`page_size_mib` = 1e300",
            "holds 0 pages, fewer than the 1 that `small` needs",
        ],
    );
    expect(
        &build("clockwork", "page_size_mib = 1e-300"),
        &["`page_size_mib` = 1e-300 rounds to 0 bytes"],
    );
    // On/off periods of a picosecond switch 1e12 times a second.
    expect(
        &scenario_err(&one(
            "",
            "",
            "arrival = { process = \"onoff\", rate_rps = 100, on_s = 1e-12, off_s = 1e-12 }",
        )),
        &[
            "models[0].arrival",
            "about 1.00e12 arrivals and on/off switches in 2 s",
            "1.00e12 on/off switches",
            "at most 1.00e10 per run",
        ],
    );
}

#[test]
fn arrival_explosions_are_refused_before_allocating_with_the_estimate() {
    for (text, want) in [
        (
            one("", "", &poisson("1e12")),
            vec![
                "models[0].arrival.rate_rps",
                "1e12 requests/s (scaled: 1.00e12) is more than 1.00e9 per second",
            ],
        ),
        (
            one("", "", &poisson("1e8")).replace("duration_s = 2.0", "duration_s = 1000"),
            vec![
                "models[0].arrival",
                "would draw about 1.00e11 arrivals in 1000 s (1.00e11 for `small` alone)",
            ],
        ),
        (
            one(
                "",
                "",
                "arrival = { process = \"gamma\", rate_rps = 100, cv = 1e6 }",
            ),
            vec![
                "models[0].arrival.cv",
                "an inter-arrival CV of 1000000 (after cv_scale) is more than 100",
            ],
        ),
        (
            one("cv_scale = 200", "", &poisson("100")),
            vec!["models[0].arrival.cv", "CV of 200"],
        ),
        (
            one("", "", &format!("count = 4294967295\n{}", poisson("1"))),
            vec!["models: 4294967295 model instances", "more than the 100000"],
        ),
        (
            one("", "", &poisson("1")).replace("gpus = 1", "gpus = 4294967295"),
            vec!["cluster.gpus: must be from 1 to 10000, found 4294967295"],
        ),
        (
            one("", "", &format!("count = 10000\n{}", poisson("1")))
                .replace("gpus = 1", "gpus = 10000"),
            vec!["10000 GPUs x 10000 model instances = 100000000"],
        ),
        (
            one(
                "",
                "",
                "arrival = { process = \"closed\", clients = 4000000000, think_ms = 1 }",
            ),
            vec!["models: 4000000000 closed-loop clients in all is more than the 1000000"],
        ),
        (
            one("", "exec_cv = 1e6", &poisson("1")),
            vec!["cluster.exec_cv: must be at most 2, found 1000000"],
        ),
        (
            one("", "gpu_memory_gib = 1e300", &poisson("1")),
            vec!["cluster.gpu_memory_gib: must be at most 1048576"],
        ),
    ] {
        expect(&scenario_err(&text), &want);
    }
}

#[test]
fn a_policy_that_never_drops_stops_with_a_clear_error_instead_of_exhausting_memory() {
    // FIFO at 50x the toy GPU's capacity (about 2000 requests/s at batch 4);
    // the limit is lowered for the test (the default, 2^24 pending requests,
    // is about 1 to 2 GB).
    let s = scenario(&one("", "preload = true", &poisson("100000")));
    let run = |p: &str| {
        let opts = inferfair_sim::RunOptions {
            max_pending: Some(100_000),
            ..Default::default()
        };
        inferfair_sim::simulate(&s, p, opts)
    };
    let e = run("fifo").unwrap_err().to_string();
    expect(
        &e,
        &[
            "t under fifo: stopped at 1.021 s of simulated time with 100001 requests waiting (`small` alone holds 100001), more than the limit of 100000",
            "lower the load (rate_scale, fewer clients) or use a policy that drops late requests (clockwork, inferfair)",
        ],
    );
    // Policies that drop hold about rate x SLO (10,000 here).
    for p in ["clockwork", "inferfair"] {
        run(p).unwrap();
    }
}

fn run(args: &[&str]) -> std::process::Output {
    bin().args(args).output().expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "inferfair {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "inferfair {args:?} succeeded");
    assert!(
        !err.contains("panicked"),
        "inferfair {args:?} panicked:\n{err}"
    );
    err
}

/// A scenario file in `dir` on a copy of the toy profile.
fn write_scenario(dir: &Path, body: &str) -> PathBuf {
    std::fs::copy(data().join("toy.csv"), dir.join("toy.csv")).unwrap();
    let p = dir.join("s.toml");
    std::fs::write(
        &p,
        format!("name = \"t\"\nseed = 3\nduration_s = 2.0\nwarmup_s = 0.5\nprofile = \"toy.csv\"\n{body}"),
    )
    .unwrap();
    p
}

#[test]
fn a_huge_instance_name_and_fifos_unfinished_requests_show_in_the_table() {
    // Format widths above 65,535 panic: the table pads by hand. FIFO past
    // capacity with a short drain leaves requests unfinished: the table says so.
    let d = tmp("long-name");
    let name = "x".repeat(65_536);
    let s = write_scenario(
        &d,
        &format!(
            "drain_s = 0.01\n[cluster]\npreload = true\n[[models]]\nmodel = \"small\"\nname = \"{name}\"\nslo_ms = 20\narrival = {{ process = \"poisson\", rate_rps = 4000 }}\n"
        ),
    );
    let out = ok(&["simulate", s.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unfinished = v["results"][0]["overall"]["unfinished"].as_u64().unwrap();
    assert!(unfinished > 1000, "{unfinished}");
    let table = ok(&["simulate", s.to_str().unwrap()]);
    assert!(table.contains(&name));
    let header = table.lines().find(|l| l.starts_with("policy")).unwrap();
    let row = table.lines().find(|l| l.starts_with("fifo")).unwrap();
    let col = header
        .split_whitespace()
        .position(|c| c == "unfinished")
        .unwrap();
    // "goodput r/s" and "SLO att." are two words each in the header.
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[col - 2], unfinished.to_string(), "{header}\n{row}");
}

#[test]
fn csv_files_quote_names_with_commas_and_quotes() {
    let d = tmp("quoting");
    let s = write_scenario(
        &d,
        "[cluster]\npreload = true\n[[models]]\nmodel = \"small\"\nname = \"a,b\"\nslo_ms = 20\narrival = { process = \"poisson\", rate_rps = 50 }\n[[models]]\nmodel = \"small\"\nname = 'say \"hi\"'\nslo_ms = 20\narrival = { process = \"poisson\", rate_rps = 50 }\n",
    );
    let out = d.join("out");
    ok(&[
        "simulate",
        s.to_str().unwrap(),
        "--requests",
        "--out",
        out.to_str().unwrap(),
    ]);
    for (file, col) in [("per_model.csv", 1), ("requests.csv", 1)] {
        let mut r = csv::Reader::from_path(out.join(file)).unwrap();
        let width = r.headers().unwrap().len();
        let mut names = std::collections::BTreeSet::new();
        for rec in r.records() {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), width, "{file}: {rec:?}");
            names.insert(rec[col].to_string());
        }
        let want: std::collections::BTreeSet<String> =
            ["a,b".to_string(), "say \"hi\"".to_string()].into();
        assert_eq!(names, want, "{file}");
    }
    // `trace slice` writes what its own `trace stats` reads back.
    let t = d.join("t.csv");
    std::fs::write(
        &t,
        "arrival_ms,model\n1,\"a,b\"\n2,\"say \"\"hi\"\"\"\n3,c\n",
    )
    .unwrap();
    let cut = d.join("cut.csv");
    ok(&[
        "trace",
        "slice",
        t.to_str().unwrap(),
        "--out",
        cut.to_str().unwrap(),
        "--models",
        "c",
        "--models",
        "a,b",
    ]);
    let stats = ok(&["trace", "stats", cut.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["requests"], 1, "{stats}");
    let all = d.join("all.csv");
    ok(&[
        "trace",
        "slice",
        t.to_str().unwrap(),
        "--out",
        all.to_str().unwrap(),
    ]);
    let stats = ok(&["trace", "stats", all.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        (v["requests"].as_u64(), v["groups"].as_u64()),
        (Some(3), Some(3))
    );
}

#[cfg(unix)]
#[test]
fn trace_events_follow_symlinks_and_write_devices_in_place() {
    let d = tmp("links");
    let real = d.join("timeline.json");
    std::fs::write(&real, "old").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let toy = data().join("toy.toml");
    let toy = toy.to_str().unwrap();
    ok(&["simulate", toy, "--trace-events", link.to_str().unwrap()]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().is_some_and(|a| !a.is_empty()));
    ok(&["simulate", toy, "--trace-events", "/dev/null"]);
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    // /dev/stdout is a link to a pipe here: written in place.
    let out = ok(&[
        "simulate",
        toy,
        "--trace-events",
        "/dev/stdout",
        "--format",
        "json",
    ]);
    assert!(
        out.starts_with("{\"traceEvents\":") || out.contains("\"traceEvents\""),
        "{}",
        &out[..200.min(out.len())]
    );
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

#[test]
fn a_run_folder_is_whole_with_its_manifest_written_last() {
    let d = tmp("manifest");
    let toy = data().join("toy.toml");
    let (toy, out) = (toy.to_str().unwrap(), d.to_str().unwrap());
    ok(&["simulate", toy, "--requests", "--out", out]);
    let m = inferfair::rundir::verify(&d).unwrap();
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "summary.json",
            "per_model.csv",
            "per_gpu.csv",
            "scenario.toml",
            "requests.csv",
            "inputs/toy.csv"
        ]
    );
    assert_eq!(
        (m["command"].as_str(), m["seed"].as_u64()),
        (Some("simulate"), Some(7))
    );
    // A second run without --requests does not leave the first run's requests.csv.
    ok(&["simulate", toy, "--out", out]);
    let names: Vec<String> = files(&d).into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        [
            "inputs/toy.csv",
            "manifest.json",
            "per_gpu.csv",
            "per_model.csv",
            "scenario.toml",
            "summary.json"
        ]
    );
    inferfair::rundir::verify(&d).unwrap();
    // A file changed after the run no longer matches.
    std::fs::write(d.join("per_model.csv"), "changed").unwrap();
    let e = inferfair::rundir::verify(&d).unwrap_err().to_string();
    assert!(
        e.contains("per_model.csv is not the file the run wrote"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_removes_temporary_files_and_leaves_no_manifest() {
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("sigint");
    let s = write_scenario(
        &d,
        "[cluster]\npreload = true\n[[models]]\nmodel = \"small\"\nslo_ms = 20\narrival = { process = \"poisson\", rate_rps = 300 }\n",
    );
    let text = std::fs::read_to_string(&s).unwrap();
    std::fs::write(&s, text.replace("duration_s = 2.0", "duration_s = 100000")).unwrap();
    let out = d.join("out");
    let mut child = bin()
        .args([
            "simulate",
            s.to_str().unwrap(),
            "--requests",
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the request log's temporary file exists (the run has started).
    let tmp_exists = || {
        std::fs::read_dir(&out)
            .map(|r| {
                r.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .unwrap_or(false)
    };
    for _ in 0..600 {
        if tmp_exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(tmp_exists(), "the run never started its request log");
    // SAFETY: sends SIGINT to the child we spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    let left: Vec<String> = files(&out).into_iter().map(|f| f.0).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_truncated_point_file_is_run_again() {
    let d = tmp("corrupt-point");
    let sweep = data().join("sweep.toml");
    let (sweep, out) = (sweep.to_str().unwrap(), d.to_str().unwrap());
    ok(&["sweep", sweep, "--out", out]);
    let points = d.join("points");
    let victim = files(&points).remove(0).0;
    let good = std::fs::read(points.join(&victim)).unwrap();
    std::fs::write(points.join(&victim), &good[..good.len() / 2]).unwrap();
    let listing = ok(&["sweep", sweep, "--out", out, "--dry-run"]);
    let id = victim.trim_end_matches(".json");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(id) && l.contains("todo")),
        "{listing}"
    );
    let err = {
        let o = run(&["sweep", sweep, "--out", out]);
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(
        err.contains("is not a complete point result") && err.contains("1 to run"),
        "{err}"
    );
    assert_eq!(std::fs::read(points.join(&victim)).unwrap(), good);
}

#[test]
fn a_failed_merge_writes_nothing() {
    let d = tmp("merge-fail");
    let sweep = data().join("sweep.toml");
    let shard = d.join("shard0");
    ok(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        shard.to_str().unwrap(),
        "--shard",
        "0/2",
    ]);
    let merged = d.join("merged");
    let err = fails(&[
        "sweep",
        "merge",
        shard.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!merged.exists());
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["shard0"], "no temporary folder left");
}

#[test]
fn huge_sizes_from_the_command_line_are_refused_not_panics() {
    let d = tmp("cli-sizes");
    let specs = data().join("figures");
    let e = fails(&[
        "figures",
        "--specs",
        specs.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--scale",
        "1000",
    ]);
    assert!(
        e.contains("--scale must be a number of PNG pixels per SVG pixel in (0, 16], found 1000"),
        "{e}"
    );
    let trace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/azure-like-40models-10min.csv.gz");
    let e = fails(&["trace", "stats", trace.to_str().unwrap(), "--bin-s", "1e-9"]);
    assert!(
        e.contains("--bin-s: bins of 1e-9 s") && e.contains("more than 10000000"),
        "{e}"
    );
    // A 4-million-point grid is refused before it is expanded.
    let values: Vec<String> = (1..=2000).map(|i| format!("{}.5", i)).collect();
    let sweep = d.join("big.toml");
    std::fs::write(
        &sweep,
        format!(
            "scenario = {:?}\npolicies = [\"fifo\"]\n[grid]\nrate_scale = [{}]\ncv_scale = [{}]\n",
            data().join("toy.toml"),
            values.join(","),
            values.join(",")
        ),
    )
    .unwrap();
    let e = fails(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    assert!(
        e.contains("the grid has about 4.00e6 points (rate_scale x2000, cv_scale x2000"),
        "{e}"
    );
    // The plot crate itself refuses an image too large to draw.
    let fig = inferfair_plot::Figure {
        columns: 1,
        panels: vec![inferfair_plot::Panel::Lines(Default::default())],
        ..Default::default()
    };
    let e = inferfair_plot::render_png(&fig, &d.join("f.png"), 1000.0).unwrap_err();
    assert!(e.to_string().contains("pixels"), "{e}");
}

#[test]
fn a_run_whose_time_stops_is_an_error_not_a_hang() {
    // Found by the swarm (seed 72): two models that do not fit on the GPU
    // together and load in 0 ns. Clockwork's load tracker loads one, evicts
    // it for the other, and so on, each transfer ending at the instant it
    // started: time never advanced and the run never ended.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.5
        profile = "zero_load.csv"
        [cluster]
        weights_memory_gib = 0.15
        [[models]]
        model = "a"
        slo_ms = 20
        arrival = { process = "poisson", rate_rps = 2000 }
        [[models]]
        model = "b"
        slo_ms = 20
        arrival = { process = "poisson", rate_rps = 2000 }
        "#,
    );
    let e = inferfair_sim::simulate(&s, "clockwork", Default::default())
        .unwrap_err()
        .to_string();
    expect(
        &e,
        &[
            "t under clockwork: time stopped at 0.514368 s: the policy took 100000 decisions without time advancing",
            "load_us = 0",
        ],
    );
    for p in ["fifo", "inferfair"] {
        inferfair_sim::simulate(&s, p, Default::default()).unwrap();
    }
}

/// A policy that drops every request the moment it arrives.
struct DropAll;

impl inferfair_sim::policy::Policy for DropAll {
    fn name(&self) -> &'static str {
        "drop-all"
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn decide(
        &mut self,
        v: &inferfair_sim::policy::View,
        out: &mut inferfair_sim::policy::Decision,
    ) {
        for m in v.models {
            if !m.queue.is_empty() {
                out.actions.push(inferfair_sim::policy::Action::Drop {
                    model: m.id,
                    requests: m.queue.iter().map(|r| r.id).collect(),
                });
            }
        }
    }
}

#[test]
fn a_closed_loop_client_sends_at_most_once_per_fastest_execution() {
    // Found by the swarm (seed 151): clients with no think time whose
    // requests a policy drops on arrival sent again 1 ns later, a billion
    // requests a second. Two clients of `small` (1 ms at batch 1) over 10
    // ms: each sends once per millisecond, 10 requests each.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.01
        profile = "toy.csv"
        [cluster]
        preload = true
        [[models]]
        model = "small"
        arrival = { process = "closed", clients = 2, think_ms = 0 }
        "#,
    );
    let (r, rec) = crate::common::record_with(&s, &mut DropAll);
    assert_eq!((r.requests, r.models[0].dropped), (20, 20));
    let mut sends: Vec<u64> = rec.ends.iter().map(|e| e.req.arrival).collect();
    sends.sort_unstable();
    let (a, b) = (sends[0], sends[1]);
    let want: Vec<u64> = (0..10)
        .flat_map(|k| [a + k * MS, b + k * MS])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(sends, want);
}

#[test]
fn alone_a_closed_loop_models_clients_send_more() {
    // The documented meaning of "alone" for closed loops (docs/metrics.md):
    // the same clients and think time, who send more when served faster, so
    // normalized goodput is their slowdown, below 1 even if all is good.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 2.0
        warmup_s = 0.2
        profile = "toy.csv"
        [cluster]
        preload = true
        [[models]]
        model = "small"
        slo_ms = 100
        arrival = { process = "closed", clients = 4, think_ms = 1 }
        [[models]]
        model = "big"
        slo_ms = 200
        arrival = { process = "poisson", rate_rps = 60 }
        "#,
    );
    let shared = inferfair_sim::simulate(&s, "fifo", Default::default()).unwrap();
    let alone = inferfair_sim::simulate(&s.only(0), "fifo", Default::default()).unwrap();
    let (m, a) = (&shared.models[0], &alone.models[0]);
    assert!(
        a.arrived > m.arrived * 3 / 2,
        "alone {} vs shared {}",
        a.arrived,
        m.arrived
    );
    assert_eq!(m.good, m.arrived, "every request it sends is good");
    let r = inferfair_sim::simulate_isolated(&s, "fifo", Default::default()).unwrap();
    let n = r.models[0].normalized_goodput.unwrap();
    assert!(n < 0.7, "normalized goodput {n}");
}

#[test]
fn clockwork_does_not_poll_a_gpu_whose_batch_is_overdue() {
    // Found by the swarm (seed 29743): with execution noise a batch can run
    // far past its estimate; once it is overdue by more than `lag`,
    // Clockwork's idea of when the GPU is free moves with the clock, and it
    // asked to be woken every few hundred nanoseconds, each wake-up adding
    // another (2 million decisions in the first 0.12 s of this toy run).
    // Those wake-ups could plan nothing on that GPU: it now waits for the
    // batch to end. 3,729 events in all.
    let s = scenario(
        r#"
        name = "noisy"
        seed = 4
        duration_s = 2.0
        profile = "toy.csv"
        [cluster]
        preload = true
        [[models]]
        model = "big"
        slo_ms = 1000
        exec_cv = 2.0
        arrival = { process = "poisson", rate_rps = 40 }
        [[models]]
        model = "small"
        slo_ms = 500
        arrival = { process = "poisson", rate_rps = 800 }
        "#,
    );
    let mut rec = crate::common::Recorder::default();
    let r = inferfair_sim::simulate(
        &s,
        "clockwork",
        inferfair_sim::RunOptions {
            observer: Some(&mut rec),
            max_events: Some(100_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.events < 10_000, "{} events", r.events);
    rec.ends.sort_by_key(|e| e.req.id);
    inferfair_sim::check::simulated(&s, &r, &rec).unwrap();
}

#[test]
fn an_onoff_stream_that_rarely_sends_ends_with_the_run() {
    // Found by the swarm (seed 30025): an on/off stream whose next arrival
    // lies far beyond the run (here a mean gap of a million seconds, in
    // on periods of 1 ms) looked for it one on period at a time, forever.
    // Streams now stop at the end of arrivals.
    let s = scenario(&one(
        "",
        "",
        "arrival = { process = \"onoff\", rate_rps = 1e-6, on_s = 0.001, off_s = 0.001, cv = 0.5 }",
    ));
    for p in crate::common::policies() {
        let r = inferfair_sim::simulate(&s, p, Default::default()).unwrap();
        assert_eq!(r.requests, 0);
    }
}
