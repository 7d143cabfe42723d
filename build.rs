//! Fingerprints the simulator's source (`sim/src`) at build time. The
//! fingerprint is part of every sweep point's id, so that a cached point is
//! reused only by the same simulator and policies that computed it: after a
//! change to a policy, `inferfair figures` and `inferfair sweep` rerun the
//! points instead of mixing results of two versions.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=sim/src");
    let mut files = Vec::new();
    walk(Path::new("sim/src"), &mut files);
    files.sort();
    // FNV-1a over each file's path (with '/') and content.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        let name = f.to_string_lossy().replace('\\', "/");
        let content = std::fs::read(f).unwrap_or_default();
        for b in name.bytes().chain([0]).chain(content) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=INFERFAIR_SIM_FINGERPRINT={h:016x}");
}
