//! A scheduling policy defined outside the inferfair crates: shortest job
//! first (SJF). Whenever a GPU has a free slot, it serves the model whose
//! smallest batch runs fastest on that GPU (among those loaded there with
//! pending requests), as a batch of its oldest requests; requests that can
//! no longer finish in time even alone are dropped first.
//!
//! It shows the whole path of docs/policies.md ("Write your own"):
//! - the policy: a `Policy` that reads the `View` and answers with `Action`s;
//! - its parameters, `[policy.sjf]` in a scenario, as a serde struct;
//! - running it directly in the simulator (`run::simulate_with`) and in the
//!   real-time replay (`inferfair_replay::replay`, cpu backend);
//! - registering it by name (`policy::register`), so that `compare`,
//!   isolation runs, sweeps, figures and the whole command line
//!   (`inferfair::cli::main`) run it like a built-in policy.
//!
//! ```sh
//! cargo run --release --example custom_policy                  # the demo below
//! cargo run --release --example custom_policy -- compare scenarios/quickstart.toml --policies fifo,edf,sjf
//! cargo test --example custom_policy                           # its tests (also run by `cargo test`)
//! ```

use inferfair_sim::Scenario;
use inferfair_sim::policy::{self, Action, Decision, Dispatch, Policy, View};
use inferfair_sim::run::{RunOptions, simulate_with};
use inferfair_sim::state::ModelId;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

/// `[policy.sjf]`: every parameter, with its default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SjfConfig {
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
}

/// Shortest job first.
#[derive(Debug, Default)]
pub struct Sjf {
    cfg: SjfConfig,
    /// Per model: requests taken from the front of its queue in this decision.
    taken: Vec<usize>,
}

impl Sjf {
    /// An SJF policy.
    pub fn new(cfg: SjfConfig) -> Self {
        Sjf {
            cfg,
            taken: Vec::new(),
        }
    }

    /// The model loaded on `gpu` with pending requests whose smallest batch
    /// is fastest there (ties: the lower id).
    fn shortest(&self, view: &View, gpu: usize) -> Option<ModelId> {
        view.models
            .iter()
            .filter(|m| m.queue.len() > self.taken[m.id])
            .filter(|m| view.can_run(m.id, gpu) && view.gpus[gpu].is_loaded(m.id))
            .min_by_key(|m| (view.exec_ns(m.id, gpu, 1), m.id))
            .map(|m| m.id)
    }
}

impl Policy for Sjf {
    fn name(&self) -> &'static str {
        "sjf"
    }

    fn params(&self) -> toml::Table {
        policy::to_table(&self.cfg)
    }

    /// Loads every model on every GPU that runs it, as long as it fits (a
    /// complete policy would also load on demand and evict).
    fn init(&mut self, view: &View, out: &mut Decision) {
        for g in view.gpus {
            let mut free = g.free_bytes();
            for m in view.models {
                if view.can_run(m.id, g.id) && !g.is_resident(m.id) {
                    let need = view.weights_bytes(m.id, g.id);
                    if need <= free {
                        free -= need;
                        out.actions.push(Action::Load {
                            gpu: g.id,
                            model: m.id,
                        });
                    }
                }
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        self.taken.clear();
        self.taken.resize(view.models.len(), 0);
        // Drop what cannot finish in time even alone on the fastest GPU.
        for m in view.models {
            let fastest = m.fastest().min_exec_ns();
            let hopeless: Vec<u64> = m
                .queue
                .iter()
                .take_while(|r| view.now + fastest > r.deadline)
                .map(|r| r.id)
                .collect();
            if !hopeless.is_empty() {
                self.taken[m.id] = hopeless.len();
                out.actions.push(Action::Drop {
                    model: m.id,
                    requests: hopeless,
                });
            }
        }
        // Fill every free slot with the shortest job there.
        for g in view.gpus {
            for _ in 0..g.free_slots() {
                let Some(m) = self.shortest(view, g.id) else {
                    break;
                };
                let max = view
                    .max_batch(m, g.id)
                    .min(self.cfg.max_batch.unwrap_or(u32::MAX))
                    .max(1) as usize;
                let queue = &view.models[m].queue;
                let from = self.taken[m];
                let n = (queue.len() - from).min(max);
                let ids = queue.range(from..from + n).map(|r| r.id).collect();
                self.taken[m] += n;
                out.actions
                    .push(Action::Dispatch(Dispatch::new(g.id, m, ids)));
            }
        }
    }
}

/// Registers SJF under the name `sjf` (once per process).
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        policy::register("sjf", |_scenario: &Scenario, cfg: SjfConfig| {
            if cfg.max_batch == Some(0) {
                return Err("max_batch: must be at least 1".into());
            }
            Ok(Box::new(Sjf::new(cfg)) as Box<dyn Policy>)
        })
        .expect("the name `sjf` is free");
    });
}

