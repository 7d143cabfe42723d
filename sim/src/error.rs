//! The crate's typed errors. Every error a user can cause names the file, the
//! line or field, and what was expected; bugs in policies are `assert!`s, not errors.

use std::path::{Path, PathBuf};

/// Errors from loading profiles, scenarios and traces, and from writing results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        err: std::io::Error,
    },
    /// A file's content is malformed at a known place.
    #[error("{path}{}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// What was wrong and what was expected.
        msg: String,
    },
    /// A run went past one of the simulator's limits (`crate::limits`).
    #[error("{0}")]
    Limit(String),
    /// A value is well-formed but impossible (a field of a scenario, an argument).
    #[error("{place}: {msg}")]
    Invalid {
        /// Where: a file and field path such as `s.toml: models[2].slo_ms`.
        place: String,
        /// What was wrong and what was expected.
        msg: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            err: source,
        }
    }

    /// A parse error in `path` at `line`.
    pub fn parse(path: &Path, line: Option<u64>, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    /// An impossible value at `place`.
    pub fn invalid(place: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            place: place.into(),
            msg: msg.into(),
        }
    }
}

/// Reads a whole file, naming it in the error.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}
