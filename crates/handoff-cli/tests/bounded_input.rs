//! Inputs that used to escape the bounds of `handoff run`: a line or a `.json` file far longer
//! than `payload_bytes` (dead-lettered, cut to its first bytes, without being held in memory),
//! and an empty or blank `.json` file (a failure of its own, E406, counted and dead-lettered).

mod common;

use std::path::Path;
use std::process::Command;

use common::root;
use serde_json::{Value, json};

/// A rule whose payloads may be at most 64 KiB.
const LIMIT: usize = 64 * 1024;
/// The length of the hostile payloads: 1,024 times the limit.
const HUGE: usize = 64 << 20;

fn rule(dir: &Path) -> std::path::PathBuf {
    let rule = dir.join("small.toml");
    std::fs::write(
        &rule,
        format!(
            "[limits]\npayload_bytes = {LIMIT}\n\n[[rule]]\nname = \"small\"\n\n[rule.map]\n\
             id = {{ path = \"$.sessionId\" }}\n"
        ),
    )
    .unwrap();
    rule
}

/// What a run under `/usr/bin/time -v` left: outputs, dead letters, the report, the exit
/// code, stderr and the peak resident set in bytes.
struct Run {
    outputs: Vec<Value>,
    dead: Vec<Value>,
    report: Value,
    code: Option<i32>,
    stderr: String,
    peak_rss: u64,
}

/// `handoff run RULE INPUTS --dead-letter .. --report .. --output ..`, measured by GNU time
/// (the peak resident set of the process itself: deterministic, unlike a duration).
fn run(dir: &Path, rule: &Path, inputs: &[&Path]) -> Run {
    let (dead, report, out) = (
        dir.join("dead.ndjson"),
        dir.join("report.json"),
        dir.join("out.ndjson"),
    );
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_handoff"))
        .arg("run")
        .arg(rule)
        .args(inputs)
        .arg("--dead-letter")
        .arg(&dead)
        .arg("--report")
        .arg(&report)
        .arg("--output")
        .arg(&out)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("/usr/bin/time runs (Debian package `time`)");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in GNU time's report:\n{stderr}"));
    let lines = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
            .collect()
    };
    Run {
        outputs: lines(&out),
        dead: lines(&dead),
        report: serde_json::from_slice(&std::fs::read(&report).unwrap_or_default())
            .unwrap_or(Value::Null),
        code: output.status.code(),
        stderr,
        peak_rss: peak_kib * 1024,
    }
}

/// A JSON object of exactly `len` bytes: `{"sessionId":"big","pad":"xxx…"}`.
fn huge_payload(len: usize) -> Vec<u8> {
    let head = br#"{"sessionId":"big","pad":""#;
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(head);
    p.resize(len - 2, b'x');
    p.extend_from_slice(b"\"}");
    p
}

/// The read, ok, no_rule and failed counts of a report, checking that they reconcile.
fn counts(report: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    let c = (n("read"), n("ok"), n("no_rule"), n("failed"));
    assert_eq!(c.0, c.1 + c.2 + c.3, "{report}");
    assert_eq!(report["reconciles"], true, "{report}");
    c
}

/// A dead letter of a payload that was too long: E400, its length, and its first bytes.
fn assert_cut(record: &Value, payload: &[u8], line: Option<u64>) {
    assert_eq!(record["code"], "E400", "{record}");
    assert_eq!(record["source"]["line"], json!(line));
    assert_eq!(record["truncated"], true);
    assert_eq!(record["length"], json!(payload.len()));
    let kept = record["raw"].as_str().expect("the kept bytes are text");
    assert_eq!(kept.len(), 4096);
    assert_eq!(kept.as_bytes(), &payload[..4096]);
    let message = record["error"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "payload is {} bytes, the limit is {LIMIT}",
            payload.len()
        )),
        "{message}"
    );
}

