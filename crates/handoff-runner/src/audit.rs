//! Audit records: one JSON line per input (`handoff run --audit`) or per webhook (the gateway's `[log] audit`), in one shape.

use std::time::SystemTime;

use serde::Serialize;

/// One audit record: when, where the input came from, which rule and rule set, the outcome,
/// its reason or error code, and the transform's latency. Serialized in this field order.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    /// When the transform ended (RFC 3339, milliseconds), if known.
    pub time: Option<String>,
    /// The input.
    pub source: AuditSource<'a>,
    /// The rule that applied (or failed).
    pub rule: Option<&'a str>,
    /// The rule-set hash of the plan that ran.
    pub rule_set_hash: &'a str,
    /// The outcome: `ok`, `ignored`, `no_rule`, `failed` for the CLI; the gateway's outcome
    /// (`transformed`, `ignored`, `delivered`, `dead_lettered`, `error`) for a webhook.
    pub outcome: &'a str,
    /// Why the input was ignored, if it was.
    pub reason: Option<&'a str>,
    /// The error code, if it failed.
    pub code: Option<String>,
    /// The transform's latency in microseconds.
    pub latency_us: f64,
}

/// Where an audited input came from.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AuditSource<'a> {
    /// A file (or `stdin`) and the line of an NDJSON input.
    File {
        /// The file's name as given.
        file: &'a str,
        /// The line, for NDJSON inputs.
        line: Option<u64>,
    },
    /// An HTTP request to the gateway.
    Request {
        /// `webhook` or `transform`.
        endpoint: &'a str,
        /// The request id (`x-request-id`).
        request_id: &'a str,
    },
}

impl AuditRecord<'_> {
    /// A record's `time`.
    pub fn time(at: SystemTime) -> String {
        humantime::format_rfc3339_millis(at).to_string()
    }

    /// Appends the record and a newline to `buf`.
    pub fn write_line(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(&mut *buf, self)?;
        buf.push(b'\n');
        Ok(())
    }
}
