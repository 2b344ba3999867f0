//! The `handoff` command: run, check, test and explain rule files, print their schema, serve them.

mod cli;

use std::process::ExitCode;

/// mimalloc: a transform builds and frees many small values; glibc's malloc spends as much
/// time on them as the parser does (see docs/performance.md). Built with `no_thp`: with
/// transparent huge pages its arenas were committed 2 MiB at a time, and a run's RSS was 29 MiB
/// instead of 12 MiB, for no measured speed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("handoff: error: {e:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
