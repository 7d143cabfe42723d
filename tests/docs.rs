//! Docs that match the code:
//!
//! - `docs/scenarios.md` documents every key the scenario file accepts and
//!   nothing else. The keys the code accepts are read from the serde types
//!   themselves: a table with an unknown key is refused with the list of the
//!   keys expected, so a key added to a struct shows up here without any
//!   change to this test. Only a new *table* needs a line in `sections()`
//!   (e.g. `[[cluster.pools]]`: `("cluster.pools", probe::<PoolSpec>)`); a
//!   new arrival process or policy is found by itself. (This needs
//!   `deny_unknown_fields` and no `#[serde(flatten)]` on the types.)
//! - Its `[policy.NAME]` tables give every parameter of every implemented
//!   policy with the default its `params()` reports.
//! - Its literal defaults are those the resolved scenario fills in.
//! - Every repository file named in README.md and docs/ exists, every
//!   `inferfair` command they quote parses, and README's example scenario
//!   is `scenarios/quickstart.toml`.

use clap::Parser;
use inferfair_sim::cluster::PoolSpec;
use inferfair_sim::interference::InterferenceSpec;
use inferfair_sim::scenario::{ClusterSpec, ModelEntry, ScenarioFile};
use inferfair_sim::workload::ArrivalSpec;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The names between backticks in a serde message ("expected one of `a`, `b`").
fn backticked(msg: &str) -> Vec<String> {
    msg.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The keys a table of type `T` accepts, given the keys it needs to be
/// looked at (an arrival's `process`).
fn probe<T: DeserializeOwned>(base: &toml::Table) -> BTreeSet<String> {
    let mut t = base.clone();
    t.insert("zz_probe".into(), toml::Value::Integer(1));
    let e = match toml::Value::Table(t).try_into::<T>() {
        Ok(_) => panic!("a table with key zz_probe was accepted"),
        Err(e) => e.message().to_string(),
    };
    assert!(e.contains("zz_probe"), "not an unknown-field error: {e}");
    let mut keys: BTreeSet<String> = backticked(&e).into_iter().collect();
    keys.remove("zz_probe");
    keys
}

fn arrival_processes() -> Vec<String> {
    let mut t = toml::Table::new();
    t.insert("process".into(), "zz_probe".into());
    let e = toml::Value::Table(t)
        .try_into::<ArrivalSpec>()
        .unwrap_err()
        .message()
        .to_string();
    backticked(&e)
        .into_iter()
        .filter(|p| p != "zz_probe")
        .collect()
}

/// Implemented policies (those that accept default parameters).
fn policies() -> Vec<&'static str> {
    crate::common::policies()
}

/// Every section of the reference (`""` is the top level) and the keys the code accepts there.
fn sections() -> BTreeMap<String, BTreeSet<String>> {
    let none = toml::Table::new();
    let mut s = BTreeMap::new();
    s.insert(String::new(), probe::<ScenarioFile>(&none));
    s.insert("cluster".into(), probe::<ClusterSpec>(&none));
    s.insert("cluster.pools".into(), probe::<PoolSpec>(&none));
    s.insert(
        "cluster.interference".into(),
        probe::<InterferenceSpec>(&none),
    );
    s.insert("models".into(), probe::<ModelEntry>(&none));
    for p in arrival_processes() {
        let mut t = toml::Table::new();
        t.insert("process".into(), p.clone().into());
        s.insert(format!("arrival.{p}"), probe::<ArrivalSpec>(&t));
    }
    for p in policies() {
        let mut t = toml::Table::new();
        t.insert("zz_probe".into(), toml::Value::Integer(1));
        let e = inferfair_sim::policy::check_params(p, &t).unwrap_err();
        let keys = backticked(&e).into_iter().filter(|k| k != "zz_probe");
        s.insert(format!("policy.{p}"), keys.collect());
    }
    s
}

