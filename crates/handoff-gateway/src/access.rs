//! The access log (one line per webhook or transform request) and the audit file (one record per webhook, as `handoff run --audit` writes).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::body::Bytes;
use handoff_runner::audit::{AuditRecord, AuditSource};

use crate::gateway::State;

/// What the handling of one request learnt, for its metrics, access-log line and audit record.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// The rule chosen (a metrics label: only rules that exist), or empty.
    pub(crate) rule: String,
    /// The rule-set hash of the plan that ran, once the transform ran.
    pub(crate) hash: Option<String>,
    /// Time spent in the rule engine, once the transform ran.
    pub(crate) transform: Option<Duration>,
    /// Why the payload was ignored (no rule applied, or a `[[rule.ignore]]`).
    pub(crate) reason: Option<String>,
    /// The request body, only when `[log] bodies` is on.
    pub(crate) body: Option<Bytes>,
    /// The upstream's last status and the attempts made, in forward mode.
    pub(crate) upstream_status: Option<u16>,
    pub(crate) attempts: Option<u32>,
}

/// How a request ended.
#[derive(Debug)]
pub(crate) struct Ending<'a> {
    pub(crate) endpoint: &'static str,
    pub(crate) request_id: &'a str,
    pub(crate) outcome: &'static str,
    pub(crate) code: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) latency: Duration,
}

/// Writes the access-log line (target `handoff::access`) and, when an audit file is open, the
/// audit record; never a secret, and the body only when `trace.body` holds it.
pub(crate) async fn record(state: &State, trace: &Trace, end: &Ending<'_>) {
    // The plan that ran, or (when none did) the plan serving now.
    let serving;
    let hash = match &trace.hash {
        Some(h) => h.as_str(),
        None => {
            serving = state.runner.plan();
            serving.hash()
        }
    };
    let rule = Some(trace.rule.as_str()).filter(|r| !r.is_empty());
    let body = trace.body.as_ref().map(|b| String::from_utf8_lossy(b));
    tracing::info!(
        target: "handoff::access",
        request_id = end.request_id,
        endpoint = end.endpoint,
        rule,
        rule_set_hash = hash,
        outcome = end.outcome,
        code = end.code,
        status = end.status,
        // To the microsecond.
        latency_ms = (end.latency.as_secs_f64() * 1e6).round() / 1e3,
        upstream_status = trace.upstream_status,
        attempts = trace.attempts,
        body = body.as_deref(),
        "request"
    );
    let Some(audit) = state.audit.clone() else {
        return;
    };
    let record = AuditRecord {
        time: Some(AuditRecord::time(SystemTime::now())),
        source: AuditSource::Request {
            endpoint: end.endpoint,
            request_id: end.request_id,
        },
        rule,
        rule_set_hash: hash,
        outcome: end.outcome,
        reason: trace.reason.as_deref(),
        code: end.code.map(str::to_owned),
        latency_us: trace.transform.unwrap_or_default().as_secs_f64() * 1e6,
    };
    let mut line = Vec::with_capacity(256);
    if record.write_line(&mut line).is_err() {
        return;
    }
    // Written before the answer goes out, off the async threads.
    let written = tokio::task::spawn_blocking(move || audit.append(&line)).await;
    if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
        tracing::error!(
            request_id = end.request_id,
            "cannot write the audit file: {e}"
        );
    }
}

/// The audit file, appended to one whole line at a time.
#[derive(Debug)]
pub(crate) struct AuditFile(Mutex<File>);

impl AuditFile {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Arc<AuditFile>> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the audit file {}", path.display()))?;
        Ok(Arc::new(AuditFile(Mutex::new(file))))
    }

    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line)
    }
}
