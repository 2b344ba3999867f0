//! Command-line parsing and the commands, each a thin layer over the libraries.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use handoff_core::{Diagnostics, Severity, compile_paths};
use handoff_runner::Summary;
use handoff_runner::batch::{self, Hooks, Input, Options, Sinks};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Exit status: everything transformed, or the rules are clean.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: some input failed, or the rules have errors.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status: the command could not run (bad arguments, unreadable files, I/O errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: `run` was interrupted (SIGINT/SIGTERM) after writing what it had read.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Rule-driven JSON transformations for Cognigy -> CXone integrations.
#[derive(Parser, Debug)]
#[command(
    name = "handoff",
    version,
    about,
    after_help = "Exit status: 0 success, 1 failed inputs or rule errors, 2 usage or I/O error, \
                  130 interrupted."
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
    /// Print the JSON Schema of the rule-file format (for editors: see docs/cli.md).
    Schema,
    /// Serve the rules over HTTP: the webhook gateway (see docs/gateway.md).
    Serve(handoff_gateway::ServeArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A rule file or a folder of rule files.
    rules: PathBuf,
    /// Input files: NDJSON, or .json for one payload per file. Reads stdin when none is given.
    inputs: Vec<PathBuf>,
    /// Write outputs here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write every failed input here, one JSON record each, with its raw bytes.
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Use only this rule (by name) instead of dispatching by condition.
    #[arg(long, value_name = "NAME")]
    rule: Option<String>,
    /// Extra context (a JSON file) passed to every transform, e.g. a CRM record.
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write one JSON audit record per input (time, rule, rule-set hash, outcome, latency).
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
    /// Transform on this many threads; outputs stay in input order.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Do not print the summary or the progress bar.
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
        Command::Schema => {
            let mut stdout = io::stdout().lock();
            serde_json::to_writer_pretty(
                &mut stdout,
                &handoff_core::rules::schema::rule_file_schema(),
            )?;
            writeln!(stdout)?;
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Serve(args) => {
            handoff_gateway::serve_blocking(args)?;
            Ok(ExitCode::from(EXIT_OK))
        }
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
    let mut inputs = Vec::new();
    if args.inputs.is_empty() {
        inputs.push(Input::ndjson("<stdin>", io::stdin()));
    }
    for p in &args.inputs {
        let name = p.display().to_string();
        let f = File::open(p).with_context(|| format!("cannot open {name}"))?;
        let json = p.extension().is_some_and(|e| e == "json");
        inputs.push(if json {
            Input::whole(&name, f)
        } else {
            Input::ndjson(&name, f)
        });
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(create(p)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, &mut out);
    let mut dead = args.dead_letter.as_deref().map(create).transpose()?;
    let mut audit = args.audit.as_deref().map(create).transpose()?;
    let options = Options {
        rule: args.rule.as_deref(),
        context: context.as_ref(),
        jobs: usize::from(args.jobs),
    };
    let sinks = Sinks {
        out: Some(&mut out),
        dead_letter: dead.as_mut().map(|d| d as &mut dyn Write),
        audit: audit.as_mut().map(|a| a as &mut dyn Write),
    };
    let interrupted = interrupt_flag(args.quiet);
    let mut stop = || interrupted.load(Ordering::Relaxed);
    let bar = (!args.quiet && io::stderr().is_terminal()).then(|| progress_bar(&args.inputs));
    let mut progress = |s: &Summary| {
        if let Some(bar) = &bar {
            bar.set_position(s.bytes_read);
            bar.set_message(format!("{} ok, {} failed", s.ok, s.failed));
        }
    };
    let mut hooks = Hooks {
        stop: Some(&mut stop),
        progress: Some(&mut progress),
    };
    let result = batch::run(&compiled.plan, inputs, sinks, &options, &mut hooks);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result.context("the run stopped")?;
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
    Ok(ExitCode::from(if summary.interrupted {
        EXIT_INTERRUPTED
    } else if summary.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }))
}

/// Creates (or truncates) an output file, buffered.
fn create(path: &Path) -> Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 16, file))
}

/// A flag that the first Ctrl-C (SIGINT) or SIGTERM sets; the run then stops reading, writes
/// what it has read and reports how far it got (it says so at once, unless `quiet`: a run
/// waiting on a pipe stops when its next input arrives or the pipe ends). A second signal ends
/// the process at once.
fn interrupt_flag(quiet: bool) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Without a handler (e.g. one is already installed) a signal ends the process as usual.
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::Relaxed) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        if !quiet {
            eprintln!(
                "handoff: interrupted: stopping after the input being read (again to quit now)"
            );
        }
    });
    flag
}

/// A progress bar over the input bytes (a spinner when reading stdin).
fn progress_bar(inputs: &[PathBuf]) -> ProgressBar {
    let total: Option<u64> = (!inputs.is_empty()).then(|| {
        inputs
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    });
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    bar
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