/// The quickstart scenario, cut to `seconds` of arrivals.
fn quickstart(seconds: f64) -> inferfair_sim::Result<Scenario> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    Scenario::load_with(&path, |f| {
        f.duration_s = seconds;
        f.warmup_s = seconds / 4.0;
    })
}

/// The demo: SJF in the simulator, in the replay (cpu backend, real time),
/// and by name beside the built-in policies.
fn demo(seconds: f64) -> anyhow::Result<String> {
    let mut out = String::new();
    let s = quickstart(seconds)?;
    // 1. Directly, as an object: the simulator...
    let mut sjf = Sjf::new(SjfConfig::default());
    let sim = simulate_with(&s, &mut sjf, RunOptions::default())?;
    // ... and the replay, with a fresh object (policies keep state).
    let mut sjf = Sjf::new(SjfConfig::default());
    let cpu = inferfair_replay::backend::cpu::Cpu;
    let real = inferfair_replay::replay(&s, &mut sjf, &cpu, Default::default())?;
    out.push_str(&format!(
        "sjf on {} ({seconds} s): simulated goodput {:.1} r/s, replayed {:.1} r/s\n",
        s.name, sim.overall.goodput_rps, real.result.overall.goodput_rps
    ));
    // 2. By name, like any built-in policy (here with isolation runs).
    register();
    let names: Vec<String> = ["fifo", "edf", "sjf"].map(String::from).into();
    for r in inferfair_sim::compare(&s, &names)? {
        let gap = r.overall.isolation.map_or(f64::NAN, |i| i.isolation_gap);
        out.push_str(&format!(
            "{:<5} goodput {:7.1} r/s  SLO attainment {:6.2}%  isolation gap {gap:.3}\n",
            r.policy,
            r.overall.goodput_rps,
            r.overall.slo_attainment.unwrap_or(0.0) * 100.0
        ));
    }
    Ok(out)
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        // The whole command line, with `sjf` among the policies.
        register();
        return inferfair::cli::main();
    }
    match demo(3.0) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_policy: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferfair_sim::engine::Observer;
    use inferfair_sim::state::{Outcome, RequestEnd};

    #[derive(Default)]
    struct Ends(Vec<RequestEnd>);

    impl Observer for Ends {
        fn request_end(&mut self, e: &RequestEnd) {
            self.0.push(*e);
        }
    }

    #[test]
    fn sjf_serves_the_shortest_model_first_and_every_request_once() {
        let s = quickstart(2.0).unwrap();
        let mut ends = Ends::default();
        let mut sjf = Sjf::new(SjfConfig::default());
        let r = simulate_with(
            &s,
            &mut sjf,
            RunOptions {
                observer: Some(&mut ends),
                ..Default::default()
            },
        )
        .unwrap();
        let mut ids: Vec<u64> = ends.0.iter().map(|e| e.req.id).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            (0..r.requests).collect::<Vec<_>>(),
            "each request ends once"
        );
        for e in &ends.0 {
            if let (Outcome::Good | Outcome::Late, Some(start)) = (e.outcome, e.start) {
                assert!(start >= e.req.arrival);
                assert_eq!(e.outcome == Outcome::Good, e.finish <= e.req.deadline);
            }
        }
        // Short models wait less: the fastest model's mean latency is below the slowest's.
        let lat = |name: &str| {
            r.models
                .iter()
                .find(|m| m.model == name)
                .and_then(|m| m.latency_ms.mean)
                .unwrap()
        };
        assert!(lat("squeezenet") < lat("bert-large"));
    }

    #[test]
    fn registered_sjf_runs_by_name_in_the_library_and_on_the_command_line() {
        register();
        assert!(policy::names().contains(&"sjf"));
        let s = quickstart(2.0).unwrap();
        assert!(policy::build("sjf", &s).is_ok());
        assert!(policy::check_params("sjf", &toml::from_str("max_batch = 4").unwrap()).is_ok());
        let e = policy::check_params("sjf", &toml::from_str("quantum = 4").unwrap()).unwrap_err();
        assert!(e.contains("unknown field `quantum`"), "{e}");
        // A name taken is refused.
        let again = policy::register("sjf", |_: &Scenario, c: SjfConfig| {
            Ok(Box::new(Sjf::new(c)) as Box<dyn Policy>)
        });
        assert!(again.is_err());
        // The whole command line, on a 2-second quickstart.
        let path = std::env::temp_dir().join(format!("sjf-{}.toml", std::process::id()));
        std::fs::write(&path, s.to_toml()).unwrap();
        let path = path.to_string_lossy().into_owned();
        inferfair::cli::run_from([
            "inferfair",
            "simulate",
            path.as_str(),
            "--policy",
            "sjf",
            "--format",
            "json",
        ])
        .unwrap();
    }

    #[test]
    fn the_demo_runs() {
        let text = demo(0.5).unwrap();
        assert!(
            text.contains("sjf on quickstart") && text.contains("\nsjf "),
            "{text}"
        );
    }
}
