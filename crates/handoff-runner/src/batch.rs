//! Batch runs: every input transformed or dead-lettered, outputs in input order.

use std::io::{self, BufRead, Write};
use std::time::Instant;

use base64::Engine;
use handoff_core::{Error, Outcome, Plan};
use serde_json::{Value, json};

use crate::summary::Summary;

/// A source of payloads.
pub struct Input<'r> {
    name: String,
    reader: Box<dyn BufRead + 'r>,
    whole: bool,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("whole", &self.whole)
            .finish()
    }
}

impl<'r> Input<'r> {
    /// One payload per non-blank line.
    pub fn ndjson(name: &str, reader: impl BufRead + 'r) -> Self {
        Input {
            name: name.to_owned(),
            reader: Box::new(reader),
            whole: false,
        }
    }

    /// The whole stream is one payload (a `.json` file).
    pub fn whole(name: &str, reader: impl BufRead + 'r) -> Self {
        Input {
            name: name.to_owned(),
            reader: Box::new(reader),
            whole: true,
        }
    }
}

/// Options of a batch run.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Transform with this rule only (otherwise: the first rule whose condition holds).
    pub rule: Option<&'a str>,
    /// Extra context passed to every transform.
    pub context: Option<&'a Value>,
}

/// Runs every payload of `inputs` through `plan` with default options.
pub fn run_batch(
    plan: &Plan,
    inputs: Vec<Input<'_>>,
    out: &mut dyn Write,
    dead_letter: Option<&mut dyn Write>,
) -> io::Result<Summary> {
    run_batch_with(
        plan,
        inputs,
        out,
        dead_letter,
        &Options::default(),
        &mut || false,
    )
}

/// Runs every payload through `plan`: outputs (one JSON line each) to `out` in input order,
/// failures to `dead_letter` as one JSON record each. `stop` is polled between payloads; when
/// it says so, the run ends early and the summary is marked interrupted. An I/O error on
/// `out` or `dead_letter` ends the run with that error.
pub fn run_batch_with(
    plan: &Plan,
    inputs: Vec<Input<'_>>,
    out: &mut dyn Write,
    mut dead_letter: Option<&mut dyn Write>,
    options: &Options<'_>,
    stop: &mut dyn FnMut() -> bool,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let started = Instant::now();
    let mut buf = Vec::with_capacity(4096);
    let mut line = Vec::with_capacity(8192);
    'inputs: for mut input in inputs {
        let mut line_no = 0u64;
        loop {
            if stop() {
                summary.interrupted = true;
                break 'inputs;
            }
            line.clear();
            let n = if input.whole {
                input.reader.read_to_end(&mut line)?
            } else {
                input.reader.read_until(b'\n', &mut line)?
            };
            if n == 0 {
                break;
            }
            line_no += 1;
            let payload = line.trim_ascii();
            if payload.is_empty() {
                if input.whole {
                    break;
                }
                continue;
            }
            summary.read += 1;
            buf.clear();
            let t0 = Instant::now();
            let result = match options.rule {
                Some(rule) => plan.transform_rule(rule, payload, options.context, &mut buf),
                None => plan.transform(payload, options.context, &mut buf),
            };
            let nanos = t0.elapsed().as_nanos() as u64;
            summary.latency.saturating_record(nanos.max(1));
            match result {
                Ok(Outcome::Transformed { .. }) => {
                    buf.push(b'\n');
                    out.write_all(&buf)?;
                    summary.ok += 1;
                }
                Ok(Outcome::NoRule { .. }) => summary.no_rule += 1,
                Err(e) => {
                    summary.failed += 1;
                    *summary
                        .failed_by_code
                        .entry(e.code().to_string())
                        .or_default() += 1;
                    if let Some(dl) = dead_letter.as_deref_mut() {
                        let record = dead_record(
                            &input.name,
                            if input.whole { None } else { Some(line_no) },
                            &e,
                            payload,
                        );
                        serde_json::to_writer(&mut *dl, &record)?;
                        dl.write_all(b"\n")?;
                    }
                }
            }
            if input.whole {
                break;
            }
        }
    }
    out.flush()?;
    if let Some(dl) = dead_letter {
        dl.flush()?;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A dead-letter record: where the input came from, why it failed, and its raw bytes
/// (`raw` when they are UTF-8, `raw_base64` otherwise).
pub fn dead_record(file: &str, line: Option<u64>, e: &Error, raw: &[u8]) -> Value {
    let mut record = json!({
        "source": { "file": file, "line": line },
        "code": e.code().to_string(),
        "kind": e.code().slug(),
        "error": e.to_string(),
        "rule": e.rule(),
        "target": e.target(),
        "path": e.path(),
    });
    match std::str::from_utf8(raw) {
        Ok(s) => record["raw"] = Value::String(s.to_owned()),
        Err(_) => {
            record["raw_base64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(raw))
        }
    }
    record
}