/// A documented key: its row's cells (key, type, default, unit, range, meaning).
type Rows = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The section a heading of docs/scenarios.md opens: its first code span,
/// `[cluster]`, `[[models]]`, `[policy.NAME]` or `process = "NAME"`; "Top-level keys" is "".
fn section_of(heading: &str) -> Option<String> {
    if heading.contains("Top-level keys") {
        return Some(String::new());
    }
    let span = heading.split('`').nth(1)?;
    if let Some(p) = span.strip_prefix("process = ") {
        return Some(format!("arrival.{}", p.trim_matches('"')));
    }
    span.starts_with('[')
        .then(|| span.trim_matches(|c| c == '[' || c == ']').to_string())
}

/// The key tables of docs/scenarios.md, by section.
fn documented() -> Rows {
    let text = read("docs/scenarios.md");
    let mut rows: Rows = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            section = section_of(line);
            continue;
        }
        let (Some(sec), Some(row)) = (&section, line.strip_prefix("| `")) else {
            continue;
        };
        let cells: Vec<String> = row.split(" | ").map(|c| c.trim().to_string()).collect();
        let key = cells[0].split('`').next().unwrap().to_string();
        let prev = rows
            .entry(sec.clone())
            .or_default()
            .insert(key.clone(), cells);
        assert!(
            prev.is_none(),
            "docs/scenarios.md: `{key}` twice in [{sec}]"
        );
    }
    rows
}

#[test]
fn the_scenario_reference_documents_every_key_and_only_those() {
    let code = sections();
    let docs = documented();
    let mut problems = Vec::new();
    for (sec, keys) in &code {
        let doc = docs.get(sec).cloned().unwrap_or_default();
        if doc.is_empty() {
            problems.push(format!(
                "no table for section `{sec}` (a heading naming it, then `| `key` | ...` rows)"
            ));
        }
        for k in keys.iter().filter(|k| !doc.contains_key(*k)) {
            problems.push(format!(
                "[{sec}] `{k}`: accepted by the code, not documented"
            ));
        }
        for k in doc.keys().filter(|k| !keys.contains(*k)) {
            problems.push(format!(
                "[{sec}] `{k}`: documented, not accepted by the code"
            ));
        }
    }
    for sec in docs.keys().filter(|s| !code.contains_key(*s)) {
        problems.push(format!("section `{sec}` documented, unknown to the code"));
    }
    assert!(
        problems.is_empty(),
        "docs/scenarios.md and the code disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// The literal default of a row: its default cell when it is one code span.
fn literal(cells: &[String]) -> Option<toml::Value> {
    let d = cells.get(2)?;
    let inner = d.strip_prefix('`')?.strip_suffix('`')?;
    if inner.contains('`') {
        return None;
    }
    Some(inferfair_sim::set::parse_value(inner))
}

fn same(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Integer(x), toml::Value::Float(y))
        | (toml::Value::Float(y), toml::Value::Integer(x)) => *x as f64 == *y,
        _ => a == b,
    }
}

#[test]
fn policy_tables_give_every_parameters_default() {
    let docs = documented();
    let scenario = inferfair_sim::Scenario::load(&crate::common::data().join("toy.toml")).unwrap();
    for p in policies() {
        let params = inferfair_sim::policy::build(p, &scenario).unwrap().params();
        let doc = &docs[&format!("policy.{p}")];
        for (k, v) in &params {
            let cells = &doc[k];
            let d = literal(cells).unwrap_or_else(|| {
                panic!("[policy.{p}] `{k}`: the default cell should be `{v}`, found {cells:?}")
            });
            assert!(
                same(&d, v),
                "[policy.{p}] `{k}`: documented default {d}, params() says {v}"
            );
        }
    }
}

