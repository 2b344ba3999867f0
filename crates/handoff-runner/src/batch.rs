//! Batch runs: every input transformed or dead-lettered, outputs in input order, on N threads.
//!
//! Inputs are read in chunks of payloads. With one job a chunk is transformed and written on
//! the calling thread; with N, chunks are queued for N - 1 worker threads and the calling
//! thread, which also reads, transforms a queued chunk whenever it would otherwise wait, and
//! writes finished chunks in the order they were read. At most `2 x jobs` chunks are in
//! flight, so memory stays flat whatever the number of inputs.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::sync::{Mutex, mpsc};
use std::time::{Instant, SystemTime};

use base64::Engine;
use handoff_core::{Error, Outcome, Plan};
use serde_json::{Value, json};

use crate::audit::{AuditRecord, AuditSource};
use crate::summary::Summary;
use read::Reader;

mod read;

/// Payloads per chunk, and the byte size at which a chunk is full even with fewer payloads.
const CHUNK_PAYLOADS: usize = 256;
const CHUNK_BYTES: usize = 1 << 20;

/// A source of payloads.
pub struct Input<'r> {
    name: String,
    source: Box<dyn Read + 'r>,
    whole: bool,
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("whole", &self.whole)
            .finish()
    }
}

impl<'r> Input<'r> {
    /// One payload per non-blank line.
    pub fn ndjson(name: &str, reader: impl Read + 'r) -> Self {
        Input {
            name: name.to_owned(),
            source: Box::new(reader),
            whole: false,
        }
    }

    /// The whole stream is one payload (a `.json` file).
    pub fn whole(name: &str, reader: impl Read + 'r) -> Self {
        Input {
            name: name.to_owned(),
            source: Box::new(reader),
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
    /// Worker threads; 0 and 1 both transform on the calling thread.
    pub jobs: usize,
}

/// Where a batch writes. Each sink gets whole JSON lines, in input order.
#[derive(Default)]
pub struct Sinks<'w> {
    /// One output per transformed input.
    pub out: Option<&'w mut dyn Write>,
    /// One record per failed input, with its raw bytes ([`dead_record`]).
    pub dead_letter: Option<&'w mut dyn Write>,
    /// One record per input read, whatever its outcome ([`audit_record`]).
    pub audit: Option<&'w mut dyn Write>,
}

impl fmt::Debug for Sinks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sinks")
            .field("out", &self.out.is_some())
            .field("dead_letter", &self.dead_letter.is_some())
            .field("audit", &self.audit.is_some())
            .finish()
    }
}

/// Callbacks of a running batch, both called on the calling thread between chunks.
#[derive(Default)]
pub struct Hooks<'h> {
    /// Polled before each chunk is read; `true` ends the run early. Chunks already read are
    /// still transformed and written, and the summary is marked interrupted.
    pub stop: Option<&'h mut dyn FnMut() -> bool>,
    /// Told the running totals after each chunk is written.
    pub progress: Option<&'h mut dyn FnMut(&Summary)>,
}

impl Hooks<'_> {
    fn stop(&mut self) -> bool {
        self.stop.as_mut().is_some_and(|stop| stop())
    }

    fn progress(&mut self, summary: &Summary) {
        if let Some(progress) = self.progress.as_mut() {
            progress(summary);
        }
    }
}

impl fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hooks")
    }
}

