//! The `inferfair` command line: everything is in the library's `cli`
//! module, so that a program with policies of its own can run the same
//! command line (`examples/custom_policy.rs`).

fn main() -> std::process::ExitCode {
    inferfair::cli::main()
}
