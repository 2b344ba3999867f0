//! The summary of a run: counts that reconcile, throughput and latency percentiles.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// What a run did with its inputs: `read == ok + no_rule + failed`.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Inputs read (non-blank lines, or whole JSON files).
    pub read: u64,
    /// Inputs transformed.
    pub ok: u64,
    /// Inputs to which no rule applied.
    pub no_rule: u64,
    /// Inputs that failed (each one is in the dead-letter sink, when there is one).
    pub failed: u64,
    /// Failures by error code.
    pub failed_by_code: BTreeMap<String, u64>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Per-transform latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// Whether the run was interrupted before the end of its inputs.
    pub interrupted: bool,
    /// Input bytes consumed (payloads, blank lines and line ends).
    pub bytes_read: u64,
    /// The last input accounted for, as `file:line` (or `file` for a whole-file input).
    pub last: Option<String>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            read: 0,
            ok: 0,
            no_rule: 0,
            failed: 0,
            failed_by_code: BTreeMap::new(),
            elapsed: Duration::ZERO,
            // 1 ns .. 60 s at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("valid histogram bounds"),
            interrupted: false,
            bytes_read: 0,
            last: None,
        }
    }
}

/// The percentiles reported, with their labels.
pub const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

impl Summary {
    /// Whether the counts reconcile.
    pub fn reconciles(&self) -> bool {
        self.read == self.ok + self.no_rule + self.failed
    }

    /// Transforms per second over the whole run.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.read as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency percentile in microseconds.
    pub fn latency_us(&self, percentile: f64) -> f64 {
        self.latency.value_at_percentile(percentile) as f64 / 1000.0
    }

    /// The summary as JSON (for `--report`).
    pub fn to_json(&self) -> Value {
        let mut latency = serde_json::Map::new();
        for (label, p) in PERCENTILES {
            latency.insert(format!("{label}_us"), json!(self.latency_us(p)));
        }
        latency.insert("max_us".into(), json!(self.latency.max() as f64 / 1000.0));
        latency.insert("mean_us".into(), json!(self.latency.mean() / 1000.0));
        json!({
            "read": self.read,
            "ok": self.ok,
            "no_rule": self.no_rule,
            "failed": self.failed,
            "failed_by_code": self.failed_by_code,
            "reconciles": self.reconciles(),
            "interrupted": self.interrupted,
            "last_input": self.last,
            "bytes_read": self.bytes_read,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "throughput_per_s": self.throughput(),
            "latency": latency,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {} = ok {} + no rule {} + failed {}",
            self.read, self.ok, self.no_rule, self.failed
        )?;
        if !self.failed_by_code.is_empty() {
            let codes: Vec<String> = self
                .failed_by_code
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            write!(f, " ({})", codes.join(", "))?;
        }
        if self.interrupted {
            match &self.last {
                Some(last) => write!(f, " [interrupted after {last}]")?,
                None => write!(f, " [interrupted before the first input]")?,
            }
        }
        writeln!(f)?;
        write!(
            f,
            "{:.3} s, {:.0} transforms/s; latency",
            self.elapsed.as_secs_f64(),
            self.throughput()
        )?;
        for (label, p) in PERCENTILES {
            write!(f, " {label} {:.1} µs", self.latency_us(p))?;
        }
        write!(f, " max {:.1} µs", self.latency.max() as f64 / 1000.0)
    }
}
