//! `simulate --trace-events`: a Chrome trace-event JSON file with every batch
//! and load of the run on its GPU's track, and queue-length counters.

use crate::common::{data, record, scenario};
use std::process::Command;

fn trace(args: &[&str], name: &str) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("inferfair-test-{}-trace", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let toy = data().join("toy.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args([
            "simulate",
            toy.to_str().unwrap(),
            "--trace-events",
            path.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("the trace is JSON")
}

#[test]
fn the_trace_holds_every_batch_and_load_on_its_gpu_track() {
    let v = trace(&[], "full.json");
    let ev = v["traceEvents"].as_array().unwrap();
    let (_, rec) = record(
        &scenario(&std::fs::read_to_string(data().join("toy.toml")).unwrap()),
        "fifo",
    );
    let of = |cat: &str| {
        ev.iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == cat)
            .collect::<Vec<_>>()
    };
    let batches = of("batch");
    assert_eq!(batches.len(), rec.batches.len());
    assert_eq!(of("load").len(), rec.loads.len());
    assert_eq!(rec.loads.len(), 2, "FIFO preloads both models");
    // The first batch as recorded: GPU, model, size, times in microseconds.
    let mut first = rec.batches.clone();
    first.sort_by_key(|b| (b.4, b.0));
    let (gpu, model, n, size, start, finish) = first[0];
    let e = batches
        .iter()
        .find(|e| e["ts"].as_f64().unwrap() == start as f64 / 1000.0)
        .expect("the first batch is in the trace");
    assert_eq!(e["pid"], gpu as u64);
    assert_eq!(e["tid"], 0);
    assert_eq!(e["name"], ["small", "big"][model]);
    assert_eq!(e["args"]["batch_size"], size);
    assert_eq!(e["args"]["requests"], n as u64);
    assert_eq!(e["args"]["request_ids"].as_array().unwrap().len(), n);
    assert!((e["dur"].as_f64().unwrap() - (finish - start) as f64 / 1000.0).abs() < 1e-6);
    // Tracks are named; counters go to the queues process.
    let meta = |name: &str| {
        ev.iter()
            .filter(|e| e["ph"] == "M" && e["name"] == name)
            .count()
    };
    assert_eq!(meta("process_name"), 2);
    assert_eq!(meta("thread_name"), 2);
    let counters: Vec<_> = ev.iter().filter(|e| e["ph"] == "C").collect();
    assert!(counters.len() > 100);
    assert!(
        counters
            .iter()
            .all(|c| c["pid"] == 1 && c["args"]["length"].is_u64())
    );
    assert!(counters.iter().any(|c| c["name"] == "queue big"));
    assert_eq!(v["otherData"]["truncated"], false);
    assert_eq!(v["otherData"]["policy"], "fifo");
    assert_eq!(
        v["otherData"]["events"].as_u64().unwrap() as usize,
        ev.len() - 5
    );
}

#[test]
fn the_trace_is_bounded_by_a_window_and_a_cap() {
    let v = trace(&["--trace-window", "2:3"], "window.json");
    let ev = v["traceEvents"].as_array().unwrap();
    for e in ev.iter().filter(|e| e["ph"] != "M") {
        let ts = e["ts"].as_f64().unwrap();
        let end = ts + e["dur"].as_f64().unwrap_or(0.0);
        assert!(end >= 2e6 && ts < 3e6, "{e}");
    }
    let v = trace(&["--trace-max-events", "10"], "cap.json");
    assert_eq!(v["otherData"]["truncated"], true);
    assert_eq!(v["traceEvents"].as_array().unwrap().len(), 10 + 5);
}

#[test]
fn evictions_are_instant_events_on_the_loads_track() {
    // 1 GiB for weights holds `big` (1000 MiB) or `small`, not both: FIFO loads on demand and
    // evicts; a model is evicted only after its load finished.
    let dir = std::env::temp_dir().join(format!("inferfair-test-{}-trace", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("tight.toml");
    let text = std::fs::read_to_string(data().join("toy.toml"))
        .unwrap()
        .replace(
            "profile = \"toy.csv\"",
            &format!("profile = {:?}", data().join("toy.csv")),
        )
        .replace(
            "gpu_memory_gib = 32",
            "gpu_memory_gib = 32\nweights_memory_gib = 1.0",
        );
    std::fs::write(&scenario, text).unwrap();
    let path = dir.join("evict.json");
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args([
            "simulate",
            scenario.to_str().unwrap(),
            "--trace-events",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ev = v["traceEvents"].as_array().unwrap();
    let evicts: Vec<_> = ev.iter().filter(|e| e["cat"] == "evict").collect();
    let loads = ev.iter().filter(|e| e["cat"] == "load").count();
    assert!(
        !evicts.is_empty() && loads >= evicts.len(),
        "{} evictions, {loads} loads",
        evicts.len()
    );
    assert!(
        evicts
            .iter()
            .all(|e| e["ph"] == "i" && e["tid"] == 1 && e["pid"] == 0)
    );
}
