//! The resolved `scenario.toml` written beside results: complete (every
//! default filled in, with the parameters of every policy that ran) and
//! portable (the files it names, the profiles, interference tables and any traces, are copied into
//! `inputs/` beside it, hard-linked when large, and named relative to it), so that running it again
//! from anywhere, into any folder, gives the same bytes.

use crate::output::write_atomic;
use anyhow::{Context, Result};
use inferfair_sim::RunResult;
use inferfair_sim::scenario::ScenarioFile;
use inferfair_sim::workload::ArrivalSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder, beside `scenario.toml`, that receives the files it names.
pub const INPUTS: &str = "inputs";

/// The comment at the top of a resolved scenario.
fn header() -> String {
    format!(
        "# Resolved scenario, written by inferfair {}: every default filled in.\n\
         # Derived from other keys (change them too if you change those): drain_s\n\
         # (the largest SLO), cluster.weights_memory_gib, the models' exec_cv, and\n\
         # an azure arrival's assign and drop_idle (from its mapping). Keys left out\n\
         # have no value: stop_s (no stop), end_min (the end of the trace files),\n\
         # a trace arrival's model (the instance's name). Paths are relative to this\n\
         # file: the files it names were copied into {INPUTS}/.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writes `dir/scenario.toml` and copies the files it names into `dir/inputs/`.
pub fn write(dir: &Path, file: &ScenarioFile, results: &[RunResult]) -> Result<()> {
    let mut file = file.clone();
    for r in results {
        file.policy.insert(r.policy.clone(), r.params.clone());
    }
    let mut inputs = Inputs::new(dir);
    if let Some(p) = &file.profile {
        file.profile = Some(inputs.take(p)?);
    }
    let c = &mut file.cluster;
    if let Some(path) = c.interference.as_mut().and_then(|i| i.path.as_mut()) {
        *path = inputs.take(path)?;
    }
    for pool in &mut c.pools {
        if let Some(p) = &pool.profile {
            pool.profile = Some(inputs.take(p)?);
        }
        if let Some(path) = pool.interference.as_mut().and_then(|i| i.path.as_mut()) {
            *path = inputs.take(path)?;
        }
    }
    for m in &mut file.models {
        match &mut m.arrival {
            ArrivalSpec::Trace { path, .. } => *path = inputs.take(path)?,
            ArrivalSpec::Azure {
                path, next_days, ..
            } => {
                *path = inputs.take(path)?;
                for p in next_days.iter_mut() {
                    *p = inputs.take(p)?;
                }
            }
            _ => {}
        }
    }
    let text = format!("{}{}", header(), toml::to_string(&file)?);
    write_atomic(&dir.join("scenario.toml"), text.as_bytes())
}

/// The files copied so far, by source, and the names they took.
struct Inputs<'a> {
    dir: &'a Path,
    by_source: BTreeMap<PathBuf, PathBuf>,
    names: BTreeMap<String, PathBuf>,
}

impl<'a> Inputs<'a> {
    fn new(dir: &'a Path) -> Self {
        Inputs {
            dir,
            by_source: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// Copies `src` into `inputs/` (once) and returns its path relative to `dir`.
    fn take(&mut self, src: &Path) -> Result<PathBuf> {
        if let Some(rel) = self.by_source.get(src) {
            return Ok(rel.clone());
        }
        let name = self.free_name(src);
        self.names.insert(name.clone(), src.to_path_buf());
        let rel = Path::new(INPUTS).join(&name);
        copy(src, &self.dir.join(&rel))?;
        self.by_source.insert(src.to_path_buf(), rel.clone());
        Ok(rel)
    }

    /// The file's name, or `stem-N.ext` if another file took it.
    fn free_name(&self, src: &Path) -> String {
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into());
        let (stem, ext) = match name.split_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
            _ => (name.clone(), String::new()),
        };
        let mut candidate = name.clone();
        let mut n = 1;
        while self.names.contains_key(&candidate) {
            candidate = format!("{stem}-{n}{ext}");
            n += 1;
        }
        candidate
    }
}

/// Files at least this large are hard-linked rather than copied when the
/// file system allows it (a day of Azure trace is hundreds of MB).
const LINK_BYTES: u64 = 64 << 20;

/// Copies `src` to `dest` (a hard link for a large file when the file
/// system allows it), leaving `dest` alone when it is `src` itself.
fn copy(src: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("inputs/NAME has a parent");
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(src), std::fs::canonicalize(dest))
        && a == b
    {
        return Ok(());
    }
    let name = dest.file_name().expect("a file name").to_string_lossy();
    let tmp = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let large = std::fs::metadata(src).is_ok_and(|m| m.len() >= LINK_BYTES);
    if !(large && std::fs::hard_link(src, &tmp).is_ok()) {
        std::fs::copy(src, &tmp)
            .with_context(|| format!("cannot copy {} to {}", src.display(), tmp.display()))?;
    }
    std::fs::rename(&tmp, dest).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), dest.display())
    })
}
