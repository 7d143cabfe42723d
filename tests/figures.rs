//! Figures: every panel kind renders a non-empty PNG and SVG from a tiny
//! sweep (FIFO and FIFO variants), the cache is reused, and bad specs are
//! reported without stopping the other figures.

use crate::common::{data, tmp};
use inferfair::figures::{self, Options, build::first_reach};
use std::path::PathBuf;

fn options(specs: PathBuf, out: &std::path::Path) -> Options {
    Options {
        specs,
        out: out.join("figures"),
        cache: Some(out.join("cache")),
        only: vec![],
        policies: None,
        jobs: Some(2),
        fresh: false,
        dry_run: false,
        scale: 1.0,
        sets: vec![],
    }
}

#[test]
fn every_figure_kind_renders_a_png_and_an_svg() {
    let dir = tmp("figures");
    let o = options(data().join("figures"), &dir);
    let s = figures::run(&o).unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let mut drawn = s.drawn.clone();
    drawn.sort();
    assert_eq!(
        drawn,
        ["bars", "cdf", "lines", "ratio", "timeline", "tradeoff"]
    );
    for name in &drawn {
        let png = std::fs::read(o.out.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
        assert!(png.len() > 5_000, "{name}.png is nearly empty");
        let svg = std::fs::read_to_string(o.out.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("fifo-b"),
            "{name}.svg"
        );
        assert!(svg.contains("<text"), "{name}.svg has no text");
        let csv = std::fs::read_to_string(o.out.join(format!("{name}.csv"))).unwrap();
        assert!(csv.lines().count() > 2, "{name}.csv");
    }
    let svg = std::fs::read_to_string(o.out.join("lines.svg")).unwrap();
    assert!(svg.contains("SLO attainment (%)") && svg.contains("Offered load (rate scale, ×)"));
    assert!(
        std::fs::read_to_string(o.out.join("bars.svg"))
            .unwrap()
            .contains("Normalized goodput")
    );
    assert!(
        std::fs::read_to_string(o.out.join("cdf.svg"))
            .unwrap()
            .contains("Latency (ms)")
    );

    // A second run finds every point in the cache; --only draws one figure.
    let again = figures::run(&Options {
        only: vec!["bars".into()],
        ..o.clone()
    })
    .unwrap();
    assert_eq!(again.cached, again.points);
    assert_eq!(again.drawn, ["bars"]);
}

#[test]
fn a_bad_figure_is_reported_and_the_others_still_drawn() {
    let dir = tmp("figures-bad");
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let sweep = format!(
        "[sweeps.s]\nscenario = \"{}\"\npolicies = [\"fifo\"]\nduration_s = 1\nwarmup_s = 0.2\nisolation = false\n[sweeps.s.grid]\nrate_scale = [0.5, 1.0]\n",
        data().join("toy.toml").display()
    );
    std::fs::write(
        specs.join("good.toml"),
        format!("{sweep}[[panels]]\ntype = \"lines\"\nx = \"rate_scale\"\n"),
    )
    .unwrap();
    std::fs::write(
        specs.join("bad.toml"),
        format!("{sweep}[[panels]]\ntype = \"lines\"\nx = \"load\"\n"),
    )
    .unwrap();
    std::fs::write(specs.join("ugly.toml"), "[[panels]]\ntype = \"pie\"\n").unwrap();
    let o = options(specs, &dir);
    let s = figures::run(&o).unwrap();
    assert_eq!(s.drawn, ["good"]);
    let failed: Vec<&str> = s.failed.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(failed, ["ugly", "bad"]);
    assert!(
        s.failed[1].1.contains("no axis `load`") && s.failed[1].1.contains("rate_scale"),
        "{:?}",
        s.failed
    );
    assert!(
        s.failed[0].1.contains("ugly.toml") && s.failed[0].1.contains("pie"),
        "{:?}",
        s.failed
    );
    let e = figures::run(&Options {
        only: vec!["nope".into()],
        ..o
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no figure spec nope.toml") && e.contains("good"),
        "{e}"
    );
}

#[test]
fn the_99_percent_mark_is_read_from_the_side_where_it_is_met() {
    // Falling with load: the last x before it drops under the threshold.
    assert_eq!(
        first_reach(&[(0.5, 1.0), (1.0, 0.995), (1.5, 0.9), (2.0, 0.999)], 0.99),
        Some(1.0)
    );
    // Rising with GPUs: the first x from which it stays above.
    assert_eq!(
        first_reach(
            &[
                (1.0, 0.5),
                (2.0, 0.991),
                (3.0, 0.98),
                (4.0, 0.995),
                (5.0, 1.0)
            ],
            0.99
        ),
        Some(4.0)
    );
    assert_eq!(first_reach(&[(1.0, 0.5), (2.0, 0.6)], 0.99), None);
    assert_eq!(first_reach(&[], 0.99), None);
}

/// `figures --set` changes every sweep's base scenario: a key the scenario
/// lacks is an error that names it and the sweep, a valid one runs.
#[test]
fn set_applies_to_every_sweep_of_the_figures() {
    let dir = tmp("figures-set");
    let mut o = options(data().join("figures"), &dir);
    o.dry_run = true;
    o.sets = vec!["cluster.nonsense=2".parse().unwrap()];
    let bad = figures::run(&o).unwrap();
    assert_eq!(bad.points, 0);
    assert!(
        !bad.failed.is_empty()
            && bad
                .failed
                .iter()
                .all(|f| f.1.contains("cluster.nonsense") && f.1.contains("sweep")),
        "{:?}",
        bad.failed
    );
    o.sets = vec!["cluster.exec_cv=0.1".parse().unwrap()];
    let with = figures::run(&o).unwrap();
    o.sets.clear();
    let without = figures::run(&o).unwrap();
    // The same grid of points, each on the changed scenario.
    assert!(with.failed.is_empty(), "{:?}", with.failed);
    assert_eq!(with.points, without.points);
    std::fs::remove_dir_all(dir).ok();
}
