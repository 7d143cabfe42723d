//! The `inferfair` command line. `main` only turns an error into an exit code;
//! the commands live in `cli`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    inferfair::atomic::install_signal_cleanup();
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inferfair: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
