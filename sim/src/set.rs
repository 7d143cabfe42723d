//! `--set KEY=VALUE`: a change to a scenario file's TOML made before the
//! scenario is checked and resolved, so that a set value is validated exactly
//! as if it had been written in the file. KEY is a dotted path of the file's
//! keys, with array indices as numbers (`cluster.gpus`, `models.0.slo_ms`,
//! `models[0].slo_ms`, `policy.inferfair.fairness`); VALUE is a TOML value
//! (`2`, `0.5`, `true`, `"name"`, `[1, 2]`, `{ process = "poisson", rate_rps = 5 }`),
//! or, when it does not parse as one, a plain string; an empty VALUE removes
//! the key (back to its default). Missing tables on the way are created;
//! array entries are not.

use crate::error::{Error, Result};
use crate::scenario::ScenarioFile;
use std::fmt;
use std::str::FromStr;

/// One `KEY=VALUE` change.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// The path, one segment per table key or array index.
    pub path: Vec<String>,
    /// The new value (`None`: remove the key).
    pub value: Option<toml::Value>,
    /// As written, for messages.
    pub text: String,
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a VALUE: a TOML value, else a plain string.
pub fn parse_value(text: &str) -> toml::Value {
    let t = text.trim();
    toml::from_str::<toml::Table>(&format!("v = {t}"))
        .ok()
        .and_then(|mut tb| tb.remove("v"))
        .unwrap_or_else(|| toml::Value::String(t.to_string()))
}

impl FromStr for Set {
    type Err = String;

    fn from_str(s: &str) -> Result<Set, String> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE (e.g. cluster.gpus=2), found `{s}`"))?;
        let key = key.trim();
        // `models[0].slo_ms` is `models.0.slo_ms`.
        let dotted = key.replace('[', ".").replace(']', "");
        let path: Vec<String> = dotted.split('.').map(|p| p.trim().to_string()).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{key}` is not a key path (keys separated by dots, e.g. models.0.slo_ms)"
            ));
        }
        let value = (!value.trim().is_empty()).then(|| parse_value(value));
        Ok(Set {
            path,
            value,
            text: s.to_string(),
        })
    }
}

fn kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

impl Set {
    /// Applies the change to a TOML table; the message says what is wrong
    /// with the key path (the value is checked later, with the whole file).
    pub fn apply(&self, root: &mut toml::Table) -> Result<(), String> {
        let (last, parents) = self.path.split_last().expect("a non-empty path");
        let mut at = Slot::Table(root);
        let mut place = String::new();
        for seg in parents {
            at = at.child(seg, &place, true)?;
            place = join(&place, seg);
        }
        match (at, &self.value) {
            (Slot::Table(t), Some(v)) => {
                t.insert(last.clone(), v.clone());
            }
            (Slot::Table(t), None) => {
                t.remove(last);
            }
            (Slot::Array(a), v) => {
                let i = index(last, &place, a.len())?;
                match v {
                    Some(v) => a[i] = v.clone(),
                    None => {
                        a.remove(i);
                    }
                }
            }
        }
        Ok(())
    }
}

fn join(place: &str, seg: &str) -> String {
    if place.is_empty() {
        seg.to_string()
    } else {
        format!("{place}.{seg}")
    }
}

fn index(seg: &str, place: &str, len: usize) -> Result<usize, String> {
    let i: usize = seg.parse().map_err(|_| {
        format!("`{place}` is an array: the next key must be an index from 0, found `{seg}`")
    })?;
    if i >= len {
        return Err(format!(
            "`{place}` has {len} entries (indices 0 to {}), found index {i}",
            len.saturating_sub(1)
        ));
    }
    Ok(i)
}

/// Where the next path segment is looked up.
enum Slot<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

impl<'a> Slot<'a> {
    fn child(self, seg: &str, place: &str, create: bool) -> Result<Slot<'a>, String> {
        let here = join(place, seg);
        let v = match self {
            Slot::Table(t) => {
                if create && !t.contains_key(seg) {
                    t.insert(seg.to_string(), toml::Value::Table(toml::Table::new()));
                }
                t.get_mut(seg).expect("inserted")
            }
            Slot::Array(a) => {
                let i = index(seg, place, a.len())?;
                &mut a[i]
            }
        };
        match v {
            toml::Value::Table(t) => Ok(Slot::Table(t)),
            toml::Value::Array(a) => Ok(Slot::Array(a)),
            other => Err(format!(
                "`{here}` is {}, not a table or an array",
                kind(other)
            )),
        }
    }
}

impl ScenarioFile {
    /// Applies `sets` in order; each one must leave a well-formed scenario
    /// file (known keys, values of the right types), and an error names it.
    /// Values are checked (ranges, models of the profile...) when the result
    /// is resolved, like the file's.
    pub fn with_sets(&self, sets: &[Set]) -> Result<ScenarioFile> {
        let mut table = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => unreachable!("a scenario serializes to a table"),
        };
        let mut file = self.clone();
        for s in sets {
            let at = || format!("--set {s}");
            s.apply(&mut table).map_err(|m| Error::invalid(at(), m))?;
            file = toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| Error::invalid(at(), e.message().to_string()))?;
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> ScenarioFile {
        ScenarioFile::parse(
            r#"
name = "t"
duration_s = 10
profile = "p.csv"
[cluster]
gpus = 1
[[models]]
model = "a"
slo_ms = 20
arrival = { process = "poisson", rate_rps = 10 }
[[models]]
model = "b"
arrival = { process = "poisson", rate_rps = 10 }
"#,
            std::path::Path::new("t.toml"),
        )
        .unwrap()
    }

    fn set(s: &str) -> Set {
        s.parse().unwrap()
    }

    #[test]
    fn sets_keys_indices_and_policy_tables() {
        let f = file()
            .with_sets(&[
                set("cluster.gpus=2"),
                set("models.1.slo_ms=50"),
                set("models[0].arrival.rate_rps=7.5"),
                set("policy.inferfair.fairness=0.5"),
                set("name=other name"),
            ])
            .unwrap();
        assert_eq!(f.cluster.gpus, Some(2));
        assert_eq!(f.models[1].slo_ms, Some(50.0));
        assert_eq!(f.models[0].arrival.mean_rate_rps(), Some(7.5));
        assert_eq!(f.policy["inferfair"]["fairness"].as_float(), Some(0.5));
        assert_eq!(f.name, "other name");
        let f = f.with_sets(&[set("models.0.slo_ms=")]).unwrap();
        assert_eq!(f.models[0].slo_ms, None);
    }

    #[test]
    fn errors_name_the_set_and_the_key() {
        let e = file().with_sets(&[set("cluster.gpu=2")]).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("--set cluster.gpu=2") && m.contains("gpu"),
            "{m}"
        );
        let m = file()
            .with_sets(&[set("models.2.slo_ms=5")])
            .unwrap_err()
            .to_string();
        assert!(m.contains("`models` has 2 entries"), "{m}");
        let m = file()
            .with_sets(&[set("cluster.gpus=two")])
            .unwrap_err()
            .to_string();
        assert!(m.contains("--set cluster.gpus=two"), "{m}");
        let m = file()
            .with_sets(&[set("seed.x=1")])
            .unwrap_err()
            .to_string();
        assert!(m.contains("`seed` is an integer"), "{m}");
        assert!("gpus".parse::<Set>().is_err());
        assert!("a..b=1".parse::<Set>().is_err());
    }
}