/// A batch run that could not finish because a sink or an input failed. The summary says how
/// far it got: every input it counts was written to its sink before the error.
#[derive(Debug)]
pub struct BatchError {
    /// The I/O error.
    pub error: io::Error,
    /// What was done before it.
    pub summary: Box<Summary>,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; {} input(s) were accounted for before it",
            self.error, self.summary.read
        )?;
        if let Some(last) = &self.summary.last {
            write!(f, ", the last {last}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchError {}

impl From<BatchError> for io::Error {
    fn from(e: BatchError) -> io::Error {
        io::Error::new(e.error.kind(), e.to_string())
    }
}

/// Runs every payload of `inputs` through `plan` with default options: outputs to `out`,
/// failures to `dead_letter`.
pub fn run_batch<'w>(
    plan: &Plan,
    inputs: Vec<Input<'_>>,
    out: &'w mut dyn Write,
    dead_letter: Option<&'w mut dyn Write>,
) -> Result<Summary, BatchError> {
    let sinks = Sinks {
        out: Some(out),
        dead_letter,
        audit: None,
    };
    run(
        plan,
        inputs,
        sinks,
        &Options::default(),
        &mut Hooks::default(),
    )
}

/// Runs every payload through `plan`: outputs (one JSON line each) in input order, failures
/// as one JSON record each, an audit record per input. An I/O error on a sink or an input ends
/// the run with that error and the summary so far.
pub fn run(
    plan: &Plan,
    inputs: Vec<Input<'_>>,
    mut sinks: Sinks<'_>,
    options: &Options<'_>,
    hooks: &mut Hooks<'_>,
) -> Result<Summary, BatchError> {
    let mut writer = Writer {
        names: inputs.iter().map(|i| i.name.clone()).collect(),
        hash: plan.hash(),
        sinks: &mut sinks,
        summary: Summary::default(),
        started: Instant::now(),
        audit: None,
    };
    let mut reader = Reader::new(inputs, plan.payload_limit(options.rule));
    let result = if options.jobs <= 1 {
        run_inline(plan, options, &mut reader, &mut writer, hooks)
    } else {
        run_parallel(plan, options, &mut reader, &mut writer, hooks)
    };
    // A stop that came while the last input was being read still marks the run interrupted.
    if result.is_ok() && !writer.summary.interrupted && hooks.stop() {
        writer.summary.interrupted = true;
    }
    let flushed = result.and_then(|()| writer.flush());
    let mut summary = writer.summary;
    summary.elapsed = writer.started.elapsed();
    match flushed {
        Ok(()) => Ok(summary),
        Err(error) => Err(BatchError {
            error,
            summary: Box::new(summary),
        }),
    }
}

fn run_inline(
    plan: &Plan,
    options: &Options<'_>,
    reader: &mut Reader<'_>,
    writer: &mut Writer<'_, '_>,
    hooks: &mut Hooks<'_>,
) -> io::Result<()> {
    let mut chunk = Chunk::default();
    let audit = writer.sinks.audit.is_some();
    while !reader.done() {
        if hooks.stop() {
            writer.summary.interrupted = true;
            break;
        }
        chunk.clear();
        chunk.bytes = reader.fill(&mut chunk)?;
        chunk.transform(plan, options, audit);
        writer.write(&chunk)?;
        hooks.progress(&writer.summary);
    }
    Ok(())
}

fn run_parallel<'p>(
    plan: &'p Plan,
    options: &Options<'_>,
    reader: &mut Reader<'_>,
    writer: &mut Writer<'_, '_>,
    hooks: &mut Hooks<'_>,
) -> io::Result<()> {
    let audit = writer.sinks.audit.is_some();
    let (work_tx, work_rx) = mpsc::channel::<Chunk<'p>>();
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Chunk<'p>>();
    std::thread::scope(|scope| {
        // The calling thread is the last of the `jobs` threads that transform.
        for _ in 1..options.jobs {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                loop {
                    // The lock is held only while taking one chunk of hundreds of payloads.
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(mut chunk)) = next else { break };
                    chunk.transform(plan, options, audit);
                    if done_tx.send(chunk).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let queue = Queue {
            work: &work_tx,
            queued: &work_rx,
            done: &done_rx,
            plan,
            options,
            audit,
        };
        let result = feed(reader, writer, hooks, &queue);
        // Closing the work queue ends the workers; the scope joins them.
        drop(work_tx);
        result
    })
}

/// The chunks of a parallel run: queued for transforming, and transformed.
struct Queue<'q, 'p, 'o> {
    work: &'q mpsc::Sender<Chunk<'p>>,
    queued: &'q Mutex<mpsc::Receiver<Chunk<'p>>>,
    done: &'q mpsc::Receiver<Chunk<'p>>,
    plan: &'p Plan,
    options: &'q Options<'o>,
    audit: bool,
}

