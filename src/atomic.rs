//! Files written whole or not at all. A result file is written under a
//! hidden temporary name beside its destination and renamed into place once
//! complete (flushed and synced), so an interrupted run never leaves half a
//! file under the real name. The destination is what the path names: a
//! symbolic link is followed (the file it points to is replaced, the link
//! stays), and a special file (a device such as `/dev/null` or
//! `/dev/stdout`, a named pipe) is written in place. Every temporary file is
//! registered while it exists, and [`install_signal_cleanup`] removes them
//! when the process is stopped by SIGINT, SIGTERM or SIGHUP. Errors name the
//! destination file and say what the system said (e.g. "No space left on
//! device").

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files that exist now (removed on SIGINT/SIGTERM/SIGHUP).
static TEMPS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn temps() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A temporary path beside `dest` (for a file or a folder), registered for
/// removal on a signal until it is renamed into place; dropped before that,
/// what it names is deleted.
pub struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    /// `.NAME.PID.N.tmp` (then `suffix`, e.g. `.png`) in `dest`'s folder.
    pub fn beside(dest: &Path, suffix: &str) -> Result<TempPath> {
        let name = dest
            .file_name()
            .with_context(|| format!("{}: not a file name", dest.display()))?
            .to_string_lossy();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dest.with_file_name(format!(".{name}.{}.{n}.tmp{suffix}", std::process::id()));
        temps().insert(path.clone());
        Ok(TempPath { path, keep: false })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file into place at `dest` and forgets it.
    pub fn rename_to(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest).with_context(|| {
            format!(
                "cannot write {} (renaming {} into place)",
                dest.display(),
                self.path.display()
            )
        })?;
        self.keep = true;
        if let Some(dir) = dest.parent() {
            // Make the rename durable; not every file system allows it.
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            remove(&self.path);
        }
        temps().remove(&self.path);
    }
}

/// Removes a temporary file or folder.
fn remove(p: &Path) {
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// Removes every registered temporary file (on a signal).
fn remove_temps() {
    for p in temps().iter() {
        remove(p);
    }
}

/// What a path names once its symbolic links are followed (a link to a
/// file that does not exist yet names that file).
pub fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p)
                    .with_context(|| format!("cannot read the link {}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if t.is_relative() => dir.join(t),
                    _ => t,
                };
            }
            _ => return Ok(p),
        }
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

enum Target {
    /// A regular file, written to a temporary file then renamed.
    Replace(TempPath),
    /// A device or a pipe, written in place.
    InPlace,
}

/// A file written under a temporary name and renamed into place on `commit`;
/// dropped without commit, it is removed. See the module doc.
pub struct AtomicFile {
    dest: PathBuf,
    target: Target,
    w: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dest`.
    pub fn create(dest: &Path) -> Result<Self> {
        // What the path names, links followed (by the system: a link such as
        // /proc/self/fd/1 may name a pipe that has no path).
        let (real, special) = match std::fs::metadata(dest) {
            Ok(m) if m.is_dir() => bail!("cannot write {}: it is a folder", dest.display()),
            Ok(m) if !m.is_file() => (dest.to_path_buf(), true),
            Ok(_) => (
                std::fs::canonicalize(dest)
                    .with_context(|| format!("cannot write {}", dest.display()))?,
                false,
            ),
            Err(_) => (resolve_links(dest)?, false),
        };
        let (target, f) = if special {
            let f = OpenOptions::new()
                .write(true)
                .open(&real)
                .with_context(|| format!("cannot write {}", dest.display()))?;
            (Target::InPlace, f)
        } else {
            let tmp = TempPath::beside(&real, "")?;
            let f = File::create(tmp.path()).with_context(|| {
                format!(
                    "cannot write {} (creating {})",
                    dest.display(),
                    tmp.path().display()
                )
            })?;
            (Target::Replace(tmp), f)
        };
        Ok(AtomicFile {
            dest: real,
            target,
            w: Some(BufWriter::with_capacity(1 << 16, f)),
        })
    }

    /// The file it writes (symbolic links followed).
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.w.as_mut().expect("not committed")
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let w = self.w.take().expect("not committed");
        let dest = self.dest.clone();
        let f = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", dest.display()))?;
        match std::mem::replace(&mut self.target, Target::InPlace) {
            Target::InPlace => Ok(()),
            Target::Replace(tmp) => {
                f.sync_all()
                    .with_context(|| format!("cannot write {}", dest.display()))?;
                drop(f);
                tmp.rename_to(&dest)
            }
        }
    }
}

/// Writes `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.writer()
        .write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.commit()
}

/// Copies `src` to `dest` atomically.
pub fn copy_atomic(src: &Path, dest: &Path) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut f = AtomicFile::create(dest)?;
    std::io::copy(&mut from, f.writer())
        .with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))?;
    f.commit()
}

/// Removes the registered temporary files when the process gets SIGINT,
/// SIGTERM or SIGHUP, then dies of that signal as it would have. A signal
/// handler may do almost nothing, so it only writes the signal's number to a
/// pipe; a thread waiting on the pipe does the rest. Call once, early.
#[cfg(unix)]
pub fn install_signal_cleanup() {
    use std::sync::atomic::AtomicI32;
    static PIPE_W: AtomicI32 = AtomicI32::new(-1);
    extern "C" fn on_signal(sig: libc::c_int) {
        let fd = PIPE_W.load(Ordering::Relaxed);
        if fd >= 0 {
            let b = sig as u8;
            // SAFETY: write(2) is async-signal-safe; `b` outlives the call.
            unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
        }
    }
    if PIPE_W.load(Ordering::Relaxed) >= 0 {
        return;
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return;
    }
    let read_fd = fds[0];
    PIPE_W.store(fds[1], Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("signal-cleanup".into())
        .spawn(move || {
            let mut b = 0u8;
            loop {
                // SAFETY: reads one byte into `b` from our own pipe.
                let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
                if n == 1 {
                    break;
                }
                if n == 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return;
                }
            }
            remove_temps();
            let sig = b as libc::c_int;
            // SAFETY: restores the default action and raises the signal again,
            // so the process ends as if it had not been caught.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
            std::process::exit(128 + sig);
        });
    if spawned.is_err() {
        return;
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_signal` only loads an atomic and calls write(2).
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

/// Signals are not handled on this platform.
#[cfg(not(unix))]
pub fn install_signal_cleanup() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("inferfair-atomic-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let d = dir("whole");
        let p = d.join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mut f = AtomicFile::create(&p).unwrap();
        f.writer().write_all(b"three").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        assert!(temps().is_empty() || temps().iter().all(|t| !t.starts_with(&d)));
    }

    #[cfg(unix)]
    #[test]
    fn follows_symlinks_and_writes_devices_in_place() {
        let d = dir("links");
        let real = d.join("real.json");
        std::fs::write(&real, "old").unwrap();
        let link = d.join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link names the file to create.
        let dangling = d.join("dangling.json");
        std::os::unix::fs::symlink("made.json", &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert_eq!(std::fs::read(d.join("made.json")).unwrap(), b"made");
        // A device is written in place, not replaced.
        write_atomic(Path::new("/dev/null"), b"nothing").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        let e = write_atomic(&d, b"x").unwrap_err().to_string();
        assert!(e.contains("it is a folder"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_names_the_file() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        // /dev/full is a device: written in place, every write fails with ENOSPC.
        let e = format!(
            "{:#}",
            write_atomic(Path::new("/dev/full"), &[7u8; 1 << 17]).unwrap_err()
        );
        assert!(
            e.contains("/dev/full") && e.contains("No space left on device"),
            "{e}"
        );
    }
}