#[test]
fn literal_defaults_are_those_the_resolved_scenario_fills_in() {
    let docs = documented();
    let arrivals = [
        "{ process = \"deterministic\", rate_rps = 5 }",
        "{ process = \"poisson\", rate_rps = 5 }",
        "{ process = \"gamma\", rate_rps = 5, cv = 2 }",
        "{ process = \"onoff\", rate_rps = 5, on_s = 1, off_s = 1 }",
        "{ process = \"piecewise\", times_s = [0], rates_rps = [5] }",
        "{ process = \"closed\", clients = 2, think_ms = 10 }",
    ];
    let mut text = format!(
        "name = \"m\"\nduration_s = 2\nprofile = {:?}\n[cluster]\n",
        crate::common::data().join("toy.csv")
    );
    for (i, a) in arrivals.iter().enumerate() {
        text.push_str(&format!(
            "[[models]]\nmodel = \"small\"\nname = \"m{i}\"\narrival = {a}\n"
        ));
    }
    let s = inferfair_sim::Scenario::parse(&text, Path::new("m.toml")).unwrap();
    let written = |t: &str| -> toml::Table { toml::from_str(t).unwrap() };
    let file = match toml::Value::try_from(&s.file).unwrap() {
        toml::Value::Table(t) => t,
        _ => unreachable!(),
    };
    let given = written(&text);
    let mut checked = 0;
    let mut check = |sec: &str, table: &toml::Table, given: &toml::Table| {
        for (k, cells) in docs.get(sec).into_iter().flatten() {
            let (Some(d), Some(v)) = (literal(cells), table.get(k)) else {
                continue;
            };
            if given.contains_key(k) {
                continue;
            }
            assert!(
                same(&d, v),
                "[{sec}] `{k}`: documented default {d}, resolved {v}"
            );
            checked += 1;
        }
    };
    check("", &file, &given);
    check(
        "cluster",
        file["cluster"].as_table().unwrap(),
        given["cluster"].as_table().unwrap(),
    );
    let models = file["models"].as_array().unwrap();
    let given_models = given["models"].as_array().unwrap();
    for (m, g) in models.iter().zip(given_models) {
        let (m, g) = (m.as_table().unwrap(), g.as_table().unwrap());
        check("models", m, g);
        let a = m["arrival"].as_table().unwrap();
        let process = a["process"].as_str().unwrap();
        check(
            &format!("arrival.{process}"),
            a,
            g["arrival"].as_table().unwrap(),
        );
    }
    assert!(checked >= 15, "only {checked} defaults checked");
}

/// README.md, docs/*.md and the READMEs of the data folders.
fn doc_files() -> Vec<String> {
    let mut v = vec![
        "README.md".to_string(),
        "figures/README.md".into(),
        "profiles/README.md".into(),
        "traces/README.md".into(),
    ];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    v.extend(docs);
    v
}

/// What a markdown text quotes: code spans and link targets (`false`), and
/// the lines of code blocks (`true`: indented blocks and fenced ones tagged
/// `sh`, one entry per command, backslash continuations joined); lines of
/// untagged fences (program output) are left out.
fn quoted(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(tag) = line.trim_start().strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(tag.trim().to_string()),
            };
            continue;
        }
        let shell = match &fence {
            Some(tag) => matches!(tag.as_str(), "sh" | "bash" | "shell"),
            None => line.starts_with("    "),
        };
        if fence.is_some() && !shell {
            if fence.as_deref() != Some("") && !line.trim_start().starts_with('#') {
                // toml, yaml...: their values may name files (comments do not count).
                out.push((line.split(" #").next().unwrap().to_string(), false));
            }
            continue;
        }
        if shell {
            let l = line.trim();
            if let Some(head) = l.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(l);
            out.push((std::mem::take(&mut pending), true));
            continue;
        }
        out.extend(
            line.split('`')
                .skip(1)
                .step_by(2)
                .map(|c| (c.to_string(), false)),
        );
        for part in line.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                out.push((part[..end].to_string(), false));
            }
        }
    }
    out
}

/// Whether a quoted word names a file of the repository.
fn repo_path(word: &str) -> bool {
    let w = word.trim_end_matches([',', '.', ':', ';']);
    let exts = [
        ".toml", ".csv", ".md", ".rs", ".sh", ".gz", ".png", ".svg", ".txt", ".ptx", ".ll", ".ttf",
    ];
    w.contains('/')
        && exts.iter().any(|e| w.ends_with(e))
        && !w.starts_with('/')
        && !w.contains("://")
        && !w
            .chars()
            .any(|c| c.is_whitespace() || "<>*{}$~[]|=\"'".contains(c))
        && !w.contains("...")
        // `DIR/scenario.toml`, `OUTDIR/h200.csv`: a placeholder folder.
        && !w
            .split('/')
            .next()
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_uppercase()))
}

