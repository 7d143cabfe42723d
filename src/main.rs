//! The `inferfair` command line. `main` only turns an error into an exit code;
//! the commands live in the library's `cli` module.

use std::process::ExitCode;

fn main() -> ExitCode {
    match inferfair::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inferfair: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
