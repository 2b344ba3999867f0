//! Command-line parsing and the commands, each a thin layer over the libraries.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use handoff_core::{Diagnostics, Severity, compile_paths};
use handoff_runner::batch::{Input, Options, run_batch_with};
use serde_json::{Value, json};

/// Exit status: everything transformed, or the rules are clean.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: some input failed, or the rules have errors.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status: the command could not run (bad arguments, unreadable files, I/O errors).
pub(crate) const EXIT_USAGE: u8 = 2;

/// Rule-driven JSON transformations for Cognigy -> CXone integrations.
#[derive(Parser, Debug)]
#[command(
    name = "handoff",
    version,
    about,
    after_help = "Exit status: 0 success, 1 failed inputs or rule errors, 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Transform NDJSON (or .json) payloads with a rule file or folder.
    Run(RunArgs),
    /// Compile rule files and report every diagnostic.
    Check(CheckArgs),
    /// Describe a compiled rule file in words.
    Explain(ExplainArgs),
    /// Run the tests that live with the rules (`[[rule.test]]`).
    Test(ExplainArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A rule file or a folder of rule files.
    rules: PathBuf,
    /// Input files: NDJSON, or .json for one payload per file. Reads stdin when none is given.
    inputs: Vec<PathBuf>,
    /// Write outputs here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write every failed input here, one JSON record each, with its raw bytes.
    #[arg(long)]
    dead_letter: Option<PathBuf>,
    /// Use only this rule (by name) instead of dispatching by condition.
    #[arg(long)]
    rule: Option<String>,
    /// Extra context (a JSON file) passed to every transform, e.g. a CRM record.
    #[arg(long)]
    context: Option<PathBuf>,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Rule files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args, Debug)]
struct ExplainArgs {
    /// Rule files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub(crate) fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => check(args),
        Command::Explain(args) => explain(args),
        Command::Test(args) => test(args),
    }
}

fn color_stderr() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_diagnostics(diags: &Diagnostics) {
    let color = color_stderr();
    for d in &diags.0 {
        eprintln!("{}", d.render(color));
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let compiled = match compile_paths(&[&args.rules]) {
        Ok(c) => c,
        Err(diags) => {
            print_diagnostics(&diags);
            eprintln!(
                "handoff: {} has errors; nothing was run",
                args.rules.display()
            );
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    if let Some(rule) = &args.rule {
        anyhow::ensure!(
            compiled.plan.has_rule(rule),
            "there is no rule named `{rule}`"
        );
    }
    let context: Option<Value> = match &args.context {
        Some(p) => Some(
            serde_json::from_reader(BufReader::new(
                File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
            ))
            .with_context(|| format!("{} is not JSON", p.display()))?,
        ),
        None => None,
    };
    let stdin = io::stdin();
    let mut inputs = Vec::new();
    if args.inputs.is_empty() {
        inputs.push(Input::ndjson("<stdin>", stdin.lock()));
    }
    for p in &args.inputs {
        let name = p.display().to_string();
        let f = BufReader::with_capacity(
            1 << 16,
            File::open(p).with_context(|| format!("cannot open {name}"))?,
        );
        let json = p.extension().is_some_and(|e| e == "json");
        inputs.push(if json {
            Input::whole(&name, f)
        } else {
            Input::ndjson(&name, f)
        });
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, &mut out);
    let mut dead = match &args.dead_letter {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let options = Options {
        rule: args.rule.as_deref(),
        context: context.as_ref(),
    };
    let summary = run_batch_with(
        &compiled.plan,
        inputs,
        &mut out,
        dead.as_mut().map(|d| d as &mut dyn Write),
        &options,
        &mut || false,
    )
    .context("writing the output failed")?;
    if !args.quiet {
        eprintln!("{summary}");
        if summary.failed > 0 && args.dead_letter.is_none() {
            eprintln!(
                "handoff: {} input(s) failed; pass --dead-letter FILE to keep them",
                summary.failed
            );
        }
    }
    if let Some(p) = &args.report {
        let mut report = summary.to_json();
        report["rule_set_hash"] = json!(compiled.plan.hash());
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(ExitCode::from(if summary.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }))
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let (diags, ok) = match compile_paths(&args.paths) {
        Ok(c) => (Diagnostics(c.warnings), true),
        Err(d) => (d, false),
    };
    match args.format {
        Format::Text => {
            print_diagnostics(&diags);
            let errors = diags
                .0
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let warnings = diags.0.len() - errors;
            eprintln!("{errors} error(s), {warnings} warning(s)");
        }
        Format::Json => {
            let list: Vec<Value> = diags
                .0
                .iter()
                .map(|d| {
                    let (line, column) = d.line_col();
                    json!({
                        "file": d.file.name, "line": line, "column": column,
                        "span": [d.span.start, d.span.end],
                        "severity": d.severity.to_string(), "code": d.code.to_string(), "kind": d.code.slug(),
                        "message": d.message, "hint": d.hint,
                    })
                })
                .collect();
            let mut stdout = io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &list)?;
            writeln!(stdout)?;
        }
    }
    Ok(ExitCode::from(if ok { EXIT_OK } else { EXIT_FAILED }))
}

fn test(args: ExplainArgs) -> Result<ExitCode> {
    let compiled = match compile_paths(&args.paths) {
        Ok(c) => c,
        Err(d) => {
            print_diagnostics(&d);
            println!("0 passed, 1 failed");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    let results = handoff_runner::ruletest::run_tests(&compiled.plan);
    let mut failed = 0;
    for r in &results {
        match &r.failure {
            None => println!("ok      {}", r.name),
            Some(why) => {
                failed += 1;
                println!("FAILED  {} ({})\n{why}", r.name, r.location);
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(ExitCode::from(if failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }))
}

fn explain(args: ExplainArgs) -> Result<ExitCode> {
    match compile_paths(&args.paths) {
        Ok(c) => {
            print!("{}", c.plan.info());
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(d) => {
            print_diagnostics(&d);
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}