/// Paths the docs name that are not this repository's: files of the
/// projects the profiles cite, and a profile a GPU measurement will write.
const ELSEWHERE: &[&str] = &[
    "PyTorch/",
    "TensorFlow/",
    "profiles/h200.csv",
    // What the documented commands write (`--out runs/...`).
    "runs/",
];

#[test]
fn every_file_the_docs_name_exists() {
    let mut missing = Vec::new();
    for doc in doc_files() {
        let dir = Path::new(&doc).parent().unwrap().to_path_buf();
        for (q, _) in quoted(&read(&doc)) {
            let words: Vec<&str> = q.split_whitespace().collect();
            for (i, word) in words.iter().enumerate() {
                let w = word.trim_end_matches([',', '.', ':', ';', ')']);
                let w = w.trim_start_matches('(').split('#').next().unwrap();
                // What a command writes need not exist; nor do other projects' files.
                let output = i > 0 && words[i - 1] == "--out";
                if !repo_path(w) || output || ELSEWHERE.iter().any(|p| w.starts_with(p)) {
                    continue;
                }
                let here = root().join(&dir).join(w);
                if !root().join(w).exists() && !here.exists() {
                    missing.push(format!("{doc}: {w}"));
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "named but missing:\n  {}",
        missing.join("\n  ")
    );
}

/// Splits a shell command line into words (quotes removed, variables set to 1).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '#') if !any && cur.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '$') if q != Some('\'') => {
                // ${NAME} or $NAME
                if chars.peek() == Some(&'{') {
                    for d in chars.by_ref() {
                        if d == '}' {
                            break;
                        }
                    }
                } else {
                    while chars
                        .peek()
                        .is_some_and(|d| d.is_alphanumeric() || *d == '_')
                    {
                        chars.next();
                    }
                }
                cur.push('1');
                any = true;
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// The `inferfair` command lines the docs quote, with where, and whether
/// they come from a code block (else an inline span). Left out: synopses
/// (`[optional]` parts, `a|b` choices, `...`, `<placeholder>`) and lines
/// with an upper-case placeholder (`--seed S`).
fn commands() -> Vec<(String, String, bool)> {
    let prefixes = [
        "./target/release/inferfair ",
        "target/release/inferfair ",
        "inferfair ",
        "cargo run --release -- ",
    ];
    let mut out = Vec::new();
    for doc in doc_files() {
        for (q, block) in quoted(&read(&doc)) {
            let q = q.trim();
            let q = q.split(" # ").next().unwrap().trim();
            let Some(rest) = prefixes.iter().find_map(|p| q.strip_prefix(p)) else {
                continue;
            };
            let placeholder = rest.split_whitespace().any(|w| {
                w.len() <= 8
                    && w.chars().any(|c| c.is_ascii_uppercase())
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || "/_,".contains(c))
            });
            if ["[", "|", "...", "<"].iter().any(|p| rest.contains(p)) || placeholder {
                continue;
            }
            out.push((doc.clone(), rest.to_string(), block));
        }
    }
    out
}

#[test]
fn every_quoted_command_parses() {
    let cmds = commands();
    assert!(cmds.len() >= 20, "only {} commands found", cmds.len());
    let mut bad = Vec::new();
    for (doc, rest, block) in &cmds {
        let mut args = vec!["inferfair".to_string()];
        args.extend(shell_words(rest));
        if let Err(e) = inferfair::cli::Cli::try_parse_from(&args) {
            use clap::error::ErrorKind as K;
            // An inline span may name a command without its arguments (`inferfair sweep`).
            let naming = !block
                && matches!(
                    e.kind(),
                    K::MissingRequiredArgument
                        | K::MissingSubcommand
                        | K::DisplayHelpOnMissingArgumentOrSubcommand
                );
            if naming || matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
                continue;
            }
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            bad.push(format!("{doc}: inferfair {rest}\n    {first}"));
        }
    }
    assert!(
        bad.is_empty(),
        "commands that do not parse:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn readmes_example_scenario_is_the_quickstart_file() {
    let readme = read("README.md");
    let file = read("scenarios/quickstart.toml");
    let block = readme
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("name = \"quickstart\""))
        .expect("README.md quotes scenarios/quickstart.toml in a ```toml block");
    assert_eq!(
        block, file,
        "README.md's quickstart block differs from the file"
    );
}