impl<'p> Queue<'_, 'p, '_> {
    /// The next transformed chunk (in any order): one a worker finished, else a queued one
    /// transformed here, else the next a worker finishes.
    fn next_done(&self) -> io::Result<Chunk<'p>> {
        match self.done.try_recv() {
            Ok(chunk) => return Ok(chunk),
            Err(mpsc::TryRecvError::Disconnected) => return Err(stopped()),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        // A worker waiting for work holds the lock (the queue is empty then): never wait for
        // it here, since only this thread queues work.
        let queued = self
            .queued
            .try_lock()
            .ok()
            .and_then(|rx| rx.try_recv().ok());
        if let Some(mut chunk) = queued {
            chunk.transform(self.plan, self.options, self.audit);
            return Ok(chunk);
        }
        self.done.recv().map_err(|_| stopped())
    }
}

/// The error of a parallel run whose worker threads are gone.
fn stopped() -> io::Error {
    io::Error::other("the worker threads stopped")
}

/// The calling thread's side of a parallel run: keeps up to `2 x jobs` chunks in flight,
/// transforms some of them itself and writes the finished ones in sequence order.
fn feed<'p>(
    reader: &mut Reader<'_>,
    writer: &mut Writer<'_, '_>,
    hooks: &mut Hooks<'_>,
    queue: &Queue<'_, 'p, '_>,
) -> io::Result<()> {
    let mut spare: Vec<Chunk<'p>> = Vec::new();
    let mut waiting: BTreeMap<u64, Chunk<'p>> = BTreeMap::new();
    let (mut next_read, mut next_write) = (0u64, 0u64);
    let window = 2 * queue.options.jobs as u64;
    loop {
        while next_read - next_write < window && !reader.done() {
            if hooks.stop() {
                writer.summary.interrupted = true;
                reader.stop();
                break;
            }
            let mut chunk = spare.pop().unwrap_or_default();
            chunk.clear();
            chunk.seq = next_read;
            chunk.bytes = reader.fill(&mut chunk)?;
            next_read += 1;
            if queue.work.send(chunk).is_err() {
                return Err(stopped());
            }
        }
        if next_read == next_write {
            return Ok(());
        }
        let chunk = queue.next_done()?;
        waiting.insert(chunk.seq, chunk);
        while let Some(chunk) = waiting.remove(&next_write) {
            writer.write(&chunk)?;
            hooks.progress(&writer.summary);
            next_write += 1;
            spare.push(chunk);
        }
    }
}

/// Payloads read together, and after the transform their outcomes.
#[derive(Default)]
struct Chunk<'p> {
    seq: u64,
    /// Input bytes consumed for this chunk (for progress).
    bytes: u64,
    /// The chunk ended because its input had nothing buffered: write it through at once.
    drained: bool,
    /// The raw payloads, back to back.
    data: Vec<u8>,
    records: Vec<Record<'p>>,
    /// The outputs of the transformed payloads, one JSON line each, in order.
    out: Vec<u8>,
}

struct Record<'p> {
    input: usize,
    line: Option<u64>,
    raw: Range<usize>,
    /// The payload's length when it was too long to read whole and `raw` is its first bytes.
    length: Option<u64>,
    /// Failed while it was read (too long, empty): `result` is final.
    ready: bool,
    result: Result<Done<'p>, Error>,
    latency_ns: u64,
    /// When the transform ended (only kept for the audit).
    at: Option<SystemTime>,
}

enum Done<'p> {
    Transformed(&'p str),
    /// The rule's ignored body was written (rule, reason).
    Ignored(&'p str, &'p str),
    NoRule,
}

