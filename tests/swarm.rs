//! The swarm tester in CI: a fixed number of seeded scenarios (not a wall
//! time, so that the test is deterministic), every one of which must pass
//! every check; and a planted failure must be caught, shrunk and written.

use crate::common::tmp;
use inferfair::swarm::{self, Kind, Options};

#[test]
fn a_hundred_seeded_scenarios_pass_every_check() {
    let out = tmp("swarm");
    let r = swarm::run(&Options {
        first_seed: 1,
        scenarios: Some(100),
        seconds: None,
        out: out.clone(),
        report_every: 0,
    })
    .unwrap();
    if let Some((f, dir)) = &r.failure {
        panic!("{f}\n(minimal scenario in {})", dir.display());
    }
    assert_eq!(r.tally.scenarios, 100);
    assert!(r.tally.requests > 10_000, "{:?}", r.tally);
}

#[test]
fn the_same_seed_gives_the_same_scenario_bytes() {
    let a = tmp("swarm-a");
    let b = tmp("swarm-b");
    for seed in [3, 17, 42] {
        let pa = swarm::write_case(&swarm::generate::case(seed), &a).unwrap();
        let pb = swarm::write_case(&swarm::generate::case(seed), &b).unwrap();
        assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
        assert_eq!(crate::common::files(&a), crate::common::files(&b));
    }
}

#[test]
fn a_failure_is_shrunk_and_written_with_its_seed() {
    // A planted failure: a scenario that no policy can run (its Clockwork
    // pages hold no model) among three models over a long run; the shrunk
    // scenario keeps one model and the failing policy.
    let mut case = swarm::generate::case(5);
    case.file.policy.insert(
        "clockwork".into(),
        toml::from_str("page_size_mib = 1e9").unwrap(),
    );
    let scratch = tmp("swarm-shrink");
    let f = swarm::check_case(&case, &scratch.join("c"), false).unwrap_err();
    assert_eq!(
        (f.kind, f.policy.as_deref()),
        (Kind::Refused, Some("clockwork"))
    );
    let (small, f2) = swarm::shrink::shrink(case.clone(), f, &scratch);
    assert_eq!(small.policies, vec!["clockwork".to_string()]);
    assert_eq!(small.file.models.len(), 1);
    assert!(small.file.duration_s <= case.file.duration_s);
    let dir = scratch.join("seed-5");
    swarm::shrink::write_repro(&small, &f2, &dir).unwrap();
    let text = std::fs::read_to_string(dir.join("failure.txt")).unwrap();
    assert!(
        text.starts_with("seed 5 under clockwork: Refused:")
            && text.contains("inferfair swarm --check")
            && text.contains("inferfair swarm --seed 5 --scenarios 1"),
        "{text}"
    );
    let again =
        swarm::check_file(&dir.join("scenario.toml"), 5, &small.policies, false).unwrap_err();
    assert_eq!(again.kind, Kind::Refused);
}
