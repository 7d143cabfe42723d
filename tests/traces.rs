//! Traces: the MAF1 fixture the project did not write, malformed files,
//! mapping arithmetic, conversion round trips, the `azure` arrival process
//! in scenarios, and the statistics of generated arrivals.

use crate::common::{data, record, scenario, tmp};
use inferfair_sim::time::{NS_PER_S, Nanos};
use inferfair_sim::trace::generate::{GenConfig, Generator};
use inferfair_sim::trace::mapping::{self, Mapping, MinuteSource, Replay, Slice, Style};
use inferfair_sim::trace::{Trace, maf1};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

fn fixture() -> PathBuf {
    data().join("maf2019-format-example/invocations.csv")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn fixture_parses_unchanged() {
    let mut r = maf1::Reader::open(&fixture()).unwrap();
    let mut rows = vec![];
    while let Some(row) = r.next_row().unwrap() {
        assert_eq!(row.counts.len(), 1440);
        assert_eq!(row.owner.len(), 64);
        rows.push((
            row.line,
            row.function.to_string(),
            row.trigger.to_string(),
            row.total(),
            row.counts[0],
        ));
    }
    let totals: Vec<u64> = rows.iter().map(|r| r.3).collect();
    assert_eq!(totals, vec![1150, 1125, 1125, 1125]);
    let triggers: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(triggers, vec!["queue", "queue", "queue", "timer"]);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    // The same functions as the fixture's durations file, in the same order.
    let durations =
        std::fs::read_to_string(data().join("maf2019-format-example/durations.csv")).unwrap();
    let hashes: Vec<&str> = durations
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(
        hashes,
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>()
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_maf1_files_name_file_line_and_column() {
    let dir = tmp("malformed");
    let text = std::fs::read_to_string(fixture()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A row with a column missing (line 3).
    let short = lines[2].rsplit_once(',').unwrap().0;
    let missing = write(
        &dir,
        "missing.csv",
        &[lines[0], lines[1], short, lines[3]].join("\n"),
    );
    // A non-numeric count in minute 3 of line 2.
    let mut fields: Vec<&str> = lines[1].split(',').collect();
    fields[6] = "abc";
    let bad_row = fields.join(",");
    let nonnum = write(&dir, "nonnum.csv", &[lines[0], &bad_row].join("\n"));
    let empty = write(&dir, "empty.csv", "");
    let cases = [
        (
            missing,
            "missing.csv:3: expected 1444 columns (4 ids and 1440 per-minute counts), found 1443",
        ),
        (
            nonnum,
            "nonnum.csv:2: column 7 (minute 3): expected a non-negative integer count, found `abc`",
        ),
        (
            empty,
            "empty.csv:1: the file is empty: expected the MAF1 header",
        ),
    ];
    for (path, want) in &cases {
        // The library, through the multi-day reader...
        let e = maf1::Days::new(vec![path.clone()])
            .and_then(|mut d| d.pass(&mut |_, _, _| Ok(())))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        // ...and the command line.
        let out = run(&["trace", "stats", "--format", "maf1", s(path)]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn mapping_of_the_fixture_by_hand() {
    // Totals in file order: 1150, 1125, 1125, 1125.
    let mut days = maf1::Days::new(vec![fixture()]).unwrap();
    let cw = Mapping::new(Style::Clockwork, None, None);
    // Sorted (ties in file order) f0 f1 f2 f3; blocks 2i/4: f0 f1 -> 0, f2 f3 -> 1.
    let t = mapping::build(&mut days, cw, 2, Slice::default()).unwrap();
    assert_eq!((t.total(0), t.total(1)), (2275, 2250));
    assert_eq!(t.functions, vec![2, 2]);
    // AlpaServe, 3 instances, stripe: f0 f3 -> 0, f1 -> 1, f2 -> 2.
    let al = Mapping::new(Style::Alpaserve, None, None);
    let t = mapping::build(&mut days, al, 3, Slice::default()).unwrap();
    assert_eq!((t.total(0), t.total(1), t.total(2)), (2275, 1125, 1125));
    // A slice: minutes [0, 10) summed per instance, minute by minute.
    let t1 = mapping::build(
        &mut days,
        cw,
        1,
        Slice {
            start: 0,
            end: Some(10),
        },
    )
    .unwrap();
    let mut r = maf1::Reader::open(&fixture()).unwrap();
    let mut want = [0u32; 10];
    while let Some(row) = r.next_row().unwrap() {
        for (w, c) in want.iter_mut().zip(row.counts) {
            *w += c;
        }
    }
    assert_eq!(t1.row(0), &want[..]);
    // More instances than functions is an error that says so.
    let e = mapping::build(&mut days, cw, 5, Slice::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 functions for 5 model instances"), "{e}");
}

#[test]
fn several_days_concatenate_by_function() {
    let dir = tmp("days");
    let g = Generator::new(GenConfig {
        functions: 50,
        days: 2,
        seed: 4,
        scale: 1.0,
    });
    let paths: Vec<PathBuf> = (0..2)
        .map(|d| dir.join(Generator::day_file_name(d)))
        .collect();
    for (d, p) in paths.iter().enumerate() {
        let mut f = std::fs::File::create(p).unwrap();
        g.write_day(d, &mut f).unwrap();
    }
    let mut days = maf1::Days::new(paths).unwrap();
    assert_eq!(days.minutes(), 2880);
    let cw = Mapping::new(Style::Clockwork, None, None);
    let from_files = mapping::build(
        &mut days,
        cw,
        5,
        Slice {
            start: 1400,
            end: Some(1500),
        },
    )
    .unwrap();
    let mut gen_src = Generator::new(g.config());
    let from_gen = mapping::build(
        &mut gen_src,
        cw,
        5,
        Slice {
            start: 1400,
            end: Some(1500),
        },
    )
    .unwrap();
    assert_eq!(from_files, from_gen);
    assert_eq!(from_files.minutes, 100);
}

#[test]
fn convert_round_trips_and_matches_the_azure_process() {
    let dir = tmp("convert");
    let plain = dir.join("fx.csv");
    let gz = dir.join("fx.csv.gz");
    let args = ["--models", "fx:4", "--end-s", "3600", "--seed", "7"];
    let fx = fixture();
    ok(&[&["trace", "convert", s(&fx), "--out", s(&plain)][..], &args].concat());
    ok(&[&["trace", "convert", s(&fx), "--out", s(&gz)][..], &args].concat());
    let a = Trace::load(&plain).unwrap();
    let b = Trace::load(&gz).unwrap();
    assert_eq!(
        a.models, b.models,
        "gzip and plain outputs hold the same trace"
    );
    assert_eq!(
        a.models.keys().collect::<Vec<_>>(),
        vec!["fx-0", "fx-1", "fx-2", "fx-3"]
    );
    // Rows are written in time order.
    let text = std::fs::read_to_string(&plain).unwrap();
    let times: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // The same seed gives the same bytes.
    let again = dir.join("again.csv");
    ok(&[&["trace", "convert", s(&fx), "--out", s(&again)][..], &args].concat());
    assert_eq!(
        std::fs::read(&plain).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // A scenario reading the fixture directly draws exactly the converted arrivals
    // (streams are seeded by instance name), and so does one reading the converted trace.
    let direct = scenario(
        r#"
name = "azure"
seed = 7
duration_s = 3600
profile = "toy.csv"
[cluster]
gpus = 1
[[models]]
model = "small"
name = "fx"
count = 4
arrival = { process = "azure", path = "maf2019-format-example/invocations.csv", end_min = 60 }
"#,
    );
    let replayed = scenario(&format!(
        r#"
name = "replay"
seed = 99
duration_s = 3600
profile = "toy.csv"
[cluster]
gpus = 1
[[models]]
model = "small"
name = "fx"
count = 4
arrival = {{ process = "trace", path = "{}" }}
"#,
        s(&gz)
    ));
    let arrivals = |sc: &inferfair_sim::Scenario| -> BTreeMap<String, Vec<Nanos>> {
        let (_, rec) = record(sc, "fifo");
        let mut m: BTreeMap<String, Vec<Nanos>> = BTreeMap::new();
        for e in &rec.ends {
            m.entry(sc.models[e.req.model].name.clone())
                .or_default()
                .push(e.req.arrival);
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    };
    let want: BTreeMap<String, Vec<Nanos>> = a
        .models
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|e| e.t).collect()))
        .collect();
    assert_eq!(arrivals(&direct), want);
    assert_eq!(arrivals(&replayed), want);
    // About the fixture's 1079 invocations in its first hour.
    let n: usize = want.values().map(|v| v.len()).sum();
    assert!(
        (n as f64 - 1079.0).abs() < 4.0 * 1079f64.sqrt(),
        "{n} requests"
    );
}

#[test]
fn slice_cuts_and_shifts() {
    let dir = tmp("slice");
    let input = write(
        &dir,
        "in.csv",
        "arrival_ms,model,slo_ms\n500,a,\n1000,b,20\n1500.5,a,\n2500,b,\n# a comment\n2000,a,30\n",
    );
    let out = dir.join("out.csv");
    ok(&[
        "trace",
        "slice",
        s(&input),
        "--start-s",
        "1",
        "--end-s",
        "2.5",
        "--out",
        s(&out),
    ]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "arrival_ms,model,slo_ms\n0,b,20\n500.5,a,\n1000,a,30\n"
    );
    let kept = dir.join("kept.csv.gz");
    ok(&[
        "trace",
        "slice",
        s(&input),
        "--start-s",
        "1",
        "--keep-time",
        "--models",
        "a",
        "--out",
        s(&kept),
    ]);
    let t = Trace::load(&kept).unwrap();
    let a: Vec<Nanos> = t.models["a"].iter().map(|e| e.t).collect();
    assert_eq!(a, vec![1_500_500_000, 2_000_000_000]);
    assert!(!t.models.contains_key("b"));
    let out = run(&[
        "trace",
        "slice",
        s(&input),
        "--start-s",
        "3",
        "--end-s",
        "2",
        "--out",
        s(&out),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--end-s must be after --start-s"));
}

#[test]
fn stats_reports_rate_cv_and_shares() {
    let dir = tmp("stats");
    // Two models; a every 100 ms from 0 to 9.9 s, b every second: 110 requests over 9.9 s.
    let mut text = String::from("arrival_ms,model\n");
    for i in 0..100 {
        text.push_str(&format!("{},a\n", i * 100));
    }
    for i in 0..10 {
        text.push_str(&format!("{},b\n", i * 1000));
    }
    let p = write(&dir, "t.csv", &text);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&p), "--json", "--bin-s", "1"])).unwrap();
    assert_eq!(v["format"], "canonical");
    assert_eq!(v["requests"], 110);
    assert!((v["rate_rps"].as_f64().unwrap() - 110.0 / 9.9).abs() < 1e-9);
    assert_eq!(v["top"][0]["name"], "a");
    assert!((v["top"][0]["share"].as_f64().unwrap() - 100.0 / 110.0).abs() < 1e-12);
    assert_eq!(v["top"][0]["cv"], 0.0);
    // Every 1 s bin has 11 requests.
    assert_eq!(v["peak_to_mean"], 1.0);
    let text = ok(&["trace", "stats", s(&fixture())]);
    assert!(text.contains("format        maf1"), "{text}");
    assert!(text.contains("requests      4525"), "{text}");
    assert!(text.contains("rate over time"), "{text}");
}

#[test]
fn generated_files_parse_and_are_reproducible() {
    let dir = tmp("gen");
    let a = dir.join("a.csv");
    let b = dir.join("b.csv.gz");
    ok(&[
        "trace",
        "gen",
        "--functions",
        "200",
        "--seed",
        "3",
        "--out",
        s(&a),
    ]);
    ok(&[
        "trace",
        "gen",
        "--functions",
        "200",
        "--seed",
        "3",
        "--out",
        s(&b),
    ]);
    let mut ra = maf1::Reader::open(&a).unwrap();
    let mut rb = maf1::Reader::open(&b).unwrap();
    let mut n = 0;
    while let Some(x) = ra.next_row().unwrap() {
        let (f, c) = (x.function.to_string(), x.counts.to_vec());
        let y = rb.next_row().unwrap().unwrap();
        assert_eq!((f, c), (y.function.to_string(), y.counts.to_vec()));
        n += 1;
    }
    assert_eq!(n, 200);
    assert!(rb.next_row().unwrap().is_none());
    // Several days go to a folder, with the dataset's file names.
    let days = dir.join("days");
    ok(&[
        "trace",
        "gen",
        "--functions",
        "20",
        "--days",
        "2",
        "--out",
        s(&days),
    ]);
    assert!(
        days.join("invocations_per_function_md.anon.d01.csv")
            .exists()
    );
    assert!(
        days.join("invocations_per_function_md.anon.d02.csv")
            .exists()
    );
}

/// Mean and CV of gaps.
fn rate_cv(ts: &[Nanos]) -> (f64, f64) {
    let gaps: Vec<f64> = ts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let n = gaps.len() as f64;
    let m = gaps.iter().sum::<f64>() / n;
    let v = gaps.iter().map(|g| (g - m) * (g - m)).sum::<f64>() / (n - 1.0);
    (1e9 / m, v.sqrt() / m)
}

fn draw(table: &Arc<mapping::MinuteTable>, row: usize, r: Replay, seed: u64) -> Vec<Nanos> {
    let mut st = inferfair_sim::workload::ArrivalStream::new(
        r.arrival(table, row, 1.0),
        inferfair_sim::rng::Rng::derive(seed, "arrival/x"),
    );
    std::iter::from_fn(|| st.next().map(|x| x.0)).collect()
}

#[test]
fn arrivals_from_counts_have_the_asked_rate_and_cv() {
    // A steady 1,200 invocations a minute for 10 minutes: 20 requests/s.
    let table = Arc::new(mapping::MinuteTable::from_rows(&[vec![1200; 10]]));
    for cv in [1.0, 2.0, 4.0] {
        let r = Replay {
            cv,
            ..Replay::default()
        };
        let ts = draw(&table, 0, r, 11);
        let (rate, c) = rate_cv(&ts);
        assert!(
            (rate / 20.0 - 1.0).abs() < 0.05 * cv,
            "rate {rate} at cv {cv}"
        );
        assert!((c / cv - 1.0).abs() < 0.08, "cv {c} asked {cv}");
        assert!(*ts.last().unwrap() < 600 * NS_PER_S);
    }
    // Rate scale, time scale and a target total rate.
    let r = Replay {
        rate_scale: 0.5,
        time_scale: 2.0,
        ..Replay::default()
    };
    let ts = draw(&table, 0, r, 12);
    let (rate, _) = rate_cv(&ts);
    assert!(
        (rate / 20.0 - 1.0).abs() < 0.05,
        "rate {rate}: half the arrivals in half the time"
    );
    assert!(*ts.last().unwrap() < 300 * NS_PER_S);
    let r = Replay {
        total_rps: Some(5.0),
        ..Replay::default()
    };
    let n = draw(&table, 0, r, 13).len() as f64;
    assert!(
        (n - 3000.0).abs() < 4.0 * 3000f64.sqrt(),
        "{n} requests for 5 r/s over 600 s"
    );
    // Intervals of 5 minutes spread the counts: minutes 0-4 (1200 each) and 5-9 (none)
    // become 600 s of Poisson at 20 r/s then nothing... here all counts are in minute 0.
    let mut row = vec![0u32; 10];
    row[0] = 3000;
    let table2 = Arc::new(mapping::MinuteTable::from_rows(&[row]));
    let ts = draw(
        &table2,
        0,
        Replay {
            interval_min: 5,
            ..Replay::default()
        },
        14,
    );
    let first = ts.iter().filter(|&&t| t < 60 * NS_PER_S).count() as f64;
    let total = ts.len() as f64;
    assert!(ts.iter().all(|&t| t < 300 * NS_PER_S));
    assert!(
        (first / total - 0.2).abs() < 0.03,
        "{first} of {total} in the first minute"
    );
}

#[test]
fn generated_day_looks_like_azure() {
    let mut g = Generator::new(GenConfig {
        functions: 2000,
        days: 1,
        seed: 5,
        scale: 1.0,
    });
    let mut totals = vec![0u64; 2000];
    let mut hourly = vec![0u64; 24];
    let mut busiest: (u64, Vec<u32>) = (0, vec![]);
    g.pass(&mut |f, _, c| {
        let t: u64 = c.iter().map(|&x| x as u64).sum();
        totals[f] = t;
        for (m, &x) in c.iter().enumerate() {
            hourly[m / 60] += x as u64;
        }
        if t > busiest.0 {
            busiest = (t, c.to_vec());
        }
        Ok(())
    })
    .unwrap();
    totals.sort_unstable_by(|a, b| b.cmp(a));
    let all: u64 = totals.iter().sum();
    let top10: u64 = totals[..200].iter().sum();
    // Heavy-tailed popularity: the top 10% of functions have most invocations,
    // and many functions are invoked at most once an hour.
    assert!(
        top10 as f64 / all as f64 > 0.9,
        "top 10% share {}",
        top10 as f64 / all as f64
    );
    let rare = totals.iter().filter(|&&t| t <= 24).count() as f64 / 2000.0;
    assert!(
        (0.3..0.7).contains(&rare),
        "share invoked at most hourly: {rare}"
    );
    // Diurnal: the busiest hour well above the quietest.
    let (hi, lo) = (*hourly.iter().max().unwrap(), *hourly.iter().min().unwrap());
    assert!(hi as f64 > 1.3 * lo as f64, "hourly {hourly:?}");
    // Per-minute counts are over-dispersed (bursts and diurnal), not Poisson.
    let c = &busiest.1;
    let m = c.iter().map(|&x| x as f64).sum::<f64>() / c.len() as f64;
    let v = c.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (c.len() - 1) as f64;
    assert!(v > 2.0 * m, "variance {v} vs mean {m}");
}

#[test]
fn many_instances_share_one_file() {
    // 600 instances over a generated file of 1,000 functions: read once, one row each.
    let dir = tmp("many");
    let day = dir.join("d01.csv.gz");
    ok(&[
        "trace",
        "gen",
        "--functions",
        "1000",
        "--seed",
        "2",
        "--out",
        s(&day),
    ]);
    let text = format!(
        r#"
name = "many"
duration_s = 120
profile = "toy.csv"
[cluster]
gpus = 2
gpu_memory_gib = 80
[[models]]
model = "small"
count = 500
arrival = {{ process = "azure", path = "{p}", start_min = 600, end_min = 660, total_rps = 400 }}
[[models]]
model = "big"
count = 100
arrival = {{ process = "azure", path = "{p}", start_min = 600, end_min = 660, total_rps = 400 }}
[[models]]
model = "small"
name = "alone"
arrival = {{ process = "azure", path = "{p}", mapping = "alpaserve", start_min = 600, end_min = 660, total_rps = 50 }}
"#,
        p = s(&day)
    );
    let sc = scenario(&text);
    assert_eq!(sc.models.len(), 601);
    let rows = |i: usize| match &sc.models[i].arrival {
        inferfair_sim::workload::Arrival::Binned { table, row, .. } => {
            (Arc::as_ptr(table), *row, table.instances)
        }
        a => panic!("{a:?}"),
    };
    let (t0, r0, n0) = rows(0);
    let (t1, r1, _) = rows(599);
    assert_eq!((r0, r1, n0), (0, 599, 600));
    assert_eq!(t0, t1, "one table for the 600 instances");
    let (t2, r2, n2) = rows(600);
    assert_ne!(t0, t2);
    assert_eq!((r2, n2), (0, 1));
    // The first instance gets the busiest functions (Clockwork's blocks).
    let r = inferfair_sim::simulate(&sc, "fifo", Default::default()).unwrap();
    let offered: Vec<f64> = r.models.iter().map(|m| m.offered_rps).collect();
    assert!(offered[0] > offered[599]);
    let total: f64 = offered[..600].iter().sum();
    assert!(total > 100.0 && total < 1600.0, "total offered {total}");
}

#[test]
fn azure_errors_name_the_field() {
    let base = r#"
name = "e"
duration_s = 60
profile = "toy.csv"
[cluster]
gpus = 1
[[models]]
model = "small"
count = 5
"#;
    for (arrival, want) in [
        (
            r#"arrival = { process = "azure", path = "maf2019-format-example/invocations.csv" }"#,
            "models[0].arrival.path",
        ),
        (
            r#"arrival = { process = "azure", path = "maf2019-format-example/invocations.csv", cv = -1 }"#,
            "models[0].arrival.cv",
        ),
        (
            r#"arrival = { process = "azure", path = "maf2019-format-example/nope.csv" }"#,
            "nope.csv",
        ),
        (
            r#"arrival = { process = "azure", path = "toy.csv" }"#,
            "toy.csv:1: expected the MAF1 header",
        ),
        (
            r#"arrival = { process = "azure", path = "maf2019-format-example/invocations.csv", colour = 1 }"#,
            "colour",
        ),
    ] {
        let e =
            inferfair_sim::Scenario::parse(&format!("{base}{arrival}\n"), &data().join("e.toml"))
                .unwrap_err()
                .to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
}

#[test]
fn maf2_converts_as_is_with_time_scale() {
    let dir = tmp("maf2");
    // f1 invoked 3 times, f2 twice, f3 once; arrival = end - duration.
    let input = write(
        &dir,
        "maf2.csv",
        "app,func,end_timestamp,duration\n\
         a,f1,1.5,0.5\na,f2,2.0,0.25\nb,f3,3.0,1.0\na,f1,4.0,1.0\na,f1,6.0,0.5\na,f2,8.0,0.0\n",
    );
    let out = dir.join("c.csv");
    // Clockwork: ranks f1 (3), f2 (2), f3 (1); blocks of 2 instances: 2i/3 -> f1 0, f2 0, f3 1.
    ok(&[
        "trace",
        "convert",
        s(&input),
        "--models",
        "x:2",
        "--time-scale",
        "2",
        "--out",
        s(&out),
    ]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "arrival_ms,model\n500,x-0\n875,x-0\n1000,x-1\n1500,x-0\n2750,x-0\n4000,x-0\n"
    );
    // Knobs that only make sense for per-minute counts are refused.
    let e = run(&["trace", "convert", s(&input), "--cv", "2", "--out", s(&out)]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("--cv applies to per-minute counts"));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&input), "--json"])).unwrap();
    assert_eq!(v["format"], "maf2");
    assert_eq!(v["requests"], 6);
    assert_eq!(v["top"][0]["name"], "a/f1");
}

#[test]
fn generated_requests_have_the_asked_total_rate() {
    let dir = tmp("genreq");
    let out = dir.join("r.csv.gz");
    let args = [
        "trace",
        "gen",
        "--kind",
        "requests",
        "--functions",
        "500",
        "--seed",
        "9",
        "--models",
        "m:8",
        "--mapping",
        "alpaserve",
        "--start-s",
        "36000",
        "--end-s",
        "37200",
        "--total-rps",
        "40",
        "--out",
        s(&out),
    ];
    ok(&args);
    let t = Trace::load(&out).unwrap();
    assert_eq!(t.models.len(), 8);
    let n = t.len() as f64;
    // 40 r/s over 1,200 s: the count of a Poisson process with a given mean (variance = mean).
    assert!(
        (n - 48_000.0).abs() < 4.0 * 48_000f64.sqrt(),
        "{n} requests"
    );
    assert!(
        t.models
            .values()
            .all(|v| v.iter().all(|e| e.t < 1200 * NS_PER_S))
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&out), "--json"])).unwrap();
    assert!((v["rate_rps"].as_f64().unwrap() - 40.0).abs() < 1.0);
}

#[test]
fn bench_runs_on_the_fixture() {
    let out = ok(&[
        "trace",
        "bench",
        s(&fixture()),
        "--repeat",
        "1",
        "--instances",
        "2",
    ]);
    for k in [
        "read bytes",
        "split lines",
        "parse rows",
        "map to 2",
        "4 functions",
    ] {
        assert!(out.contains(k), "{out}");
    }
}