#[test]
fn a_line_far_over_payload_bytes_is_dead_lettered_without_being_held() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule(dir.path());
    let payload = huge_payload(HUGE);
    let input = dir.path().join("in.ndjson");
    let mut text = payload.clone();
    text.extend_from_slice(b"\n{\"sessionId\":\"after\"}\n");
    std::fs::write(&input, &text).unwrap();
    drop(text);

    let r = run(dir.path(), &rule, &[&input]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(counts(&r.report), (2, 1, 0, 1));
    assert_eq!(r.outputs, [json!({"id": "after"})]);
    assert_eq!(r.dead.len(), 1);
    assert_cut(&r.dead[0], &payload, Some(1));
    // Memory is deterministic: the process holds about one payload limit of the line, not the
    // line (it used to hold twice the line, 128 MiB here).
    assert!(
        r.peak_rss < (LIMIT + (32 << 20)) as u64,
        "peak RSS {} bytes reading a {HUGE}-byte line with a {LIMIT}-byte limit",
        r.peak_rss
    );
}

#[test]
fn a_json_file_far_over_payload_bytes_is_dead_lettered_without_being_held() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule(dir.path());
    let payload = huge_payload(HUGE);
    let (big, small) = (dir.path().join("big.json"), dir.path().join("small.json"));
    std::fs::write(&big, &payload).unwrap();
    std::fs::write(&small, br#"{"sessionId":"small"}"#).unwrap();

    let r = run(dir.path(), &rule, &[&big, &small]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(counts(&r.report), (2, 1, 0, 1));
    assert_eq!(r.outputs, [json!({"id": "small"})]);
    assert_eq!(r.dead.len(), 1);
    assert_cut(&r.dead[0], &payload, None);
    assert!(
        r.peak_rss < (LIMIT + (32 << 20)) as u64,
        "peak RSS {} bytes reading a {HUGE}-byte file with a {LIMIT}-byte limit",
        r.peak_rss
    );
}

#[test]
fn a_payload_just_over_the_limit_is_kept_whole() {
    // Up to the limit plus the white-space room, a payload is read whole: its dead letter
    // keeps all of it, as before.
    let dir = tempfile::tempdir().unwrap();
    let rule = rule(dir.path());
    let payload = huge_payload(LIMIT + 1);
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, [&payload[..], b"\n"].concat()).unwrap();
    let r = run(dir.path(), &rule, &[&input]);
    assert_eq!(counts(&r.report), (1, 0, 0, 1));
    assert_eq!(r.dead[0]["code"], "E400");
    assert_eq!(r.dead[0]["truncated"], Value::Null);
    assert_eq!(r.dead[0]["raw"].as_str().unwrap().as_bytes(), &payload[..]);
}

#[test]
fn empty_and_blank_json_files_are_failures_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule(dir.path());
    let (empty, blank, good) = (
        dir.path().join("empty.json"),
        dir.path().join("blank.json"),
        dir.path().join("good.json"),
    );
    std::fs::write(&empty, b"").unwrap();
    std::fs::write(&blank, b" \n\t\r\n  ").unwrap();
    std::fs::write(&good, br#"{"sessionId":"g"}"#).unwrap();
    // Blank lines of an NDJSON file stay no payload at all.
    let ndjson = dir.path().join("lines.ndjson");
    std::fs::write(&ndjson, b"\n   \n{\"sessionId\":\"n\"}\n\n").unwrap();

    let r = run(dir.path(), &rule, &[&empty, &good, &blank, &ndjson]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(counts(&r.report), (4, 2, 0, 2));
    assert_eq!(r.report["failed_by_code"], json!({"E406": 2}));
    assert_eq!(r.outputs, [json!({"id": "g"}), json!({"id": "n"})]);
    let dead: Vec<(&str, &str, &str, &str)> = r
        .dead
        .iter()
        .map(|d| {
            (
                d["source"]["file"].as_str().unwrap(),
                d["code"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
                d["raw"].as_str().unwrap(),
            )
        })
        .collect();
    let (e, b) = (empty.display().to_string(), blank.display().to_string());
    assert_eq!(
        dead,
        [
            (e.as_str(), "E406", "empty_input", ""),
            (b.as_str(), "E406", "empty_input", "")
        ]
    );
    assert!(
        r.dead[0]["error"]
            .as_str()
            .unwrap()
            .ends_with("the file is empty")
    );
    assert!(
        r.dead[1]["error"]
            .as_str()
            .unwrap()
            .ends_with("the file holds only white space")
    );
}