impl<'p> Chunk<'p> {
    fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        self.out.clear();
        self.bytes = 0;
        self.drained = false;
    }

    fn transform(&mut self, plan: &'p Plan, options: &Options<'_>, audit: bool) {
        for record in self.records.iter_mut().filter(|r| !r.ready) {
            let payload = &self.data[record.raw.clone()];
            let started = Instant::now();
            let result = match options.rule {
                Some(rule) => plan.transform_rule(rule, payload, options.context, &mut self.out),
                None => plan.transform(payload, options.context, &mut self.out),
            };
            record.latency_ns = (started.elapsed().as_nanos() as u64).max(1);
            record.result = match result {
                Ok(Outcome::Transformed { rule }) => {
                    self.out.push(b'\n');
                    Ok(Done::Transformed(rule))
                }
                Ok(Outcome::Ignored { rule, reason }) => {
                    self.out.push(b'\n');
                    Ok(Done::Ignored(rule, reason))
                }
                Ok(Outcome::NoRule { .. }) => Ok(Done::NoRule),
                Err(e) => Err(e),
            };
            if audit {
                record.at = Some(SystemTime::now());
            }
        }
    }
}

/// Writes finished chunks to the sinks and keeps the summary.
struct Writer<'s, 'w> {
    names: Vec<String>,
    hash: &'s str,
    sinks: &'s mut Sinks<'w>,
    summary: Summary,
    started: Instant,
    /// A reused buffer for audit lines.
    audit: Option<Vec<u8>>,
}

impl Writer<'_, '_> {
    fn write(&mut self, chunk: &Chunk<'_>) -> io::Result<()> {
        if let Some(out) = self.sinks.out.as_deref_mut() {
            out.write_all(&chunk.out)?;
        }
        let summary = &mut self.summary;
        summary.bytes_read += chunk.bytes;
        for record in &chunk.records {
            summary.read += 1;
            if !record.ready {
                summary.latency.saturating_record(record.latency_ns);
            }
            let file = &self.names[record.input];
            match &record.result {
                Ok(Done::Transformed(_) | Done::Ignored(..)) => summary.ok += 1,
                Ok(Done::NoRule) => summary.no_rule += 1,
                Err(e) => {
                    summary.failed += 1;
                    *summary
                        .failed_by_code
                        .entry(e.code().to_string())
                        .or_default() += 1;
                    if let Some(dl) = self.sinks.dead_letter.as_deref_mut() {
                        let raw = &chunk.data[record.raw.clone()];
                        let mut dead = dead_record(file, record.line, e, raw);
                        if let Some(length) = record.length {
                            dead["truncated"] = Value::Bool(true);
                            dead["length"] = Value::from(length);
                        }
                        serde_json::to_writer(&mut *dl, &dead)?;
                        dl.write_all(b"\n")?;
                    }
                }
            }
            if let Some(audit) = self.sinks.audit.as_deref_mut() {
                let buf = self.audit.get_or_insert_with(Vec::new);
                buf.clear();
                audit_record(file, record, self.hash).write_line(buf)?;
                audit.write_all(buf)?;
            }
        }
        if let Some(last) = chunk.records.last() {
            let file = &self.names[last.input];
            summary.last = Some(match last.line {
                Some(line) => format!("{file}:{line}"),
                None => file.clone(),
            });
        }
        if chunk.drained {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let sinks = &mut *self.sinks;
        for sink in [&mut sinks.out, &mut sinks.dead_letter, &mut sinks.audit]
            .into_iter()
            .flatten()
        {
            sink.flush()?;
        }
        Ok(())
    }
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
        "node": e.node(),
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

/// An audit record: when, which input, which rule and rule set, the outcome and the latency.
fn audit_record<'a>(file: &'a str, record: &'a Record<'_>, hash: &'a str) -> AuditRecord<'a> {
    let (outcome, rule, code, reason) = match &record.result {
        Ok(Done::Transformed(rule)) => ("ok", Some(*rule), None, None),
        Ok(Done::Ignored(rule, reason)) => ("ignored", Some(*rule), None, Some(*reason)),
        Ok(Done::NoRule) => ("no_rule", None, None, None),
        Err(e) => ("failed", e.rule(), Some(e.code().to_string()), None),
    };
    AuditRecord {
        time: record.at.map(AuditRecord::time),
        source: AuditSource::File {
            file,
            line: record.line,
        },
        rule,
        rule_set_hash: hash,
        outcome,
        reason,
        code,
        latency_us: record.latency_ns as f64 / 1000.0,
    }
}
