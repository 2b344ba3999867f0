//! The `handoff` command: run, check and explain rule files.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("handoff: error: {e:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
