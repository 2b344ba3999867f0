//! `handoff serve` before the CLI has it: `cargo run --release -p handoff-gateway --example serve -- --help`.

use std::process::ExitCode;

use clap::Parser;
use handoff_gateway::{ServeArgs, serve_blocking};

/// Serve the handoff rules over HTTP.
#[derive(Debug, Parser)]
#[command(name = "serve")]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    match serve_blocking(Cli::parse().serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
