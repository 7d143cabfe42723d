//! A run's output folder (`simulate`, `compare`, `replay` and `validate
//! --out DIR`, and validate's `sim/` and `replay/`) made
//! whole. Each file is written atomically (`crate::atomic`), but a run
//! writes several, and a run killed between two of them would leave a folder
//! that mixes two runs. So a run first removes the folder's `manifest.json`
//! and the result files of any earlier run, writes its files, and writes
//! `manifest.json` last: the run's id, what ran, and each file's size and
//! FNV-1a 64-bit hash (the copies of its inputs under `inputs/` too). A folder without a manifest is incomplete; a folder
//! with one holds exactly the files it lists ([`verify`] checks them).
//! Other files in the folder are left alone.

use crate::atomic::write_atomic;
use anyhow::{Context, Result, bail};
use inferfair_sim::rng::splitmix64;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// Every file a run writes into its folder.
pub const RUN_FILES: &[&str] = &[
    "summary.json",
    "per_model.csv",
    "per_gpu.csv",
    "scenario.toml",
    "requests.csv",
    "clockwork_requests.tsv",
    "batches.csv",
    "loads.csv",
    "validation.csv",
    "validation.txt",
    "validation.json",
];

/// A run's folder being written.
pub struct RunDir {
    dir: PathBuf,
}

/// FNV-1a, 64 bits, of a file's bytes, and its size.
pub fn hash_file(path: &Path) -> Result<(u64, u64)> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if k == 0 {
            return Ok((h, n));
        }
        for &b in &buf[..k] {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        n += k as u64;
    }
}

impl RunDir {
    /// Starts a run's folder: creates it, and removes its manifest and the
    /// result files an earlier run left there.
    pub fn begin(dir: &Path) -> Result<RunDir> {
        crate::output::ensure_dir(dir)?;
        for name in std::iter::once(&MANIFEST).chain(RUN_FILES) {
            let p = dir.join(name);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot remove {} of an earlier run", p.display())
                    });
                }
            }
        }
        Ok(RunDir {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes the manifest, last: `about` (what ran) with the run's id and
    /// every result file now in the folder.
    pub fn finish(self, mut about: Value) -> Result<()> {
        let mut files = Vec::new();
        let mut id: u64 = 0;
        let mut names: Vec<String> = RUN_FILES.iter().map(|n| n.to_string()).collect();
        names.extend(self.inputs()?);
        for name in &names {
            let p = self.dir.join(name);
            if !p.exists() {
                continue;
            }
            let (h, bytes) = hash_file(&p)?;
            id = splitmix64(&mut (id ^ h ^ inferfair_sim::rng::fnv1a(name)));
            files.push(json!({ "name": name, "bytes": bytes, "fnv1a64": format!("{h:016x}") }));
        }
        about["inferfair"] = json!(env!("CARGO_PKG_VERSION"));
        about["run_id"] = json!(format!("{id:016x}"));
        about["files"] = Value::Array(files);
        let mut text = serde_json::to_string_pretty(&about)?;
        text.push('\n');
        write_atomic(&self.dir.join(MANIFEST), text.as_bytes())
    }
}

impl RunDir {
    /// The files the resolved scenario's inputs were copied to
    /// (`inputs/NAME`, in name order).
    fn inputs(&self) -> Result<Vec<String>> {
        let dir = self.dir.join(crate::resolved::INPUTS);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
            if e.path().is_file()
                && let Some(n) = e.file_name().to_str()
            {
                names.push(format!("{}/{n}", crate::resolved::INPUTS));
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Checks a run's folder against its manifest: every listed file is there
/// with its size and hash. Returns the manifest.
pub fn verify(dir: &Path) -> Result<Value> {
    let p = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "{} has no readable {MANIFEST}: the run that wrote it did not finish",
            dir.display()
        )
    })?;
    let m: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not a manifest", p.display()))?;
    let files = m["files"]
        .as_array()
        .with_context(|| format!("{}: no `files`", p.display()))?;
    for f in files {
        let name = f["name"].as_str().unwrap_or_default();
        let (h, bytes) = hash_file(&dir.join(name))?;
        if Some(bytes) != f["bytes"].as_u64() || f["fnv1a64"] != json!(format!("{h:016x}")) {
            bail!(
                "{}: {name} is not the file the run wrote (size or hash differs from {MANIFEST})",
                dir.display()
            );
        }
    }
    Ok(m)
}
